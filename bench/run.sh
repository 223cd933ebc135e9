#!/usr/bin/env bash
# make bench: the machine's own yardsticks (FMA peak per SIMD level, stream
# bandwidth), the layer timings at the native level with GFLOP/s and % of
# that level's peak, oneDNN on the same conv layers (when libdnnl-dev is
# installed), shorter passes at the lower levels (CN_SIMD=avx2, generic), the
# end-to-end CIFAR-10 epoch, the same epoch in PyTorch when python3-torch is
# installed, and a summary table of all of it at the end.
# Every figure is a median of repeats; the summary shows the fastest run too
# (on shared cores the medians are noisy).
set -u
B=${BUILD:-build}
rc=0
rec=$(mktemp /tmp/cn_bench.XXXXXX) || exit 1
trap 'rm -f "$rec"' EXIT
export CN_BENCH_RECORD=$rec
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')," \
     "family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model $(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-<unset>}"

# -- the yardsticks, once, for every program below (CN_BENCH_PEAK)
if out=$($B/bench/peak); then
  echo "$out"
  CN_BENCH_PEAK=$(sed -n 's/^peak-env: //p' <<<"$out")
  export CN_BENCH_PEAK
else
  echo "peak measurement failed: each program measures its own"; rc=1
fi
echo

# -- levels: the native one first, then each lower one the CPU has
if grep -qw avx512f /proc/cpuinfo; then levels="avx512 avx2 generic"
elif grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then levels="avx2 generic"
else levels="generic"; fi
# CN_SIMD=avx2|generic caps the run: that level is the native one (a full pass), the
# lower ones shorter, none above it
case "${CN_SIMD:-}" in
  avx2) [[ " $levels " == *" avx2 "* ]] && levels="avx2 generic";;
  generic) levels="generic";;
esac
native=${levels%% *}
# oneDNN's cap for a level (it has no ISA below SSE4.1)
dnnl_isa() { case $1 in avx512) echo "";; avx2) echo AVX2;; *) echo SSE41;; esac; }

have_dnnl=0
[ -x $B/bench/bench_dnnl ] && have_dnnl=1
for lv in $levels; do
  if [ "$lv" = "$native" ]; then
    echo "===== level $lv (native)"
    envs=()
  else
    echo "===== level $lv (CN_SIMD=$lv, shorter pass: CN_BENCH_QUICK=1)"
    envs=(CN_SIMD=$lv CN_BENCH_QUICK=1)
  fi
  isa=$(dnnl_isa $lv)
  [ -x $B/bench/bench_layers ] && { env "${envs[@]}" $B/bench/bench_layers || rc=1; }
  [ -x $B/bench/bench_affine ] && { env "${envs[@]}" $B/bench/bench_affine || rc=1; }
  if [ $have_dnnl = 1 ]; then
    if [ -n "$isa" ]; then env "${envs[@]}" ONEDNN_MAX_CPU_ISA=$isa $B/bench/bench_dnnl || rc=1
    else env "${envs[@]}" $B/bench/bench_dnnl || rc=1; fi
  else
    echo "oneDNN comparison skipped: libdnnl-dev not installed"
  fi
  echo
done

# -- end to end. The native level's whole epoch beside PyTorch's at its best, in rounds
# (CN_EPOCH_ROUNDS, 3; 1 at generic): convnet's epoch, then PyTorch's, per hidden size and round, so each
# pair shares the same minutes of the machine (run minutes apart, a pair had moved with
# the other tenants: 2.6-4.1x on one day); the summary gives each round's ratio and the
# median. Lower levels: a quick run beside PyTorch capped at AVX2.
dir=${CN_CIFAR_DIR:-../shared/data/cifar-10-batches-bin}
have_torch=0
torch_note=""
if [ -n "${CN_SKIP_TORCH:-}" ]; then torch_note="PyTorch comparison skipped: CN_SKIP_TORCH set"
elif [ ! -f "$dir/data_batch_1.bin" ]; then torch_note="PyTorch comparison skipped: no CIFAR-10 at $dir"
elif ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  torch_note="PyTorch comparison skipped: python3-torch is not installed (apt-get install python3-torch)"
else have_torch=1; fi
[ -n "$torch_note" ] && echo "== $torch_note"
# (generic: one round; its ratio is not a target, and its epochs are the longest)
rounds=${CN_EPOCH_ROUNDS:-$([ "$native" = generic ] && echo 1 || echo 3)}
[ $have_torch = 1 ] || rounds=1
# torch_epoch H [capped]: PyTorch's epoch at its best setting (2 threads, OPENBLAS_NUM_THREADS=1,
# glibc malloc kept from trimming, OPENBLAS_CORETYPE unset), optionally capped at AVX2
# (oneDNN's ISA cap and ATen's kernels); prints its line, echoes its seconds to fd 3
torch_epoch() {
  local cap=() line
  [ "${2:-}" = capped ] && cap=(ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2)
  line=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1073741824 \
    MALLOC_TRIM_THRESHOLD_=2147483648 "${cap[@]}" /usr/bin/python3 bench/torch_epoch.py "$dir" $1 2) || return 1
  echo "$line"
  # "torch V hidden H threads T: S s, ..." -> S
  awk '/^torch / { print $7 }' <<<"$line" >&3
}
ep=$(mktemp /tmp/cn_epoch.XXXXXX) || exit 1
exec 4>&1 # torch_epoch's line goes here, its seconds to the caller
trap 'rm -f "$rec" "$ep"' EXIT
# CN_SIMD=avx2 on an AVX-512 machine: PyTorch capped at AVX2 too (the AVX2 machine's ratio)
ncap="" ncap_note=""
if [ "$native" = avx2 ] && grep -qw avx512f /proc/cpuinfo; then
  ncap=capped ncap_note=", capped at AVX2 as convnet is (ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2)"
