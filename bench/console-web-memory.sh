#!/usr/bin/env bash
# Memory of the web console's queue browser with a large deferred queue (issue 15: "the console pages, never loads all").
# Fills Mta's queue with N messages relayed to a loopback port where nothing listens (each is tried once and deferred),
# then measures the server's RSS (/proc/PID/status VmRSS) before, during (peak) and after REQUESTS GETs of queue pages
# over HTTP: pages across the whole queue, a text search that matches every message, the state filter, and the last page.
#
#   bench/console-web-memory.sh [N=100000] [REQUESTS=200]
#
# Mta runs in Release from bench/mta-lib.sh with Web:Enabled and Web:AnonymousRead on 127.0.0.1:WEB_PORT; the load is
# mta-bench (20 pipelined sessions, 1 KiB).  Env (defaults): WEB_PORT=8099  DEAD_PORT=2541  FILL_TIMEOUT=600 (s)
# + mta-lib.sh's MTA_PORT, MTA_BUILD, MTA_KEEP_TMP
set -uo pipefail
case "${1:-}" in -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac
here=$(cd "$(dirname "$0")" && pwd)
N=${1:-100000}
REQUESTS=${2:-200}
WEB_PORT=${WEB_PORT:-8099}
DEAD_PORT=${DEAD_PORT:-2541}
FILL_TIMEOUT=${FILL_TIMEOUT:-600}
MTA_EXTENSIONS="\"Scripts\": { \"Enabled\": false }, \"Authentication\": { \"Verify\": { \"Enabled\": false } },
  \"Relay\": { \"TrustedNetworks\": [\"127.0.0.0/8\"], \"Routes\": { \"deferred.test\": { \"Host\": \"[127.0.0.1]\", \"Port\": $DEAD_PORT, \"Tls\": \"None\" } } },
  \"Web\": { \"Enabled\": true, \"Urls\": [\"http://127.0.0.1:$WEB_PORT\"], \"AnonymousRead\": true }"
. "$here/mta-lib.sh"

port_open 127.0.0.1 "$DEAD_PORT" && { echo "port $DEAD_PORT is in use: it must refuse; set DEAD_PORT" >&2; exit 1; }
port_open 127.0.0.1 "$WEB_PORT" && { echo "port $WEB_PORT in use; set WEB_PORT" >&2; exit 1; }
mta_build || { echo "mta build failed" >&2; exit 1; }
mta_bench_build || { echo "mta-bench build failed" >&2; exit 1; }
trap 'mta_stop' EXIT
trap 'exit 130' INT TERM
mta_start || exit 1
web=http://127.0.0.1:$WEB_PORT

rss() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$MTA_PID/status"; }
# The "N message(s)" line of a queue page.
total_of() { curl -s --max-time 120 "$web/queue$1" | grep -o 'of [0-9]* message(s)' | grep -o '[0-9]*' | head -n 1; }

idle=$(rss)
echo "# filling the queue: $N messages to deferred.test (port $DEAD_PORT refuses)" >&2
fill_start=$(date +%s)
"$MTA_BENCH" "$MTA_ADDR:$MTA_PORT" --sessions 20 --messages "$N" --size 1024 --pipelining --to bench@deferred.test \
    --timeout "$FILL_TIMEOUT" | tail -n 1
deferred=0
deadline=$(( $(date +%s) + FILL_TIMEOUT ))
# Until every queued message has been tried once (a few of N may have been refused by the load's own limits).
while [ "$(date +%s)" -lt "$deadline" ]; do
    deferred=$(total_of "?state=deferred"); deferred=${deferred:-0}
    total=$(total_of ""); total=${total:-0}
    [ "$total" -gt 0 ] && [ "$deferred" -ge "$total" ] && break
    sleep 2
done
fill_seconds=$(( $(date +%s) - fill_start ))
total=$(total_of "")
pages=$(( (total + 49) / 50 ))
echo "# queue: $total messages, $deferred deferred, after ${fill_seconds} s; $pages pages of 50" >&2
sleep 3

rss_before=$(rss)
requests() {
    local i page
    for i in $(seq 1 "$REQUESTS"); do
        page=$(( (i * 7919) % pages + 1 ))
        case $(( i % 4 )) in
            0) curl -s -o /dev/null --max-time 120 "$web/queue?page=$page" ;;
            1) curl -s -o /dev/null --max-time 120 "$web/queue?q=deferred.test&page=$page" ;;
            2) curl -s -o /dev/null --max-time 120 "$web/queue?state=deferred&page=$pages" ;;
            3) curl -s -o /dev/null --max-time 120 "$web/queue?q=bench@deferred&state=deferred&page=$page" ;;
        esac
    done
}
start=$(date +%s.%N)
requests &
pid=$!
peak=$rss_before
while kill -0 "$pid" 2>/dev/null; do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.2; done
wait "$pid"
seconds=$(echo "$(date +%s.%N) - $start" | bc)
rss_after=$(rss)
overview_start=$(date +%s.%N)
curl -s -o /dev/null --max-time 120 "$web/"
overview_seconds=$(echo "$(date +%s.%N) - $overview_start" | bc)

echo "console-web-memory: $total queued messages ($deferred deferred), filled in ${fill_seconds} s"
echo "  idle (before the fill)    rss ${idle} MiB"
echo "  before the page requests  rss ${rss_before} MiB"
printf '  %s GETs of /queue pages   %.1f s in all (%.0f ms each)\n' "$REQUESTS" "$seconds" "$(echo "$seconds * 1000 / $REQUESTS" | bc -l)"
echo "  during                    rss peak ${peak} MiB"
echo "  after                     rss ${rss_after} MiB"
printf '  one overview (qshape walk) %.2f s\n' "$overview_seconds"
