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
#   MTA_RELAY_CONCURRENCY=20  MTA_RELAY_EXTRA= (JSON members added to Mta's relay config above, e.g.
#   '"Authentication": { "Verify": { "Enabled": false } }' where DNS is slow)  PF_KEEP_TMP=0 (1 = keep the Postfix instance's folder and log)  + mta-lib.sh's MTA_* knobs
#   PF_MAIN_EXTRA= (lines appended to the Postfix instance's main.cf, for experiments)
#
# Before/after of one change, in one run:
#
#   sudo MTA_BEFORE_DLL=/tmp/mta-before/mta.dll bench/relay.sh [messages] [sessions] [size]
#
# MTA_BEFORE_DLL= (a mta.dll of an earlier build) adds the relay row mta-before: that build, on 127.0.0.1:
# $MTA_BEFORE_PORT (2529), with the same config, load, warm-up and sink as mta (its Mailboxes extra is
# MTA_BEFORE_MAILBOX_EXTRA, default as MTA_MAILBOX_EXTRA; '' for a build older than AcceptAnyLocalPart), measured
# after mta, or before it with MTA_BEFORE_FIRST=1 (alternate the order between runs to see the drift). Then a line
# mta/mta-before gives the ratios. Works in both modes. Unset (the default): no such row, nothing else changes.
#
# Drain mode, the relay rate alone (queue -> SMTP out), without the accepting in the way:
#
#   sudo DRAIN=1 bench/relay.sh [messages=5000] [sessions=20] [size=1024]
#
# The next hop is then a sink of this script's own on 127.0.0.1:$DRAIN_SINK_PORT (2531; the shared sink on
# $SINK_PORT is not touched; the port must be free), started and stopped with shared/bench/peers/sink-*.sh.
# Both relays get a retry schedule of 1 h (Postfix minimal/maximal_backoff_time, Mta Queue.Min/MaxRetryDelay) so
# that nothing but the flush makes deferred mail due; all else as above. For each relay in turn:
#   1. the relay starts with the port closed (WARMUP defaults to 0 here; WARMUP=N first delivers N with the sink
#      up, but then Mta's circuit breaker, whose 5-minute window holds those successes, does not open, and each
#      message is deferred only after its connect retries: slow);
#   2. MESSAGES are injected; wait (DRAIN_TIMEOUT) until each has logged a deferral (Postfix status=deferred,
#      Mta result=deferred) and the queue listing holds them all;
#   3. the sink is started again on the same port;
#   4. clock on, immediate queue run: Postfix `postqueue -c DIR -f` (it also revives the destination its queue
#      manager took for dead), Mta `mta queue flush` (it also closes the destination's circuit breaker); clock
#      off at the MESSAGES-th delivery logged since (a python3 watcher follows the log, 5 ms polls); then the
#      queue listing must be empty.
# Prints per relay: inject msg/s (next hop down), defer s (injection start to the last deferral), flush-cmd s (the
# command alone: Postfix's postqueue vs a .NET start for `mta queue`), first s (flush to the first delivery),
# drain s and drain msg/s (flush to the last delivery), after-1st msg/s (first to last delivery: the sending
# alone); and the Mta/Postfix ratios. `note:` lines report deferrals logged after the flush (a destination still
# taken for dead) and, for Postfix, how many smtp(8) processes delivered the first 200 messages (its window per
# destination starts at initial_destination_concurrency, 5, and grows with each success up to 20).
# Env: DRAIN=0 DRAIN_SINK_PORT=2531; the others as above.
set -uo pipefail
case "${1:-}" in -h|--help) sed -n '2,63p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac

# The overall bound: re-run under timeout(1); its TERM reaches the trap below, which stops everything.
RELAY_MAX=${RELAY_MAX:-1200}
if [ -z "${RELAY_INNER:-}" ]; then
    RELAY_INNER=1 exec timeout -s TERM -k 30 "$RELAY_MAX" "$0" "$@"
fi