fi
for h in 500 100; do
  for r in $(seq 1 $rounds); do
    [ $rounds -gt 1 ] && echo "== round $r of $rounds, hidden $h"
    : >"$ep"
    CN_BENCH_RECORD=$ep $B/bench/bench_epoch $h || rc=1
    # "convnet LV epoch.hH NT ms/iter ms ..." -> "eround convnet LV epoch.hH NT ms/iter ms ... R"
    awk -v r=$r '$1 == "convnet" { print "eround", $0, r }' "$ep" >>"$rec"
    if [ $have_torch = 1 ]; then
      echo "== PyTorch, the same epoch (best setting: 2 threads, OPENBLAS_NUM_THREADS=1, glibc malloc kept from trimming, OPENBLAS_CORETYPE unset)$ncap_note"
      s=$(torch_epoch $h $ncap 3>&1 >&4) || rc=1
      # ms per iteration: 980 of batch 50, as torch_epoch.py runs
      [ -n "$s" ] && awk -v h=$h -v s="$s" -v r=$r -v cap=${ncap:+avx2} \
        'BEGIN { printf "eround torch %s epoch.h%d 2 %.4f %.4f 0 0 %d\n", cap ? cap : "-", h, 1000 * s / 980, 1000 * s, r }' >>"$rec"
    fi
  done
done
for lv in $levels; do
  [ "$lv" = "$native" ] && continue
  for h in 500 100; do
    CN_SIMD=$lv CN_BENCH_QUICK=${CN_BENCH_QUICK_ITERS:-200} $B/bench/bench_epoch $h || rc=1
    # the AVX2 machine's side-by-side ratio, measured here: PyTorch capped at AVX2 as
    # convnet's avx2 rows are, right after them
    if [ $have_torch = 1 ] && [ "$lv" = avx2 ]; then
      echo "== PyTorch capped at AVX2 (ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2), the same epoch"
      s=$(torch_epoch $h capped 3>&1 >&4) || rc=1
      [ -n "$s" ] && awk -v h=$h -v s="$s" \
        'BEGIN { printf "torch avx2 epoch.h%d 2 %.4f %.4f 0 0\n", h, 1000 * s / 980, 1000 * s }' >>"$rec"
    fi
  done
done

# -- the CIFAR-10 recipe's net, convnet at each level beside PyTorch
echo
BUILD=$B bash bench/recipe.sh ${CN_RECIPE_STEPS:-20} || rc=1

