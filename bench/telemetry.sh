#!/usr/bin/env bash
# Cost of telemetry: Mta with the OpenTelemetry SDK's metrics and tracing on (Prometheus endpoint served, not
# scraped) against everything off, same load, same run, alternating.
#
#   bench/telemetry.sh [messages=20000] [size=1024]
#
# Two Mta instances run side by side from one Release build: "off" on MTA_PORT (2526) with Telemetry:Metrics and
# Telemetry:Traces false, "on" on TEL_ON_PORT (2531) with both true and Telemetry:Prometheus:Enabled on
# 127.0.0.1:TEL_WEB_PORT (8099). Both are warmed up (WARMUP msgs each, not counted); then ROUNDS rounds each measure
# both with mta-bench (SESSIONS pipelined sessions), the order swapped every round so neither always runs second on a
# machine whose load drifts; before the next run, all mail sent to the instance is delivered (its Maildir holds it),
# so no run competes with the deliveries of the one before. Prints every run, the mean per mode, the loss of "on"
# against "off" in percent, the median of the per-round on/off ratios, and the CPU time per message (utime+stime of each instance over a run and its deliveries: the steadier figure on a shared machine). After the
# last run, one scrape checks the endpoint served (its size).
# Authentication:Verify stays off (mta-lib.sh's default MTA_EXTENSIONS): no query leaves loopback.
#
# Env: ROUNDS=3 WARMUP=3000 SESSIONS=20 RUN_TIMEOUT=120 DRAIN_MAX=120 TEL_ON_PORT=2531 TEL_WEB_PORT=8099,
#      TEL_ON='"Metrics": true, "Traces": true, "Prometheus": { "Enabled": true }' (the "on" instance's Telemetry
#      section: set it to tell one signal's cost from the other's), RESTART=0 (1: a fresh pair of processes each
#      round, see start_both), and mta-lib.sh's MTA_* knobs.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/mta-lib.sh"
case "${1:-}" in -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac
messages=${1:-20000}; size=${2:-1024}
ROUNDS=${ROUNDS:-3}; WARMUP=${WARMUP:-3000}; SESSIONS=${SESSIONS:-20}; RUN_TIMEOUT=${RUN_TIMEOUT:-120}
DRAIN_MAX=${DRAIN_MAX:-120}; TEL_ON_PORT=${TEL_ON_PORT:-2531}; TEL_WEB_PORT=${TEL_WEB_PORT:-8099}
TEL_ON=${TEL_ON:-'"Metrics": true, "Traces": true, "Prometheus": { "Enabled": true }'}
FROM=a@example.test; TO=user@localhost
base_extensions=$MTA_EXTENSIONS

mta_bench_build || { echo "mta-bench build failed" >&2; exit 1; }
mta_build || { echo "mta build failed" >&2; exit 1; }
MTA_BUILD=0
if port_open 127.0.0.1 "$TEL_WEB_PORT"; then echo "port 127.0.0.1:$TEL_WEB_PORT in use; set TEL_WEB_PORT" >&2; exit 1; fi

