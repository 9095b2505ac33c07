#!/usr/bin/env bash
# Mail authentication (issue 10): what the checks cost on accepting, what DKIM signing costs on relaying, and the
# signatures per second per core; all in one run, on loopback, with a local DNS stub.
#
#   sudo bench/auth.sh [messages=20000] [sessions=20]
#
# DNS: dnsmasq (Debian package dnsmasq-base, installed with apt-get when missing; no service is started) on
# 127.0.0.1:$DNS_PORT (5354), --no-resolv --no-hosts --local=/test/ (nothing is ever forwarded), answering TXT for
#   bench.test                 v=spf1 ip4:127.0.0.1 -all       (the MAIL FROM domain's SPF)
#   client.bench.test          v=spf1 ip4:127.0.0.1 -all       (the HELO name's SPF)
#   rsa._domainkey.bench.test  v=DKIM1; k=rsa; p=...            (cut into <=255-char strings)
#   ed._domainkey.bench.test   v=DKIM1; k=ed25519; p=...
#   _dmarc.bench.test          v=DMARC1; p=reject
# with TTL $DNS_TTL (300). The keys come from `mta dkim keygen bench.test --selector rsa|ed --algorithm rsa|ed25519`
# (rsa-2048), the records from its output; dig checks every record before any measurement, and `mta auth verify` of
# the signed message (client 127.0.0.1, MAIL FROM sender@bench.test, HELO client.bench.test) must say spf, dkim and
# dmarc pass (a note says otherwise).
#
# 1. accept: three Mta instances, the same config (bench/mta-lib.sh, no scripts, Dns.Servers the stub, local delivery
#    to Maildir) but for
#      off      Authentication.Verify.Enabled false
#      on       Verify on (SPF of MAIL FROM and HELO, DKIM, DMARC, ARC: every check, the defaults), DNS cache on
#      on-nc    Verify on and Dns.CacheSize 0: every lookup goes to the stub (the worst case: no answer ever cached)
#    mta-bench drives each with MESSAGES messages over SESSIONS persistent sessions, --pipelining, --data-file a
#    rsa-2048 DKIM-signed message (`mta dkim sign`, about 1.4 KiB signed, 1 KiB before) from sender@bench.test to
#    user@localhost, HELO client.bench.test: so SPF, DKIM and DMARC all pass. Each instance gets WARMUP messages first
#    (uncounted); then REPS rounds, each running off, on, on-nc one after the other, waiting after each run until its
#    local deliveries are done (so no run competes with another's deliveries). Figures: msg/s of each run, the median
#    per instance, on/off and the checks' cost = 1 - on/off in %; and, less sensitive to what else runs on the
#    machine, the Mta process's CPU time (user + system, /proc/PID/stat) per message from the start of the run until
#    its last local delivery, median and on/off. One delivered message of each instance shows its
#    Authentication-Results field (the checks really ran and passed).
# 2. relay: three more instances, Relay.TrustedNetworks 127.0.0.0/8 (so nothing is verified; mail from there is
#    signed), Relay.SmartHost a smtp-sink of this script's own on 127.0.0.1:$SINK_PORT (2549; Postfix's smtp-sink,
#    skipped when it is not installed), Queue.DeliveryConcurrency 20, and
#      unsigned  no signing domain
#      rsa       Authentication.Signing.Domains bench.test: selector rsa (rsa-2048)
#      ed25519   Authentication.Signing.Domains bench.test: selector ed (ed25519)
#    mta-bench injects RELAY_MSGS generated 1 KiB messages (From: sender@bench.test, to rcpt@relay.test; persistent
#    sessions, --pipelining). Figures, from the start of injection: inject msg/s (mta-bench's own) and e2e msg/s
#    (messages / time until the last `result=delivered` in the instance's log, polled every 0.1 s) and the Mta
#    process's CPU us per message over that span; REPS rounds interleaved as above; medians and the ratios to unsigned. One message to user@localhost through each instance
#    shows the DKIM-Signature it got (a= and s=).
# 3. sign-rate: `mta-bench sign-rate` signs the same 1 KiB message with Mta's DkimMessageSigner (the server's code:
#    parse, canonicalize, hash, sign) on one thread for SIGN_SECONDS, for each key: signatures per second on one core.
#
# Each mta-bench run sends its messages or stops after RUN_TIMEOUT seconds, whichever comes first (a slow instance
# then sends fewer; its rate is the messages accepted / the time; a note gives the count).
# Env (defaults): REPS=3 WARMUP=500 RELAY_MSGS=5000 SIGN_SECONDS=5 RUN_TIMEOUT=20 (s, each mta-bench run)
#   DRAIN_TIMEOUT=120 (s, waiting for deliveries) AUTH_MAX=900 (s, the whole script; past it everything is stopped)
#   ACCEPT=1 RELAY=1 SIGN=1 NOCACHE=1 (0 = skip that part / the on-nc instance)
#   PER_CHECK=0 (1 = three more accept instances with one check each: spf, dkim, arc; DMARC needs SPF and DKIM)
#   DNS_PORT=5354 DNS_TTL=300 PORT_BASE=2540 (accept instances on BASE..BASE+2, relay on BASE+3..BASE+5)
#   SINK_PORT=2549 RSA_BITS=2048 SHARED_DIR=<repo>/../shared (or <repo>/../../shared)  + mta-lib.sh's MTA_BUILD, MTA_DLL, MTA_KEEP_TMP
# Needs root (apt-get, smtp-sink). Everything it starts (dnsmasq, Mta instances, smtp-sink) it stops, by pid.
set -uo pipefail
case "${1:-}" in -h|--help) sed -n '2,55p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac

