#!/usr/bin/env bash
# The AUTH bar of issue 11: ATTEMPTS parallel AUTH PLAIN attempts with wrong passwords from ADDRESSES loopback addresses
# (127.0.0.2 ..), against one Mta with the default 600000-iteration hashes; meanwhile a legitimate client on 127.0.0.1
# runs whole transactions (MAIL, RCPT to a local user, DATA; no AUTH) one after another, each timed.
#
#   bench/auth-flood.sh [attempts=200] [addresses=5]
#
# Prints: the password evaluations the server made (its "auth ... result=failed|ok" log lines: one per hash computed)
# against what the limits allow (ADDRESSES x Auth:MaxFailuresPerIp), how the attempts were answered (535 evaluated and
# wrong, 454 refused before any hashing: failure slots or the hashing queue used up), the Mta process's CPU seconds
# over the flood, and the legitimate client's latency (connect to the 250 after the dot): min / median / max.
# Env: MAX_FAILURES=10 (Auth:MaxFailuresPerIp) ITERATIONS=600000 (Auth:HashIterations) MIN_TRANSACTIONS=5
#      FLOOD_MAX=300 (s, the whole script) + mta-lib.sh's MTA_PORT, MTA_BUILD, MTA_DLL, MTA_KEEP_TMP
# Linux only (127/8 is routed to lo). Stops the Mta it started, by pid.
set -uo pipefail
case "${1:-}" in -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac
FLOOD_MAX=${FLOOD_MAX:-300}
if [ -z "${FLOOD_INNER:-}" ]; then
    FLOOD_INNER=1 exec timeout -s TERM -k 30 "$FLOOD_MAX" "$0" "$@"
fi

here=$(cd "$(dirname "$0")" && pwd)
ATTEMPTS=${1:-200}; ADDRESSES=${2:-5}
MAX_FAILURES=${MAX_FAILURES:-10}; ITERATIONS=${ITERATIONS:-600000}; MIN_TRANSACTIONS=${MIN_TRANSACTIONS:-5}
for n in "$ATTEMPTS" "$ADDRESSES" "$MAX_FAILURES" "$ITERATIONS" "$MIN_TRANSACTIONS"; do
    [[ "$n" =~ ^[0-9]+$ ]] || { echo "not a number: $n" >&2; exit 2; }
done
. "$here/mta-lib.sh"

# The bench config of mta-lib.sh, with clear-text AUTH allowed on the loopback listener and the AUTH limits. SPF/DKIM
# checks are off: their DNS lookups (system resolvers, 5 s timeouts) would be measured instead of the server.
mta_write_config() {
    local dir=$1
    cat > "$dir/mta.bench.json" <<JSON
{
  "HostName": "mta.bench.test",
  "DataDirectory": "$dir",
  "Listeners": [ { "Name": "smtp", "Address": "$MTA_ADDR", "Port": $MTA_PORT, "Tls": "None", "AllowPlaintextAuth": true } ],
  "LocalDomains": [ "localhost", "example.test" ],
  "Mailboxes": { "Root": "$dir/maildir", "Postmaster": "postmaster"$MTA_MAILBOX_EXTRA },
  "Queue": { "Path": "$dir/queue" },
  "Limits": { "MaxConnections": $MTA_MAX_CONN, "MaxConnectionsPerIp": $MTA_MAX_CONN },
  "Auth": { "HashIterations": $ITERATIONS, "MaxFailuresPerIp": $MAX_FAILURES },
  "Authentication": { "Verify": { "Enabled": false } },
  $MTA_EXTENSIONS
}
JSON
    echo "$dir/mta.bench.json"
}

trap 'mta_stop' EXIT
trap 'exit 143' TERM INT
mta_build || exit 1
mta_bench_build || exit 1
mta_start || exit 1
echo "correct horse battery staple" | dotnet "$MTA_DLL" user add alice --password-stdin --config "$MTA_CONFIG" >/dev/null || exit 1

cpu() { awk '{ print $14 + $15 }' "/proc/$MTA_PID/stat"; }
ticks=$(getconf CLK_TCK)
before=$(cpu)
"$MTA_BENCH" auth-flood --port "$MTA_PORT" --attempts "$ATTEMPTS" --addresses "$ADDRESSES" --user alice \
    --rcpt user@localhost --min-transactions "$MIN_TRANSACTIONS" > "$MTA_TMP/flood.out" || { cat "$MTA_TMP/flood.out"; exit 1; }
after=$(cpu)
# The log is written as it happens; a moment for the last lines of the flood.
sleep 0.5
evaluated=$(grep -cE "auth mechanism=[A-Z]+ user=.* result=(failed|ok)" "$MTA_LOG")
echo "auth-flood: $ATTEMPTS attempts from $ADDRESSES addresses, Auth:HashIterations $ITERATIONS, $(nproc) cores"
echo "evaluations: $evaluated (the limits allow $((ADDRESSES * MAX_FAILURES)): $ADDRESSES addresses x Auth:MaxFailuresPerIp $MAX_FAILURES)"
cat "$MTA_TMP/flood.out"
echo "mta cpu over the flood: $(echo "scale=2; ($after - $before) / $ticks" | bc) s"
