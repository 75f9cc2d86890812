#!/usr/bin/env bash
# Every GPU check in one run, for a machine with an NVIDIA GPU and a CUDA
# build in build/ (scripts/build.sh with the CUDA toolkit present):
#   1. the GPU tests (every op on the GPU against the CPU, allocator, copies,
#      a whole MnistModel step), with their printed errors;
#   2. the same tests under compute-sanitizer memcheck, when it is installed;
#   3. ./train -c config.json --set trainer.epochs=3 on the GPU, and ./test.
# Usage: scripts/gpu_check.sh [build_dir]
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
status=0
nvidia-smi -L || { echo "gpu_check: no GPU visible (nvidia-smi failed)"; exit 1; }

echo "== GPU tests"
for t in "$build"/tests/test_gpu_*; do
    [ -x "$t" ] || continue
    "$t" || status=1
done

if command -v compute-sanitizer >/dev/null 2>&1; then
    echo "== compute-sanitizer memcheck"
    for t in "$build"/tests/test_gpu_*; do
        [ -x "$t" ] || continue
        compute-sanitizer --tool memcheck --leak-check full --error-exitcode 99 "$t" >/dev/null 2>"$t.memcheck.log" \
            && echo "memcheck clean: $(basename "$t")" \
            || { echo "memcheck FAILED: $(basename "$t") (see $t.memcheck.log)"; status=1; }
    done
fi

echo "== ./train on the GPU (3 epochs)"
save=$(mktemp -d)
/usr/bin/time -f "train: %e s wall, %M KB peak RSS" "$build/train" -c config.json --set trainer.epochs=3 \
    --set "trainer.save_dir=$save" || status=1
"$build/test" -r "$save/models/best.ckpt" || status=1
rm -rf "$save"
exit $status