# mta-lib keeps one instance in MTA_PID/MTA_TMP: each mode's pid and folder are kept aside here.
declare -A PID TMP PORT
cleanup() {
    local mode
    for mode in off on; do
        [ -n "${PID[$mode]:-}" ] && { MTA_PID=${PID[$mode]} MTA_TMP=${TMP[$mode]} mta_stop; PID[$mode]=; }
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_mode() { # mode port extensions
    local mode=$1 port=$2
    MTA_PORT=$port MTA_EXTENSIONS=$3 mta_start || return 1
    PID[$mode]=$MTA_PID; TMP[$mode]=$MTA_TMP; PORT[$mode]=$port; MTA_PID=; MTA_TMP=
}
off_json="$base_extensions, \"Telemetry\": { \"Metrics\": false, \"Traces\": false }"
on_json="$base_extensions, \"Telemetry\": { $TEL_ON },
  \"Web\": { \"Urls\": [ \"http://127.0.0.1:$TEL_WEB_PORT\" ] }"
# start_both ORDER: (re)starts both instances in that order. A process keeps its own luck for its whole life (where
# the JIT's tiering and profile-guided choices land, its heap): an A/A run of two identical instances differed by
# 40% for one process pair, so RESTART=1 starts a fresh pair each round, the order and ports swapped.
start_both() {
    local mode
    for mode in off on; do
        [ -n "${PID[$mode]:-}" ] && { MTA_PID=${PID[$mode]} MTA_TMP=${TMP[$mode]} mta_stop; PID[$mode]=; }
        SENT[$mode]=0
    done
    for mode in $1; do
        local port=$MTA_PORT other=$TEL_ON_PORT
        # Swapped with the order, so neither mode keeps one port (and its data folder's place) every round.
        [ "$1" = "on off" ] && { port=$TEL_ON_PORT; other=$MTA_PORT; }
        [ "$mode" = on ] && port=$other
        if [ "$mode" = off ]; then start_mode off "$port" "$off_json" || return 1
        else start_mode on "$port" "$on_json" || return 1; fi
    done
}
declare -A SENT
start_both "off on" || { echo "the instances did not start" >&2; exit 1; }
grep -i "web listening" "${TMP[on]}/mta.log" | sed 's/^/#   on: /' >&2

# Wait until every message sent to the instance is in its Maildir (bounded by DRAIN_MAX): a run must not compete
# with the other instance's deliveries of the run before. The spool's file count is no guide (it keeps segments).
drain() {
    local mode=$1 n i
    for i in $(seq 1 $((DRAIN_MAX * 5))); do
        n=$(find "${TMP[$mode]}/maildir" -path '*/new/*' -type f 2>/dev/null | wc -l)
        [ "$n" -ge "${SENT[$mode]:-0}" ] && return 0
        sleep 0.2
    done
    echo "# $mode: only $n of ${SENT[$mode]} messages delivered after ${DRAIN_MAX}s" >&2
}

run() { # mode msgs -> RUN_OUT: last line of mta-bench; counts what was accepted in SENT[mode]
    local out
    out=$(timeout $((RUN_TIMEOUT + 15)) "$MTA_BENCH" "127.0.0.1:${PORT[$1]}" --sessions "$SESSIONS" --messages "$2" --size "$size" \
        --from "$FROM" --to "$TO" --timeout "$RUN_TIMEOUT" --pipelining 2>&1 | tail -n 1)
    local got; got=$(echo "$out" | awk '{print $2}')   # mta-bench: N msgs in T s = R msg/s (failed F)
    [[ "$got" =~ ^[0-9]+$ ]] && SENT[$1]=$(( ${SENT[$1]:-0} + got ))
    RUN_OUT=$out
}


# CPU of the instance (utime+stime) over a run and its deliveries: steadier than a rate on a shared machine, where
# other load swings rates by tens of percent but barely changes what one message costs.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
declare -A SUM COUNT RATE CPU CPUSUM MEDRATE MEDCPU
runs=()
warm_up() {
    local mode
    for mode in off on; do
        run "$mode" "$WARMUP"; echo "# warm-up $mode: $RUN_OUT" >&2
        drain "$mode"
    done
}
warm_up
for round in $(seq 1 "$ROUNDS"); do
    order="off on"; [ $((round % 2)) = 0 ] && order="on off"
    if [ "${RESTART:-0}" = 1 ] && [ "$round" -gt 1 ]; then
        start_both "$order" || { echo "the instances did not start for round $round" >&2; break; }
        warm_up
    fi
    for mode in $order; do
        t0=$(ticks "${PID[$mode]}")
        run "$mode" "$messages"; out=$RUN_OUT
        drain "$mode"
        t1=$(ticks "${PID[$mode]}")
        cpu=$(( (t1 - t0) * 1000000 / hz / messages ))
        rate=$(echo "$out" | awk '{print $8}')
        status=ok; case "$out" in *"(failed 0)") ;; *) status="FAILED: $out";; esac
        echo "# round $round $mode: $out, ${cpu} us CPU/msg" >&2
        runs+=("$(printf '%-5s %-4s %10s %11s  %s' "$round" "$mode" "${rate:--}" "$cpu" "$status")")
        if [[ "$rate" =~ ^[0-9.]+$ ]]; then
            RATE[$round/$mode]=$rate; CPU[$round/$mode]=$cpu
            SUM[$mode]=$(echo "${SUM[$mode]:-0} + $rate" | bc -l); COUNT[$mode]=$(( ${COUNT[$mode]:-0} + 1 ))
            CPUSUM[$mode]=$(( ${CPUSUM[$mode]:-0} + cpu ))
        fi
    done
