#!/usr/bin/env bash
# Headline benchmark: Mta vs Postfix vs smtp-sink, same machine, same run, same load; then idle memory.
#
#   sudo bench/compare.sh
#
# Throughput: for each size in SIZES at SESSIONS sessions, every target gets the same load
# from two independent generators:
#   mta-bench    (this repo; persistent sessions, MB_FLAGS, default --pipelining)
#   smtp-source  (shared/bench/accept.sh; one connection per message unless ACCEPT_PERSIST=1)
# Targets: mta 127.0.0.1:$MTA_PORT (2526), postfix-maildir :2525 (fsync'd queue + Maildir),
# postfix-discard :2528 (fsync'd queue, then discard), smtp-sink :2527 (protocol only, the ceiling).
# Table: target, port, size, tool, msgs, msg/s, ratio to postfix-maildir (same size and tool).
# Memory: shared/bench/idle-mem.sh with IDLE_N (2000) idle connections against mta, postfix, smtp-sink.
#
# Without root or without Postfix (apt-get install postfix), the Postfix/sink/smtp-source rows
# are skipped and the script says so; Mta rows still run. Peers this script starts, it stops.
#
# Env (defaults): SHARED_DIR=<repo>/../shared SESSIONS=20 SIZES="1024 102400"
#   MSGS_1K=20000 (1 KiB) MSGS_100K=3000 (100 KiB) MSGS=2000 (other sizes)
#   RUN_TIMEOUT=60 (s, each run) COMPARE_MAX=1500 (s, whole script: later runs are skipped)
#   MB_FLAGS=--pipelining  ACCEPT_PERSIST=0  IDLE_N=2000 (0 = skip memory)  HOLD=10 (idle-mem)
#   MTA=1 (0 = skip Mta)  PEERS=1 (0 = do not start/stop Postfix and smtp-sink)
#   DRAIN_MAX=120 (s to wait for a queue to empty between runs)  WARMUP=3000 (uncounted msgs per target first)
#   MTA_BEFORE_DLL=  (a mta.dll of an earlier build: adds target mta-before on :$MTA_BEFORE_PORT (2529), run
#                     beside mta with the same load, for before/after figures of one change in one run;
#                     MTA_BEFORE_MAILBOX_EXTRA='' is its Mailboxes extra, see mta-lib.sh; MTA_BEFORE_FIRST=1
#                     measures it before mta in each size and warm-up, to alternate the order between runs)
#   + mta-lib.sh's MTA_* knobs
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/mta-lib.sh"
case "${1:-}" in -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac

SHARED_DIR=${SHARED_DIR:-$MTA_REPO/../shared}
SB=$SHARED_DIR/bench
SESSIONS=${SESSIONS:-20}
SIZES=${SIZES:-"1024 102400"}
RUN_TIMEOUT=${RUN_TIMEOUT:-60}
COMPARE_MAX=${COMPARE_MAX:-1500}
MB_FLAGS=${MB_FLAGS:---pipelining}
ACCEPT_PERSIST=${ACCEPT_PERSIST:-0}
IDLE_N=${IDLE_N:-2000}
export HOLD=${HOLD:-10}
MTA=${MTA:-1}
PEERS=${PEERS:-1}
DRAIN_MAX=${DRAIN_MAX:-120}
PF_PORT=2525; PF_DISCARD_PORT=2528; SINK_PORT=2527
FROM=a@example.test; TO=user@localhost

msgs_for() {
    case "$1" in 1024) echo "${MSGS_1K:-20000}";; 102400) echo "${MSGS_100K:-3000}";; *) echo "${MSGS:-2000}";; esac
}
note() { echo "# $*" >&2; NOTES+=("$*"); }
NOTES=()

# ---- what can run here --------------------------------------------------------------
have_root=0; [ "$(id -u)" = 0 ] && have_root=1
have_postfix=0; command -v postfix >/dev/null 2>&1 && [ -x "$SB/peers/postfix-up.sh" ] && have_postfix=1
have_sink=0; command -v smtp-sink >/dev/null 2>&1 && [ -x "$SB/peers/sink-up.sh" ] && have_sink=1
have_source=0; command -v smtp-source >/dev/null 2>&1 && [ -x "$SB/accept.sh" ] && command -v bc >/dev/null && have_source=1
[ -d "$SB" ] || note "no $SB (set SHARED_DIR): Postfix, smtp-sink, smtp-source and memory rows skipped"
[ "$have_source" = 1 ] || note "smtp-source (postfix) or bc not installed: smtp-source rows skipped"
if [ "$PEERS" = 1 ] && [ "$have_root" = 0 ]; then
    note "not root: cannot start Postfix/smtp-sink peers (shared/bench scripts need root); those rows skipped"
    have_postfix=0; have_sink=0
fi
[ "$have_postfix" = 1 ] || note "Postfix not available: postfix rows and the ratio column are skipped (apt-get install -y postfix)"

