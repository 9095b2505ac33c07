#!/usr/bin/env bash
# Cost of a milter: Mta with one no-op milter (our own test milter, tests/Mta.MilterTestServer, answering continue to
# everything) on its listener against Mta with none, same load, same run, alternating.
#
#   bench/milter.sh [messages=5000] [size=1024]
#
# Two Mta instances from one Release build run side by side: "none" on MTA_PORT (2526) and "milter" on MILTER_MTA_PORT
# (2532), whose listener runs the milter "noop" (Milters:Definitions:noop at inet:127.0.0.1:NOOP_PORT, 2533). The load
# is Postfix's smtp-source (SESSIONS parallel sessions; one connection per message, as a site's clients mostly come,
# unless PERSIST=1): each SMTP connection opens its own milter connection, each message is MAIL, RCPT, DATA, its
# header fields, end of headers, body and end of message on the milter's socket. Both instances are warmed up (WARMUP
# messages each, not counted); then ROUNDS rounds measure both, the order swapped every round; before the next run
# everything sent is delivered (its Maildir holds it). Prints every run, the median rate per mode, the per-round
# milter/none ratios, and CPU per message (utime+stime over a run and its deliveries) of each Mta and of the milter.
# Authentication:Verify stays off (mta-lib.sh's default MTA_EXTENSIONS): no query leaves loopback.
#
# Env: ROUNDS=3 WARMUP=1000 SESSIONS=10 PERSIST=0 RUN_TIMEOUT=300 DRAIN_MAX=120 MILTER_MTA_PORT=2532 NOOP_PORT=2533,
#      and mta-lib.sh's MTA_* knobs.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/mta-lib.sh"
case "${1:-}" in -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac
messages=${1:-5000}; size=${2:-1024}
ROUNDS=${ROUNDS:-3}; WARMUP=${WARMUP:-1000}; SESSIONS=${SESSIONS:-10}; PERSIST=${PERSIST:-0}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}; DRAIN_MAX=${DRAIN_MAX:-120}
MILTER_MTA_PORT=${MILTER_MTA_PORT:-2532}; NOOP_PORT=${NOOP_PORT:-2533}
FROM=a@example.test; TO=user@localhost
base_extensions=$MTA_EXTENSIONS

command -v smtp-source >/dev/null 2>&1 || { echo "smtp-source not found (apt-get install postfix)" >&2; exit 1; }
command -v bc >/dev/null 2>&1 || { echo "bc not found" >&2; exit 1; }
mta_build || { echo "mta build failed" >&2; exit 1; }
MTA_BUILD=0
echo "# dotnet build -c Release tests/Mta.MilterTestServer" >&2
(cd "$MTA_REPO" && dotnet build -c Release tests/Mta.MilterTestServer -nologo -v q) > /dev/null 2>&1 \
    || { echo "test milter build failed" >&2; exit 1; }
MILTER_DLL=$MTA_REPO/tests/Mta.MilterTestServer/bin/Release/net10.0/mta-milter-test.dll
for port in "$MILTER_MTA_PORT" "$NOOP_PORT"; do
    if port_open 127.0.0.1 "$port"; then echo "port 127.0.0.1:$port in use" >&2; exit 1; fi
done

