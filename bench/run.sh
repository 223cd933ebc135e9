#!/usr/bin/env bash
# make bench: the layer timings (naive vs fast), the end-to-end CIFAR-10 epoch,
# and the same epoch in PyTorch side by side when python3-torch is installed.
set -u
B=${BUILD:-build}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-<unset>}"
rc=0
[ -x $B/bench/bench_layers ] && { $B/bench/bench_layers || rc=1; }
$B/bench/bench_epoch || rc=1
dir=${CN_CIFAR_DIR:-../shared/data/cifar-10-batches-bin}
if [ -z "${CN_SKIP_TORCH:-}" ] && [ -f "$dir/data_batch_1.bin" ]; then
  if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    echo "== PyTorch, the same epoch (best setting: 2 threads, OPENBLAS_NUM_THREADS=1, glibc malloc kept from trimming, OPENBLAS_CORETYPE unset)"
    for h in 500 100; do
      env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1073741824 \
        MALLOC_TRIM_THRESHOLD_=2147483648 /usr/bin/python3 bench/torch_epoch.py "$dir" $h 2 || rc=1
    done
  else
    echo "== PyTorch comparison skipped: python3-torch is not installed (apt-get install python3-torch)"
  fi
fi
exit $rc
