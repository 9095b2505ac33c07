#!/usr/bin/env bash
# Memory under large DATA (issue 11): SESSIONS sessions each send SIZE octets and pause before the final dot; the Mta
# process's RSS (/proc/PID/status VmRSS) is sampled idle, while they hold, right after every message is committed,
# and SETTLE seconds later. Bar: held < 300 MiB with 200 x 9 MiB; settled within 1.5x idle.
#
#   bench/data-memory.sh [sessions=200] [size=9437184]
#
# Mta runs in Release from bench/mta-lib.sh (loopback, local delivery to Maildir, default Limits except the connection
# limits; the default Limits:Data:InFlightBudget of 200 x MaxMessageSize = 2000 MiB is raised to fit the load when
# SESSIONS x SIZE passes it). The load is `mta-bench hold`; "held" is when the queue directory holds SESSIONS spill files
# of at least SIZE - 64 KiB (every session's data is at the server). Deliveries to Maildir are waited for before the
# settled sample (bounded by SETTLE_DELIVERY seconds). Idle is sampled after a warm-up (200 x 1 KiB and 2 x 1 MiB
# messages, delivered): the code a first message loads and compiles is not what the bar is about; the cold figure
# (before any message) is printed too.
# Env (defaults): SETTLE=60 (s) SETTLE_DELIVERY=300 (s)  + mta-lib.sh's MTA_PORT, MTA_BUILD, MTA_KEEP_TMP
set -uo pipefail
case "${1:-}" in -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac
here=$(cd "$(dirname "$0")" && pwd)
SESSIONS=${1:-200}
SIZE=${2:-9437184}
SETTLE=${SETTLE:-60}
SETTLE_DELIVERY=${SETTLE_DELIVERY:-300}
total=$((SESSIONS * SIZE))
. "$here/mta-lib.sh"
# A larger load than the default budget (200 x MaxMessageSize = 2000 MiB) fits gets a larger budget.
BUDGET=$(( total + 104857600 > 2097152000 ? total + 104857600 : 2097152000 ))
eval "orig_$(declare -f mta_write_config)"
mta_write_config() {
    local f
    f=$(orig_mta_write_config "$1") || return 1
    sed -i "s/\"MaxConnectionsPerIp\": $MTA_MAX_CONN }/\"MaxConnectionsPerIp\": $MTA_MAX_CONN, \"Data\": { \"InFlightBudget\": $BUDGET } }/" "$f"
    grep -q InFlightBudget "$f" || { echo "could not set Limits.Data.InFlightBudget in $f" >&2; return 1; }
    echo "$f"
}

mta_build || { echo "mta build failed" >&2; exit 1; }
mta_bench_build || { echo "mta-bench build failed" >&2; exit 1; }
trap 'mta_stop; rm -f "${release:-}" "${out:-}"' EXIT
trap 'exit 130' INT TERM
mta_start || exit 1

rss() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$MTA_PID/status"; }
sleep 2
cold=$(rss)
# Idle is a server that has already handled mail (code loaded and compiled, pools primed): a few small and one large
# message (spilled, so the spill path is warm too), delivered, then a pause.
"$MTA_BENCH" "$MTA_ADDR:$MTA_PORT" --sessions 4 --messages 200 --size 1024 --timeout 60 > /dev/null 2>&1
"$MTA_BENCH" hold --port "$MTA_PORT" --sessions 2 --size 1048576 --hold-seconds 0 > /dev/null 2>&1
for _ in $(seq 1 120); do
    [ "$(find "$MTA_TMP/maildir" -path '*/new/*' -type f 2>/dev/null | wc -l)" -ge 202 ] && break
    sleep 0.5
done
sleep 5
idle=$(rss)
warm_files=$(find "$MTA_TMP/maildir" -path '*/new/*' -type f 2>/dev/null | wc -l)
release=$(mktemp -u "${TMPDIR:-/tmp}/mta-hold-release.XXXXXX")
out=$(mktemp "${TMPDIR:-/tmp}/mta-hold-out.XXXXXX")
"$MTA_BENCH" hold --port "$MTA_PORT" --sessions "$SESSIONS" --size "$SIZE" --release-file "$release" --hold-seconds 600 > "$out" 2>&1 &
bench_pid=$!

# Held: every session's data is in its spill file (bounded wait).
min=$((SIZE - 65536))
for _ in $(seq 1 1200); do
    n=$(find "$MTA_TMP/queue" -name 'body-*.tmp' -size +"$((min / 1024))"k 2>/dev/null | wc -l)
    [ "$n" -ge "$SESSIONS" ] && break
    kill -0 "$bench_pid" 2>/dev/null || break
    sleep 0.5
done
held=$(rss)
peak_held=$held
for _ in 1 2 3 4 5; do sleep 0.2; r=$(rss); [ "$r" -gt "$peak_held" ] && peak_held=$r; done
touch "$release"
peak_commit=$held
while kill -0 "$bench_pid" 2>/dev/null; do r=$(rss); [ "$r" -gt "$peak_commit" ] && peak_commit=$r; sleep 0.2; done
wait "$bench_pid"; brc=$?
committed=$(rss)
cat "$out"
# Let the local deliveries finish, then SETTLE seconds more.
for _ in $(seq 1 $((SETTLE_DELIVERY * 2))); do
    d=$(find "$MTA_TMP/maildir" -path '*/new/*' -type f 2>/dev/null | wc -l)
    [ "$d" -ge $((SESSIONS + warm_files)) ] && break
    r=$(rss); [ "$r" -gt "$peak_commit" ] && peak_commit=$r
    sleep 0.5
done
echo "delivered $((d - warm_files)) of $SESSIONS"
sleep "$SETTLE"
settled=$(rss)
echo "data-memory: $SESSIONS sessions x $SIZE octets held before the final dot"
echo "  idle                 ${idle} MiB (after 200 x 1 KiB and 2 x 1 MiB messages; ${cold} MiB before any)"
echo "  held                 ${held} MiB (peak ${peak_held} MiB; bar < 300 MiB)"
echo "  committed            ${committed} MiB (peak during commit and delivery ${peak_commit} MiB)"
echo "  ${SETTLE} s after        ${settled} MiB = $(awk -v s="$settled" -v i="$idle" 'BEGIN { printf "%.2f", s / i }')x idle (bar <= 1.5x)"
exit "$brc"
