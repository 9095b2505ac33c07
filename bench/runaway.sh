#!/usr/bin/env bash
# Runaway hook code (issue 14): legitimate sessions' latency while a script's RCPT handler that never returns
# (`while (true) {}`, its token ignored) is hit HITS times, with HookContainment on and off, and without hits.
#
#   bench/runaway.sh [hits=20] [legit-messages=2000]
#
# Two scripts: 10-users.csx accepts RCPT to user@ (the legitimate traffic never reaches the runaway script);
# 20-runaway.csx spins for ever on RCPT to spin@. Scripts:Timeout is 0.5 s. Each mode starts its own Mta, warms up,
# then starts `mta-bench runaway` (HITS sessions, one RCPT each, CONCURRENCY at a time) and, at the same time,
# `mta-bench` with SESSIONS persistent sessions sending LEGIT messages to user@example.test; both run to their end.
# Modes: baseline (no hits), on (HookContainment:Enabled, MaxAbandoned MAX_ABANDONED), off (every hit spins on).
# Prints per mode: the legitimate p50/p99/max (MAIL to 250 after the dot) and msg/s, the runaway replies, how many
# calls the server abandoned still running (event 1580) and whether the script was taken out of service (1582),
# and the Mta process's CPU seconds over the run.
#
# Env: SESSIONS=4 CONCURRENCY=2 MAX_ABANDONED=3 WARMUP=300 RUN_TIMEOUT=180 + mta-lib.sh's MTA_PORT, MTA_BUILD, MTA_DLL.
# Every spinning thread dies with the Mta it runs in; each mode stops its Mta by pid (SIGKILL after 10 s).
set -uo pipefail
case "${1:-}" in -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac
here=$(cd "$(dirname "$0")" && pwd)
HITS=${1:-20}; LEGIT=${2:-2000}
SESSIONS=${SESSIONS:-4}; CONCURRENCY=${CONCURRENCY:-2}; MAX_ABANDONED=${MAX_ABANDONED:-3}
WARMUP=${WARMUP:-300}; RUN_TIMEOUT=${RUN_TIMEOUT:-180}
for n in "$HITS" "$LEGIT" "$SESSIONS" "$CONCURRENCY" "$MAX_ABANDONED" "$WARMUP" "$RUN_TIMEOUT"; do
    [[ "$n" =~ ^[0-9]+$ ]] || { echo "not a number: $n" >&2; exit 2; }
done
. "$here/mta-lib.sh"

scripts=$(mktemp -d "${TMPDIR:-/tmp}/mta-runaway-scripts.XXXXXX")
cat > "$scripts/10-users.csx" <<'CSX'
// The legitimate recipients are decided here, before the runaway script.
On<RcptContext>(ctx => ctx.Recipient.Address.LocalPart == "user" ? HookResult.Accept() : HookResult.Continue);
CSX
cat > "$scripts/20-runaway.csx" <<'CSX'
// A handler that never returns and never looks at its token.
On<RcptContext>(ctx =>
{
    if (ctx.Recipient.Address.LocalPart != "spin") return HookResult.Continue;
    while (true) { }
});
CSX

mode_json() {
    local enabled=$1
    echo '"Scripts": { "Enabled": true, "Directory": "'"$scripts"'", "Watch": false, "Cache": false, "Timeout": "00:00:00.5" },
  "HookContainment": { "Enabled": '"$enabled"', "MaxAbandoned": '"$MAX_ABANDONED"' },
  "Authentication": { "Verify": { "Enabled": false } }'
}

cleanup() { mta_stop; rm -rf "$scripts"; }
trap cleanup EXIT
trap 'exit 143' TERM INT
mta_build || exit 1
mta_bench_build || exit 1
MTA_BUILD=0

cpu() { awk '{ print $14 + $15 }' "/proc/$MTA_PID/stat"; }
ticks=$(getconf CLK_TCK)
declare -A result
for mode in baseline on off; do
    case $mode in
        baseline) MTA_EXTENSIONS=$(mode_json true); hits=0 ;;
        on) MTA_EXTENSIONS=$(mode_json true); hits=$HITS ;;
        off) MTA_EXTENSIONS=$(mode_json false); hits=$HITS ;;
    esac
    mta_start || { echo "mta did not start in mode $mode" >&2; exit 1; }
    timeout $((RUN_TIMEOUT + 15)) "$MTA_BENCH" "$MTA_ADDR:$MTA_PORT" --sessions "$SESSIONS" --messages "$WARMUP" --size 1024 \
        --to user@example.test --timeout "$RUN_TIMEOUT" 2>&1 | tail -n 1 | sed "s/^/# $mode warm-up: /" >&2
    before=$(cpu)
    timeout $((RUN_TIMEOUT + 15)) "$MTA_BENCH" runaway --port "$MTA_PORT" --hits "$hits" --concurrency "$CONCURRENCY" \
        --rcpt spin@example.test --timeout "$RUN_TIMEOUT" > "$MTA_TMP/runaway.out" 2>&1 &
    hitter=$!
    legit=$(timeout $((RUN_TIMEOUT + 15)) "$MTA_BENCH" "$MTA_ADDR:$MTA_PORT" --sessions "$SESSIONS" --messages "$LEGIT" --size 1024 \
        --to user@example.test --timeout "$RUN_TIMEOUT" 2> "$MTA_TMP/legit.err")
    wait "$hitter"
    after=$(cpu)
    latency=$(echo "$legit" | grep '^latency:' | sed 's/^latency: //; s/ (.*//')
    rate=$(echo "$legit" | grep '^mta-bench:' | sed 's/^mta-bench: //')
    runaway=$(sed 's/^runaway: //' "$MTA_TMP/runaway.out")
    # The console log is written by a background queue: a moment for the last lines.
    sleep 1
    abandoned=$(grep -c "abandoned while still running" "$MTA_LOG")
    out=$(grep -c "taken out of service" "$MTA_LOG")
    # Why legitimate messages failed, if any did (mta-bench reports its first few failures).
    failures=$(grep -v '^#' "$MTA_TMP/legit.err" | head -n 2 | tr '\n' ' ')
    result[$mode]=$(printf 'legit %s; %s\n    runaway %s\n    abandoned still running: %s, taken out of service: %s, mta cpu %.1f s%s' \
        "$latency" "$rate" "$runaway" "$abandoned" "$out" "$(echo "scale=2; ($after - $before) / $ticks" | bc)" \
        "${failures:+$'\n'    legit failures: $failures}")
    mta_stop
done

echo "runaway: $HITS hits (concurrency $CONCURRENCY) on a never-returning RCPT handler, Scripts:Timeout 0.5 s," \
    "$SESSIONS legitimate sessions x $LEGIT messages of 1 KiB, $(nproc) cores"
for mode in baseline on off; do
    case $mode in
        baseline) label="no runaway hits" ;;
        on) label="containment on (MaxAbandoned $MAX_ABANDONED)" ;;
        off) label="containment off" ;;
    esac
    echo "$label: ${result[$mode]}"
done