declare -A PID TMP PORT SENT
MILTER_PID=; MILTER_LOG=$(mktemp "${TMPDIR:-/tmp}/mta-milter-bench.XXXXXX")
cleanup() {
    local mode
    for mode in none milter; do
        [ -n "${PID[$mode]:-}" ] && { MTA_PID=${PID[$mode]} MTA_TMP=${TMP[$mode]} mta_stop; PID[$mode]=; }
    done
    if [ -n "$MILTER_PID" ] && kill -0 "$MILTER_PID" 2>/dev/null; then
        kill -TERM "$MILTER_PID" 2>/dev/null; wait "$MILTER_PID" 2>/dev/null
    fi
    rm -f "$MILTER_LOG" "$MILTER_LOG.err"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The no-op milter first: the "milter" instance's sessions connect to it from the first one on.
dotnet "$MILTER_DLL" --listen "inet:127.0.0.1:$NOOP_PORT" > "$MILTER_LOG" 2>&1 < /dev/null &
MILTER_PID=$!
for i in $(seq 1 150); do port_open 127.0.0.1 "$NOOP_PORT" && break; sleep 0.2; done
port_open 127.0.0.1 "$NOOP_PORT" || { echo "the test milter did not listen:" >&2; cat "$MILTER_LOG" >&2; exit 1; }
echo "# no-op milter: $(head -n 1 "$MILTER_LOG"), pid $MILTER_PID" >&2

start_mode() { # mode port extensions [milters-of-the-listener]
    local mode=$1 port=$2
    if [ -n "${4:-}" ]; then
        # The listener line of mta-lib's config is fixed; its milter list comes in through the environment.
        MTA__Listeners__0__Milters__0=$4 MTA_PORT=$port MTA_EXTENSIONS=$3 mta_start || return 1
    else
        MTA_PORT=$port MTA_EXTENSIONS=$3 mta_start || return 1
    fi
    PID[$mode]=$MTA_PID; TMP[$mode]=$MTA_TMP; PORT[$mode]=$port; SENT[$mode]=0; MTA_PID=; MTA_TMP=
}
milter_json="$base_extensions, \"Milters\": { \"Definitions\": { \"noop\": { \"Address\": \"inet:127.0.0.1:$NOOP_PORT\", \"DefaultAction\": \"Tempfail\" } } }"
start_mode none "$MTA_PORT" "$base_extensions" || { echo "the 'none' instance did not start" >&2; exit 1; }
start_mode milter "$MILTER_MTA_PORT" "$milter_json" noop || { echo "the 'milter' instance did not start" >&2; exit 1; }

drain() { # mode: wait (bounded) until every message sent to it is in its Maildir
    local mode=$1 n i
    for i in $(seq 1 $((DRAIN_MAX * 5))); do
        n=$(find "${TMP[$mode]}/maildir" -path '*/new/*' -type f 2>/dev/null | wc -l)
        [ "$n" -ge "${SENT[$mode]}" ] && return 0
        sleep 0.2
    done
    echo "# $mode: only $n of ${SENT[$mode]} messages delivered after ${DRAIN_MAX}s" >&2
}

run() { # mode msgs -> RUN_RATE (msg/s, empty on failure), RUN_OUT
    local args=(-c -s "$SESSIONS" -m "$2" -l "$size" -M client.bench.test -f "$FROM" -t "$TO")
    [ "$PERSIST" = 1 ] && args+=(-d)
    local t0 t1 out rc
    t0=$(date +%s.%N)
    out=$(timeout "$RUN_TIMEOUT" smtp-source "${args[@]}" "inet:127.0.0.1:${PORT[$1]}" 2>"$MILTER_LOG.err"); rc=$?
    t1=$(date +%s.%N)
    # smtp-source -c prints a running count; its last number is how many messages completed.
    local done; done=$(printf '%s' "$out" | tr '\r' '\n' | grep -E '^[0-9]+$' | tail -n 1)
    [[ "$done" =~ ^[0-9]+$ ]] || done=0
    SENT[$1]=$(( SENT[$1] + done ))
    RUN_RATE=; RUN_OUT="$done msgs in $(echo "$t1 - $t0" | bc -l | cut -c1-6) s"
    if [ "$rc" = 0 ] && [ "$done" = "$2" ]; then RUN_RATE=$(echo "scale=1; $done / ($t1 - $t0)" | bc -l)
    else RUN_OUT="$RUN_OUT FAILED (exit $rc): $(head -c 300 "$MILTER_LOG.err" | tr '\n' ' ')"; fi
}

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
declare -A RATE CPU
MCPU=()
for mode in none milter; do
    run "$mode" "$WARMUP"; echo "# warm-up $mode: $RUN_OUT" >&2; drain "$mode"
done
runs=()
for round in $(seq 1 "$ROUNDS"); do
    order="none milter"; [ $((round % 2)) = 0 ] && order="milter none"
    for mode in $order; do
        t0=$(ticks "${PID[$mode]}"); m0=$(ticks "$MILTER_PID")
        run "$mode" "$messages"
        drain "$mode"
        t1=$(ticks "${PID[$mode]}"); m1=$(ticks "$MILTER_PID")
        cpu=$(( (t1 - t0) * 1000000 / hz / messages ))
        mcpu=$(( (m1 - m0) * 1000000 / hz / messages ))
        echo "# round $round $mode: $RUN_OUT, ${cpu} us CPU/msg (Mta), ${mcpu} us CPU/msg (milter)" >&2
        runs+=("$(printf '%-5s %-6s %10s %11s %14s  %s' "$round" "$mode" "${RUN_RATE:--}" "$cpu" "$mcpu" "$RUN_OUT")")
        if [ -n "$RUN_RATE" ]; then
            RATE[$round/$mode]=$RUN_RATE; CPU[$round/$mode]=$cpu
            [ "$mode" = milter ] && MCPU+=("$mcpu")
        fi
    done
done

median_of() { sort -n | awk 'NF { a[n++] = $1 } END { if (n == 0) print "-"; else if (n % 2) print a[(n - 1) / 2]; else print (a[n / 2 - 1] + a[n / 2]) / 2 }'; }
echo "== milter cost: $messages msgs of $size B per run, $SESSIONS sessions ($([ "$PERSIST" = 1 ] && echo "persistent" || echo "one connection per message")), $ROUNDS rounds =="
printf '%-5s %-6s %10s %11s %14s  %s\n' round mode "msg/s" "cpu-us/msg" "milter-us/msg" run
printf '%s\n' "${runs[@]}"
declare -A MEDRATE MEDCPU
for mode in none milter; do
    MEDRATE[$mode]=$(for round in $(seq 1 "$ROUNDS"); do echo "${RATE[$round/$mode]:-}"; done | median_of)
    MEDCPU[$mode]=$(for round in $(seq 1 "$ROUNDS"); do echo "${CPU[$round/$mode]:-}"; done | median_of)
done
ratios=$(for round in $(seq 1 "$ROUNDS"); do
    [ -n "${RATE[$round/milter]:-}" ] && [ -n "${RATE[$round/none]:-}" ] && echo "${RATE[$round/milter]} ${RATE[$round/none]}"
done | awk '{ printf "%.3f\n", $1 / $2 }' | sort -n)
echo "medians: none ${MEDRATE[none]} msg/s ${MEDCPU[none]} us CPU/msg; milter ${MEDRATE[milter]} msg/s ${MEDCPU[milter]} us CPU/msg"
echo "per-round milter/none msg/s ratios: $(echo $ratios); median $(echo "$ratios" | median_of)"
if [[ "${MEDCPU[none]}" =~ ^[0-9.]+$ && "${MEDCPU[milter]}" =~ ^[0-9.]+$ ]]; then
    echo "Mta CPU per message with the milter: +$(echo "${MEDCPU[milter]} - ${MEDCPU[none]}" | bc -l) us (median against median)"
fi
echo "the no-op milter's own CPU per message, median: $(printf '%s\n' "${MCPU[@]}" | median_of) us"