# The overall bound: re-run under timeout(1); its TERM reaches the trap below, which stops everything.
AUTH_MAX=${AUTH_MAX:-900}
if [ -z "${AUTH_INNER:-}" ]; then
    AUTH_INNER=1 exec timeout -s TERM -k 30 "$AUTH_MAX" "$0" "$@"
fi

here=$(cd "$(dirname "$0")" && pwd)
MESSAGES=${1:-20000}; SESSIONS=${2:-20}
REPS=${REPS:-3}; WARMUP=${WARMUP:-500}; RELAY_MSGS=${RELAY_MSGS:-5000}; SIGN_SECONDS=${SIGN_SECONDS:-5}
RUN_TIMEOUT=${RUN_TIMEOUT:-20}; DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-120}
ACCEPT=${ACCEPT:-1}; RELAY=${RELAY:-1}; SIGN=${SIGN:-1}; NOCACHE=${NOCACHE:-1}; PER_CHECK=${PER_CHECK:-0}
DNS_PORT=${DNS_PORT:-5354}; DNS_TTL=${DNS_TTL:-300}; PORT_BASE=${PORT_BASE:-2540}; SINK_PORT=${SINK_PORT:-2549}
RSA_BITS=${RSA_BITS:-2048}
DOMAIN=bench.test; HELO=client.bench.test; SENDER=sender@$DOMAIN
for n in "$MESSAGES" "$SESSIONS" "$REPS" "$WARMUP" "$RELAY_MSGS" "$SIGN_SECONDS" "$DNS_PORT" "$DNS_TTL" "$PORT_BASE" "$SINK_PORT"; do
    [[ "$n" =~ ^[0-9]+$ ]] || { echo "not a number: $n" >&2; exit 2; }
done
[ "$MESSAGES" -le 1000000 ] && [ "$RELAY_MSGS" -le 1000000 ] || { echo "at most 1000000 messages" >&2; exit 2; }
[ "$REPS" -ge 1 ] || { echo "REPS must be at least 1" >&2; exit 2; }
. "$here/mta-lib.sh"
# The shared folder sits beside the repository; from a worktree under wt/ it is one level further up.
SHARED_DIR=${SHARED_DIR:-$MTA_REPO/../shared}
[ -d "$SHARED_DIR" ] || [ ! -d "$MTA_REPO/../../shared/bench" ] || SHARED_DIR=$MTA_REPO/../../shared
SB=$SHARED_DIR/bench

NOTES=()
note() { echo "# $*" >&2; NOTES+=("$*"); }
[ "$(id -u)" = 0 ] || { echo "run as root: apt-get (dnsmasq-base) and smtp-sink need it" >&2; exit 1; }
command -v bc >/dev/null || { echo "bc not found (apt-get install -y bc)" >&2; exit 1; }