here=$(cd "$(dirname "$0")" && pwd)
MESSAGES=${1:-5000}; SESSIONS=${2:-20}; SIZE=${3:-1024}
SINK_PORT=${SINK_PORT:-2527}
DRAIN=${DRAIN:-0}; DRAIN_SINK_PORT=${DRAIN_SINK_PORT:-2531}
# Drain mode relays to a sink of its own, on a port that is closed while the mail is being deferred.
[ "$DRAIN" = 1 ] && SINK_PORT=$DRAIN_SINK_PORT
PF_RELAY_PORT=${PF_RELAY_PORT:-2530}
MTA_RELAY_CONCURRENCY=${MTA_RELAY_CONCURRENCY:-20}
# Drain mode: retries an hour away, so only the flush makes the deferred mail due.
MTA_RETRY_JSON=; [ "$DRAIN" = 1 ] && MTA_RETRY_JSON=', "MinRetryDelay": "01:00:00", "MaxRetryDelay": "01:00:00"'
# Mta's config: no scripts or plugins (the engine alone, as in compare.sh), relaying from loopback to the sink.
MTA_EXTENSIONS=${MTA_EXTENSIONS:-"\"Scripts\": { \"Enabled\": false },
  \"Queue\": { \"DeliveryConcurrency\": $MTA_RELAY_CONCURRENCY$MTA_RETRY_JSON },
  \"Relay\": { \"TrustedNetworks\": [\"127.0.0.0/8\"], \"SmartHost\": { \"Host\": \"[127.0.0.1]\", \"Port\": $SINK_PORT, \"Tls\": \"None\" } }${MTA_RELAY_EXTRA:+,
  $MTA_RELAY_EXTRA}"}
. "$here/mta-lib.sh"
SHARED_DIR=${SHARED_DIR:-$MTA_REPO/../shared}
SB=$SHARED_DIR/bench
. "$SB/peers/lib.sh"
TO=${TO:-rcpt@relay.test}; FROM=${FROM:-a@example.test}
# Drain mode starts each relay with its next hop down: no warm-up unless asked for (see the README on why).
WARMUP=${WARMUP:-$([ "$DRAIN" = 1 ] && echo 0 || echo 500)}; PERSIST=${PERSIST:-0}
INJECT_TIMEOUT=${INJECT_TIMEOUT:-300}; DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-300}
POSTFIX=${POSTFIX:-1}; MTA=${MTA:-1}; PF_KEEP_TMP=${PF_KEEP_TMP:-0}; PF_MAIN_EXTRA=${PF_MAIN_EXTRA:-}
MTA_BEFORE_DLL=${MTA_BEFORE_DLL:-}; MTA_BEFORE_PORT=${MTA_BEFORE_PORT:-2529}; MTA_BEFORE_FIRST=${MTA_BEFORE_FIRST:-0}
MTA_BEFORE_MAILBOX_EXTRA=${MTA_BEFORE_MAILBOX_EXTRA-$MTA_MAILBOX_EXTRA}
if [ -n "$MTA_BEFORE_DLL" ] && [ ! -f "$MTA_BEFORE_DLL" ]; then echo "no $MTA_BEFORE_DLL (MTA_BEFORE_DLL)" >&2; exit 1; fi
for n in "$MESSAGES" "$SESSIONS" "$SIZE" "$WARMUP" "$DRAIN_SINK_PORT"; do
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
PF_DIR=; PF_MASTER=; started_sink=0; mta_up=0; DRAIN_RUN=; drain_sink=0; FLUSH_PID=; WATCH_PID=
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
    # A flush command still running (bounded by its own timeout): stop it, by the pid recorded.
    if [ -n "$FLUSH_PID" ]; then pkill -TERM -P "$FLUSH_PID" 2>/dev/null; kill -TERM "$FLUSH_PID" 2>/dev/null; fi
    [ -n "$WATCH_PID" ] && kill -TERM "$WATCH_PID" 2>/dev/null
    [ "$mta_up" = 1 ] && mta_stop
    pf_stop
    if [ "$started_sink" = 1 ]; then "$SB/peers/sink-down.sh" >&2 || true; fi
    drain_sink_down >/dev/null 2>&1
    [ -n "$DRAIN_RUN" ] && rm -rf "$DRAIN_RUN"
}
trap cleanup EXIT
trap 'echo "# stopped (signal or RELAY_MAX=${RELAY_MAX}s reached)" >&2; exit 124' INT TERM

