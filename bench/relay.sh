#!/usr/bin/env bash
# Relay throughput, from the queue to a sink: Mta vs Postfix in the same run, same load, same next hop.
#
#   sudo bench/relay.sh [messages=5000] [sessions=20] [size=1024]
#
# Next hop of both: smtp-sink on 127.0.0.1:$SINK_PORT (2527; started with shared/bench/peers/sink-up.sh unless
# one already runs there, and then left running). The relays, one after the other, each idle while the other runs:
#   postfix  a private instance (own main.cf/master.cf, queue and data folders under a temp dir; /etc/postfix and
#            the bench peer on 2525/2528 are not touched): smtpd on 127.0.0.1:$PF_RELAY_PORT (2530),
#            relayhost = [127.0.0.1]:$SINK_PORT, DNS off, fsync'd queue, stock concurrency (20 per destination)
#   mta      bench/mta-lib.sh on 127.0.0.1:$MTA_PORT (2526), Relay.TrustedNetworks 127.0.0.0/8,
#            Relay.SmartHost [127.0.0.1]:$SINK_PORT (Tls None), Queue.DeliveryConcurrency $MTA_RELAY_CONCURRENCY
# For each: WARMUP uncounted messages (then wait for the queue to drain), then smtp-source (shared/bench/accept.sh,
# one connection per message unless PERSIST=1) injects MESSAGES x SIZE bytes over SESSIONS sessions to $TO, a
# remote domain. Measured from the start of injection:
#   inject  messages accepted / time smtp-source took
#   e2e     messages / time until the last one left the queue: Postfix's log has a `status=sent` line per
#           recipient (then `postqueue -p` must say "Mail queue is empty"); Mta's log a `result=delivered` line per
#           recipient (then `mta queue list` must say "Mail queue is empty", where that command exists)
# Prints a table (msgs, inject s, inject msg/s, e2e s, e2e msg/s) and the Mta/Postfix ratios.
# Before Mta's SMTP sender exists its mail stays deferred: its e2e row then reads "timeout" with the counts.
#
# Env (defaults): SHARED_DIR=<repo>/../shared SINK_PORT=2527 PF_RELAY_PORT=2530 TO=rcpt@relay.test
#   FROM=a@example.test WARMUP=500 (0 = none) PERSIST=0 INJECT_TIMEOUT=300 (s) DRAIN_TIMEOUT=300 (s, per drain)
#   RELAY_MAX=1200 (s, the whole script; past it everything is stopped) POSTFIX=1 MTA=1 (0 = skip that relay)
#   MTA_RELAY_CONCURRENCY=20  PF_KEEP_TMP=0 (1 = keep the Postfix instance's folder and log)  + mta-lib.sh's MTA_* knobs
set -uo pipefail
case "${1:-}" in -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac

# The overall bound: re-run under timeout(1); its TERM reaches the trap below, which stops everything.
RELAY_MAX=${RELAY_MAX:-1200}
if [ -z "${RELAY_INNER:-}" ]; then
    RELAY_INNER=1 exec timeout -s TERM -k 30 "$RELAY_MAX" "$0" "$@"
fi

here=$(cd "$(dirname "$0")" && pwd)
MESSAGES=${1:-5000}; SESSIONS=${2:-20}; SIZE=${3:-1024}
SINK_PORT=${SINK_PORT:-2527}
PF_RELAY_PORT=${PF_RELAY_PORT:-2530}
MTA_RELAY_CONCURRENCY=${MTA_RELAY_CONCURRENCY:-20}
# Mta's config: no scripts or plugins (the engine alone, as in compare.sh), relaying from loopback to the sink.
MTA_EXTENSIONS=${MTA_EXTENSIONS:-"\"Scripts\": { \"Enabled\": false },
  \"Queue\": { \"DeliveryConcurrency\": $MTA_RELAY_CONCURRENCY },
  \"Relay\": { \"TrustedNetworks\": [\"127.0.0.0/8\"], \"SmartHost\": { \"Host\": \"[127.0.0.1]\", \"Port\": $SINK_PORT, \"Tls\": \"None\" } }"}
. "$here/mta-lib.sh"
SHARED_DIR=${SHARED_DIR:-$MTA_REPO/../shared}
SB=$SHARED_DIR/bench
. "$SB/peers/lib.sh"
TO=${TO:-rcpt@relay.test}; FROM=${FROM:-a@example.test}
WARMUP=${WARMUP:-500}; PERSIST=${PERSIST:-0}
INJECT_TIMEOUT=${INJECT_TIMEOUT:-300}; DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-300}
POSTFIX=${POSTFIX:-1}; MTA=${MTA:-1}; PF_KEEP_TMP=${PF_KEEP_TMP:-0}
for n in "$MESSAGES" "$SESSIONS" "$SIZE" "$WARMUP"; do
    [[ "$n" =~ ^[0-9]+$ ]] || { echo "not a number: $n" >&2; exit 2; }
