#!/usr/bin/env bash
# Cost of policy: Mta with no scripts or plugins vs. all shipped scripts and plugins enabled, same load, same run.
#
#   bench/extensions.sh [messages=20000] [size=1024]
#
# Each mode: start Mta (start-up time = until the port accepts), warm up (WARMUP msgs, not counted),
# then mta-bench with 20 pipelined sessions. Prints one line per mode and the loss in percent.
# The "all" mode loads every scripts/*.csx (connect, helo/ehlo, mail, rcpt, data_post, vrfy hooks) and the
# greylist (F#) and mailing-list plugins (rcpt, route hooks), with settings that make every hook do its
# work on every message but refuse nothing: loopback is not exempted from the rate limit or HELO checks,
# the rate limits are high, the recipient list holds the bench user, and 127.0.0.0/8 is a trusted network
# in both modes (so greylisting is consulted and passes the client, as it would a site's own relay).
#
# Env: WARMUP=3000 SESSIONS=20 RUN_TIMEOUT=120, and mta-lib.sh's MTA_* knobs.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/mta-lib.sh"
messages=${1:-20000}; size=${2:-1024}
WARMUP=${WARMUP:-3000}; SESSIONS=${SESSIONS:-20}; RUN_TIMEOUT=${RUN_TIMEOUT:-120}
repo=$MTA_REPO

echo "# dotnet build -c Release Mta.sln" >&2
(cd "$repo" && dotnet build -c Release Mta.sln -nologo -v q > /dev/null) || { echo "build failed" >&2; exit 1; }
MTA_BUILD=0
bench=$repo/bench/Mta.Bench/bin/Release/net10.0/mta-bench
[ -x "$bench" ] || { echo "no $bench" >&2; exit 1; }

none_json='"Relay": { "TrustedNetworks": [ "127.0.0.0/8" ] }, "Scripts": { "Enabled": false }'
all_json='"Relay": { "TrustedNetworks": [ "127.0.0.0/8" ] },
  "Plugins": {
    "greylist": { "Path": "'"$repo"'/plugins/Mta.Plugins.Greylist/bin/Release/net10.0", "Settings": { "StateFile": "/tmp/mta-bench-greylist.json" } },
    "lists": { "Path": "'"$repo"'/plugins/Mta.Plugins.MailingLists/bin/Release/net10.0", "Order": 1,
               "Settings": { "Lists": { "dev@example.test": { "Members": [ "alice@example.test" ] } } } }
  },
  "Scripts": { "Enabled": true, "Directory": "'"$repo"'/scripts", "Watch": false, "Settings": {
    "rate-limit": { "MaxConnectionsPerMinute": 100000000, "MaxMessagesPerMinute": 100000000, "ExemptTrusted": false, "ExemptLoopback": false },
    "helo-checks": { "ExemptLoopback": false },
    "recipient-validation": { "Users": [ "user", "alice" ] },
    "vrfy-policy": { "Answer": true, "Users": [ "user" ] } } }'

trap 'mta_stop' EXIT
declare -A rate start
for mode in none all; do
    if [ "$mode" = none ]; then MTA_EXTENSIONS=$none_json; else MTA_EXTENSIONS=$all_json; fi
    t0=$(date +%s.%N)
    mta_start || { echo "mta did not start in mode $mode" >&2; exit 1; }
    t1=$(date +%s.%N)
    start[$mode]=$(echo "$t1 - $t0" | bc)
    [ "$mode" = all ] && grep -iE "script|plugin" "$MTA_LOG" | sed 's/^/#   /' | head -12 >&2
    timeout $((RUN_TIMEOUT + 15)) "$bench" "$MTA_ADDR:$MTA_PORT" --sessions "$SESSIONS" --messages "$WARMUP" --size "$size" --pipelining \
        --timeout "$RUN_TIMEOUT" 2>&1 | tail -n 1 | sed 's/^/#   warm-up: /' >&2
    sleep 3
    out=$(timeout $((RUN_TIMEOUT + 15)) "$bench" "$MTA_ADDR:$MTA_PORT" --sessions "$SESSIONS" --messages "$messages" --size "$size" \
        --pipelining --timeout "$RUN_TIMEOUT" 2>&1 | tail -n 1)
    echo "#   $mode: $out" >&2
    rate[$mode]=$(echo "$out" | awk '{print $8}')
    case "$out" in *"(failed 0)") ;; *) echo "# $mode: FAILED run: $out" >&2;; esac
    mta_stop
    rm -f /tmp/mta-bench-greylist.json
done
trap - EXIT

printf '%-6s %10s %12s\n' mode "msg/s" "start-up s"
for mode in none all; do printf '%-6s %10s %12.2f\n' "$mode" "${rate[$mode]}" "${start[$mode]}"; done
echo "extensions: none ${rate[none]} msg/s, all ${rate[all]} msg/s, loss $(echo "scale=1; 100 * (${rate[none]} - ${rate[all]}) / ${rate[none]}" | bc)%"