# ---- the sink -----------------------------------------------------------------------------------------------
# drain_sink_up / drain_sink_down: drain mode's own smtp-sink on $SINK_PORT (pid file in a folder of ours, so the
# shared sink's is not touched). Down waits (bounded) until the port refuses connections.
drain_sink_up() {
    PEER_RUN=$DRAIN_RUN SINK_PORT=$SINK_PORT "$SB/peers/sink-up.sh" >&2 || return 1
    drain_sink=1
}
drain_sink_down() {
    [ "$drain_sink" = 1 ] || return 0
    PEER_RUN=$DRAIN_RUN "$SB/peers/sink-down.sh" >&2 || true
    drain_sink=0
    local i
    for i in $(seq 1 50); do port_open 127.0.0.1 "$SINK_PORT" || return 0; sleep 0.1; done
    echo "127.0.0.1:$SINK_PORT still answers after the drain sink stopped" >&2
    return 1
}
if [ "$DRAIN" = 1 ]; then
    if port_open 127.0.0.1 "$SINK_PORT"; then
        echo "127.0.0.1:$SINK_PORT is taken; drain mode needs it closed until it starts its own sink there (set DRAIN_SINK_PORT)" >&2
        exit 1
    fi
    command -v python3 >/dev/null || { echo "drain mode needs python3 (its log watcher)" >&2; exit 1; }
    DRAIN_RUN=$(mktemp -d /tmp/relay-drain.XXXXXX)
    # The drain's clock: follows the relay's log from an offset and stamps (time.time(), the clock date(1) reads)
    # the first and the N-th line holding PATTERN, polling every 5 ms: precise and cheap, where re-counting the whole
    # log with grep every 0.1 s would be neither on a drain that lasts about a second.
    cat > "$DRAIN_RUN/watch.py" <<'PYEOF'
import sys, time
path, off, n, pat, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].encode(), float(sys.argv[5])
deadline = time.time() + limit
count, rest, first = 0, b"", None
with open(path, "rb") as f:
    f.seek(off)
    print("ready", flush=True)
    while time.time() < deadline:
        chunk = f.read()
        if not chunk:
            time.sleep(0.005)
            continue
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        c = sum(1 for line in lines if pat in line)
        if c:
            now = time.time()
            if first is None:
                first = now
                print(f"first {now:.6f}", flush=True)
            count += c
            if count >= n:
                print(f"end {now:.6f} {count}", flush=True)
                sys.exit(0)
