#!/usr/bin/env bash
# Scale-out: two Mta nodes behind HAProxy against one node behind HAProxy and one node directly, same run, alternating.
#
#   bench/scale-out.sh [messages=5000] [sessions=20] [size=1024]
#
# Starts a private redis-server (REDIS_PORT, no persistence), two nodes from one Release build (node1, node2: each its
# own data folder, queue and Maildir; State:Provider Redis; the shipped rate-limit script with limits no run reaches and
# loopback not exempt, so every connection and every MAIL is one sliding-window call to Redis, as in a cluster that
# shares its policy state) and a private haproxy (tcp mode, roundrobin, send-proxy-v2, SMTP checks every 2 s) with two
# frontends: "one" (node1 only) and "two" (node1 + node2). Each node has a plain listener too, for the "direct" row.
# Load: Postfix's smtp-source through shared/bench/accept.sh, one connection per message (PERSIST=1 to keep them),
# so the balancer spreads connections, not messages. Before each run, every message sent earlier is delivered (both
# Maildirs hold it), so no run competes with the deliveries of the one before. Prints every run, the median per mode,
# and the CPU time per message of each process (both nodes, haproxy, redis-server) over the "two" runs.
#
# Env: ROUNDS=3 WARMUP=3000 PERSIST=0 REDIS_PORT=6392 DIRECT_PORTS="2541 2542" PROXIED_PORTS="2543 2544"
#      ONE_PORT=2545 TWO_PORT=2546 RUN_TIMEOUT=300 DRAIN_MAX=120 SHARED_DIR (accept.sh's folder's parent),
#      mta-lib.sh's MTA_* knobs. Needs redis-server, haproxy, smtp-source (postfix) and bc.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/mta-lib.sh"
case "${1:-}" in -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac
messages=${1:-5000}; sessions=${2:-20}; size=${3:-1024}
ROUNDS=${ROUNDS:-3}; WARMUP=${WARMUP:-3000}; PERSIST=${PERSIST:-0}; REDIS_PORT=${REDIS_PORT:-6392}
read -r -a DIRECT_PORTS <<< "${DIRECT_PORTS:-2541 2542}"; read -r -a PROXIED_PORTS <<< "${PROXIED_PORTS:-2543 2544}"
ONE_PORT=${ONE_PORT:-2545}; TWO_PORT=${TWO_PORT:-2546}; RUN_TIMEOUT=${RUN_TIMEOUT:-300}; DRAIN_MAX=${DRAIN_MAX:-120}
SHARED_DIR=${SHARED_DIR:-$MTA_REPO/../shared}; [ -x "$SHARED_DIR/bench/accept.sh" ] || SHARED_DIR=/work/shared
ACCEPT=$SHARED_DIR/bench/accept.sh
REDIS=$(command -v redis-server || echo /usr/bin/redis-server); HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
for tool in "$REDIS" "$HAPROXY" "$ACCEPT"; do [ -x "$tool" ] || { echo "missing $tool" >&2; exit 2; }; done
command -v smtp-source >/dev/null && command -v bc >/dev/null || { echo "needs smtp-source (postfix) and bc" >&2; exit 2; }
for port in "$REDIS_PORT" "${DIRECT_PORTS[@]}" "${PROXIED_PORTS[@]}" "$ONE_PORT" "$TWO_PORT"; do
    port_open 127.0.0.1 "$port" && { echo "port 127.0.0.1:$port in use" >&2; exit 1; }
done

