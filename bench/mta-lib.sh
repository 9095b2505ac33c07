# Helpers to build, configure, start and stop Mta for benchmarks (source it; used by run-mta.sh, compare.sh).
#
# Env (defaults):
#   MTA_ADDR=127.0.0.1 MTA_PORT=2526   listener (loopback only)
#   MTA_MAX_CONN=5000                  Limits.MaxConnections and MaxConnectionsPerIp (idle-mem needs 2000+)
#   MTA_BUILD=1                        0 = skip `dotnet build -c Release src/Mta`
#   MTA_DLL=<repo>/src/Mta/bin/Release/net10.0/mta.dll
#   MTA_KEEP_TMP=0                     1 = keep the temp dir (config, log, queue, maildir) after stopping
#   MTA_START_WAIT=30                  seconds to wait for the port
#   MTA_EXTENSIONS='"Scripts": { "Enabled": false }, "Authentication": { "Verify": { "Enabled": false } }'
#                                      JSON members added to the config: by default no scripts or plugins run and
#                                      no SPF/DKIM/DMARC checks (DNS) are made, so figures measure the engine alone,
#                                      as Postfix's (which checks none of them) do, and no query leaves loopback.
#                                      bench/auth.sh measures the checks against a stub DNS server of its own
#   MTA_MAILBOX_EXTRA=', "AcceptAnyLocalPart": true'   members added to Mailboxes (empty for an older build)
# After mta_start: MTA_PID, MTA_TMP, MTA_CONFIG, MTA_LOG are set.

MTA_REPO=${MTA_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
MTA_ADDR=${MTA_ADDR:-127.0.0.1}
MTA_PORT=${MTA_PORT:-2526}
MTA_MAX_CONN=${MTA_MAX_CONN:-5000}
MTA_BUILD=${MTA_BUILD:-1}
MTA_DLL=${MTA_DLL:-$MTA_REPO/src/Mta/bin/Release/net10.0/mta.dll}
MTA_KEEP_TMP=${MTA_KEEP_TMP:-0}
MTA_START_WAIT=${MTA_START_WAIT:-30}
MTA_PID=
MTA_EXTENSIONS=${MTA_EXTENSIONS:-'"Scripts": { "Enabled": false }, "Authentication": { "Verify": { "Enabled": false } }'}
# Every local part of the benchmark domains is a mailbox; empty for a build older than Mailboxes:AcceptAnyLocalPart.
MTA_MAILBOX_EXTRA=${MTA_MAILBOX_EXTRA-', "AcceptAnyLocalPart": true'}

case "$MTA_ADDR" in 127.*) ;; *) echo "refusing non-loopback MTA_ADDR=$MTA_ADDR" >&2; return 2 2>/dev/null || exit 2;; esac

# mta_write_config DIR: the whole benchmark configuration, in one place.
# Adjust here when Mta's configuration schema changes.
mta_write_config() {
    local dir=$1
    # Top-level keys bind straight onto Mta.Engine.Configuration.MtaOptions (unknown keys are errors).
    cat > "$dir/mta.bench.json" <<EOF
{
  "HostName": "mta.bench.test",
  "DataDirectory": "$dir",
  "Listeners": [ { "Name": "smtp", "Address": "$MTA_ADDR", "Port": $MTA_PORT } ],
  "LocalDomains": [ "localhost", "example.test" ],
  "Mailboxes": { "Root": "$dir/maildir", "Postmaster": "postmaster"$MTA_MAILBOX_EXTRA },
  "Queue": { "Path": "$dir/queue" },
  "Limits": { "MaxConnections": $MTA_MAX_CONN, "MaxConnectionsPerIp": $MTA_MAX_CONN },
  $MTA_EXTENSIONS
}
EOF
    echo "$dir/mta.bench.json"
}

