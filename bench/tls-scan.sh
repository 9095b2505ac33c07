#!/usr/bin/env bash
# Scans Mta's STARTTLS with testssl.sh (Debian package testssl.sh, offline: no DNS) and prints the TLS 1.2 and 1.3
# cipher suites offered, then one line "tls12 suites: N, cbc: N, non-ecdhe: N" (the defaults should give cbc 0, non-ecdhe 0).
# Env: MTA_PORT (2526), MTA_BUILD (1), TLS_RSA (1: an RSA certificate beside the ECDSA one),
#      TLS_EXTRA='"AllowCbcSuites": true' to scan a widened config.
set -uo pipefail
. "$(dirname "$0")/mta-lib.sh"
command -v testssl >/dev/null 2>&1 || command -v testssl.sh >/dev/null 2>&1 || { echo "needs testssl.sh (apt-get install testssl.sh)" >&2; exit 2; }
scanner=$(command -v testssl || command -v testssl.sh)
# An RSA certificate beside the self-signed ECDSA one (TLS_RSA=0: ECDSA only), so both kinds of suite show.
certs=$(mktemp -d)
rsa=""
if [ "${TLS_RSA:-1}" = 1 ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mta.bench.test" \
        -keyout "$certs/rsa.key" -out "$certs/rsa.pem" >/dev/null 2>&1 || { echo "openssl req failed" >&2; exit 1; }
    rsa=", \"RsaCertificateFile\": \"$certs/rsa.pem\", \"RsaKeyFile\": \"$certs/rsa.key\""
fi
MTA_EXTENSIONS="\"Scripts\": { \"Enabled\": false }, \"Tls\": { \"MinimumProtocol\": \"Tls12\"$rsa${TLS_EXTRA:+, $TLS_EXTRA} }"
mta_build || exit 1
mta_start || exit 1
trap 'mta_stop; rm -rf "$certs"' EXIT
out=$(mktemp)
# -E: every suite the local openssl knows, per protocol; bounded so a hang cannot stall the script.
start=$(date +%s)
timeout 300 "$scanner" --quiet --color 0 --nodns none --warnings off --starttls smtp -E "$MTA_ADDR:$MTA_PORT" > "$out" 2>&1
rc=$?
echo "# testssl -E took $(( $(date +%s) - start )) s (exit $rc)"
# The -E listing: a "TLS 1.x" heading, then one " x...." line per suite offered.
section() { awk -v want="$1" '/^(SSLv|TLS )/ { on = ($0 ~ "^" want) } on && /^ x/' "$out"; }
tls12=$(section "TLS 1.2"); tls13=$(section "TLS 1.3")
if [ -z "$tls12$tls13" ]; then tail -n 30 "$out"; fi
echo "TLS 1.2:"; printf '%s\n' "$tls12"
echo "TLS 1.3:"; printf '%s\n' "$tls13"
n=$(printf '%s\n' "$tls12" | grep -c "^ x" || true)
cbc=$(printf '%s\n' "$tls12" | grep -c -E "TLS_[A-Z0-9_]*_CBC_" || true)
nonecdhe=$(printf '%s\n' "$tls12" | grep "^ x" | grep -c -v "TLS_ECDHE_" || true)
echo "tls12 suites: $n, cbc: $cbc, non-ecdhe: $nonecdhe"
rm -f "$out"
