#!/usr/bin/env bash
# make valgrind: valgrind memcheck of short real training runs of the CLI.
#   1. train 1 epoch on 200 images (checkpoints every 2 iterations, 2 threads:
#      the OpenMP and OpenBLAS thread paths), save A
#   2. resume A into a 2-epoch run (cn_solver_resume, 4 more iterations)
#   3. eval A on the val split (cn_net_load, test-mode forward)
# Any memcheck error or definitely/indirectly lost block fails (exit 1).
# Data: small gzipped IDX files written here (600 images of 28x28, a class
# pattern plus noise), so the gzip reader is exercised as with Fashion-MNIST;
# VALGRIND_DATA=fashion-mnist uses the real files instead (slower: ~30 s a run).
# Suppressions: tests/valgrind.supp (none are needed today with Debian's
# OpenBLAS and libgomp; libgomp's thread pool is "still reachable", which is
# not an error).
set -u
cd "$(dirname "$0")/.."
bin=${1:-build/convnet}
command -v valgrind >/dev/null || { echo "valgrind: not installed (apt-get install valgrind)"; exit 2; }
tmp=$(mktemp -d /tmp/cn_valgrind_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
data=${VALGRIND_DATA:-}
if [ -z "$data" ]; then
  /usr/bin/python3 - "$tmp/mnist" <<'PY' || exit 2
import gzip, os, random, struct, sys
d = sys.argv[1]; os.makedirs(d)
rnd = random.Random(3); n, s = 600, 28
labels = bytes(rnd.randrange(10) for _ in range(n))
img = bytearray()
for k in labels:
    for y in range(s):
        for x in range(s):
            on = (x + y * k) % 10 < 3
            img.append(180 + rnd.randrange(60) if on else rnd.randrange(60))
with gzip.open(os.path.join(d, "train-images-idx3-ubyte.gz"), "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, s, s) + bytes(img))
with gzip.open(os.path.join(d, "train-labels-idx1-ubyte.gz"), "wb") as f:
    f.write(struct.pack(">II", 0x801, n) + labels)
PY
  data="mnist:$tmp/mnist"
fi
vg=(valgrind -q --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --track-origins=yes
    --suppressions=tests/valgrind.supp)
common=(--data "$data" --num-train 200 --num-val 50 --num-test 0 --batch-size 50 --hidden-dim 20
        --num-filters 4 --seed 1 --print-every 1)
fail=0
step() {
  local name=$1; shift
  local t0=$SECONDS
  if "${vg[@]}" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
    echo "PASS valgrind $name ($((SECONDS - t0))s): no memcheck errors, no leaks"
  else
    echo "FAIL valgrind $name (status $?)"; cat "$tmp/$name.err" | head -60; fail=1
  fi
}
step train  "$bin" train "${common[@]}" --num-epochs 1 --threads 2 --checkpoint-every 2 --save "$tmp/A.safetensors"
step resume "$bin" train "${common[@]}" --num-epochs 2 --threads 1 --resume "$tmp/A.safetensors" --save "$tmp/B.safetensors"
grep -q "resumed from" "$tmp/resume.out" || { echo "FAIL valgrind resume: did not resume"; fail=1; }
step eval   "$bin" eval --model "$tmp/A.safetensors" --data "$data" --num-train 200 --num-val 50 --num-test 0 --threads 1
[ $fail -eq 0 ] && echo "valgrind: clean (memcheck, leak-check=full)"
exit $fail
