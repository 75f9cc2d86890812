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
#      a checkpoint made on the CPU tested and resumed on the GPU; 3 epochs
#      under autocast bf16 and fp16 (GradScaler), each within 0.01 of the
#      f32 run's last val_accuracy;
#   4. TensorBoard's own reader on the event file, when tensorboard imports;
#      distributed training through NCCL with one rank (mpirun -np 1), also
#      with SyncBatchNorm and ZeRO-1, when mpirun and the NCCL module are there;
#   5. the GPU benchmarks: whole training steps of MnistModel, the PyTorch
#      examples' MNIST net, ResNet-18 (32x32, batch 256) and an MLP against
#      PyTorch (bench/run_models.sh), in f32 and under autocast bf16, and,
#      with PYTORCH_TEMPLATE_DIR set to a
#      pytorch-template checkout, seconds per epoch and GPU memory of ./train,
#      its train.py and a best-effort PyTorch loop (bench/run_template.sh).
# Usage: scripts/gpu_check.sh [build_dir] [all|tests|train|bench]
# (the parts one at a time keep each call short; default all)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
build=${1:-build}
part=${2:-all}
status=0
want() { [ "$part" = all ] || [ "$part" = "$1" ]; }
# the reference scripts from this checkout, also for a build made elsewhere (scripts/bundle_build.sh)
export TEST_REF_DIR="$PWD/tests/ref"
nvidia-smi -L || { echo "gpu_check: no GPU visible (nvidia-smi failed)"; exit 1; }

gpu_tests() {
    local tests=() t
    for t in "$build"/tests/test_gpu_*; do [ -x "$t" ] && tests+=("$t"); done
    echo "== GPU tests"
    for t in "${tests[@]}"; do "$t" || status=1; done
    "$build/tests/test_backend_ops" gpu || status=1
    "$build/tests/test_data_loader" gpu || status=1
    "$build/tests/test_metric" gpu || status=1
    command -v compute-sanitizer >/dev/null 2>&1 || { echo "(no compute-sanitizer: memcheck skipped)"; return; }
    echo "== compute-sanitizer memcheck"
    for t in "${tests[@]}" "$build/tests/test_backend_ops gpu" "$build/tests/test_data_loader gpu" \
        "$build/tests/test_metric gpu"; do
        local name
        name=$(basename "${t%% *}")
        # shellcheck disable=SC2086 # the last three entries carry their argument
        if compute-sanitizer --tool memcheck --leak-check full --error-exitcode 99 $t >/dev/null 2>"$build/$name.memcheck.log"; then
            echo "memcheck clean: $name"
        else
            echo "memcheck FAILED: $name (see $build/$name.memcheck.log)"
            status=1
        fi
    done
}

train_on_gpu() { # label, save_dir, extra ./train arguments...
    local label=$1 save=$2 start=$SECONDS
    shift 2
    echo "== ./train on the GPU: $label"
    "$build/train" -c config.json --set n_gpu=1 --set trainer.epochs=3 --set "trainer.save_dir=$save" "$@" 2>&1 |
        tee "$save.log" || status=1
    echo "train ($label): $((SECONDS - start)) s wall"
    if grep -q "gpu_peak_mib" "$save.log"; then echo "ok: device memory is in the epoch log"
    else echo "FAILED: no gpu_peak_mib in the epoch log"; status=1; fi
}

last_val_accuracy() { # the last epoch's val_accuracy in a ./train log
    awk '$1 == "val_accuracy" {v = $NF} END {print v}' "$1"
}

amp_on_gpu() { # dtype, save_dir, the f32 run's log
    local dtype=$1 save=$2 f32 amp
    train_on_gpu "autocast $dtype" "$save" --set "amp={\"enabled\": true, \"dtype\": \"$dtype\"}"
    f32=$(last_val_accuracy "$3") amp=$(last_val_accuracy "$save.log")
    if [ -n "$f32" ] && [ -n "$amp" ] && awk -v a="$amp" -v f="$f32" 'BEGIN {d = a - f; exit !(d < 0.01 && d > -0.01)}'
    then echo "ok: $dtype val_accuracy $amp, f32 $f32"
    else echo "FAILED: $dtype val_accuracy '$amp' is not within 0.01 of f32's '$f32'"; status=1; fi
}

