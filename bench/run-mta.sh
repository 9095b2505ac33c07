#!/usr/bin/env bash
# Build Mta (Release), start it on 127.0.0.1:2526 with a throw-away config, run a command against it, stop it.
#
#   bench/run-mta.sh                  run the default load: mta-bench 127.0.0.1:2526 --sessions 20 --messages 10000 --size 1024 --pipelining
#   bench/run-mta.sh CMD [ARGS...]    run CMD instead (bounded by RUN_TIMEOUT); it sees MTA_TARGET=127.0.0.1:2526,
#                                     MTA_PID, MTA_TMP (config, log, queue/, maildir/) in its environment
#   e.g. bench/run-mta.sh ../shared/bench/accept.sh 127.0.0.1:2526 20 10000 1024
#        bench/run-mta.sh bash -c '../shared/bench/idle-mem.sh $MTA_TARGET 2000 $MTA_PID'
#
# Env: RUN_TIMEOUT=600 (s, for CMD), plus mta-lib.sh's MTA_PORT, MTA_BUILD=0 (skip build),
#      MTA_KEEP_TMP=1 (keep config/log/mail), MTA_MAX_CONN. The config JSON is in mta-lib.sh (mta_write_config).
# Exit code: CMD's.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/mta-lib.sh"
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
case "${1:-}" in -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac

mta_build || { echo "mta build failed" >&2; exit 1; }
if [ $# -eq 0 ]; then
    mta_bench_build || { echo "mta-bench build failed" >&2; exit 1; }
    set -- "$MTA_BENCH" "$MTA_ADDR:$MTA_PORT" --sessions 20 --messages 10000 --size 1024 --pipelining --timeout "$RUN_TIMEOUT"
fi

trap 'mta_stop' EXIT
trap 'exit 130' INT TERM
mta_start || exit 1
export MTA_TARGET="$MTA_ADDR:$MTA_PORT" MTA_PID MTA_TMP
timeout "$RUN_TIMEOUT" "$@"
rc=$?
[ "$rc" = 124 ] && echo "command stopped after RUN_TIMEOUT=${RUN_TIMEOUT}s" >&2
echo "# mta log: $(grep -ciE 'fail|error|exception' "$MTA_LOG") lines mention fail/error/exception" >&2
exit "$rc"
