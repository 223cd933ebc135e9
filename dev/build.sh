#!/usr/bin/env bash
# Build dev/gemm_compare and dev/conv_shapes against build/libconvnet.a (run `make` first).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/dev
cc -O2 -g -std=gnu11 -Wall -Wextra -fopenmp -Iinclude -I/usr/include/x86_64-linux-gnu/openblas-pthread \
   -o build/dev/gemm_compare dev/gemm_compare.c build/libconvnet.a -lopenblas -ldl -lz -lpng -ljpeg -lm
cc -O2 -g -std=gnu11 -Wall -Wextra -fopenmp -Iinclude -I/usr/include/x86_64-linux-gnu/openblas-pthread \
   -o build/dev/conv_shapes dev/conv_shapes.c build/libconvnet.a -lopenblas -ldl -lz -lpng -ljpeg -lm
