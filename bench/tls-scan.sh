#!/usr/bin/env bash
# Scans Mta's STARTTLS with testssl.sh (Debian package testssl.sh, offline: no DNS) and prints the TLS 1.2 and 1.3
# cipher suites offered, then one line "tls12 suites: N, cbc: N, non-ecdhe: N" (the defaults should give cbc 0, non-ecdhe 0).
# Env: MTA_PORT (2526), MTA_BUILD (1), TLS_EXTRA='"AllowCbcSuites": true' to scan a widened config.
set -uo pipefail
. "$(dirname "$0")/mta-lib.sh"
command -v testssl >/dev/null 2>&1 || command -v testssl.sh >/dev/null 2>&1 || { echo "needs testssl.sh (apt-get install testssl.sh)" >&2; exit 2; }
scanner=$(command -v testssl || command -v testssl.sh)
MTA_EXTENSIONS="\"Scripts\": { \"Enabled\": false }, \"Tls\": { \"MinimumProtocol\": \"Tls12\"${TLS_EXTRA:+, $TLS_EXTRA} }"
mta_build || exit 1
mta_start || exit 1
trap mta_stop EXIT
out=$(mktemp)
# -E: every suite the local openssl knows, per protocol; bounded so a hang cannot stall the script.
start=$(date +%s)
timeout 300 "$scanner" --quiet --color 0 --nodns none --warnings off --starttls smtp -E "$MTA_ADDR:$MTA_PORT" > "$out" 2>&1
rc=$?
echo "# testssl -E took $(( $(date +%s) - start )) s (exit $rc)"
sed -n '/TLS 1.2/,/^$/p;/TLS 1.3/,/^$/p' "$out" | grep -E "^ x|TLS 1\.[23]" || { tail -n 30 "$out"; }
tls12=$(sed -n '/^TLS 1.2/,/^$/p' "$out" | grep -E "^ x" || true)
n=$(printf '%s' "$tls12" | grep -c . || true)
cbc=$(printf '%s\n' "$tls12" | grep -c -E " (AES|Camellia|ARIA)[^ ]* +[0-9]+ +TLS_[A-Z0-9_]*CBC" || true)
nonecdhe=$(printf '%s\n' "$tls12" | grep -c -v -E "ECDH|^$" || true)
echo "tls12 suites: $n, cbc: $cbc, non-ecdhe: $nonecdhe"
rm -f "$out"