print(f"timeout {count}", flush=True)
sys.exit(1)
PYEOF
elif port_open 127.0.0.1 "$SINK_PORT"; then
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
    # Drain mode: retries an hour away (stock: 300s..4000s), so only the flush makes the deferred mail due.
    [ "$DRAIN" = 1 ] && printf 'minimal_backoff_time = 3600s\nmaximal_backoff_time = 3600s\n' >> "$PF_DIR/etc/main.cf"
    # Experiments (e.g. PF_MAIN_EXTRA='initial_destination_concurrency = 20'): appended as they are.
    [ -n "$PF_MAIN_EXTRA" ] && printf '%s\n' "$PF_MAIN_EXTRA" >> "$PF_DIR/etc/main.cf"
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
        mta|mta-before) n=$(grep -c 'result=delivered' "$MTA_LOG" 2>/dev/null) ;;
    esac
    echo "${n:-0}"
}
deferred() {
    local n
    case "$1" in
        postfix) n=$(grep -c ' status=deferred ' "$PF_DIR/maillog" 2>/dev/null) ;;
        mta|mta-before) n=$(grep -c 'result=deferred' "$MTA_LOG" 2>/dev/null) ;;
    esac
    echo "${n:-0}"
}
queue_empty() { # name -> 0 when the relay's own queue listing says it is empty (or cannot say); says which on stderr
    local out
    case "$1" in
        postfix) out=$(timeout 30 "$PF_BIN/postqueue" -c "$PF_DIR/etc" -p 2>&1) ;;
        mta|mta-before) out=$(timeout 30 dotnet "$MTA_DLL" queue list --config "$MTA_CONFIG" 2>&1) ;;
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
warm_up() { # name port: WARMUP uncounted messages, then wait until they are delivered
    local name=$1 port=$2 base
    [ "$WARMUP" -gt 0 ] || return 0
    echo "## $name: warm-up $WARMUP msgs" >&2
    base=$(delivered "$name")
    TIMEOUT=$INJECT_TIMEOUT PERSIST=$PERSIST FROM=$FROM TO=$TO LABEL=warmup \
        "$SB/accept.sh" "127.0.0.1:$port" "$SESSIONS" "$WARMUP" "$SIZE" 2>/dev/null | tail -n 1 | sed 's/^/#   /' >&2
    if ! wait_delivered "$name" $((base + WARMUP)) "$DRAIN_TIMEOUT" >/dev/null; then
        note "$name: warm-up not delivered within ${DRAIN_TIMEOUT}s ($(( $(delivered "$name") - base )) of $WARMUP delivered, $(deferred "$name") deferrals logged)"
    fi
}
# inject NAME PORT: MESSAGES through smtp-source; sets R[NAME/n], R[NAME/inj_s], R[NAME/inj_rate] and INJ_T0 (its start).
INJ_T0=
inject() {
    local name=$1 port=$2 out last n t1 inj_s
    echo "## $name: $MESSAGES msgs x $SIZE bytes, $SESSIONS sessions -> 127.0.0.1:$port -> sink :$SINK_PORT" >&2
    INJ_T0=$(date +%s.%N)
    out=$(TIMEOUT=$INJECT_TIMEOUT PERSIST=$PERSIST FROM=$FROM TO=$TO LABEL=inject \
          "$SB/accept.sh" "127.0.0.1:$port" "$SESSIONS" "$MESSAGES" "$SIZE" 2>/dev/null)
    t1=$(date +%s.%N)
    echo "$out" | sed 's/^/#   /' >&2
    last=$(echo "$out" | tail -n 1)             # inject: N msgs in T s = R msg/s
    n=$(echo "$last" | awk '{print $2}'); [[ "$n" =~ ^[0-9]+$ ]] || n=0
    inj_s=$(echo "$t1 - $INJ_T0" | bc -l)
    R[$name/n]=$n
    R[$name/inj_s]=$inj_s
    R[$name/inj_rate]=$(echo "if ($inj_s > 0) $n / $inj_s else 0" | bc -l)
}
measure() { # name port
    local name=$1 port=$2 base n t2 e2e_s
    warm_up "$name" "$port"
    base=$(delivered "$name")
    inject "$name" "$port"
    n=${R[$name/n]}
    if [ "$n" -gt 0 ] && t2=$(wait_delivered "$name" $((base + n)) "$DRAIN_TIMEOUT"); then
        e2e_s=$(echo "$t2 - $INJ_T0" | bc -l)
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

# ---- drain mode: queue with the next hop down, then flush ------------------------------------------------------
log_of() { case "$1" in postfix) echo "$PF_DIR/maillog" ;; mta|mta-before) echo "$MTA_LOG" ;; esac; }
sent_re() { case "$1" in postfix) echo ' status=sent ' ;; mta|mta-before) echo 'result=delivered' ;; esac; }
deferred_re() { case "$1" in postfix) echo ' status=deferred ' ;; mta|mta-before) echo 'result=deferred' ;; esac; }
# since NAME OFFSET: the relay's log from byte OFFSET on (so the polling reads only what the drain wrote)
since() { tail -c +$(( $2 + 1 )) "$(log_of "$1")" 2>/dev/null; }
# queue_count NAME: messages in the relay's own queue listing (0 when empty); nothing when the listing says neither
queue_count() {
    local out
    case "$1" in
        postfix) out=$(timeout 60 "$PF_BIN/postqueue" -c "$PF_DIR/etc" -p 2>&1) ;;
        mta|mta-before) out=$(timeout 60 dotnet "$MTA_DLL" queue list --config "$MTA_CONFIG" 2>&1) ;;
    esac
    case "$out" in *"Mail queue is empty"*) echo 0; return 0 ;; esac
    # Postfix: "-- 5126 Kbytes in 5000 Requests."  Mta: "-- 5126 KiB in 5000 messages."
    echo "$out" | tail -n 1 | sed -nE 's/^-- [0-9]+ [A-Za-z]+ in ([0-9]+) (Requests?|messages?)\.$/\1/p'
}
flush_cmd() { # name: the relay's own "deliver the deferred mail now"
    case "$1" in
        postfix) timeout 30 "$PF_BIN/postqueue" -c "$PF_DIR/etc" -f ;;
        mta|mta-before) timeout 30 dotnet "$MTA_DLL" queue flush --config "$MTA_CONFIG" ;;
    esac
}
measure_drain() { # name port
    local name=$1 port=$2 n base_del base_def t_def off t0 t_first= t_end= c end i q fdir fout frc f_end post_def
    if [ "$WARMUP" -gt 0 ]; then
        drain_sink_up || { note "$name: the drain sink did not start: row skipped"; return 1; }
        warm_up "$name" "$port"
    fi
    drain_sink_down || { note "$name: the drain sink's port stayed open: row skipped"; return 1; }
    # 1. inject with the next hop down; wait until every message has logged a deferral
    base_del=$(delivered "$name"); base_def=$(deferred "$name")
    inject "$name" "$port"
    n=${R[$name/n]}
    [ "$n" -gt 0 ] || { note "$name: nothing was accepted: row skipped"; return 1; }
    end=$(( $(date +%s) + DRAIN_TIMEOUT ))
    while [ "$(deferred "$name")" -lt $((base_def + n)) ] && [ "$(date +%s)" -lt "$end" ]; do sleep 0.2; done
    t_def=$(date +%s.%N)
    c=$(( $(deferred "$name") - base_def ))
    if [ "$c" -lt "$n" ]; then
        note "$name: only $c of $n deferred within ${DRAIN_TIMEOUT}s of injection: row skipped"; return 1
    fi
    R[$name/defer_s]=$(echo "$t_def - $INJ_T0" | bc -l)
    c=$(( $(delivered "$name") - base_del ))
    [ "$c" = 0 ] || note "$name: $c delivered while the next hop was down (?)"
    # ... and the queue holds them all (a deferral is logged before the file is moved: bounded re-tries)
    for i in $(seq 1 20); do q=$(queue_count "$name"); [ "${q:-x}" = "$n" ] && break; sleep 0.5; done
    echo "#   $name: $n deferred in $(printf '%.1f' "${R[$name/defer_s]}") s from the start of injection; queue listing: ${q:-?} messages" >&2
    [ "${q:-x}" = "$n" ] || note "$name: its queue listing shows ${q:-?} messages before the flush, not $n"
    # 2. the next hop comes back
    drain_sink_up || { note "$name: the drain sink did not start again: row skipped"; return 1; }
    # 3. the log watcher (ready before the clock starts), then clock on and flush, in the background
    off=$(stat -c %s "$(log_of "$name")")
    fdir=$(mktemp -d "$DRAIN_RUN/flush.XXXXXX")
    python3 "$DRAIN_RUN/watch.py" "$(log_of "$name")" "$off" "$n" "$(sent_re "$name")" "$DRAIN_TIMEOUT" > "$fdir/watch" 2>&1 &
    WATCH_PID=$!
    for i in $(seq 1 100); do grep -q '^ready' "$fdir/watch" 2>/dev/null && break; sleep 0.05; done
    if ! grep -q '^ready' "$fdir/watch" 2>/dev/null; then
        kill -TERM "$WATCH_PID" 2>/dev/null; wait "$WATCH_PID" 2>/dev/null; WATCH_PID=
        note "$name: the log watcher did not start ($(head -c 200 "$fdir/watch" | tr '\n' ' ')): row skipped"; drain_sink_down; return 1
    fi
    t0=$(date +%s.%N)
    ( flush_cmd "$name" > "$fdir/out" 2>&1; echo $? > "$fdir/rc"; date +%s.%N > "$fdir/end" ) &
    FLUSH_PID=$!
    # 4. clock off at the n-th delivery since the flush (the watcher ends then, or at DRAIN_TIMEOUT)
    wait "$WATCH_PID" 2>/dev/null; WATCH_PID=
    t_first=$(sed -n 's/^first //p' "$fdir/watch"); t_end=$(sed -n 's/^end \([0-9.]*\) .*/\1/p' "$fdir/watch")
    wait "$FLUSH_PID" 2>/dev/null; FLUSH_PID=
    fout=$(tr '\n' ' ' < "$fdir/out"); frc=$(cat "$fdir/rc" 2>/dev/null); f_end=$(cat "$fdir/end" 2>/dev/null)
    echo "#   $name flush: rc=${frc:-?} ${fout:+($fout)}" >&2
    [ "${frc:-1}" = 0 ] || note "$name: the flush command failed (rc=${frc:-?}): ${fout:-no output}"
    R[$name/flush_s]=$( [ -n "$f_end" ] && echo "$f_end - $t0" | bc -l || echo -)
    R[$name/first_s]=$( [ -n "$t_first" ] && echo "$t_first - $t0" | bc -l || echo -)
    post_def=$(since "$name" "$off" | grep -c -- "$(deferred_re "$name")")
    [ "$post_def" = 0 ] || note "$name: $post_def deferrals logged after the flush (first: $(since "$name" "$off" | grep -m1 -- "$(deferred_re "$name")" | sed -E 's/.*(status|result)=deferred //' | cut -c1-160))"
    if [ "$name" = postfix ]; then
        # How many smtp(8) processes delivered, in all and in the first 200 deliveries: the concurrency ramp.
        local pids first
        pids=$(since postfix "$off" | grep -- ' status=sent ' | sed -nE 's/.*postfix\/smtp\[([0-9]+)\].*/\1/p')
        first=$(echo "$pids" | head -n 200 | sort -u | grep -c .)
        note "postfix: $first smtp(8) processes delivered the drain's first 200 messages (the window starts at initial_destination_concurrency), $(echo "$pids" | sort -u | grep -c .) the whole drain (each exits after max_use deliveries)"
    fi
    if [ -n "$t_end" ]; then
        R[$name/drain_s]=$(echo "$t_end - $t0" | bc -l)
        R[$name/drain_rate]=$(echo "$n / ${R[$name/drain_s]}" | bc -l)
        # From the first delivery on: the sending alone, without the flush command's start (a .NET start for Mta).
        R[$name/after_rate]=$(echo "if ($t_end > $t_first) ($n - 1) / ($t_end - $t_first) else 0" | bc -l)
        local ok=0
        for i in $(seq 1 10); do queue_empty "$name" && { ok=1; break; }; sleep 0.5; done
        [ "$ok" = 1 ] || note "$name: all $n delivered per the log, but its queue listing is not empty"
    else
        R[$name/drain_s]=timeout
        R[$name/drain_rate]=-
        R[$name/after_rate]=-
        note "$name: $(since "$name" "$off" | grep -c -- "$(sent_re "$name")") of $n delivered within ${DRAIN_TIMEOUT}s of the flush"
    fi
    drain_sink_down
}
run_one() { if [ "$DRAIN" = 1 ]; then measure_drain "$@"; else measure "$@"; fi; }

