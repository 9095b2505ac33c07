#!/usr/bin/env bash
# Slow clients and slots (issue 11, point 3): CONNECTIONS drip-fed connections (one byte every DRIP s, reopened when the
# server closes them) from ADDRESSES loopback addresses 127.0.0.10.., against Mta with its default limits
# (MaxConnections 1000, MaxConnectionsPerIp 50, MinDataRate 240 B/s after 10 s, stress from 80% busy) except that
# loopback is not exempt from per-address limits (Limits.ConnectionLimitExceptions []: the attack comes from
# 127.0.0.x); every INTERVAL s a legitimate client from 127.0.0.200 does one whole transaction (EHLO, MAIL, RCPT, DATA,
# QUIT), timed from connect to 221. The bar: every probe served, each within 10 s.
#
#   bench/slow-clients.sh [connections=1000] [seconds=60]
#
# Env (defaults): ADDRESSES=25 INTERVAL=2 DRIP=3 RECONNECT=1 (s a drip-fed connection waits before reconnecting)
#   LIMITS='' (more JSON members of "Limits", e.g. '"MinDataRate": 0' to see the attack without the rate check)
#   + mta-lib.sh's MTA_PORT, MTA_BUILD, MTA_DLL, MTA_KEEP_TMP.
# Prints the probes, the summary line of mta-bench slow-clients (legit probes served/refused/failed, latency median
# and max) and how often Mta entered stress mode. Linux routes all of 127/8 to lo, so the client sockets bind to
# 127.0.0.x before connecting. Both processes raise their descriptor limit to the hard limit.
set -uo pipefail
case "${1:-}" in -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac
here=$(cd "$(dirname "$0")" && pwd)
CONNECTIONS=${1:-1000}; RUN_SECONDS=${2:-60}
ADDRESSES=${ADDRESSES:-25}; INTERVAL=${INTERVAL:-2}; DRIP=${DRIP:-3}; RECONNECT=${RECONNECT:-1}; LIMITS=${LIMITS:-}
for n in "$CONNECTIONS" "$RUN_SECONDS" "$ADDRESSES"; do [[ "$n" =~ ^[0-9]+$ ]] || { echo "not a number: $n" >&2; exit 2; }; done
[ "$CONNECTIONS" -le 20000 ] && [ "$RUN_SECONDS" -le 3600 ] && [ "$ADDRESSES" -le 200 ] || { echo "at most 20000 connections, 3600 s, 200 addresses" >&2; exit 2; }
. "$here/mta-lib.sh"

# Descriptors: the drip-fed sockets, the probes and the server's side of each, with room to spare.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
need=$((CONNECTIONS + 500))
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge "$need" ] || { echo "ulimit -n is $(ulimit -n), need $need (raise the hard limit)" >&2; exit 1; }

# The limits under test are Mta's defaults: this config sets none of them, and no loopback exemption.
mta_write_config() {
    local dir=$1
    cat > "$dir/mta.bench.json" <<JSON
{
  "HostName": "mta.bench.test",
  "DataDirectory": "$dir",
  "Listeners": [ { "Name": "smtp", "Address": "$MTA_ADDR", "Port": $MTA_PORT, "Tls": "None" } ],
  "LocalDomains": [ "localhost", "example.test" ],
  "Mailboxes": { "Root": "$dir/maildir", "Postmaster": "postmaster"$MTA_MAILBOX_EXTRA },
  "Queue": { "Path": "$dir/queue" },
  "Limits": { "ConnectionLimitExceptions": [] ${LIMITS:+, $LIMITS} },
  "Logging": { "LogLevel": { "Default": "Warning", "Mta.Admission": "Information" } },
  $MTA_EXTENSIONS
}
JSON
    echo "$dir/mta.bench.json"
}

trap mta_stop EXIT
trap 'exit 124' INT TERM
mta_bench_build || { echo "mta-bench build failed" >&2; exit 1; }
mta_build || { echo "Mta build failed" >&2; exit 1; }
mta_start || exit 1

echo "# $CONNECTIONS drip-fed connections from $ADDRESSES addresses for ${RUN_SECONDS}s; legit client every ${INTERVAL}s" >&2
timeout $((RUN_SECONDS + 120)) "$MTA_BENCH" slow-clients "$MTA_ADDR:$MTA_PORT" --connections "$CONNECTIONS" --addresses "$ADDRESSES" \
    --seconds "$RUN_SECONDS" --interval "$INTERVAL" --drip "$DRIP" --reconnect "$RECONNECT" --to user@localhost
rc=$?
enter=$(grep -c 'stress: ' "$MTA_LOG" || true); leave=$(grep -c 'stress over: ' "$MTA_LOG" || true)
echo "mta: entered stress $enter times, left it $leave times"
echo "mta: $(grep -m1 -o 'refused connections: .*' "$MTA_LOG" || echo 'no refusal summary')"
exit $rc