done

scrape=$(curl -s --max-time 10 "http://127.0.0.1:$TEL_WEB_PORT/metrics" 2>/dev/null)
scrape_lines=$(printf '%s\n' "$scrape" | grep -c '^mta_' || true)

echo "== telemetry cost: $messages msgs of $size B per run, $SESSIONS pipelined sessions, $ROUNDS rounds; on = $TEL_ON =="
printf '%-5s %-4s %10s %11s  %s\n' round mode "msg/s" "cpu-us/msg" status
printf '%s\n' "${runs[@]}"
mean() { [ "${COUNT[$1]:-0}" -gt 0 ] && echo "scale=1; ${SUM[$1]} / ${COUNT[$1]}" | bc -l || echo -; }
off=$(mean off); on=$(mean on)
loss=-; [[ "$off" =~ ^[0-9.]+$ && "$on" =~ ^[0-9.]+$ ]] && loss=$(echo "scale=1; 100 * ($off - $on) / $off" | bc -l)
echo "telemetry: off $off msg/s, on $on msg/s (ratio $(echo "scale=3; ${on:-0} / ${off:-1}" | bc -l 2>/dev/null)), loss ${loss}%"
# Per round, on/off: the two ran back to back, so a drift of the machine's load between rounds cancels out.
ratios=$(for round in $(seq 1 "$ROUNDS"); do
    [ -n "${RATE[$round/on]:-}" ] && [ -n "${RATE[$round/off]:-}" ] && echo "${RATE[$round/on]} ${RATE[$round/off]}"
done | awk '{ printf "%.3f\n", $1 / $2 }' | sort -n)
median=$(echo "$ratios" | awk 'NF { a[n++] = $1 } END { if (n == 0) print "-"; else if (n % 2) print a[(n - 1) / 2]; else printf "%.3f\n", (a[n / 2 - 1] + a[n / 2]) / 2 }')
echo "per-round on/off ratios: $(echo $ratios); median $median"
# Medians too: a round that another process on the machine disturbed moves a mean, not a median.
median_of() { sort -n | awk 'NF { a[n++] = $1 } END { if (n == 0) print "-"; else if (n % 2) print a[(n - 1) / 2]; else print (a[n / 2 - 1] + a[n / 2]) / 2 }'; }
for mode in off on; do
    MEDRATE[$mode]=$(for round in $(seq 1 "$ROUNDS"); do echo "${RATE[$round/$mode]:-}"; done | median_of)
    MEDCPU[$mode]=$(for round in $(seq 1 "$ROUNDS"); do echo "${CPU[$round/$mode]:-}"; done | median_of)
done
echo "medians: off ${MEDRATE[off]} msg/s ${MEDCPU[off]} us CPU/msg, on ${MEDRATE[on]} msg/s ${MEDCPU[on]} us CPU/msg"
cpu_off=-; cpu_on=-
[ "${COUNT[off]:-0}" -gt 0 ] && cpu_off=$(( CPUSUM[off] / COUNT[off] ))
[ "${COUNT[on]:-0}" -gt 0 ] && cpu_on=$(( CPUSUM[on] / COUNT[on] ))
cpu_cost=-; [[ "$cpu_off" =~ ^[0-9]+$ && "$cpu_on" =~ ^[0-9]+$ && "$cpu_off" -gt 0 ]] && cpu_cost=$(echo "scale=1; 100 * ($cpu_on - $cpu_off) / $cpu_off" | bc -l)
echo "CPU per message (receive, spool, deliver): off $cpu_off us, on $cpu_on us, +${cpu_cost}%"
echo "scrape after the runs: $scrape_lines mta_* sample lines from http://127.0.0.1:$TEL_WEB_PORT/metrics"
