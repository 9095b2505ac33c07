#!/usr/bin/env bash
# Bounded SharpFuzz + AFL++ run of the Mta.Protocol fuzz targets. Offline: needs afl-fuzz (Debian: afl++)
# and the sharpfuzz tool (dotnet tool install --tool-path fuzz/.tools SharpFuzz.CommandLine), both installed once.
#   fuzz/run.sh TARGET SECONDS      TARGET = a name Program.cs knows (see known= below) | all (each in turn)
#   fuzz/run.sh TARGET SECONDS --random   no AFL: in-process System.Random mutation of the corpus
# Prints execs_done, crashes and hangs per target; crash inputs are copied to fuzz/crashes/TARGET/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="${1:?usage: run.sh TARGET|all SECONDS [--random]}"
seconds="${2:?usage: run.sh TARGET|all SECONDS [--random]}"
mode="${3:-afl}"
# Every target Program.cs knows; `all` runs each in turn.
known=(command path data proxy dmarc spf dkimkey dkimsig)
if [ "$target" = all ]; then targets=("${known[@]}")
elif [[ " ${known[*]} " == *" $target "* ]]; then targets=("$target")
else echo "unknown target $target (known: ${known[*]})" >&2; exit 2; fi

work="$here/.work"
bin="$work/bin"
rm -rf "$bin"
dotnet build "$here/Mta.Fuzz/Mta.Fuzz.csproj" -c Release -nologo -v q -o "$work/build" >/dev/null
cp -r "$work/build" "$bin"

if [[ "$mode" == "--random" ]]; then
  for t in "${targets[@]}"; do
    timeout -k 10 $((seconds + 60)) dotnet "$bin/Mta.Fuzz.dll" "$t" --random "$seconds" "$here/corpus/$t" &
  done
  wait
  exit 0
fi

sharpfuzz="${SHARPFUZZ:-$here/.tools/sharpfuzz}"
command -v afl-fuzz >/dev/null || { echo "afl-fuzz not found (apt-get install afl++), or use --random" >&2; exit 2; }
[[ -x "$sharpfuzz" ]] || { echo "sharpfuzz not found at $sharpfuzz" >&2; exit 2; }
# Instrument the code under test (only these assemblies get coverage feedback).
for dll in Mta.Protocol.dll Mta.Abstractions.dll Mta.Engine.dll; do "$sharpfuzz" "$bin/$dll" >/dev/null; done

export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 \
       AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
run_one() {
  local t="$1" out="$work/findings/$t"
  rm -rf "$out"; mkdir -p "$out"
  # -V stops afl-fuzz after SECONDS; timeout is the safety net. -t: ms per input (persistent .NET is fast, but GC and
  # JIT pauses happen), -m none: the CLR reserves far more virtual memory than AFL's default limit.
  timeout -k 10 $((seconds + 120)) afl-fuzz -V "$seconds" -i "$here/corpus/$t" -o "$out" -t 5000 -m none \
    -- dotnet "$bin/Mta.Fuzz.dll" "$t" >"$work/afl-$t.log" 2>&1 || true
}
for t in "${targets[@]}"; do run_one "$t" & done
wait

status=0
for t in "${targets[@]}"; do
  stats="$work/findings/$t/default/fuzzer_stats"
  if [[ ! -f "$stats" ]]; then echo "$t: afl-fuzz did not start, see $work/afl-$t.log"; tail -20 "$work/afl-$t.log"; status=1; continue; fi
  get() { awk -F' *: *' -v k="$1" '$1==k {print $2}' "$stats"; }
  crashes=0
  for f in "$work/findings/$t/default/crashes"/id:*; do
    [[ -e "$f" ]] || continue
    mkdir -p "$here/crashes/$t"
    cp "$f" "$here/crashes/$t/$(basename "$f" | tr ':,' '__')"
    crashes=$((crashes + 1))
  done
  hangs=$(find "$work/findings/$t/default/hangs" -name 'id:*' 2>/dev/null | wc -l)
  echo "$t: execs_done=$(get execs_done) run_time=$(get run_time)s execs_per_sec=$(get execs_per_sec) corpus_count=$(get corpus_count) edges_found=$(get edges_found)/$(get total_edges) crashes=$crashes hangs=$hangs"
  [[ $crashes -eq 0 ]] || status=1
done
exit $status
