#!/usr/bin/env bash
# mpi_bench.sh — data-parallel training on this machine: for each net, the
# single-pass step (1 process x T threads), the groups' step (1 process x T
# threads, --groups G) and mpirun -np 2 x T/2 threads (--groups G), with
# images/s, the bytes rank 0 sends per step, its time in the collectives
# (waiting for the other rank included), and the efficiency of 2 ranks
# against 1 process with all the threads.
#   bench/mpi_bench.sh [ITERS [NAME]]  (CN_CIFAR_DIR: the CIFAR-10 binaries; NAME: only the
#                                       nets whose name contains it, e.g. recipe)
# Needs a convnet built with MPI (make MPI=1) and mpirun.
set -u
cd "$(dirname "$0")/.."
B=${BUILD:-build}
dir=${CN_CIFAR_DIR:-../shared/data/cifar-10-batches-bin}
iters=${1:-60}
T=${CN_THREADS:-$(nproc)}
half=$(( T / 2 > 0 ? T / 2 : 1 ))
[ -f "$dir/data_batch_1.bin" ] || { echo "mpi_bench: no CIFAR-10 at $dir (set CN_CIFAR_DIR)"; exit 2; }
$B/convnet info | grep -q 'mpi: open-mpi' || { echo "mpi_bench: $B/convnet has no MPI (make MPI=1)"; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# no OpenBLAS thread pool beside the ranks' OpenMP threads (docs/mpi.md): it made
# rank 0 wait seconds in the collectives (CN_MPI_OPENBLAS_POOL=1 keeps it, to compare)
[ -z "${CN_MPI_OPENBLAS_POOL:-}" ] && export OPENBLAS_NUM_THREADS=1
# each rank on cores of its own (CN_MPI_BIND=none: let them float, to compare): unbound,
# the two 1-thread ranks on 2 cores shared cores at times, and rank 0 waited 2-5 s of a
# 16-20 s run in the collectives for the other (docs/mpi.md)
if [ "${CN_MPI_BIND:-core}" = none ]; then bind="--bind-to none"
elif [ $half -gt 1 ]; then bind="--map-by slot:PE=$half --bind-to core"
else bind="--bind-to core"; fi
tmp=$(mktemp -d /tmp/cn_mpibench_XXXXXX); trap 'rm -rf "$tmp"' EXIT
rate() { sed -n 's/^trained [0-9]* iterations in \([0-9.]*\)s (\([0-9]*\) images\/s.*/\2/p' "$1"; }
# name | batch | groups | net flags
nets=(
  "three-layer hidden 100 (the original's run)|50|2|--hidden-dim 100"
  "three-layer hidden 500 (the notebook's run)|50|2|--hidden-dim 500"
  "bn net, large batch|256|2|--net conv32x3-bn-relu-pool2-conv64x3-bn-relu-pool2-affine256-bn-relu-affine10"
  "the fast recipe's net (tools/recipes.c), large batch|512|2|--recipe fast --tta 0"
)
echo "machine: $(nproc) cores; $T threads in all; $iters iterations per run; mpirun $bind"
for spec in "${nets[@]}"; do
  IFS='|' read -r name batch groups flags <<<"$spec"
  case "$name" in *"${2:-}"*) ;; *) continue ;; esac
  ntr=$(( batch * iters ))
  common="train --data cifar10:$dir --num-train $ntr --num-val 100 --num-test 0 --num-train-samples 100 --num-epochs 1 --batch-size $batch --print-every 1000000 $flags"
  echo "== $name: batch $batch, groups $groups"
  $B/convnet $common --threads $T > $tmp/a.txt 2>&1 || { cat $tmp/a.txt; exit 1; }
  $B/convnet $common --threads $T --groups $groups > $tmp/b.txt 2>&1 || { cat $tmp/b.txt; exit 1; }
  mpirun --oversubscribe $bind -np 2 $B/convnet $common --threads $half --groups $groups > $tmp/c.txt 2>&1 || { cat $tmp/c.txt; exit 1; }
  a=$(rate $tmp/a.txt); b=$(rate $tmp/b.txt); c=$(rate $tmp/c.txt)
  comm=$(grep '^communication' $tmp/c.txt)
  bytes=$(echo "$comm" | sed -n 's/.*: \([0-9]*\) bytes sent per step.*/\1/p')
  cs=$(echo "$comm" | sed -n 's/.*step, \([0-9.]*\)s in collectives (\([0-9.]*\)%.*/\1 s (\2% of training)/p')
  printf '  1 process x %d threads, single pass     %6s images/s\n' $T "$a"
  printf '  1 process x %d threads, --groups %d      %6s images/s (%s%% of the single pass)\n' $T $groups "$b" \
    "$(awk -v x=$b -v y=$a 'BEGIN{printf "%.0f", 100*x/y}')"
  printf '  2 processes x %d thread(s), --groups %d  %6s images/s\n' $half $groups "$c"
  printf '    rank 0 sends %s bytes per step; in collectives %s\n' "$bytes" "$cs"
  printf '    efficiency: 2x%d vs 1x%d single pass %s%%, vs 1x%d groups %s%%\n' $half $T \
    "$(awk -v x=$c -v y=$a 'BEGIN{printf "%.0f", 100*x/y}')" $T "$(awk -v x=$c -v y=$b 'BEGIN{printf "%.0f", 100*x/y}')"
done
