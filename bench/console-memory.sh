#!/usr/bin/env bash
# Memory of the queue's read side with a large deferred queue (issue 15: "the console pages, never loads all").
# Fills Mta's queue with N messages relayed to a loopback listener that refuses every RCPT with 451 (so each message
# is tried once and deferred), then measures the server before and after SEARCHES queue.search requests through the
# control socket (pages of 50: unfiltered at offsets across the queue, by text matching every message, by state):
# RSS (/proc/PID/status VmRSS) and the managed heap (dotnet-gcdump: a full GC, then the live objects), plus the
# allocation of the searches (dotnet-counters' total allocated bytes; the queue is otherwise idle: every retry is
# minutes away). One queue.list of the whole queue follows, for contrast (it snapshots every message).
#
#   bench/console-memory.sh [N=100000] [SEARCHES=300]
#
# Needs dotnet-gcdump and dotnet-counters (`dotnet tool install -g dotnet-gcdump dotnet-counters`; the script installs
# them when missing). Mta runs in Release from bench/mta-lib.sh; the load is mta-bench (20 pipelined sessions, 1 KiB).
# Env (defaults): SINK_PORT=2540  FILL_TIMEOUT=600 (s)  ALLOC_WINDOW=40 (s, each allocation measurement)  + mta-lib.sh's MTA_PORT, MTA_BUILD, MTA_KEEP_TMP
set -uo pipefail
case "${1:-}" in -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac
here=$(cd "$(dirname "$0")" && pwd)
N=${1:-100000}
SEARCHES=${2:-300}
SINK_PORT=${SINK_PORT:-2540}
FILL_TIMEOUT=${FILL_TIMEOUT:-600}
ALLOC_WINDOW=${ALLOC_WINDOW:-40}
PYTHON=${PYTHON:-python3}
export PATH="$PATH:$HOME/.dotnet/tools"
. "$here/mta-lib.sh"

for tool in dotnet-gcdump dotnet-counters; do
    command -v "$tool" > /dev/null || dotnet tool install -g "$tool" > /dev/null || { echo "cannot install $tool" >&2; exit 1; }
done

# Relay to the refusing listener; the deferred mail then waits MinRetryDelay (5 min) before its next try.
eval "orig_$(declare -f mta_write_config)"
mta_write_config() {
    local f
    f=$(orig_mta_write_config "$1") || return 1
    "$PYTHON" - "$f" "$SINK_PORT" <<'PY' || return 1
import json, sys
path, port = sys.argv[1], int(sys.argv[2])
config = json.load(open(path))
config["Relay"] = {"TrustedNetworks": ["127.0.0.0/8"],
                   "Routes": {"deferred.test": {"Host": "[127.0.0.1]", "Port": port, "Tls": "None"}}}
json.dump(config, open(path, "w"), indent=2)
PY
    echo "$f"
}