if [ "$POSTFIX" = 1 ]; then
    if pf_start; then run_one postfix "$PF_RELAY_PORT"; else note "postfix relay did not start: its row is skipped"; fi
    pf_stop
fi
# run_mta NAME: this tree's build (mta) or MTA_BEFORE_DLL (mta-before), one at a time: mta-lib.sh's MTA_DLL,
# MTA_PORT and MTA_MAILBOX_EXTRA are set for the one that runs, so every helper above reads that instance.
AFTER_DLL=$MTA_DLL; AFTER_PORT=$MTA_PORT; AFTER_MAILBOX_EXTRA=$MTA_MAILBOX_EXTRA
run_mta() {
    local name=$1
    if [ "$name" = mta-before ]; then
        MTA_DLL=$MTA_BEFORE_DLL; MTA_PORT=$MTA_BEFORE_PORT; MTA_MAILBOX_EXTRA=$MTA_BEFORE_MAILBOX_EXTRA
        if mta_start; then mta_up=1; else note "the MTA_BEFORE_DLL build did not start: its row is skipped"; fi
    else
        MTA_DLL=$AFTER_DLL; MTA_PORT=$AFTER_PORT; MTA_MAILBOX_EXTRA=$AFTER_MAILBOX_EXTRA
        if mta_build && mta_start; then mta_up=1; else note "Mta did not build or start: its row is skipped"; fi
    fi
    [ "$mta_up" = 1 ] || return 0
    run_one "$name" "$MTA_PORT"
    mta_stop; mta_up=0
}
if [ "$MTA" = 1 ]; then
    mta_order=(mta)
    if [ -n "$MTA_BEFORE_DLL" ]; then
        if [ "$MTA_BEFORE_FIRST" = 1 ]; then mta_order=(mta-before mta); else mta_order=(mta mta-before); fi
    fi
    for name in "${mta_order[@]}"; do run_mta "$name"; done
