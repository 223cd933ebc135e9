#!/usr/bin/env bash
# The main job: install what is missing, build, train the original's
# three-layer convnet for one epoch on Fashion-MNIST, then draw the first-layer
# filters and the loss/accuracy curves into out/.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/deps.sh
make -j2
mkdir -p out
./build/convnet train --data fashion-mnist --hidden-dim 500 --reg 1e-3 --weight-scale 1e-3 \
  --update-rule adam --learning-rate 1e-3 --batch-size 50 --num-epochs 1 --print-every 20 \
  --seed 0 --save out/fashion.safetensors --plots out "$@"
./build/convnet eval --model out/fashion.safetensors --data fashion-mnist --split test
echo "pictures: out/filters.png out/loss.png out/accuracy.png"