port_open 127.0.0.1 "$SINK_PORT" && { echo "port $SINK_PORT in use; set SINK_PORT" >&2; exit 1; }
mta_build || { echo "mta build failed" >&2; exit 1; }
mta_bench_build || { echo "mta-bench build failed" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/console-memory.XXXXXX")
sink_pid=
trap '[ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null; mta_stop; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
"$PYTHON" "$here/console-memory.py" sink "$SINK_PORT" > "$work/sink.log" 2>&1 &
sink_pid=$!
for _ in $(seq 1 50); do port_open 127.0.0.1 "$SINK_PORT" && break; sleep 0.1; done
mta_start || exit 1
socket=$MTA_TMP/control.sock

rss() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$MTA_PID/status"; }
# Live managed heap after a full GC (dotnet-gcdump forces one), in MiB; the report is kept for the type counts.
heap() {
    rm -f "$work/heap.gcdump"
    timeout 300 dotnet-gcdump collect -p "$MTA_PID" -o "$work/heap.gcdump" > /dev/null 2>&1 || { echo "?"; return; }
    timeout 300 dotnet-gcdump report "$work/heap.gcdump" > "$work/heap.txt" 2>/dev/null
    awk '/GC Heap bytes/ { gsub(",", "", $1); printf "%.1f", $1 / 1048576; exit }' "$work/heap.txt"
}
live() { awk -v t="$1" '$3 == t { gsub(",", "", $2); n += $2 } END { print n + 0 }' "$work/heap.txt"; }
# Bytes allocated while CMD runs: dotnet-counters' per-second increments of total allocated over a fixed window of
# ALLOC_WINDOW seconds that holds CMD (it quits early, without its file, when stopped by a signal), summed. The idle
# server adds some tens of KB a second to it, the counter session included. Sets alloc (MiB) and peak (RSS, MiB).
allocating() {
    local out=$1; shift
    rm -f "$work/alloc.csv"
    dotnet-counters collect -p "$MTA_PID" --counters 'System.Runtime[dotnet.gc.heap.total_allocated]' --format csv \
        -o "$work/alloc.csv" --refresh-interval 1 --duration "00:00:$ALLOC_WINDOW" < /dev/null > "$work/counters.log" 2>&1 &
    local counters=$! r started
    sleep 2
    started=$(date +%s)
    "$@" > "$out" &
    local pid=$!
    peak=$(rss)
    while kill -0 "$pid" 2>/dev/null; do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.2; done
    wait "$pid" || { echo "failed: $*" >&2; kill -TERM "$counters"; return 1; }
    [ $(( $(date +%s) - started + 3 )) -le "$ALLOC_WINDOW" ] || echo "note: '$*' outlasted the ${ALLOC_WINDOW} s window: raise ALLOC_WINDOW" >&2
    wait "$counters" 2>/dev/null
    [ -f "$work/alloc.csv" ] || { cat "$work/counters.log" >&2; alloc="?"; return 0; }
    alloc=$(awk -F, '/total_allocated/ && $5 ~ /^[0-9.]+$/ { sum += $5 } END { printf "%.1f", sum / 1048576 }' "$work/alloc.csv")
}

idle=$(rss)
echo "# filling the queue: $N messages to deferred.test (refused with 451 by the sink)" >&2
fill_start=$(date +%s)
# 50 sessions: each sends N/50 messages, well inside the server's commands-per-session limit.
"$MTA_BENCH" "$MTA_ADDR:$MTA_PORT" --sessions 50 --messages "$N" --size 1024 --pipelining --to bench@deferred.test \
    --timeout "$FILL_TIMEOUT" > "$work/fill.out" 2>&1
tail -n 1 "$work/fill.out"
accepted=$(sed -n 's/^mta-bench: \([0-9]*\) msgs in.*/\1/p' "$work/fill.out" | tail -n 1)
accepted=${accepted:-$N}
# Every accepted message is tried once and deferred; wait for that (bounded), or until the count stops moving.
deferred=0; last=-1; still=0
deadline=$(( $(date +%s) + FILL_TIMEOUT ))
while [ "$(date +%s)" -lt "$deadline" ]; do
    deferred=$("$PYTHON" "$here/console-memory.py" total "$socket" deferred 2>/dev/null || echo 0)
    [ "$deferred" -ge "$accepted" ] && break
    if [ "$deferred" -eq "$last" ]; then still=$((still + 1)); [ "$still" -ge 15 ] && break; else still=0; fi
    last=$deferred
    sleep 2
done
fill_seconds=$(( $(date +%s) - fill_start ))
total=$("$PYTHON" "$here/console-memory.py" total "$socket")
echo "# queue: $total messages, $deferred with a deferred recipient, after ${fill_seconds} s" >&2
sleep 3

rss_before=$(rss); heap_before=$(heap)
allocating "$work/search.out" "$PYTHON" "$here/console-memory.py" search "$socket" "$SEARCHES" || exit 1
peak_search=$peak; alloc_search=$alloc
rss_after=$(rss); heap_after=$(heap); live_snapshots=$(live QueueEntrySnapshot)
allocating "$work/list.out" "$PYTHON" "$here/console-memory.py" list "$socket" || exit 1
peak_list=$peak; alloc_list=$alloc; rss_list=$(rss)

echo "console-memory: $total queued messages ($deferred deferred), filled in ${fill_seconds} s"
echo "  idle (before the fill)    rss ${idle} MiB"
echo "  before searches           rss ${rss_before} MiB, managed heap ${heap_before} MiB live"
echo "  $(cat "$work/search.out")"
echo "  during searches           rss peak ${peak_search} MiB, ${alloc_search} MiB allocated in all"
echo "  after searches            rss ${rss_after} MiB, managed heap ${heap_after} MiB live (${live_snapshots} QueueEntrySnapshot live)"
echo "  one queue.list (contrast) $(cat "$work/list.out"): ${alloc_list} MiB allocated, rss peak ${peak_list} MiB, after ${rss_list} MiB"