fi

# ---- report -------------------------------------------------------------------------------------------------
fmt() { [[ "$1" =~ ^[0-9.]+$ ]] && printf '%.1f' "$1" || printf '%s' "$1"; }
fmt2() { [[ "$1" =~ ^[0-9.]+$ ]] && printf '%.2f' "$1" || printf '%s' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2fx", a / b; else print "-" }'; }
echo
if [ "$DRAIN" = 1 ]; then
    echo "== relay drain: $MESSAGES x $SIZE bytes queued with the next hop down ($SESSIONS sessions), then flushed -> smtp-sink :$SINK_PORT =="
    printf '%-10s %7s %12s %8s %11s %8s %8s %12s %14s\n' relay msgs inject-msg/s defer-s flush-cmd-s first-s drain-s drain-msg/s after-1st-msg/s
    for name in postfix mta mta-before; do
        [ -n "${R[$name/drain_s]:-}" ] || continue
        printf '%-10s %7s %12s %8s %11s %8s %8s %12s %14s\n' "$name" "${R[$name/n]}" "$(fmt "${R[$name/inj_rate]}")" \
            "$(fmt "${R[$name/defer_s]}")" "$(fmt2 "${R[$name/flush_s]}")" "$(fmt2 "${R[$name/first_s]}")" \
            "$(fmt2 "${R[$name/drain_s]}")" "$(fmt "${R[$name/drain_rate]}")" "$(fmt "${R[$name/after_rate]}")"
    done
    if [ -n "${R[postfix/drain_s]:-}" ] && [ -n "${R[mta/drain_s]:-}" ]; then
        echo "mta/postfix: drain $(ratio "${R[mta/drain_rate]}" "${R[postfix/drain_rate]}"), from the first delivery $(ratio "${R[mta/after_rate]}" "${R[postfix/after_rate]}")"
    fi
    if [ -n "${R[mta-before/drain_s]:-}" ] && [ -n "${R[mta/drain_s]:-}" ]; then
        echo "mta/mta-before: drain $(ratio "${R[mta/drain_rate]}" "${R[mta-before/drain_rate]}"), from the first delivery $(ratio "${R[mta/after_rate]}" "${R[mta-before/after_rate]}")"
    fi
else
    echo "== relay: $MESSAGES x $SIZE bytes, $SESSIONS sessions, smtp-source $([ "$PERSIST" = 1 ] && echo "persistent (-d)" || echo "one connection per message") -> relay -> smtp-sink :$SINK_PORT =="
    printf '%-10s %9s %10s %12s %10s %12s\n' relay msgs inject-s inject-msg/s e2e-s e2e-msg/s
    for name in postfix mta mta-before; do
        [ -n "${R[$name/n]:-}" ] || continue
        printf '%-10s %9s %10s %12s %10s %12s\n' "$name" "${R[$name/n]}" "$(fmt "${R[$name/inj_s]}")" "$(fmt "${R[$name/inj_rate]}")" \
            "$(fmt "${R[$name/e2e_s]}")" "$(fmt "${R[$name/e2e_rate]}")"
    done
    if [ -n "${R[postfix/n]:-}" ] && [ -n "${R[mta/n]:-}" ]; then
        echo "mta/postfix: inject $(ratio "${R[mta/inj_rate]}" "${R[postfix/inj_rate]}"), end to end $(ratio "${R[mta/e2e_rate]:-}" "${R[postfix/e2e_rate]:-}")"
    fi
    if [ -n "${R[mta-before/n]:-}" ] && [ -n "${R[mta/n]:-}" ]; then
        echo "mta/mta-before: inject $(ratio "${R[mta/inj_rate]}" "${R[mta-before/inj_rate]}"), end to end $(ratio "${R[mta/e2e_rate]:-}" "${R[mta-before/e2e_rate]:-}")"
    fi
fi
if [ "${#NOTES[@]}" -gt 0 ]; then
    echo
    printf 'note: %s\n' "${NOTES[@]}"
fi
echo "total time: ${SECONDS}s"