# ---- clean-up: everything this script started, by the ids it recorded ------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/auth-bench.XXXXXX")
DNS_PID=; SINK_UP=0
declare -A I_PID I_TMP I_LOG I_CONFIG I_PORT
inst_stop() { # name: stop one Mta instance (mta-lib.sh's mta_stop on its recorded pid and folder)
    local name=$1
    [ -n "${I_PID[$name]:-}" ] || return 0
    MTA_PID=${I_PID[$name]}; MTA_TMP=${I_TMP[$name]}
    mta_stop 2>&1 | sed "s/^/#   $name: /" >&2
    I_PID[$name]=
}
cleanup() {
    local name
    for name in "${!I_PID[@]}"; do inst_stop "$name"; done
    if [ "$SINK_UP" = 1 ]; then PEER_RUN=$WORK/sink "$SB/peers/sink-down.sh" >&2 || true; fi
    if [ -n "$DNS_PID" ]; then kill -TERM "$DNS_PID" 2>/dev/null; wait "$DNS_PID" 2>/dev/null; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "# stopped (signal or AUTH_MAX=${AUTH_MAX}s reached)" >&2; exit 124' INT TERM

# ---- build ------------------------------------------------------------------------------------------------------
mta_bench_build || { echo "mta-bench build failed" >&2; exit 1; }
mta_build || { echo "Mta build failed" >&2; exit 1; }
[ -f "$MTA_DLL" ] || { echo "no $MTA_DLL" >&2; exit 1; }
mta_cli() { timeout 60 dotnet "$MTA_DLL" "$@"; }

# ---- keys, records, the signed message -----------------------------------------------------------------------------
# `mta dkim keygen` writes DataDirectory/dkim/DOMAIN/SELECTOR.key and prints "Publish this TXT record at NAME:" and
# the record on the next line.
mkdir -p "$WORK/keys"
MTA_EXTENSIONS='"Scripts": { "Enabled": false }' MTA_PORT=$PORT_BASE mta_write_config "$WORK/keys" >/dev/null
KEYCFG=$WORK/keys/mta.bench.json
keygen() { # selector algorithm -> prints the TXT record
    local out
    out=$(mta_cli dkim keygen "$DOMAIN" --selector "$1" --algorithm "$2" $([ "$2" = rsa ] && echo "--bits $RSA_BITS") --config "$KEYCFG" 2>&1) \
        || { echo "mta dkim keygen $DOMAIN --selector $1 --algorithm $2 failed: $out" >&2; return 1; }
    echo "$out" | sed -n '/^Publish this TXT record at/{n;p;q}'
}
RSA_KEY=$WORK/keys/dkim/$DOMAIN/rsa.key; ED_KEY=$WORK/keys/dkim/$DOMAIN/ed.key
RSA_REC=$(keygen rsa rsa) && ED_REC=$(keygen ed ed25519) && [ -s "$RSA_KEY" ] && [ -s "$ED_KEY" ] \
    || { echo "no DKIM keys: this build has no working 'mta dkim keygen'" >&2; exit 1; }
case "$RSA_REC" in "v=DKIM1; k=rsa; p="*) ;; *) echo "unexpected rsa record: $RSA_REC" >&2; exit 1;; esac
case "$ED_REC" in "v=DKIM1; k=ed25519; p="*) ;; *) echo "unexpected ed25519 record: $ED_REC" >&2; exit 1;; esac