mta_build || { echo "mta build failed" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mta-scale-out.XXXXXX")
REDIS_PID=; HAPROXY_PID=
declare -A PID TMP
cleanup() {
    local node
    for node in node1 node2; do
        [ -n "${PID[$node]:-}" ] && { MTA_PID=${PID[$node]} MTA_TMP=${TMP[$node]} mta_stop; PID[$node]=; }
    done
    [ -n "$HAPROXY_PID" ] && { kill -TERM "$HAPROXY_PID" 2>/dev/null; wait "$HAPROXY_PID" 2>/dev/null; }
    [ -n "$REDIS_PID" ] && { kill -TERM "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; }
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$REDIS" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" --daemonize no --logfile "" \
    > "$WORK/redis.log" 2>&1 < /dev/null &
REDIS_PID=$!
for _ in $(seq 1 50); do port_open 127.0.0.1 "$REDIS_PORT" && break; sleep 0.2; done
port_open 127.0.0.1 "$REDIS_PORT" || { echo "redis-server did not start" >&2; cat "$WORK/redis.log" >&2; exit 1; }

mkdir -p "$WORK/scripts"; cp "$MTA_REPO/scripts/rate-limit.csx" "$WORK/scripts/"
# mta-lib's mta_start writes its config through this function: a node of the cluster instead of the single server.
mta_write_config() {
    local dir=$1
    cat > "$dir/mta.bench.json" <<EOF
{
  "HostName": "mx.bench.test",
  "DataDirectory": "$dir",
  "Node": { "Name": "$NODE_NAME" },
  "Listeners": [
    { "Name": "smtp", "Address": "127.0.0.1", "Port": $MTA_PORT },
    { "Name": "proxied", "Address": "127.0.0.1", "Port": $NODE_PROXIED_PORT, "ProxyProtocol": "V2", "ProxyNetworks": [ "127.0.0.1/32" ] }
  ],
  "LocalDomains": [ "localhost", "example.test" ],
  "Mailboxes": { "Root": "$dir/maildir", "Postmaster": "postmaster"$MTA_MAILBOX_EXTRA },
  "Queue": { "Path": "$dir/queue" },
  "Limits": { "MaxConnections": $MTA_MAX_CONN, "MaxConnectionsPerIp": $MTA_MAX_CONN },
  "State": { "Provider": "Redis", "Redis": { "Configuration": "127.0.0.1:$REDIS_PORT" } },
  "Scripts": { "Directory": "$WORK/scripts", "Watch": false,
               "Settings": { "rate-limit": { "MaxMessagesPerMinute": 100000000, "MaxConnectionsPerMinute": 100000000, "ExemptLoopback": false } } },
  "Authentication": { "Verify": { "Enabled": false } }
}
EOF
    echo "$dir/mta.bench.json"
}
MTA_KEEP_TMP=0
for i in 0 1; do
    node=node$((i + 1))
    NODE_NAME=$node NODE_PROXIED_PORT=${PROXIED_PORTS[$i]} MTA_PORT=${DIRECT_PORTS[$i]} mta_start || exit 1
    PID[$node]=$MTA_PID; TMP[$node]=$MTA_TMP; MTA_PID=; MTA_TMP=
done

cat > "$WORK/haproxy.cfg" <<EOF
global
    maxconn 8000
defaults
    mode tcp
    option redispatch
    retries 3
    timeout connect 2s
    timeout client 60s
    timeout server 60s
frontend one
    bind 127.0.0.1:$ONE_PORT
    default_backend one_servers
frontend two
    bind 127.0.0.1:$TWO_PORT
    default_backend two_servers
backend one_servers
    balance roundrobin
    option smtpchk EHLO haproxy.bench.test
    server node1 127.0.0.1:${PROXIED_PORTS[0]} send-proxy-v2 check check-send-proxy inter 2s
backend two_servers
    balance roundrobin
    option smtpchk EHLO haproxy.bench.test
    server node1 127.0.0.1:${PROXIED_PORTS[0]} send-proxy-v2 check check-send-proxy inter 2s
    server node2 127.0.0.1:${PROXIED_PORTS[1]} send-proxy-v2 check check-send-proxy inter 2s
EOF
"$HAPROXY" -db -f "$WORK/haproxy.cfg" > "$WORK/haproxy.log" 2>&1 < /dev/null &
HAPROXY_PID=$!
for _ in $(seq 1 50); do port_open 127.0.0.1 "$TWO_PORT" && break; sleep 0.2; done
port_open 127.0.0.1 "$TWO_PORT" || { echo "haproxy did not start" >&2; cat "$WORK/haproxy.log" >&2; exit 1; }
echo "# redis $REDIS_PID, haproxy $HAPROXY_PID, node1 ${PID[node1]}, node2 ${PID[node2]} (work $WORK)" >&2

delivered() { find "${TMP[node1]}/maildir" "${TMP[node2]}/maildir" -path '*/new/*' -type f 2>/dev/null | wc -l; }
SENT=0
drain() {
    local n i
    for i in $(seq 1 $((DRAIN_MAX * 5))); do
        n=$(delivered); [ "$n" -ge "$SENT" ] && return 0; sleep 0.2
    done
    echo "# only $n of $SENT messages delivered after ${DRAIN_MAX}s" >&2
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)
port_of() { case $1 in direct) echo "${DIRECT_PORTS[0]}";; node2) echo "${DIRECT_PORTS[1]}";; one) echo "$ONE_PORT";; two) echo "$TWO_PORT";; esac; }
run() { # mode count -> RUN_OUT (accept.sh's last line); SENT grows by what was accepted
    RUN_OUT=$(PERSIST=$PERSIST TIMEOUT=$RUN_TIMEOUT FROM=a@example.test TO=user@example.test LABEL="$1" \
        "$ACCEPT" "127.0.0.1:$(port_of "$1")" "$sessions" "$2" "$size" 2>/dev/null | tail -n 2 | tr '\n' ' ')
    local got; got=$(echo "$RUN_OUT" | grep -oE "$1: [0-9]+ msgs" | awk '{print $2}')
    [[ "${got:-}" =~ ^[0-9]+$ ]] && SENT=$((SENT + got))
}

