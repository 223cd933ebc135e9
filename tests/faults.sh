#!/usr/bin/env bash
# faults.sh CONVNET — fault injection along train -> checkpoint -> resume ->
# eval (make test-faults builds CONVNET with -DCN_FAULTS under ASan + UBSan;
# src/faults.h describes the wrappers).
#
# Stages, each on tiny synthetic MNIST-format data (100 images of 12x12):
#   train   3 iterations, a checkpoint after each, saved over an old file
#   resume  --resume FILE --save FILE (in place) from iteration 3 to 6,
#           checkpoints every 2
#   eval    the accuracy of a checkpoint
#   plots   a run writing loss, accuracy and filter PNGs (the atomic writer's
#           other user; libpng's own writes are not wrapped)
#   predict classifying a PNG with a checkpoint
#   export  the checkpoint as ONNX (when the build has export), over an old file
# For each stage and each kind (alloc write fsync rename read) a clean run
# counts the calls; then for N = 1, 1+K, 1+2K, ... (K = FAULT_STRIDE, 1 by
# default: every call) the N-th call of that kind fails. Each run must:
#   - end without a signal and without any sanitizer report (ASan, UBSan,
#     LeakSanitizer: a leak on an error path fails it);
#   - either exit non-zero with a "convnet...: message" on stderr, or exit 0
#     having said "warning:" (a failed periodic checkpoint, an unreadable
#     /proc/meminfo), or exit 0 when the fault hit a call whose failure is
#     part of normal operation (listed as "absorbed" with its call site);
#   - leave the checkpoint it writes either byte for byte the old one or a
#     new one that `convnet eval` loads (checksummed: never a mix), and no
#     temporary file.
# Prints the failure points covered and the distinct call sites reached.
set -u
CONVNET=${1:?usage: tests/faults.sh CONVNET}
STRIDE=${FAULT_STRIDE:-1}
KINDS=${FAULT_KINDS:-alloc write fsync rename read}
W=$(mktemp -d /tmp/cn_faults_XXXXXX)
trap 'rm -rf "$W"' EXIT
export ASAN_OPTIONS=detect_leaks=1:exitcode=99:abort_on_error=0
export LSAN_OPTIONS=exitcode=98:suppressions=$(cd "$(dirname "$0")" && pwd)/faults-lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMP_NUM_THREADS=1
t0=$(date +%s)

python3 - "$W" <<'EOF' || { echo "FAIL cannot write the synthetic data"; echo "RESULT 0 1"; exit 1; }
import struct, random, sys
random.seed(1)
n, s = 100, 12
imgs, labs = bytearray(), bytearray()
for i in range(n):
    k = random.randrange(10); labs.append(k)
    for y in range(s):
        for x in range(s):
            imgs.append(180 + random.randrange(60) if ((x + y * k) % 10) < 3 else random.randrange(60))
d = sys.argv[1]
open(d + '/train-images-idx3-ubyte', 'wb').write(struct.pack('>BBBBIII', 0, 0, 8, 3, n, s, s) + imgs)
open(d + '/train-labels-idx1-ubyte', 'wb').write(struct.pack('>BBBBI', 0, 0, 8, 1, n) + labs)
EOF
DATA=(--data "mnist:$W" --num-train 60 --num-val 20 --num-test 0)
F=("${DATA[@]}" --net conv2x3-relu-pool2-affine8-relu-affine10 --batch-size 20 --num-train-samples 20 --threads 1)

: >"$W/sites"; : >"$W/faults"; : >"$W/absorbed"
clean() { "$CONVNET" "$@" >"$W/clean.out" 2>&1 || { echo "FAIL clean run: $*"; cat "$W/clean.out"; echo "RESULT 0 1"; exit 1; }; }
clean train "${F[@]}" --seed 2 --num-epochs 1 --save "$W/old.st" --quiet   # an older checkpoint to save over
clean train "${F[@]}" --seed 1 --num-epochs 1 --save "$W/mid.st" --quiet   # the run to resume
clean filters --model "$W/mid.st" -o "$W/img.png"                         # a PNG to classify
STAGES=${FAULT_STAGES:-train resume eval plots predict export}
if ! "$CONVNET" export --model "$W/mid.st" --onnx "$W/old.onnx" >/dev/null 2>&1; then
    echo "SKIP export stage: this build has no ONNX export"; STAGES=${STAGES/export/}
fi

# stage NAME DIR: sets CMD (the arguments) and OUT (the checkpoint it
# writes, or ""); each job works in its own DIR
stage() {
    local d=$2
    case $1 in
    train)  cp "$W/old.st" "$d/out.st"; OUT=$d/out.st
            CMD=(train "${F[@]}" --seed 1 --num-epochs 1 --save "$d/out.st" --checkpoint-every 1) ;;
    resume) cp "$W/mid.st" "$d/out.st"; OUT=$d/out.st
            CMD=(train "${F[@]}" --seed 1 --num-epochs 2 --resume "$d/out.st" --save "$d/out.st" --checkpoint-every 2) ;;
    eval)   OUT=""; CMD=(eval --model "$W/mid.st" "${DATA[@]}") ;;
    plots)  OUT=""; CMD=(train "${F[@]}" --seed 1 --num-epochs 1 --plots "$d/plots" --quiet) ;;
    predict) OUT=""; CMD=(predict --model "$W/mid.st" "$W/img.png") ;;
    export) cp "$W/old.onnx" "$d/out.onnx"; OUT=""
            CMD=(export --model "$W/mid.st" --onnx "$d/out.onnx") ;;
    esac
}

