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

# -- end to end: the epoch at the native level, a quick run at the lower ones
$B/bench/bench_epoch || rc=1
for lv in $levels; do
  [ "$lv" = "$native" ] && continue
  CN_SIMD=$lv CN_BENCH_QUICK=${CN_BENCH_QUICK_ITERS:-200} $B/bench/bench_epoch || rc=1
done
dir=${CN_CIFAR_DIR:-../shared/data/cifar-10-batches-bin}
torch_note=""
if [ -z "${CN_SKIP_TORCH:-}" ] && [ -f "$dir/data_batch_1.bin" ]; then
  if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    echo "== PyTorch, the same epoch (best setting: 2 threads, OPENBLAS_NUM_THREADS=1, glibc malloc kept from trimming, OPENBLAS_CORETYPE unset)"
    for h in 500 100; do
      line=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1073741824 \
        MALLOC_TRIM_THRESHOLD_=2147483648 /usr/bin/python3 bench/torch_epoch.py "$dir" $h 2) || rc=1
      echo "$line"
      # "torch V hidden H threads T: S s, ..." -> ms per iteration (980 of batch 50, as torch_epoch.py runs)
      awk -v h=$h '/^torch / { t = $6; sub(/:$/, "", t); printf "torch - epoch.h%d %s %.4f %.4f 0 0\n", h, t, 1000 * $7 / 980, 1000 * $7 }' \
        <<<"$line" >>"$rec"
    done
    # capped at AVX2 as convnet's avx2 rows are (oneDNN's ISA cap and ATen's kernels): the AVX2
    # machine's side-by-side ratio, measured here (the quick rows' per-iteration times)
    if grep -qw avx512f /proc/cpuinfo && [[ " $levels " == *" avx2 "* ]]; then
      echo "== PyTorch capped at AVX2 (ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2), the same epoch"
      for h in 500 100; do
        line=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1073741824 \
          MALLOC_TRIM_THRESHOLD_=2147483648 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 \
          /usr/bin/python3 bench/torch_epoch.py "$dir" $h 2) || rc=1
        echo "$line"
        awk -v h=$h '/^torch / { t = $6; sub(/:$/, "", t); printf "torch avx2 epoch.h%d %s %.4f %.4f 0 0\n", h, t, 1000 * $7 / 980, 1000 * $7 }' \
          <<<"$line" >>"$rec"
      done
    fi
  else
    torch_note="PyTorch comparison skipped: python3-torch is not installed (apt-get install python3-torch)"
    echo "== $torch_note"
  fi
fi

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
  $1 == "torch"   { if ($2 == "-") tms[$3] = $5; else tml[$2 " " $3] = $5 }
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
    printf "\nend to end (ms per iteration of batch 50; the native level is the whole epoch, lower levels a quick run)\n"
    printf "%-8s %-14s %3s %12s %10s %9s %7s | %14s %12s\n", "level", "run", "thr", "ms/iter", "total s", "GFLOP/s", "%peak",
           "PyTorch ms/it", "x PyTorch"
    for (i = 1; i <= n; i++) {
      k = order[i]; c = cell[k]
      if (c !~ /^epoch/) continue
      h = c; sub(/q$/, "", h)
      if ((lvl[k] " " h) in tml)
        printf "%-8s %-14s %3s %12.1f %10.2f %9.1f %7.1f | %14.1f %12.2f  (PyTorch capped at %s)\n", lvl[k], c, thr[k], med[k],
               mn[k] / 1000, rate[k], pct[k], tml[lvl[k] " " h], tml[lvl[k] " " h] / med[k], toupper(lvl[k])
      else if (h in tms) printf "%-8s %-14s %3s %12.1f %10.2f %9.1f %7.1f | %14.1f %12.2f\n", lvl[k], c, thr[k], med[k], mn[k] / 1000,
                           rate[k], pct[k], tms[h], tms[h] / med[k]
      else printf "%-8s %-14s %3s %12.1f %10.2f %9.1f %7.1f | %s\n", lvl[k], c, thr[k], med[k], mn[k] / 1000, rate[k], pct[k],
                  tnote != "" ? "PyTorch not installed" : "PyTorch not run"
    }
  }' "$rec"
exit $rc
