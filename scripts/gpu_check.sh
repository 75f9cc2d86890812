#!/usr/bin/env bash
# Every GPU check in one run, for a machine with an NVIDIA GPU and a CUDA
# build in build/ (scripts/build.sh with the CUDA toolkit present):
#   1. the GPU tests (every op on the GPU against the CPU, allocator, copies,
#      a whole MnistModel step, the data loader's staged and resident
#      batches), with their printed errors;
#   2. the same tests under compute-sanitizer memcheck, when it is installed;
#   3. ./train -c config.json --set trainer.epochs=3 on the GPU (device
#      memory in the epoch log), ./test on the GPU and, from the same
#      checkpoint, on the CPU; then 3 epochs with the dataset on the device;
#   4. TensorBoard's own reader on the event file, when tensorboard imports.
# Usage: scripts/gpu_check.sh [build_dir]
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
status=0
nvidia-smi -L || { echo "gpu_check: no GPU visible (nvidia-smi failed)"; exit 1; }
gpu_tests=()
for t in "$build"/tests/test_gpu_*; do [ -x "$t" ] && gpu_tests+=("$t"); done

echo "== GPU tests"
for t in "${gpu_tests[@]}"; do "$t" || status=1; done
"$build/tests/test_data_loader" gpu || status=1

if command -v compute-sanitizer >/dev/null 2>&1; then
    echo "== compute-sanitizer memcheck"
    for t in "${gpu_tests[@]}" "$build/tests/test_data_loader gpu"; do
        name=$(basename "${t%% *}")
        # shellcheck disable=SC2086 # the data loader entry carries its argument
        compute-sanitizer --tool memcheck --leak-check full --error-exitcode 99 $t >/dev/null 2>"$build/$name.memcheck.log" &&
            echo "memcheck clean: $name" || { echo "memcheck FAILED: $name (see $build/$name.memcheck.log)"; status=1; }
    done
fi

train_on_gpu() { # label, save_dir, extra ./train arguments...
    local label=$1 save=$2
    shift 2
    echo "== ./train on the GPU: $label"
    /usr/bin/time -f "train ($label): %e s wall, %M KB peak RSS" "$build/train" -c config.json \
        --set n_gpu=1 --set trainer.epochs=3 --set "trainer.save_dir=$save" "$@" 2>&1 | tee "$save.log" || status=1
    grep -q "gpu_peak_mib" "$save.log" && echo "ok: device memory is in the epoch log" ||
        { echo "FAILED: no gpu_peak_mib in the epoch log"; status=1; }
}
save=$(mktemp -d)
train_on_gpu "batches copied ahead" "$save/staged"
echo "== ./test on the GPU, then the same checkpoint on the CPU"
"$build/test" -r "$save/staged/models/best.ckpt" || status=1
CUDA_VISIBLE_DEVICES="" "$build/test" -r "$save/staged/models/best.ckpt" || status=1
train_on_gpu "dataset on the device" "$save/resident" --set data_loader.args.on_device=true

if python3 -c "import tensorboard" 2>/dev/null; then
    echo "== TensorBoard's reader"
    "$build/tests/test_tensorboard_reader" || status=1
fi
rm -rf "$save"
exit $status
