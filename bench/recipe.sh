#!/bin/bash
# bench/recipe.sh — the fast recipe's training speed side by side with
# PyTorch (bench/torch_recipe.py: the same net, loss, optimizer and data
# path), at each SIMD level the CPU has (CN_SIMD caps convnet; PyTorch runs
# at its own best). convnet: `train --recipe fast` on the first (STEPS+1)*256
# images for one epoch (STEPS+1 steps) with --profile; its images/s are
# those of the training time less the accuracy checks (the profile's line).
# Run by `make bench`; alone:
#   BUILD=build bash bench/recipe.sh [STEPS]
set -u
B=${BUILD:-build}
steps=${1:-20}
dir=${CN_CIFAR_DIR:-../shared/data/cifar-10-batches-bin}
if [ ! -f "$dir/data_batch_1.bin" ]; then echo "recipe bench skipped: no CIFAR-10 at $dir"; exit 0; fi
levels=$(grep -o 'avx512f\|avx2' /proc/cpuinfo | sort -u | sed 's/avx512f/avx512/' | sort -r | tr '\n' ' ')
levels="$levels generic"
bs=256  # the fast recipe's batch
n=$(( (steps + 1) * bs ))
echo "== the fast recipe's net (tools/recipes.c), batch $bs, $steps steps after the first, float32, 2 threads"
rc=0
declare -A cn_rate torch_rate
for lv in $levels; do
  out=$(CN_SIMD=$lv $B/convnet train --recipe fast --data cifar10:$dir --num-train $n --num-epochs 1 --num-test 0 \
        --num-train-samples 100 --print-every 1000000 --profile 2>&1) || { echo "$out" | tail -3; rc=1; continue; }
  line=$(echo "$out" | awk -v lv=$lv -v steps=$steps -v bs=$bs '
    /^trained / { it = $2; s = $5; sub(/s$/, "", s); gf = $8; sub(/^\(/, "", gf) }
    /accuracy checks/ { c = $3; sub(/s$/, "", c) }
    END { t = (s - c) * steps / it; printf "convnet %-8s %.2f s for %d steps, %.0f images/s (%.0f with the accuracy checks)\n", lv, t, steps, steps * bs / t, it * bs / s }')
  echo "$line"
  cn_rate[$lv]=$(awk '{print $8}' <<<"$line")
done
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  # PyTorch at its best (channels_last, 2 threads), then capped at AVX2 as convnet's avx2 row is
  # (oneDNN's ISA cap and ATen's kernels)
  for lv in $levels; do
    [ "$lv" = generic ] && continue
    cap=(); [ "$lv" = avx2 ] && cap=(ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2)
    line=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "${cap[@]}" OPENBLAS_NUM_THREADS=1 \
      /usr/bin/python3 bench/torch_recipe.py "$dir" 2 $steps $bs) || rc=1
    printf 'torch   %-8s %s\n' "$lv" "$line"
    torch_rate[$lv]=$(sed -n 's/.* \([0-9]*\) images\/s.*/\1/p' <<<"$line")
  done
  for lv in $levels; do
    [ -n "${torch_rate[$lv]:-}" ] && [ -n "${cn_rate[$lv]:-}" ] &&
      awk -v lv=$lv -v c=${cn_rate[$lv]} -v t=${torch_rate[$lv]} \
        'BEGIN { printf "recipe %-8s convnet %s images/s, PyTorch %s: %.2fx PyTorch\n", lv, c, t, c / t }'
  done
else
  echo "PyTorch comparison skipped: python3-torch is not installed (apt-get install python3-torch)"
fi
exit $rc