started_postfix=0; started_sink=0; mta_up=0; before_up=0
MTA_BEFORE_DLL=${MTA_BEFORE_DLL:-}; MTA_BEFORE_PORT=${MTA_BEFORE_PORT:-2529}; BEFORE_PID=; BEFORE_TMP=
cleanup() {
    [ "$mta_up" = 1 ] && mta_stop
    if [ "$before_up" = 1 ]; then MTA_PID=$BEFORE_PID MTA_TMP=$BEFORE_TMP mta_stop; fi
    if [ "$started_sink" = 1 ]; then "$SB/peers/sink-down.sh" >&2 || true; fi
    # Only stop (and purge the benchmark Maildir of) a Postfix this script started.
    if [ "$started_postfix" = 1 ]; then PURGE=1 "$SB/peers/postfix-down.sh" >&2 || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- start everything ---------------------------------------------------------------
mta_bench_build || { echo "mta-bench build failed" >&2; exit 1; }
if [ "$PEERS" = 1 ] && [ "$have_postfix" = 1 ]; then
    postfix status >/dev/null 2>&1 || started_postfix=1
    if ! "$SB/peers/postfix-up.sh" >&2; then note "postfix-up.sh failed: postfix rows skipped"; have_postfix=0; fi
fi
if [ "$PEERS" = 1 ] && [ "$have_sink" = 1 ]; then
    pidfile=${PEER_RUN:-/opt/peers/run}/smtp-sink.pid
    { [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; } || started_sink=1
    if ! "$SB/peers/sink-up.sh" >&2; then note "sink-up.sh failed: smtp-sink rows skipped"; have_sink=0; fi
fi
if [ "$MTA" = 1 ] && [ -n "$MTA_BEFORE_DLL" ]; then
    # mta-lib keeps one instance in MTA_PID/MTA_TMP: start the earlier build first and keep its pid and folder aside.
    if MTA_DLL=$MTA_BEFORE_DLL MTA_PORT=$MTA_BEFORE_PORT MTA_MAILBOX_EXTRA=${MTA_BEFORE_MAILBOX_EXTRA:-} mta_start; then
        before_up=1; BEFORE_PID=$MTA_PID; BEFORE_TMP=$MTA_TMP; MTA_PID=; MTA_TMP=
    else note "the MTA_BEFORE_DLL build did not start: mta-before rows skipped"; fi
fi
if [ "$MTA" = 1 ]; then
    if mta_build && mta_start; then mta_up=1; else note "Mta did not build or start: mta rows skipped"; fi
fi

targets=()
if [ "${MTA_BEFORE_FIRST:-0}" = 1 ]; then
    [ "$before_up" = 1 ] && targets+=("mta-before:$MTA_BEFORE_PORT")
    [ "$mta_up" = 1 ] && targets+=("mta:$MTA_PORT")
else
    [ "$mta_up" = 1 ] && targets+=("mta:$MTA_PORT")
    [ "$before_up" = 1 ] && targets+=("mta-before:$MTA_BEFORE_PORT")
fi
[ "$have_postfix" = 1 ] && targets+=("postfix-maildir:$PF_PORT" "postfix-discard:$PF_DISCARD_PORT")
[ "$have_sink" = 1 ] && targets+=("smtp-sink:$SINK_PORT")
tools=(mta-bench); [ "$have_source" = 1 ] && tools+=(smtp-source)

# ---- queue drain between runs (so one run's deliveries do not slow the next) ---------
drain() {
    local name=$1
    case "$name" in
        postfix-*) "$SB/peers/postfix-stats.sh" wait "$DRAIN_MAX" 2>/dev/null | sed 's/^/#   postfix /' >&2 ;;
        mta|mta-before)
            local queue=$MTA_TMP/queue; [ "$name" = mta-before ] && queue=$BEFORE_TMP/queue
            # Mta's queue layout is its own business: wait until its queue dir holds no files,
            # or its file count has stopped changing for 3 s (it may keep index files).
            local last=-1 same=0 n i
            for i in $(seq 1 $((DRAIN_MAX * 2))); do
                n=$(find "$queue" -type f 2>/dev/null | wc -l)
                [ "$n" = 0 ] && break
                if [ "$n" = "$last" ]; then same=$((same + 1)); [ "$same" -ge 6 ] && break; else same=0; fi
                last=$n; sleep 0.5
            done
            echo "#   $name queue files: $(find "$queue" -type f 2>/dev/null | wc -l)" >&2 ;;
    esac
}

