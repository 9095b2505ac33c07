#!/usr/bin/env bash
# Cost of the Redis state store: Mta with State:Provider Redis (a private redis-server on loopback) against the
# memory store, the shipped rate-limit script active in both, same load, same run, alternating.
#
#   bench/state-store.sh [messages=5000] [size=1024]
#
# Two Mta instances from one Release build: "memory" on MTA_PORT (2526) and "redis" on REDIS_MTA_PORT (2532), both
# running scripts/rate-limit.csx alone (limits far above the load, loopback not exempt), so every connection and
# every MAIL FROM makes one state call: in memory for one, one round trip to Redis (a Lua sliding window) for the
# other. The redis-server is private (REDIS_PORT, 6391: --save "" --appendonly no --bind 127.0.0.1) and killed at
# the end. Each instance is warmed up (WARMUP msgs, not counted); then ROUNDS rounds measure both with mta-bench
# (SESSIONS pipelined sessions), the order swapped every round; all mail sent to an instance is delivered before
# the next run. Prints every run (msg/s, CPU per message of the Mta process), the medians, the per-round
# redis/memory ratios, and the number of keys the script left in Redis (proof that the store was exercised).
#
# Env: ROUNDS=3 WARMUP=1000 SESSIONS=20 RUN_TIMEOUT=120 DRAIN_MAX=120 REDIS_MTA_PORT=2532 REDIS_PORT=6391
#      REDIS_SERVER=/usr/bin/redis-server, and mta-lib.sh's MTA_* knobs.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/mta-lib.sh"
case "${1:-}" in -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac
messages=${1:-5000}; size=${2:-1024}
ROUNDS=${ROUNDS:-3}; WARMUP=${WARMUP:-1000}; SESSIONS=${SESSIONS:-20}; RUN_TIMEOUT=${RUN_TIMEOUT:-120}
DRAIN_MAX=${DRAIN_MAX:-120}; REDIS_MTA_PORT=${REDIS_MTA_PORT:-2532}; REDIS_PORT=${REDIS_PORT:-6391}
REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}
FROM=a@example.test; TO=user@localhost

[ -x "$REDIS_SERVER" ] || { echo "redis-server not found at $REDIS_SERVER (Debian package redis-server)" >&2; exit 1; }
if port_open 127.0.0.1 "$REDIS_PORT"; then echo "port 127.0.0.1:$REDIS_PORT in use; set REDIS_PORT" >&2; exit 1; fi
mta_bench_build || { echo "mta-bench build failed" >&2; exit 1; }
mta_build || { echo "mta build failed" >&2; exit 1; }
MTA_BUILD=0

