#!/usr/bin/env bash
# Trains MNIST with our ./train and with pytorch-template's train.py (Debian's
# python3-torch, same thread count, same config.json), one after the other on
# this machine, then evaluates both model_best checkpoints on the test set.
# Prints wall time per epoch, peak RSS, val_accuracy per epoch and test
# accuracy side by side, with ratios.
#
# Usage: bench/run_template.sh PYTORCH_TEMPLATE_DIR [epochs] [threads]
#   PYTORCH_TEMPLATE_DIR: a checkout of victoresque/pytorch-template (or a
#   bare git repository of it); it is copied, never modified. It needs
#   python3-torchvision, python3-pandas and python3-tqdm (apt-get install).
set -euo pipefail
cd "$(dirname "$0")/.."
ref=${1:?usage: bench/run_template.sh PYTORCH_TEMPLATE_DIR [epochs] [threads]}
epochs=${2:-3}
threads=${3:-$(nproc)}
python=${TORCH_PYTHON:-/usr/bin/python3}
[ -x ./train ] && [ -x ./test ] || { echo "build first (scripts/build.sh)" >&2; exit 1; }
scripts/fetch_mnist.sh >/dev/null
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ref" "$work/data/MNIST"
if [ -d "$ref/.git" ] || [ -f "$ref/train.py" ]; then
    cp -r "$ref/." "$work/ref/"
else # a bare repository
    git -C "$ref" archive HEAD | tar -C "$work/ref" -xf -
fi
ln -s "$PWD/data/MNIST/raw" "$work/data/MNIST/raw"

# one config for both: ours is the reference's, with save_dir and data_dir in the work folder
sed -e "s|\"data_dir\": \"data/\"|\"data_dir\": \"$work/data/\"|" \
    -e "s|\"save_dir\": \"saved/\"|\"save_dir\": \"SAVE\"|" \
    -e "s|\"epochs\": 100|\"epochs\": $epochs|" config.json >"$work/config.template.json"
sed "s|SAVE|$work/ours/|" "$work/config.template.json" >"$work/ours.json"
sed "s|SAVE|$work/theirs/|; s|\"MnistModel\"|\"MnistModel\"|" "$work/config.template.json" >"$work/theirs.json"

run() { # label, log, command...
    local label=$1 log=$2
    shift 2
    /usr/bin/time -f "WALL %e RSS_KB %M" "$@" >"$log" 2>&1 || { echo "$label failed:"; tail -20 "$log"; exit 1; }
}
echo "training ours ($epochs epochs, $threads threads)..."
run ours "$work/ours.log" ./train -c "$work/ours.json"
echo "training pytorch-template ($epochs epochs, $threads threads)..."
(cd "$work/ref" && run theirs "$work/theirs.log" "$python" train.py -c "$work/theirs.json")

ours_best=$(ls "$work"/ours/models/Mnist_LeNet/*/model_best.ckpt)
theirs_best=$(ls "$work"/theirs/models/Mnist_LeNet/*/model_best.pth)
./test -r "$ours_best" >"$work/ours_test.log" 2>&1
(cd "$work/ref" && "$python" test.py -r "$theirs_best" >"$work/theirs_test.log" 2>&1)

field() { awk -v k="$2" '$1 == "WALL" && k == "wall" {print $2} $3 == "RSS_KB" && k == "rss" {print $4}' "$1"; }
vals() { grep -E "^ *(INFO.*- )?val_accuracy *:" "$1" | awk '{printf "%.4f ", $NF}'; }
testacc() { grep -oE "'accuracy': [0-9.]+" "$1" | awk '{print $2}'; }
ow=$(field "$work/ours.log" wall) tw=$(field "$work/theirs.log" wall)
orss=$(field "$work/ours.log" rss) trss=$(field "$work/theirs.log" rss)
printf '\n%-26s %14s %18s %10s\n' "" ours pytorch-template ratio
printf '%-26s %14.2f %18.2f %10.2f\n' "wall s per epoch" "$(echo "$ow / $epochs" | bc -l)" \
    "$(echo "$tw / $epochs" | bc -l)" "$(echo "$tw / $ow" | bc -l)"
printf '%-26s %14.1f %18.1f %10.2f\n' "peak RSS MB" "$(echo "$orss / 1024" | bc -l)" "$(echo "$trss / 1024" | bc -l)" \
    "$(echo "$trss / $orss" | bc -l)"
printf '%-26s %14s %18s\n' "val_accuracy per epoch" "$(vals "$work/ours.log")" "$(vals "$work/theirs.log")"
printf '%-26s %14s %18s\n' "test accuracy (best)" "$(testacc "$work/ours_test.log")" "$(testacc "$work/theirs_test.log")"
echo "(wall time includes start-up; ratio > 1: we are faster / smaller)"
