#!/usr/bin/env bash
# CPU per accepted message (utime+stime of the mta process over a load, delivery included), Mta against an earlier
# build in the same run: both instances up at once, loads alternated, each pair printed. Rates on a shared 2-core
# machine swing by 20%; CPU per message is the steadier figure of what a change costs.
#
#   MTA_BEFORE_DLL=/path/to/old/src/Mta/bin/Release/net10.0/mta.dll bench/cpu-per-message.sh
#
# Env (defaults): SIZES="1024 102400" ROUNDS=3 SESSIONS=20 MSGS_1K=10000 MSGS=3000 (other sizes)
#   MTA_BEFORE_PORT=2529 MTA_BEFORE_MAILBOX_EXTRA='' (see mta-lib.sh) + mta-lib.sh's MTA_* knobs.
# Verification and scripts are off in both (no DNS here), so the figures are the receive/spool/deliver path alone.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/mta-lib.sh"
case "${1:-}" in -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac
[ -n "${MTA_BEFORE_DLL:-}" ] || { echo "set MTA_BEFORE_DLL to the earlier build's mta.dll" >&2; exit 2; }
export MTA_EXTENSIONS='"Scripts": { "Enabled": false }, "Authentication": { "Verify": { "Enabled": false } }'
SIZES=${SIZES:-"1024 102400"}; ROUNDS=${ROUNDS:-3}; SESSIONS=${SESSIONS:-20}
MTA_BEFORE_PORT=${MTA_BEFORE_PORT:-2529}

mta_build || exit 1
mta_bench_build || exit 1
MTA_DLL=$MTA_BEFORE_DLL MTA_PORT=$MTA_BEFORE_PORT MTA_MAILBOX_EXTRA=${MTA_BEFORE_MAILBOX_EXTRA:-} mta_start || exit 1
before_pid=$MTA_PID; before_tmp=$MTA_TMP; MTA_PID=; MTA_TMP=
trap 'mta_stop; MTA_PID=$before_pid MTA_TMP=$before_tmp mta_stop' EXIT
mta_start || exit 1
after_pid=$MTA_PID

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
printf '%-7s %-7s %10s %14s\n' size build msg/s cpu-us/msg
for size in $SIZES; do
    n=${MSGS:-3000}; [ "$size" = 1024 ] && n=${MSGS_1K:-10000}
    for round in $(seq 1 "$ROUNDS"); do
        for build in after before; do
            if [ "$build" = after ]; then pid=$after_pid port=$MTA_PORT; else pid=$before_pid port=$MTA_BEFORE_PORT; fi
            t0=$(ticks "$pid")
            rate=$(timeout 120 "$MTA_BENCH" "127.0.0.1:$port" --sessions "$SESSIONS" --messages "$n" --size "$size" \
                   --from a@example.test --to user@localhost --timeout 60 --pipelining | tail -n 1 | awk '{print $8}')
            sleep 3 # let local delivery of the last messages finish inside the measurement
            t1=$(ticks "$pid")
            printf '%-7s %-7s %10s %14s\n' "$size" "$build" "${rate:--}" $(( (t1 - t0) * 1000000 / hz / n ))
        done
    done
done