mta_build() {
    [ "$MTA_BUILD" = 1 ] || return 0
    echo "# dotnet build -c Release src/Mta" >&2
    # Another build may hold a file lock for a moment: retry a few times (bounded).
    local i
    for i in 1 2 3; do
        if (cd "$MTA_REPO" && dotnet build -c Release src/Mta -nologo -v q) > "${TMPDIR:-/tmp}/mta-build.$$.log" 2>&1; then
            rm -f "${TMPDIR:-/tmp}/mta-build.$$.log"; return 0
        fi
        sleep 3
    done
    tail -n 20 "${TMPDIR:-/tmp}/mta-build.$$.log" >&2
    return 1
}

# port_open HOST PORT: one TCP connect attempt
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# mta_start: temp dir + config, start Mta in the background, wait (bounded) for the port.
mta_start() {
    if port_open "$MTA_ADDR" "$MTA_PORT"; then
        echo "port $MTA_ADDR:$MTA_PORT already in use; stop what is there or set MTA_PORT" >&2
        return 1
    fi
    [ -f "$MTA_DLL" ] || { echo "no $MTA_DLL (build failed or MTA_BUILD=0 without a build)" >&2; return 1; }
    MTA_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mta-bench.XXXXXX")
    mkdir -p "$MTA_TMP/maildir" "$MTA_TMP/queue"
    MTA_CONFIG=$(mta_write_config "$MTA_TMP")
    MTA_LOG=$MTA_TMP/mta.log
    # Many idle connections need many descriptors: raise the soft limit to the hard one.
    ( ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec dotnet "$MTA_DLL" run --config "$MTA_CONFIG" ) > "$MTA_LOG" 2>&1 < /dev/null &
    MTA_PID=$!
    local i
    for i in $(seq 1 $((MTA_START_WAIT * 5))); do
        if ! kill -0 "$MTA_PID" 2>/dev/null; then
            echo "mta exited during startup; log:" >&2; tail -n 30 "$MTA_LOG" >&2; MTA_PID=; return 1
        fi
        port_open "$MTA_ADDR" "$MTA_PORT" && { echo "mta up: $MTA_ADDR:$MTA_PORT pid $MTA_PID dir $MTA_TMP" >&2; return 0; }
        sleep 0.2
    done
    echo "mta not listening on $MTA_ADDR:$MTA_PORT after ${MTA_START_WAIT}s; log:" >&2
    tail -n 30 "$MTA_LOG" >&2
    mta_stop
    return 1
}

# mta_stop: SIGTERM the pid we started, wait up to 10 s, then SIGKILL; remove the temp dir.
mta_stop() {
    if [ -n "${MTA_PID:-}" ] && kill -0 "$MTA_PID" 2>/dev/null; then
        kill -TERM "$MTA_PID" 2>/dev/null || true
        local i
        for i in $(seq 1 50); do kill -0 "$MTA_PID" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$MTA_PID" 2>/dev/null; then
            echo "mta did not stop in 10 s; SIGKILL" >&2
            kill -KILL "$MTA_PID" 2>/dev/null || true
        fi
        wait "$MTA_PID" 2>/dev/null || true
        echo "mta stopped" >&2
    fi
    MTA_PID=
    if [ -n "${MTA_TMP:-}" ] && [ -d "$MTA_TMP" ]; then
        if [ "$MTA_KEEP_TMP" = 1 ]; then echo "kept $MTA_TMP" >&2; else rm -rf "$MTA_TMP"; fi
    fi
    MTA_TMP=
}

# mta_bench_build: build the load generator (Release) once; sets MTA_BENCH to its executable.
mta_bench_build() {
    local i
    MTA_BENCH=$MTA_REPO/bench/Mta.Bench/bin/Release/net10.0/mta-bench
    for i in 1 2 3; do
        if (cd "$MTA_REPO" && dotnet build -c Release bench/Mta.Bench -nologo -v q) > "${TMPDIR:-/tmp}/mta-bench-build.$$.log" 2>&1; then
            rm -f "${TMPDIR:-/tmp}/mta-bench-build.$$.log"; return 0
        fi
        sleep 3
    done
    tail -n 20 "${TMPDIR:-/tmp}/mta-bench-build.$$.log" >&2
    return 1
}