done
[ "$MESSAGES" -le 1000000 ] || { echo "at most 1000000 messages" >&2; exit 2; }

NOTES=()
note() { echo "# $*" >&2; NOTES+=("$*"); }

[ "$(id -u)" = 0 ] || { echo "run as root: the Postfix instance's master and smtp-sink need it" >&2; exit 1; }
for tool in smtp-source smtp-sink bc; do
    command -v "$tool" >/dev/null || { echo "$tool not found (apt-get install -y postfix bc)" >&2; exit 1; }
done
PF_CMD=$(command -v postfix || echo /usr/sbin/postfix)
[ -x "$PF_CMD" ] || { echo "postfix not installed" >&2; exit 1; }
PF_BIN=$(dirname "$PF_CMD")
PF_DAEMON_DIR=$("$PF_BIN/postconf" -dh daemon_directory)

# ---- clean-up: everything this script started, by the ids it recorded --------------------------------------
PF_DIR=; PF_MASTER=; started_sink=0; mta_up=0
pf_stop() {
    [ -n "$PF_DIR" ] && [ -d "$PF_DIR" ] || return 0
    local kids="" p i
    # The master and its children share the master's process group (it calls setsid): one ps, not a /proc walk.
    [ -n "$PF_MASTER" ] && kids=$(ps -eo pid=,pgid= | awk -v g="$PF_MASTER" '$2 == g { print $1 }' | tr '\n' ' ')
    "$PF_BIN/postfix" -c "$PF_DIR/etc" stop >/dev/null 2>&1 || true
    # postfix stop returns once the master is gone; its children exit on their own: wait (bounded), then kill
    # whichever of the recorded ones is still a Postfix program.
    for i in $(seq 1 50); do
        local alive=0
        for p in $kids; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.2
    done
    for p in $kids; do
        case "$(readlink "/proc/$p/exe" 2>/dev/null)" in "$PF_DAEMON_DIR"/*) kill -KILL "$p" 2>/dev/null || true;; esac
    done
    if [ "$PF_KEEP_TMP" = 1 ]; then echo "# kept $PF_DIR" >&2; else rm -rf "$PF_DIR"; fi
    PF_DIR=; PF_MASTER=
}
cleanup() {
    [ "$mta_up" = 1 ] && mta_stop
    pf_stop
    if [ "$started_sink" = 1 ]; then "$SB/peers/sink-down.sh" >&2 || true; fi
}
trap cleanup EXIT
trap 'echo "# stopped (signal or RELAY_MAX=${RELAY_MAX}s reached)" >&2; exit 124' INT TERM

# ---- the sink -----------------------------------------------------------------------------------------------
if port_open 127.0.0.1 "$SINK_PORT"; then
    note "something already listens on 127.0.0.1:$SINK_PORT; used as the sink as it is"
else
    started_sink=1
    SINK_PORT=$SINK_PORT "$SB/peers/sink-up.sh" >&2 || { echo "smtp-sink did not start" >&2; exit 1; }
fi

# ---- a private Postfix relay --------------------------------------------------------------------------------
pf_start() {
    if port_open 127.0.0.1 "$PF_RELAY_PORT"; then echo "127.0.0.1:$PF_RELAY_PORT is taken (set PF_RELAY_PORT)" >&2; return 1; fi
    PF_DIR=$(mktemp -d /tmp/pf-relay.XXXXXX)
    chmod 755 "$PF_DIR"; mkdir -p "$PF_DIR/etc" "$PF_DIR/spool"
    cat > "$PF_DIR/etc/main.cf" <<EOF
# Generated by bench/relay.sh: a private loopback-only relay; everything non-local goes to the sink.
compatibility_level = 3.6
queue_directory = $PF_DIR/spool
data_directory = $PF_DIR/data
myhostname = postfix-relay.bench.test
mydomain = bench.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
local_transport = error:local delivery is off
alias_maps =
alias_database =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
relayhost = [127.0.0.1]:$SINK_PORT
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtp_tls_security_level = none
biff = no
append_dot_mydomain = no
readme_directory = no
maillog_file_prefixes = $PF_DIR
maillog_file = $PF_DIR/maillog
EOF
    # Stock services, none chrooted, no port 25; the only listener is the relay's smtpd.
    cat > "$PF_DIR/etc/master.cf" <<EOF
127.0.0.1:$PF_RELAY_PORT inet n - n - - smtpd
pickup     unix  n - n 60    1 pickup
cleanup    unix  n - n -     0 cleanup
qmgr       unix  n - n 300   1 qmgr
rewrite    unix  - - n -     - trivial-rewrite
bounce     unix  - - n -     0 bounce
defer      unix  - - n -     0 bounce
trace      unix  - - n -     0 bounce
verify     unix  - - n -     1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -     - proxymap
proxywrite unix  - - n -     1 proxymap
smtp       unix  - - n -     - smtp
relay      unix  - - n -     - smtp
showq      unix  n - n -     - showq
error      unix  - - n -     - error
retry      unix  - - n -     - error
discard    unix  - - n -     - discard
anvil      unix  - - n -     1 anvil
scache     unix  - - n -     1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
    touch "$PF_DIR/maillog"
    if ! timeout 60 "$PF_BIN/postfix" -c "$PF_DIR/etc" start >&2; then
        echo "postfix -c $PF_DIR/etc start failed:" >&2; tail -n 20 "$PF_DIR/maillog" >&2; return 1
    fi
    PF_MASTER=$(tr -d ' ' < "$PF_DIR/spool/pid/master.pid" 2>/dev/null)
    wait_port 127.0.0.1 "$PF_RELAY_PORT" 100 || { echo "postfix relay not listening on $PF_RELAY_PORT" >&2; return 1; }
    echo "# postfix relay up: 127.0.0.1:$PF_RELAY_PORT -> [127.0.0.1]:$SINK_PORT, master pid $PF_MASTER, dir $PF_DIR" >&2
}

# ---- counting deliveries and waiting for an empty queue -------------------------------------------------------
delivered() { # name -> recipients delivered so far, from the relay's own log
    local n
    case "$1" in
        postfix) n=$(grep -c ' status=sent ' "$PF_DIR/maillog" 2>/dev/null) ;;
        mta) n=$(grep -c 'result=delivered' "$MTA_LOG" 2>/dev/null) ;;
    esac
    echo "${n:-0}"
}
deferred() {
    local n
    case "$1" in
        postfix) n=$(grep -c ' status=deferred ' "$PF_DIR/maillog" 2>/dev/null) ;;
        mta) n=$(grep -c 'result=deferred' "$MTA_LOG" 2>/dev/null) ;;
    esac
    echo "${n:-0}"
}
queue_empty() { # name -> 0 when the relay's own queue listing says it is empty (or cannot say); says which on stderr
    local out
    case "$1" in
        postfix) out=$(timeout 30 "$PF_BIN/postqueue" -c "$PF_DIR/etc" -p 2>&1) ;;
        mta) out=$(timeout 30 dotnet "$MTA_DLL" queue list --config "$MTA_CONFIG" 2>&1) ;;
    esac
    case "$out" in
        *"Mail queue is empty"*) echo "#   $1 queue listing: Mail queue is empty" >&2; return 0 ;;
        *"Unrecognized command"*|*"Required command was not provided"*)
            echo "#   $1: this build has no 'queue list' command; the log count alone says the queue is empty" >&2; return 0 ;;
        *) return 1 ;;
    esac
}
# wait_delivered NAME TARGET TIMEOUT: poll (0.1 s) until TARGET recipients are delivered; prints the time it happened
# (epoch seconds), or nothing on timeout.
wait_delivered() {
    local name=$1 target=$2 limit=$3 end
    end=$(( $(date +%s) + limit ))
    while [ "$(date +%s)" -lt "$end" ]; do
        if [ "$(delivered "$name")" -ge "$target" ]; then date +%s.%N; return 0; fi
        sleep 0.1
    done
    return 1
}

# ---- one measurement ----------------------------------------------------------------------------------------
declare -A R
measure() { # name port
    local name=$1 port=$2 base out last n t0 t1 t2 inj_s e2e_s
    if [ "$WARMUP" -gt 0 ]; then
        echo "## $name: warm-up $WARMUP msgs" >&2
        base=$(delivered "$name")
        TIMEOUT=$INJECT_TIMEOUT PERSIST=$PERSIST FROM=$FROM TO=$TO LABEL=warmup \
            "$SB/accept.sh" "127.0.0.1:$port" "$SESSIONS" "$WARMUP" "$SIZE" 2>/dev/null | tail -n 1 | sed 's/^/#   /' >&2
        if ! wait_delivered "$name" $((base + WARMUP)) "$DRAIN_TIMEOUT" >/dev/null; then
            note "$name: warm-up not delivered within ${DRAIN_TIMEOUT}s ($(( $(delivered "$name") - base )) of $WARMUP delivered, $(deferred "$name") deferrals logged)"
        fi
    fi
    base=$(delivered "$name")
    echo "## $name: $MESSAGES msgs x $SIZE bytes, $SESSIONS sessions -> 127.0.0.1:$port -> sink :$SINK_PORT" >&2
    t0=$(date +%s.%N)
    out=$(TIMEOUT=$INJECT_TIMEOUT PERSIST=$PERSIST FROM=$FROM TO=$TO LABEL=inject \
          "$SB/accept.sh" "127.0.0.1:$port" "$SESSIONS" "$MESSAGES" "$SIZE" 2>/dev/null)
    t1=$(date +%s.%N)
    echo "$out" | sed 's/^/#   /' >&2
    last=$(echo "$out" | tail -n 1)             # inject: N msgs in T s = R msg/s
    n=$(echo "$last" | awk '{print $2}'); [[ "$n" =~ ^[0-9]+$ ]] || n=0
    inj_s=$(echo "$t1 - $t0" | bc -l)
    R[$name/n]=$n
    R[$name/inj_s]=$inj_s
    R[$name/inj_rate]=$(echo "if ($inj_s > 0) $n / $inj_s else 0" | bc -l)
    if [ "$n" -gt 0 ] && t2=$(wait_delivered "$name" $((base + n)) "$DRAIN_TIMEOUT"); then
        e2e_s=$(echo "$t2 - $t0" | bc -l)
        R[$name/e2e_s]=$e2e_s
        R[$name/e2e_rate]=$(echo "$n / $e2e_s" | bc -l)
        # The log count says every recipient went; the queue itself must agree (bounded: 10 tries).
        local i ok=0
        for i in $(seq 1 10); do queue_empty "$name" && { ok=1; break; }; sleep 0.5; done
        [ "$ok" = 1 ] || note "$name: all $n delivered per the log, but its queue listing is not empty"
    else
        R[$name/e2e_s]=timeout
        R[$name/e2e_rate]=-
        note "$name: $(( $(delivered "$name") - base )) of $n delivered within ${DRAIN_TIMEOUT}s of injection; $(deferred "$name") deferrals logged"
    fi
}

if [ "$POSTFIX" = 1 ]; then
    if pf_start; then measure postfix "$PF_RELAY_PORT"; else note "postfix relay did not start: its row is skipped"; fi
    pf_stop
fi
if [ "$MTA" = 1 ]; then
    if mta_build && mta_start; then
        mta_up=1
        measure mta "$MTA_PORT"
        mta_stop; mta_up=0
    else
        note "Mta did not build or start: its row is skipped"
    fi
fi

# ---- report -------------------------------------------------------------------------------------------------
fmt() { [[ "$1" =~ ^[0-9.]+$ ]] && printf '%.1f' "$1" || printf '%s' "$1"; }
echo
echo "== relay: $MESSAGES x $SIZE bytes, $SESSIONS sessions, smtp-source $([ "$PERSIST" = 1 ] && echo "persistent (-d)" || echo "one connection per message") -> relay -> smtp-sink :$SINK_PORT =="
printf '%-8s %9s %10s %12s %10s %12s\n' relay msgs inject-s inject-msg/s e2e-s e2e-msg/s
for name in postfix mta; do
    [ -n "${R[$name/n]:-}" ] || continue
    printf '%-8s %9s %10s %12s %10s %12s\n' "$name" "${R[$name/n]}" "$(fmt "${R[$name/inj_s]}")" "$(fmt "${R[$name/inj_rate]}")" \
        "$(fmt "${R[$name/e2e_s]}")" "$(fmt "${R[$name/e2e_rate]}")"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2fx", a / b; else print "-" }'; }
if [ -n "${R[postfix/n]:-}" ] && [ -n "${R[mta/n]:-}" ]; then
    echo "mta/postfix: inject $(ratio "${R[mta/inj_rate]}" "${R[postfix/inj_rate]}"), end to end $(ratio "${R[mta/e2e_rate]:-}" "${R[postfix/e2e_rate]:-}")"
fi
if [ "${#NOTES[@]}" -gt 0 ]; then
    echo
    printf 'note: %s\n' "${NOTES[@]}"
fi
echo "total time: ${SECONDS}s"