work=$(mktemp -d "${TMPDIR:-/tmp}/mta-state-bench.XXXXXX")
mkdir -p "$work/scripts" && cp "$MTA_REPO/scripts/rate-limit.csx" "$work/scripts/"
declare -A PID TMP PORT SENT
REDIS_PID=
cleanup() {
    local mode
    for mode in memory redis; do
        [ -n "${PID[$mode]:-}" ] && { MTA_PID=${PID[$mode]} MTA_TMP=${TMP[$mode]} mta_stop; PID[$mode]=; }
    done
    [ -n "$REDIS_PID" ] && { kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; }
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --logfile "$work/redis.log" &
REDIS_PID=$!
for i in $(seq 1 50); do port_open 127.0.0.1 "$REDIS_PORT" && break; sleep 0.1; done
port_open 127.0.0.1 "$REDIS_PORT" || { echo "redis-server did not start" >&2; exit 1; }

scripts_json='"Authentication": { "Verify": { "Enabled": false } },
  "Scripts": { "Enabled": true, "Directory": "'"$work/scripts"'", "Watch": false, "Settings": {
    "rate-limit": { "MaxConnectionsPerMinute": 100000000, "MaxMessagesPerMinute": 100000000, "ExemptTrusted": false, "ExemptLoopback": false } } }'
memory_json="$scripts_json"
redis_json="$scripts_json, \"State\": { \"Provider\": \"Redis\", \"Redis\": { \"Configuration\": \"127.0.0.1:$REDIS_PORT\" } }"

start_mode() { # mode port extensions
    local mode=$1
    MTA_PORT=$2 MTA_EXTENSIONS=$3 mta_start || return 1
    PID[$mode]=$MTA_PID; TMP[$mode]=$MTA_TMP; PORT[$mode]=$2; SENT[$mode]=0; MTA_PID=; MTA_TMP=
}
start_mode memory "$MTA_PORT" "$memory_json" || { echo "the memory instance did not start" >&2; exit 1; }
start_mode redis "$REDIS_MTA_PORT" "$redis_json" || { echo "the redis instance did not start" >&2; exit 1; }

drain() {
    local mode=$1 n i
    for i in $(seq 1 $((DRAIN_MAX * 5))); do
        n=$(find "${TMP[$mode]}/maildir" -path '*/new/*' -type f 2>/dev/null | wc -l)
        [ "$n" -ge "${SENT[$mode]:-0}" ] && return 0
        sleep 0.2
    done
    echo "# $mode: only $n of ${SENT[$mode]} messages delivered after ${DRAIN_MAX}s" >&2
}
run() { # mode msgs -> RUN_OUT
    local out got
    out=$(timeout $((RUN_TIMEOUT + 15)) "$MTA_BENCH" "127.0.0.1:${PORT[$1]}" --sessions "$SESSIONS" --messages "$2" --size "$size" \
        --from "$FROM" --to "$TO" --timeout "$RUN_TIMEOUT" --pipelining 2>&1 | tail -n 1)
    got=$(echo "$out" | awk '{print $2}')   # mta-bench: N msgs in T s = R msg/s (failed F)
    [[ "$got" =~ ^[0-9]+$ ]] && SENT[$1]=$(( ${SENT[$1]:-0} + got ))
    RUN_OUT=$out
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

for mode in memory redis; do run "$mode" "$WARMUP"; echo "# warm-up $mode: $RUN_OUT" >&2; drain "$mode"; done
declare -A RATE CPU
runs=()
for round in $(seq 1 "$ROUNDS"); do
    order="memory redis"; [ $((round % 2)) = 0 ] && order="redis memory"
    for mode in $order; do
        t0=$(ticks "${PID[$mode]}")
        run "$mode" "$messages"; out=$RUN_OUT
        drain "$mode"
        t1=$(ticks "${PID[$mode]}")
        cpu=$(( (t1 - t0) * 1000000 / hz / messages ))
        rate=$(echo "$out" | awk '{print $8}')
        status=ok; case "$out" in *"(failed 0)") ;; *) status="FAILED: $out";; esac
        echo "# round $round $mode: $out, ${cpu} us CPU/msg" >&2
        runs+=("$(printf '%-5s %-6s %10s %11s  %s' "$round" "$mode" "${rate:--}" "$cpu" "$status")")
        [[ "$rate" =~ ^[0-9.]+$ ]] && { RATE[$round/$mode]=$rate; CPU[$round/$mode]=$cpu; }
    done
done

# What the script left in Redis: its sliding windows, and the hits of the last minute in the messages one.
redis_cli() { timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@" 2>/dev/null; }
keys=$(redis_cli --scan --pattern 'mta:*' | tr '\n' ' ')
hits=$(redis_cli ZCARD "mta:script:rate-limit:messages:127.0.0.1")
median_of() { sort -n | awk 'NF { a[n++] = $1 } END { if (n == 0) print "-"; else if (n % 2) print a[(n - 1) / 2]; else print (a[n / 2 - 1] + a[n / 2]) / 2 }'; }
echo "== state store cost: $messages msgs of $size B per run, $SESSIONS pipelined sessions, $ROUNDS rounds, rate-limit.csx in both =="
printf '%-5s %-6s %10s %11s  %s\n' round mode "msg/s" "cpu-us/msg" status
printf '%s\n' "${runs[@]}"
for mode in memory redis; do
    echo "median $mode: $(for r in $(seq 1 "$ROUNDS"); do echo "${RATE[$r/$mode]:-}"; done | median_of) msg/s," \
        "$(for r in $(seq 1 "$ROUNDS"); do echo "${CPU[$r/$mode]:-}"; done | median_of) us CPU/msg (Mta process)"
done
ratios=$(for r in $(seq 1 "$ROUNDS"); do
    [ -n "${RATE[$r/redis]:-}" ] && [ -n "${RATE[$r/memory]:-}" ] && echo "${RATE[$r/redis]} ${RATE[$r/memory]}"
done | awk '{ printf "%.3f\n", $1 / $2 }' | sort -n)
echo "per-round redis/memory ratios: $(echo $ratios); median $(echo "$ratios" | median_of)"
echo "keys in Redis after the runs: ${keys:-?}; hits in the messages window (last minute): ${hits:-?}"