# ---- throughput ---------------------------------------------------------------------
declare -A RATE
rows=()
run_one() { # name port size tool -> appends a row, sets RATE[name/size/tool]
    local name=$1 port=$2 size=$3 tool=$4 n out last rate got status=ok
    n=$(msgs_for "$size")
    if [ "$SECONDS" -ge "$COMPARE_MAX" ]; then
        rows+=("$name|$port|$size|$tool|$n|-|skipped: COMPARE_MAX")
        return
    fi
    echo "## $name :$port size=$size tool=$tool msgs=$n sessions=$SESSIONS" >&2
    if [ "$tool" = mta-bench ]; then
        # shellcheck disable=SC2086  # MB_FLAGS is a list of flags
        out=$(timeout $((RUN_TIMEOUT + 15)) "$MTA_BENCH" "127.0.0.1:$port" --sessions "$SESSIONS" --messages "$n" \
              --size "$size" --from "$FROM" --to "$TO" --timeout "$RUN_TIMEOUT" $MB_FLAGS)
        last=$(echo "$out" | tail -n 1)            # mta-bench: N msgs in T s = R msg/s (failed F)
        echo "$out" | sed 's/^/#   /' >&2
        case "$last" in *"(failed 0)") ;; *) status="FAILED ${last##*(}";; esac
    else
        out=$(TIMEOUT=$RUN_TIMEOUT PERSIST=$ACCEPT_PERSIST FROM=$FROM TO=$TO LABEL=accept \
              "$SB/accept.sh" "127.0.0.1:$port" "$SESSIONS" "$n" "$size")
        last=$(echo "$out" | tail -n 1)            # accept: N msgs in T s = R msg/s
        echo "$out" | sed 's/^/#   /' >&2
        echo "$out" | grep -q '^FAILED' && status="FAILED ($(echo "$out" | grep '^FAILED' | cut -c1-60))"
    fi
    got=$(echo "$last" | awk '{print $2}'); rate=$(echo "$last" | awk '{print $8}')
    [[ "$rate" =~ ^[0-9.]+$ ]] || { rate=-; status="no result"; }
    RATE[$name/$size/$tool]=$rate
    rows+=("$name|$port|$size|$tool|${got:-0}/$n|$rate|$status")
    drain "$name"
}

# Warm-up, the same for every target: JIT-compiled Mta and freshly started Postfix daemons alike get
# WARMUP messages first, not counted, so the figures compare steady states.
WARMUP=${WARMUP:-3000}
if [ "$WARMUP" -gt 0 ]; then
    for t in "${targets[@]}"; do
        echo "## warm-up ${t%%:*} :${t##*:} msgs=$WARMUP" >&2
        timeout $((RUN_TIMEOUT + 15)) "$MTA_BENCH" "127.0.0.1:${t##*:}" --sessions "$SESSIONS" --messages "$WARMUP" \
            --size 1024 --from "$FROM" --to "$TO" --timeout "$RUN_TIMEOUT" $MB_FLAGS 2>&1 | tail -n 1 | sed 's/^/#   /' >&2
        drain "${t%%:*}"
    done
fi

for size in $SIZES; do
    for t in "${targets[@]}"; do
        for tool in "${tools[@]}"; do run_one "${t%%:*}" "${t##*:}" "$size" "$tool"; done
    done
done

# ---- idle memory --------------------------------------------------------------------
mem=()
idle_mem() { # name port pid...
    local name=$1 port=$2 out; shift 2
    if [ "$SECONDS" -ge "$COMPARE_MAX" ]; then mem+=("$name: skipped (COMPARE_MAX)"); return; fi
    echo "## idle memory: $name :$port N=$IDLE_N" >&2
    out=$("$SB/idle-mem.sh" "127.0.0.1:$port" "$IDLE_N" "$@" 2>/dev/null | tail -n 1)
    mem+=("$(printf '%-16s %s' "$name" "${out:-no result}")")
}
if [ "$IDLE_N" -gt 0 ] && [ -x "$SB/idle-mem.sh" ]; then
    [ "$mta_up" = 1 ] && idle_mem mta "$MTA_PORT" "$MTA_PID"
    if [ "$have_postfix" = 1 ]; then
        pf_pid=$(tr -d ' ' < "$(postconf -h queue_directory)/pid/master.pid")
        idle_mem postfix "$PF_PORT" "$pf_pid"
    fi
    if [ "$have_sink" = 1 ]; then idle_mem smtp-sink "$SINK_PORT" "$(cat "${PEER_RUN:-/opt/peers/run}/smtp-sink.pid")"; fi
fi

# ---- report -------------------------------------------------------------------------
echo
echo "== throughput: $SESSIONS sessions, mta-bench flags '$MB_FLAGS', smtp-source $([ "$ACCEPT_PERSIST" = 1 ] && echo "persistent (-d)" || echo "one connection per message") =="
printf '%-16s %5s %7s %-11s %12s %10s %9s  %s\n' target port size tool msgs msg/s vs-postfix status
for r in "${rows[@]}"; do
    IFS='|' read -r name port size tool msgs rate status <<< "$r"
    base=${RATE[postfix-maildir/$size/$tool]:-}
    ratio=-
    [[ "$rate" =~ ^[0-9.]+$ && "$base" =~ ^[0-9.]+$ ]] \
        && ratio=$(awk -v a="$rate" -v b="$base" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }')
    printf '%-16s %5s %7s %-11s %12s %10s %9s  %s\n' "$name" "$port" "$size" "$tool" "$msgs" "$rate" "$ratio" "$status"
done
if [ "${#mem[@]}" -gt 0 ]; then
    echo
    echo "== idle memory: $IDLE_N idle connections (EHLO done), held ${HOLD}s =="
    printf '%s\n' "${mem[@]}"
fi
if [ "${#NOTES[@]}" -gt 0 ]; then
    echo
    printf 'note: %s\n' "${NOTES[@]}"
fi
echo "total time: ${SECONDS}s"