train_runs() {
    local save
    save=$(mktemp -d)
    train_on_gpu "batches copied ahead" "$save/staged"
    echo "== ./test on the GPU, then the same checkpoint on the CPU"
    "$build/test" -r "$save/staged/models/best.ckpt" || status=1
    CUDA_VISIBLE_DEVICES="" "$build/test" -r "$save/staged/models/best.ckpt" || status=1
    train_on_gpu "dataset on the device" "$save/resident" --set data_loader.args.on_device=true
    amp_on_gpu bf16 "$save/amp_bf16" "$save/staged.log"
    amp_on_gpu fp16 "$save/amp_fp16" "$save/staged.log"
    echo "== a CPU checkpoint on the GPU: ./test, and resuming the run"
    CUDA_VISIBLE_DEVICES="" "$build/train" -c config.json --set n_gpu=0 --set trainer.epochs=1 \
        --set data_loader.args.limit=6000 --set "trainer.save_dir=$save/cpu" >/dev/null 2>&1 || status=1
    "$build/test" -r "$save/cpu/models/best.ckpt" --set n_gpu=1 || status=1
    "$build/train" -r "$save/cpu/models/best.ckpt" --set n_gpu=1 --set trainer.epochs=2 2>&1 | tail -12 || status=1
    if command -v mpirun >/dev/null 2>&1 && [ -f "$build/libdist_nccl.so" ]; then
        # one rank: the NCCL path (buckets on the device, all-reduce and broadcast over NCCL) on one GPU
        echo "== distributed training over NCCL, 1 rank on the GPU (mpirun -np 1)"
        OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -np 1 "$build/train" -c config.json \
            --set n_gpu=1 --set trainer.epochs=1 --set data_loader.args.limit=6000 \
            --set "trainer.save_dir=$save/nccl" 2>&1 | tail -8 || status=1
        echo "== SyncBatchNorm (statistics staged through the host) and ZeRO-1 (NCCL broadcasts), 1 rank on the GPU"
        OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -np 1 "$build/train" -c config.json \
            --set n_gpu=1 --set trainer.epochs=1 --set data_loader.args.limit=6000 \
            --set 'arch={"type": "MLP", "args": {"hidden": [64, 32], "batch_norm": true}}' \
            --set 'distributed={"sync_batchnorm": true, "zero": 1}' \
            --set "trainer.save_dir=$save/nccl_bn" 2>&1 | tail -8 || status=1
    fi
    if python3 -c "import tensorboard" 2>/dev/null; then
        echo "== TensorBoard's reader"
        "$build/tests/test_tensorboard_reader" || status=1
    fi
    rm -rf "$save"
}

benchmarks() {
    echo "== benchmarks: training steps against PyTorch"
    bench/run_models.sh "$build" "$(nproc)" 3 cuda || status=1
    echo "== benchmarks: training steps under autocast bf16 against PyTorch's"
    bench/run_models.sh "$build" "$(nproc)" 3 cuda --amp bf16 || status=1
    [ -n "${PYTORCH_TEMPLATE_DIR:-}" ] || { echo "(PYTORCH_TEMPLATE_DIR unset: the epoch benchmark is skipped)"; return; }
    echo "== benchmarks: seconds per epoch against pytorch-template and a best-effort loop"
    local prog # run_template.sh runs ./train and ./test from the source folder
    for prog in train test; do
        [ "$(readlink -f "$prog")" = "$(readlink -f "$build/$prog")" ] || ln -sfn "$(readlink -f "$build/$prog")" "$prog"
    done
    bench/run_template.sh "$PYTORCH_TEMPLATE_DIR" 3 "$(nproc)" cuda 3 || status=1
}

want tests && gpu_tests
want train && train_runs
want bench && benchmarks
exit $status