# signing_json SELECTOR ALGORITHM KEY: the Authentication.Signing member that signs bench.test with one key
signing_json() {
    printf '"Signing": { "Domains": { "%s": { "Selectors": [ { "Selector": "%s", "Algorithm": "%s", "KeyFile": "%s" } ] } } }' \
        "$DOMAIN" "$1" "$2" "$3"
}
# A 1 KiB message (the generator's body), From: bench.test, to user@localhost; then signed with the rsa key.
python3 - "$WORK/msg.eml" "$SENDER" <<'EOF'
import random, sys, time, email.utils
path, sender = sys.argv[1], sys.argv[2]
words = "the message queue delivery server mail transfer agent is a of to and for report meeting tomorrow please review attached schedule thanks regards budget project update".split()
rng = random.Random(12345)
head = (f"From: Bench Sender <{sender}>\r\nTo: <user@localhost>\r\nSubject: auth bench message\r\n"
        f"Message-ID: <auth-bench.{int(time.time())}@bench.test>\r\nDate: {email.utils.formatdate(usegmt=True)}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
body, size = "", 1024 - len(head)
while len(body) < size:
    line = " ".join(rng.choice(words) for _ in range(12))[:70]
    body += line[: max(1, min(70, size - len(body) - 2))] + "\r\n"
open(path, "wb").write((head + body).encode("ascii"))
EOF
RSA_SIGN=$(signing_json rsa Rsa "$RSA_KEY")
MTA_EXTENSIONS="\"Scripts\": { \"Enabled\": false }, \"Authentication\": { $RSA_SIGN }" MTA_PORT=$PORT_BASE \
    mta_write_config "$WORK/keys" >/dev/null
mta_cli dkim sign "$WORK/msg.eml" --domain "$DOMAIN" --config "$KEYCFG" > "$WORK/signed.eml" 2> "$WORK/sign.err" \
    && grep -q '^DKIM-Signature:' "$WORK/signed.eml" \
    || { echo "mta dkim sign failed: $(head -c 300 "$WORK/sign.err")" >&2; exit 1; }
echo "# message: $(stat -c %s "$WORK/msg.eml") bytes, signed (rsa-$RSA_BITS, mta dkim sign): $(stat -c %s "$WORK/signed.eml") bytes" >&2

# ---- the DNS stub --------------------------------------------------------------------------------------------------
if ! command -v dnsmasq >/dev/null; then
    echo "# installing dnsmasq-base (the DNS stub; no service)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsmasq-base) >/dev/null 2>&1
fi
command -v dnsmasq >/dev/null || { echo "dnsmasq not available (apt-get install -y dnsmasq-base failed): nothing measured" >&2; exit 1; }
port_open 127.0.0.1 "$DNS_PORT" && { echo "something already listens on TCP 127.0.0.1:$DNS_PORT; set DNS_PORT" >&2; exit 1; }
# dnsmasq's --txt-record takes comma-separated character-strings (each at most 255 octets, RFC 1035 3.3); DKIM joins
# them without a separator (RFC 6376 3.6.2.2).
split255() { local s=$1 out= i; for ((i = 0; i < ${#s}; i += 255)); do out+=${out:+,}${s:i:255}; done; echo "$out"; }
SPF='v=spf1 ip4:127.0.0.1 -all'
dnsmasq --no-daemon -C /dev/null --port="$DNS_PORT" --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts \
    --local=/test/ --local=/in-addr.arpa/ --local=/ip6.arpa/ --pid-file="$WORK/dnsmasq.pid" --local-ttl="$DNS_TTL" \
    --txt-record="$DOMAIN,$SPF" --txt-record="$HELO,$SPF" \
    --txt-record="rsa._domainkey.$DOMAIN,$(split255 "$RSA_REC")" --txt-record="ed._domainkey.$DOMAIN,$(split255 "$ED_REC")" \
    --txt-record="_dmarc.$DOMAIN,v=DMARC1; p=reject" > "$WORK/dnsmasq.log" 2>&1 < /dev/null &
DNS_PID=$!
txt() { dig +short +time=1 +tries=1 -p "$DNS_PORT" @127.0.0.1 TXT "$1" 2>/dev/null | sed 's/" "//g; s/^"//; s/"$//'; }
for i in $(seq 1 50); do [ -n "$(txt "$DOMAIN")" ] && break; kill -0 "$DNS_PID" 2>/dev/null || break; sleep 0.1; done
dns_ok=1
for pair in "$DOMAIN|$SPF" "$HELO|$SPF" "rsa._domainkey.$DOMAIN|$RSA_REC" "ed._domainkey.$DOMAIN|$ED_REC" "_dmarc.$DOMAIN|v=DMARC1; p=reject"; do
    got=$(txt "${pair%%|*}")
    if [ "$got" = "${pair#*|}" ]; then echo "#   dns: ${pair%%|*} TXT ok (${#got} chars)" >&2
    else echo "#   dns: ${pair%%|*} TXT: got '${got:0:80}', expected '${pair#*|}'" >&2; dns_ok=0; fi
done
[ "$dns_ok" = 1 ] || { echo "the DNS stub does not answer as it should; log:" >&2; cat "$WORK/dnsmasq.log" >&2; exit 1; }
echo "# dns stub up: dnsmasq pid $DNS_PID on 127.0.0.1:$DNS_PORT, TTL $DNS_TTL" >&2
# And the checks as the server makes them, against the stub: all three must pass.
VERIFY=$(mta_cli auth verify "$WORK/signed.eml" --ip 127.0.0.1 --sender "$SENDER" --helo "$HELO" --dns "127.0.0.1:$DNS_PORT" \
         --config "$KEYCFG" 2>&1 | tr -s ' \t\r\n' ' ')
echo "# mta auth verify: $VERIFY" >&2
for want in "spf=pass" "dkim=pass" "dmarc=pass"; do
    case "$VERIFY" in *"$want"*) ;; *) note "mta auth verify of the signed message against the stub does not say $want";; esac
done

# ---- instances ------------------------------------------------------------------------------------------------------
inst_start() { # name port extensions
    local name=$1
    MTA_PORT=$2 MTA_EXTENSIONS=$3
    mta_start || return 1
    I_PID[$name]=$MTA_PID; I_TMP[$name]=$MTA_TMP; I_LOG[$name]=$MTA_LOG; I_CONFIG[$name]=$MTA_CONFIG; I_PORT[$name]=$2
    MTA_PID=; MTA_TMP=
}
count() { local n; n=$(grep -c -- "$2" "$1" 2>/dev/null); echo "${n:-0}"; }
# wait_count LOG PATTERN TARGET LIMIT: poll (0.1 s) until LOG has TARGET lines matching; prints the epoch time then
wait_count() {
    local end=$(( $(date +%s) + $4 ))
    while [ "$(date +%s)" -lt "$end" ]; do
        [ "$(count "$1" "$2")" -ge "$3" ] && { date +%s.%N; return 0; }
        sleep 0.1
    done
    return 1
}
# bench_run name to from-args... : one mta-bench run; prints "RATE N" (or "- 0")
bench_run() {
    local name=$1 n=$2; shift 2
    local out last
    out=$(timeout $((RUN_TIMEOUT + 15)) "$MTA_BENCH" "127.0.0.1:${I_PORT[$name]}" --sessions "$SESSIONS" --messages "$n" \
          --pipelining --helo "$HELO" --from "$SENDER" --timeout "$RUN_TIMEOUT" "$@" 2>&1)
    last=$(echo "$out" | tail -n 1)                # mta-bench: N msgs in T s = R msg/s (failed F)
    echo "$out" | sed "s/^/#   $name: /" >&2
    [[ "$last" =~ ^mta-bench:\ ([0-9]+)\ msgs.*=\ ([0-9.]+)\ msg/s ]] && echo "${BASH_REMATCH[2]} ${BASH_REMATCH[1]}" || echo "- 0"
}
# cpu_ticks PID: user + system CPU time the process has used so far, in clock ticks (fields 14 and 15 of /proc/PID/stat)
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu_ticks() { sed -E 's/^.*\) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'; }
# us_per_msg T0 T1 N: CPU microseconds per message between two cpu_ticks readings
us_per_msg() { awk -v a="$1" -v b="$2" -v n="$3" -v hz="$CLK_TCK" 'BEGIN { if (n > 0 && a != "" && b != "") printf "%.0f", (b - a) * 1e6 / hz / n; else print "-" }'; }
median() { printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.3f", a / b; else print "-" }'; }
pct() { awk -v r="$1" 'BEGIN { if (r ~ /^[0-9.]+$/) printf "%.1f%%", (1 - r) * 100; else print "-" }'; }
fmt() { [[ "$1" =~ ^[0-9.]+$ ]] && printf '%.0f' "$1" || printf '%s' "$1"; }
# first_header MAILDIR FIELD: the field (unfolded) of the first message delivered into a Maildir tree
first_header() {
    local f
    f=$(find "$1" -type f -path '*/new/*' 2>/dev/null | head -n 1)
    [ -n "$f" ] || { echo "(no delivered message)"; return; }
    python3 - "$f" "$2" <<'EOF'
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.compat32)
vals = m.get_all(sys.argv[2]) or []
print(" | ".join(" ".join(v.split()) for v in vals) if vals else f"(no {sys.argv[2]} field)")
EOF
}

COMMON='"Scripts": { "Enabled": false }, "Dns": { "Servers": [ "127.0.0.1:'$DNS_PORT'" ]'
declare -A RATE E2E MED EMED ARF SIG CPU CMED
# ---- 1. accept ------------------------------------------------------------------------------------------------------
ACCEPT_NAMES=()
if [ "$ACCEPT" = 1 ]; then
    inst_start off $((PORT_BASE)) "$COMMON }, \"Authentication\": { \"Verify\": { \"Enabled\": false } }" && ACCEPT_NAMES+=(off)
    inst_start on $((PORT_BASE + 1)) "$COMMON }, \"Authentication\": { \"Verify\": { \"Enabled\": true } }" && ACCEPT_NAMES+=(on)
    if [ "$NOCACHE" = 1 ]; then
        inst_start on-nc $((PORT_BASE + 2)) "$COMMON, \"CacheSize\": 0 }, \"Authentication\": { \"Verify\": { \"Enabled\": true } }" && ACCEPT_NAMES+=(on-nc)
    fi
    if [ "$PER_CHECK" = 1 ]; then
        # One check each (DMARC needs SPF and DKIM, so it has no instance of its own: on minus the others).
        for chk in Spf Dkim Arc; do
            lc=$(echo "$chk" | tr 'A-Z' 'a-z')
            v=$(for c in Spf Dkim Dmarc Arc; do printf '"%s": %s, ' "$c" "$([ "$c" = "$chk" ] && echo true || echo false)"; done)
            v=${v%, }
            inst_start "$lc" $((PORT_BASE + 5 + ${#ACCEPT_NAMES[@]})) "$COMMON }, \"Authentication\": { \"Verify\": { \"Enabled\": true, $v } }" && ACCEPT_NAMES+=("$lc")
        done
    fi
    [ "${#ACCEPT_NAMES[@]}" -ge 2 ] || note "accept: an Mta instance did not start (see above)"
    declare -A DELIV
    for name in "${ACCEPT_NAMES[@]}"; do
        DELIV[$name]=0
        if [ "$WARMUP" -gt 0 ]; then
            echo "## accept $name: warm-up $WARMUP msgs" >&2
            read -r _ got < <(bench_run "$name" "$WARMUP" --to user@localhost --data-file "$WORK/signed.eml")
            DELIV[$name]=$((DELIV[$name] + got))
            wait_count "${I_LOG[$name]}" 'result=delivered' "${DELIV[$name]}" "$DRAIN_TIMEOUT" >/dev/null \
                || note "accept $name: warm-up deliveries not done within ${DRAIN_TIMEOUT}s"
        fi
    done
    for r in $(seq 1 "$REPS"); do
        for name in "${ACCEPT_NAMES[@]}"; do
            echo "## accept $name: round $r, $MESSAGES msgs, $SESSIONS sessions" >&2
            c0=$(cpu_ticks "${I_PID[$name]}")
            read -r rate got < <(bench_run "$name" "$MESSAGES" --to user@localhost --data-file "$WORK/signed.eml")
            RATE[$name]+="$rate "
            [ "$got" = "$MESSAGES" ] || note "accept $name round $r: $got of $MESSAGES messages (the run stops after RUN_TIMEOUT=${RUN_TIMEOUT}s)"
            DELIV[$name]=$((DELIV[$name] + got))
            if wait_count "${I_LOG[$name]}" 'result=delivered' "${DELIV[$name]}" "$DRAIN_TIMEOUT" >/dev/null; then
                CPU[$name]+="$(us_per_msg "$c0" "$(cpu_ticks "${I_PID[$name]}")" "$got") "
            else
                CPU[$name]+="- "
                note "accept $name round $r: deliveries not done within ${DRAIN_TIMEOUT}s ($(count "${I_LOG[$name]}" 'result=delivered') of ${DELIV[$name]})"
            fi
        done
    done
    for name in "${ACCEPT_NAMES[@]}"; do
        ARF[$name]=$(first_header "${I_TMP[$name]}/maildir" Authentication-Results)
        echo "#   $name: Authentication-Results of a delivered message: ${ARF[$name]}" >&2
        inst_stop "$name"
    done
fi

# ---- 2. relay -------------------------------------------------------------------------------------------------------
RELAY_NAMES=()
if [ "$RELAY" = 1 ]; then
    if ! command -v smtp-sink >/dev/null || [ ! -x "$SB/peers/sink-up.sh" ]; then
        note "relay: smtp-sink (apt-get install -y postfix) or $SB/peers/sink-up.sh not available: relay part skipped"
    elif port_open 127.0.0.1 "$SINK_PORT"; then
        note "relay: something already listens on 127.0.0.1:$SINK_PORT (SINK_PORT): relay part skipped"
    elif ! PEER_RUN=$WORK/sink SINK_PORT=$SINK_PORT "$SB/peers/sink-up.sh" >&2; then
        note "relay: smtp-sink did not start: relay part skipped"
    else
        SINK_UP=1
        RELAY_COMMON="$COMMON }, \"Queue\": { \"DeliveryConcurrency\": 20 },
  \"Relay\": { \"TrustedNetworks\": [\"127.0.0.0/8\"], \"SmartHost\": { \"Host\": \"[127.0.0.1]\", \"Port\": $SINK_PORT, \"Tls\": \"None\" } }"
        inst_start unsigned $((PORT_BASE + 3)) "$RELAY_COMMON" && RELAY_NAMES+=(unsigned)
        inst_start rsa $((PORT_BASE + 4)) "$RELAY_COMMON, \"Authentication\": { $RSA_SIGN }" && RELAY_NAMES+=(rsa)
        inst_start ed25519 $((PORT_BASE + 5)) "$RELAY_COMMON, \"Authentication\": { $(signing_json ed Ed25519 "$ED_KEY") }" && RELAY_NAMES+=(ed25519)
        [ "${#RELAY_NAMES[@]}" -ge 2 ] || note "relay: an Mta instance did not start (see above)"
        declare -A RDELIV
        for name in "${RELAY_NAMES[@]}"; do
            RDELIV[$name]=0
            # One message to a local mailbox, to see the signature it gets (Maildir keeps it; the sink does not).
            read -r _ got < <(bench_run "$name" 1 --to user@localhost --size 1024)
            RDELIV[$name]=$((RDELIV[$name] + got))
            wait_count "${I_LOG[$name]}" 'result=delivered' "${RDELIV[$name]}" 30 >/dev/null
            SIG[$name]=$(first_header "${I_TMP[$name]}/maildir" DKIM-Signature | grep -oE '(a=[a-z0-9-]+|s=[a-z0-9]+|d=[a-z0-9.]+)' | tr '\n' ' ')
            echo "#   $name: DKIM-Signature of a local delivery: ${SIG[$name]:-(none)}" >&2
            if [ "$WARMUP" -gt 0 ]; then
                echo "## relay $name: warm-up $WARMUP msgs" >&2
                read -r _ got < <(bench_run "$name" "$WARMUP" --to rcpt@relay.test --size 1024)
                RDELIV[$name]=$((RDELIV[$name] + got))
                wait_count "${I_LOG[$name]}" 'result=delivered' "${RDELIV[$name]}" "$DRAIN_TIMEOUT" >/dev/null \
                    || note "relay $name: warm-up not delivered within ${DRAIN_TIMEOUT}s"
            fi
        done
        for r in $(seq 1 "$REPS"); do
            for name in "${RELAY_NAMES[@]}"; do
                echo "## relay $name: round $r, $RELAY_MSGS msgs, $SESSIONS sessions -> smtp-sink :$SINK_PORT" >&2
                t0=$(date +%s.%N); c0=$(cpu_ticks "${I_PID[$name]}")
                read -r rate got < <(bench_run "$name" "$RELAY_MSGS" --to rcpt@relay.test --size 1024)
                RATE[$name]+="$rate "
                [ "$got" = "$RELAY_MSGS" ] || note "relay $name round $r: $got of $RELAY_MSGS messages (the run stops after RUN_TIMEOUT=${RUN_TIMEOUT}s)"
                RDELIV[$name]=$((RDELIV[$name] + got))
                if t2=$(wait_count "${I_LOG[$name]}" 'result=delivered' "${RDELIV[$name]}" "$DRAIN_TIMEOUT"); then
                    E2E[$name]+="$(echo "$got / ($t2 - $t0)" | bc -l) "
                    CPU[$name]+="$(us_per_msg "$c0" "$(cpu_ticks "${I_PID[$name]}")" "$got") "
                else
                    E2E[$name]+="- "; CPU[$name]+="- "
                    note "relay $name round $r: $(count "${I_LOG[$name]}" 'result=delivered') of ${RDELIV[$name]} delivered within ${DRAIN_TIMEOUT}s; $(count "${I_LOG[$name]}" 'result=deferred') deferrals logged"
                fi
            done
        done
        for name in "${RELAY_NAMES[@]}"; do inst_stop "$name"; done
    fi
fi

# ---- 3. signatures per second per core --------------------------------------------------------------------------------
SIGN_OUT=()
if [ "$SIGN" = 1 ]; then
    for k in "rsa|Rsa|$RSA_KEY" "ed|Ed25519|$ED_KEY"; do
        IFS='|' read -r sel alg key <<< "$k"
        echo "## sign-rate $alg, one thread, ${SIGN_SECONDS}s" >&2
        out=$(timeout $((SIGN_SECONDS + 60)) "$MTA_BENCH" sign-rate --domain "$DOMAIN" --selector "$sel" --algorithm "$alg" \
              --key "$key" --data-file "$WORK/msg.eml" --seconds "$SIGN_SECONDS" 2>&1)
        echo "$out" | sed 's/^/#   /' >&2
        line=$(echo "$out" | grep '^sign-rate:' | tail -n 1)
        if [ -n "$line" ]; then SIGN_OUT+=("$line"); else note "sign-rate $alg: no result (see above)"; fi
        while IFS= read -r line; do SIGN_OUT+=("  $line"); done < <(echo "$out" | grep '^reference:')
    done
fi

# ---- report ----------------------------------------------------------------------------------------------------------
echo
echo "== mail authentication: $(nproc) cores, load average before the report: $(cut -d' ' -f1-3 /proc/loadavg) =="
if [ "${#ACCEPT_NAMES[@]}" -gt 0 ]; then
    echo "accept: $MESSAGES x $(stat -c %s "$WORK/signed.eml") bytes (rsa-$RSA_BITS DKIM-signed), $SESSIONS sessions, --pipelining, -> Maildir; $REPS rounds after $WARMUP warm-up"
    printf '%-7s %-30s %7s %7s %7s | %-24s %7s %8s\n' instance "msg/s per round" median "vs off" cost "Mta CPU us/msg per round" median "vs off"
    for name in "${ACCEPT_NAMES[@]}"; do
        m=$(median ${RATE[$name]}); MED[$name]=$m; c=$(median ${CPU[$name]}); CMED[$name]=$c
        rt=$(ratio "$m" "${MED[off]:-}")
        printf '%-7s %-30s %7s %7s %7s | %-24s %7s %8s\n' "$name" "$(for x in ${RATE[$name]}; do fmt "$x"; echo -n ' '; done)" "$(fmt "$m")" \
            "$rt" "$([ "$name" = off ] && echo - || pct "$rt")" "${CPU[$name]}" "$c" "$(ratio "$c" "${CMED[off]:-}")"
    done
    for name in "${ACCEPT_NAMES[@]}"; do echo "  $name Authentication-Results: ${ARF[$name]:-}"; done
fi
if [ "${#RELAY_NAMES[@]}" -gt 0 ]; then
    echo "relay: $RELAY_MSGS x 1024 bytes from $SENDER, $SESSIONS sessions, --pipelining, trusted -> smtp-sink :$SINK_PORT; $REPS rounds after $WARMUP warm-up"
    printf '%-9s %-20s %6s | %-20s %6s %7s | %-18s %6s %7s\n' instance "inject msg/s/round" median "e2e msg/s/round" median "vs unsg" "CPU us/msg/round" median "vs unsg"
    for name in "${RELAY_NAMES[@]}"; do
        mi=$(median ${RATE[$name]}); me=$(median ${E2E[$name]}); EMED[$name]=$me; c=$(median ${CPU[$name]}); CMED[$name]=$c
        printf '%-9s %-20s %6s | %-20s %6s %7s | %-18s %6s %7s\n' "$name" "$(for x in ${RATE[$name]}; do fmt "$x"; echo -n ' '; done)" "$(fmt "$mi")" \
            "$(for x in ${E2E[$name]}; do fmt "$x"; echo -n ' '; done)" "$(fmt "$me")" "$(ratio "$me" "${EMED[unsigned]:-}")" \
            "${CPU[$name]}" "$c" "$(ratio "$c" "${CMED[unsigned]:-}")"
    done
    for name in "${RELAY_NAMES[@]}"; do echo "  $name: DKIM-Signature of a local delivery: ${SIG[$name]:-(none)}"; done
fi
if [ "${#SIGN_OUT[@]}" -gt 0 ]; then
    echo "signatures per second on one core (mta-bench sign-rate: DkimMessageSigner on one thread, $(stat -c %s "$WORK/msg.eml")-byte message):"
    printf '  %s\n' "${SIGN_OUT[@]}"
fi
if [ "${#NOTES[@]}" -gt 0 ]; then
    echo
    printf 'note: %s\n' "${NOTES[@]}"
fi
echo "total time: ${SECONDS}s"
