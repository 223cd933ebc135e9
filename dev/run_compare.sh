#!/usr/bin/env bash
# The whole comparison: every GEMM source on the affine layers' shapes.
# Usage: dev/run_compare.sh [shape index 0-3]   (after dev/build.sh)
B=build/dev/gemm_compare
L=/usr/lib/x86_64-linux-gnu
cd "$(dirname "$0")/.."
for flavour in pthread openmp; do
  for core in "" Haswell; do
    env -u OPENBLAS_CORETYPE ${core:+OPENBLAS_CORETYPE=$core} LD_LIBRARY_PATH=$L/openblas-$flavour $B openblas "$@"
  done
done
# BLIS picks zen3 here; BLIS_ARCH_TYPE=<id> aborts in Debian's 0.9 build (even
# zen3's id), and it has no skx sub-configuration
env -u OPENBLAS_CORETYPE $B blis "$@"
env -u OPENBLAS_CORETYPE $B dnnl "$@"
env -u OPENBLAS_CORETYPE $B convnet "$@"
CN_SIMD=avx2 $B convnet "$@"   # without AVX-512 the library's fast path is OpenBLAS