# -- the summary: one row per cell and level; ratios > 1: convnet faster. x oneDNN:
# oneDNN's time over convnet's, both timed in turn in bench_dnnl (the same seconds of the
# machine); convnet's own columns are bench_layers' runs
echo
echo "===== summary (median; best = fastest run; % of the FMA peak of the level in use, ${CN_BENCH_PEAK:-peak not measured})"
echo "      (x oneDNN: oneDNN's time / convnet's, the two run in turn, round by round, in bench_dnnl)"
awk -v tnote="$torch_note" -v dnnl=$have_dnnl '
  { key = $2 " " $3 " " $4 }
  $1 == "convnet" { n++; order[n] = key; med[key] = $5; mn[key] = $6; rate[key] = $7; pct[key] = $8; lvl[key] = $2; cell[key] = $3; thr[key] = $4 }
  $1 == "onednn"  { dmed[key] = $5; dmn[key] = $6; drate[key] = $7; dpct[key] = $8 }
  $1 == "pair"    { pmed[key] = $5; pmn[key] = $6 }
  $1 == "torch"   { tml[$2 " " $3] = $5 }
  $1 == "eround"  { c = $4; sub(/q$/, "", c); r = $10
                    if (!(c in ecell)) { ecell[c] = 1; ne++; eorder[ne] = c }
                    if (r > nr[c]) nr[c] = r
                    if ($2 == "convnet") { ecm[c, r] = $6; ect[c, r] = $7; ecg[c, r] = $8; ecp[c, r] = $9; eclv[c] = $3; ecthr[c] = $5 }
                    else { etm[c, r] = $6; if ($3 != "-") ecap[c] = toupper($3) } }
  # the median of a[1..m] (m > 0; sorted in place)
  function median(a, m,    i, j, t) {
    for (i = 2; i <= m; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }
  END {
    printf "%-8s %-18s %3s %10s %10s %9s %7s %7s | %9s %7s %8s %8s\n", "level", "cell", "thr", "ms (med)", "ms (best)",
           "GFLOP/s", "%peak", "%best", "oneDNN", "%peak", "x oneDNN", "(best)"
    for (i = 1; i <= n; i++) {
      k = order[i]; c = cell[k]
      if (c ~ /^epoch/) continue
      flag = (pct[k] > 100) ? "  >100%: faster than this level allows (a higher ISA, e.g. the BLAS)" : ""
      if (k in dmed)
        printf "%-8s %-18s %3s %10.3f %10.3f %9.1f %7.1f %7.1f | %9.1f %7.1f %8.2f %8.2f%s\n", lvl[k], c, thr[k], med[k], mn[k],
               rate[k], pct[k], pct[k] * med[k] / mn[k], drate[k], dpct[k],
               dmed[k] / ((k in pmed) ? pmed[k] : med[k]), dmn[k] / ((k in pmn) ? pmn[k] : mn[k]), flag
      else
        printf "%-8s %-18s %3s %10.3f %10.3f %9.1f %7.1f %7.1f |%s\n", lvl[k], c, thr[k], med[k], mn[k], rate[k], pct[k],
               pct[k] * med[k] / mn[k], (c ~ /^adam/) ? " GB/s, % of the stream copy on as many threads" : \
               (c ~ /^conv[0-9]/ && !dnnl) ? " oneDNN not run" : flag
    }
    printf "\nend to end (ms per iteration of batch 50): the whole epoch at the native level beside the same epoch in PyTorch,\n"
    printf "round by round (each round: convnet, then PyTorch); lower levels: a quick run beside PyTorch capped at that level\n"
    printf "%-8s %-18s %3s %12s %10s %9s %7s | %14s %12s\n", "level", "run", "thr", "ms/iter", "total s", "GFLOP/s", "%peak",
           "PyTorch ms/it", "x PyTorch"
    for (i = 1; i <= ne; i++) {
      c = eorder[i]; m = 0; mt = 0; split("", cms); split("", tt); split("", rat)
      for (r = 1; r <= nr[c]; r++) {
        if (!((c, r) in ecm)) continue
        cms[++m] = ecm[c, r]
        if ((c, r) in etm) { tt[++mt] = etm[c, r]; rat[mt] = etm[c, r] / ecm[c, r] }
        printf "%-8s %-18s %3s %12.1f %10.2f %9.1f %7.1f | ", eclv[c], c " round " r, ecthr[c], ecm[c, r], ect[c, r] / 1000, ecg[c, r], ecp[c, r]
        if ((c, r) in etm) printf "%14.1f %12.2f\n", etm[c, r], etm[c, r] / ecm[c, r]
        else printf "%s\n", tnote != "" ? tnote : "PyTorch not run"
      }
      if (m > 1) {
        printf "%-8s %-18s %3s %12.1f %10s %9s %7s | ", eclv[c], c " median", ecthr[c], median(cms, m), "", "", ""
        if (mt > 0) {
          lo = rat[1]; hi = rat[1]; for (r = 2; r <= mt; r++) { if (rat[r] < lo) lo = rat[r]; if (rat[r] > hi) hi = rat[r] }
          printf "%14.1f %12.2f  (median of the ratios, the rounds: %.2f-%.2f)%s\n", median(tt, mt), median(rat, mt), lo, hi,
                 (c in ecap) ? " (PyTorch capped at " ecap[c] ")" : ""
        } else printf "\n"
      }
    }
    for (i = 1; i <= n; i++) {
      k = order[i]; c = cell[k]
      if (c !~ /^epoch/) continue
      h = c; sub(/q$/, "", h)
      if ((lvl[k] " " h) in tml)
        printf "%-8s %-18s %3s %12.1f %10.2f %9.1f %7.1f | %14.1f %12.2f  (PyTorch capped at %s)\n", lvl[k], c, thr[k], med[k],
               mn[k] / 1000, rate[k], pct[k], tml[lvl[k] " " h], tml[lvl[k] " " h] / med[k], toupper(lvl[k])
      else printf "%-8s %-18s %3s %12.1f %10.2f %9.1f %7.1f | %s\n", lvl[k], c, thr[k], med[k], mn[k] / 1000, rate[k], pct[k],
                  tnote != "" ? tnote : "PyTorch not run at this level"
    }
  }' "$rec"
exit $rc