# job STAGE KIND: every N for one stage and kind, in $W/STAGE-KIND; prints
# FAIL lines and one "STAT stage kind calls points pass fail errors warnings absorbed"
job() {
    local st=$1 kind=$2 d=$W/$1-$2
    mkdir -p "$d"
    local pass=0 fail=0 points=0 errors=0 warnings=0 absorbed=0 n=1 rc site ok what old
    bad() { echo "FAIL $*"; fail=$((fail + 1)); }
    # the clean run: how many calls of this kind, which call sites
    stage "$st" "$d"
    CN_FAULT_LOG=$d/clean.log "$CONVNET" "${CMD[@]}" >"$d/out" 2>&1 || { bad "$st: the clean run failed"; cat "$d/out"; }
    grep '^SITE ' "$d/clean.log" | awk '{print $2, $3}' >"$d/sites"
    local total
    total=$(awk -v k="$kind" '$1 == "COUNT" && $2 == k {print $3}' "$d/clean.log")
    : >"$d/faults"; : >"$d/absorbed"
    while [ "$n" -le "${total:-0}" ]; do
        stage "$st" "$d"
        old=""
        [ -n "$OUT" ] && cp "$OUT" "$d/before.st" && old=$d/before.st
        rm -f "$d/log"
        CN_FAULT_KIND=$kind CN_FAULT_AT=$n CN_FAULT_LOG=$d/log "$CONVNET" "${CMD[@]}" >"$d/out" 2>"$d/err"
        rc=$?
        what="$st $kind N=$n"
        site=$(awk '$1 == "FAULT" {print $3}' "$d/log" 2>/dev/null)
        ok=1
        if [ -z "$site" ]; then
            # the run took another path (thread timing) and ended before the N-th call
            n=$((n + STRIDE)); continue
        fi
        points=$((points + 1))
        echo "$kind $site" >>"$d/faults"
        if [ $rc -ge 128 ]; then bad "$what ($site): killed by signal $((rc - 128))"; ok=0
        elif [ $rc -eq 99 ] || [ $rc -eq 98 ] || grep -q 'Sanitizer\|runtime error' "$d/err"; then
            bad "$what ($site): sanitizer report (exit $rc)"; sed -n '1,30p' "$d/err"; ok=0
        elif [ $rc -ne 0 ]; then
            if grep -q '^convnet[a-z ]*: ..*' "$d/err"; then errors=$((errors + 1))
            else bad "$what ($site): exit $rc without a message"; cat "$d/err"; ok=0; fi
        elif grep -q 'warning' "$d/err"; then warnings=$((warnings + 1))
        else absorbed=$((absorbed + 1)); echo "$kind $site" >>"$d/absorbed"
        fi
        if [ -n "$OUT" ]; then
            if [ ! -f "$OUT" ]; then bad "$what ($site): the checkpoint is gone"; ok=0
            elif ! cmp -s "$OUT" "$old" && ! "$CONVNET" eval --model "$OUT" "${DATA[@]}" >"$d/ev" 2>&1; then
                bad "$what ($site): the checkpoint left is neither the old one nor loadable"; cat "$d/ev"; ok=0
            fi
        fi
        if ls "$d"/*.tmp.* "$d"/plots/*.tmp.* >/dev/null 2>&1; then
            bad "$what ($site): temporary file left: $(ls "$d"/*.tmp.* "$d"/plots/*.tmp.* 2>/dev/null)"
            rm -f "$d"/*.tmp.* "$d"/plots/*.tmp.*; ok=0
        fi
        [ $ok -eq 1 ] && pass=$((pass + 1))
        n=$((n + STRIDE))
    done
    echo "STAT $st $kind ${total:-0} $points $pass $fail $errors $warnings $absorbed"
}

JOBS=${FAULT_JOBS:-2}
: >"$W/results"
running=0
for st in $STAGES; do
    for kind in $KINDS; do
        job "$st" "$kind" >"$W/job-$st-$kind.txt" 2>&1 &
        running=$((running + 1))
        if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
    done
done
wait
pass=0; fail=0; points=0; errors=0; warnings=0; absorbed=0
for st in $STAGES; do
    for kind in $KINDS; do
        f=$W/job-$st-$kind.txt
        grep -v '^STAT ' "$f"
        set -- $(grep '^STAT ' "$f" || echo "STAT $st $kind 0 0 0 1 0 0 0")
        printf '%-7s %-7s %4d calls, %4d failure points injected\n' "$2" "$3" "$4" "$5"
        points=$((points + $5)); pass=$((pass + $6)); fail=$((fail + $7))
        errors=$((errors + $8)); warnings=$((warnings + $9)); absorbed=$((absorbed + ${10}))
        cat "$W/$st-$kind/sites" >>"$W/sites" 2>/dev/null
        cat "$W/$st-$kind/faults" >>"$W/faults" 2>/dev/null
        cat "$W/$st-$kind/absorbed" >>"$W/absorbed" 2>/dev/null
    done
done

sites=$(sort -u "$W/sites" | wc -l)
fsites=$(awk '{print $1, $2}' "$W/faults" | sort -u | wc -l)
echo "fault injection: $points failure points covered (stride $STRIDE), $fsites distinct call sites failed," \
     "$sites distinct call sites reached; $errors error exits, $warnings warnings, $absorbed absorbed; $(( $(date +%s) - t0 ))s"
if [ -s "$W/absorbed" ]; then
    echo "absorbed (exit 0, no warning: the failure is a normal outcome there):"
    sort "$W/absorbed" | uniq -c
fi
echo "RESULT $pass $fail"
[ "$fail" -eq 0 ]