# node2 takes mail only in the "two" runs: warmed up on its own port too, or its JIT would still be tiering up there.
for mode in direct node2 one two; do run "$mode" "$WARMUP"; echo "# warm-up $mode: $RUN_OUT" >&2; drain; done
declare -A RATES
rows=(); cpu_two=()
for round in $(seq 1 "$ROUNDS"); do
    case $((round % 3)) in 1) order="direct one two";; 2) order="two direct one";; 0) order="one two direct";; esac
    for mode in $order; do
        t0=(); for p in "${PID[node1]}" "${PID[node2]}" "$HAPROXY_PID" "$REDIS_PID"; do t0+=("$(ticks "$p")"); done
        run "$mode" "$messages"; drain
        t1=(); for p in "${PID[node1]}" "${PID[node2]}" "$HAPROXY_PID" "$REDIS_PID"; do t1+=("$(ticks "$p")"); done
        rate=$(echo "$RUN_OUT" | grep -oE '= [0-9.]+ msg/s' | awk '{print $2}')
        cpu=""; for k in 0 1 2 3; do cpu+="$(( (t1[k] - t0[k]) * 1000000 / hz / messages )) "; done
        status=ok; case "$RUN_OUT" in *FAILED*) status="FAILED";; esac
        echo "# round $round $mode: $RUN_OUT | us CPU/msg node1 node2 haproxy redis: $cpu" >&2
        rows+=("$(printf '%-5s %-6s %9s   %-22s %s' "$round" "$mode" "${rate:--}" "$cpu" "$status")")
        [[ "${rate:-}" =~ ^[0-9.]+$ ]] && RATES[$mode]+="$rate "
    done
done

median() { tr ' ' '\n' | sort -n | awk 'NF { a[n++] = $1 } END { if (n == 0) print "-"; else if (n % 2) print a[(n - 1) / 2]; else printf "%.1f\n", (a[n / 2 - 1] + a[n / 2]) / 2 }'; }
echo "== scale-out: $messages msgs of $size B per run, $sessions smtp-source sessions ($([ "$PERSIST" = 1 ] && echo persistent || echo one connection per message)), $ROUNDS rounds, $(nproc) cores =="
printf '%-5s %-6s %9s   %-22s %s\n' round mode "msg/s" "us CPU/msg n1 n2 hap rds" status
printf '%s\n' "${rows[@]}"
for mode in direct one two; do printf '%s %s msg/s (median)\n' "$mode" "$(echo "${RATES[$mode]:-}" | median)"; done
echo "node1 queue ids carry tag $(grep -oE 'carry tag [0-9A-Z]{2}' "${TMP[node1]}/mta.log" | head -n 1 | awk '{print $3}'), node2 $(grep -oE 'carry tag [0-9A-Z]{2}' "${TMP[node2]}/mta.log" | head -n 1 | awk '{print $3}')"
