#!/usr/bin/env bash
# Runs each libFuzzer target given for FUZZ_SECONDS (default 60; 0: only replay
# the seeds and regression inputs, no fuzzing) on its seed
# corpus (fuzz/corpus/<t>, read only) plus its working corpus
# (build-fuzz/corpus/<t>) and the inputs of bugs found before (fuzz/regress/<t>),
# then prints executions and crashes per target.
# Exit status 1 when any target crashed; the input is in build-fuzz/crashes/.
set -u
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
mkdir -p build-fuzz/logs build-fuzz/crashes
summary=()
bad=0
for t in "$@"; do
  bin=build-fuzz/fuzz/fuzz_$t
  [ -x "$bin" ] || { echo "fuzz: $bin is missing (make fuzz-build)"; exit 2; }
  mkdir -p "build-fuzz/corpus/$t"
  dict=(); [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  log=build-fuzz/logs/$t.log
  if [ "$secs" = 0 ]; then
    # replay only: every seed and regression input once, no mutation
    limit=(-runs=0); echo "== fuzz_$t: replay the seed corpus and fuzz/regress/$t (log: $log)"
  else
    limit=(-max_total_time="$secs"); echo "== fuzz_$t for ${secs}s (log: $log)"
  fi
  "$bin" "${limit[@]}" -print_final_stats=1 -timeout=20 -rss_limit_mb=2048 \
         -artifact_prefix="build-fuzz/crashes/$t-" "${dict[@]}" \
         "build-fuzz/corpus/$t" "fuzz/corpus/$t" $( [ -d "fuzz/regress/$t" ] && echo "fuzz/regress/$t" ) >"$log" 2>&1
  rc=$?
  execs=$(grep -a 'stat::number_of_executed_units' "$log" | tail -1 | awk '{print $2}')
  [ -n "$execs" ] || execs=$(grep -a -o '#[0-9]*' "$log" | tail -1 | tr -d '#')
  cov=$(grep -a -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  crashes=0
  if [ "$rc" -ne 0 ]; then
    crashes=1; bad=1
    grep -a -E 'ERROR: |runtime error|SUMMARY|Test unit written|==[0-9]+==' "$log" | head -8
  fi
  line=$(printf '%-8s executions %10s  crashes %d  coverage %s  (%ss)' "$t" "${execs:-?}" "$crashes" "${cov:-?}" "$secs")
  echo "$line"
  summary+=("$line")
done
echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
exit $bad
