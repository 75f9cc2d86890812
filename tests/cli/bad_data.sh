#!/usr/bin/env bash
# Bad data and bad data-loader configs given to ./train and ./test: every
# case must end with exit status 1 and exactly one line on stderr,
# "error: ...", naming the file or key path (a damaged PNG, an empty class
# folder, images of different sizes, a FIFO among the images, a mean of the
# wrong length, a crop larger than the image, unknown transforms and
# arguments, a missing "valid" pipeline, random transforms on_device,
# missing CIFAR-10 and Fashion-MNIST files): never a crash, a sanitizer
# report or a hang. The images come from tests/cli/image_folder.py, so the
# test needs no download and runs in seconds.
# usage: bad_data.sh TRAIN TEST SOURCE_DIR
set -u
export LC_ALL=C
if [ $# -ne 3 ]; then
  echo "usage: $0 TRAIN TEST SOURCE_DIR" >&2
  exit 2
fi
TRAIN=$(realpath "$1")
TEST=$(realpath "$2")
SRC=$(realpath "$3")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export ASAN_OPTIONS="detect_leaks=1:exitcode=86${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:exitcode=87${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OPENBLAS_NUM_THREADS=1
PYTHON=$(command -v python3 || true)
if [ -z "$PYTHON" ]; then
  echo "FAILED: this test writes its images with python3 (standard library only)" >&2
  exit 1
fi

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ln -s "$SRC/logger" "$T/logger"
cd "$T" || exit 1
passed=0
failed=0

# expect_fail WHAT [EXPECTED_SUBSTRING...] -- PROG ARGS...
expect_fail() {
  local what=$1
  shift
  local -a want=()
  while [ "$1" != "--" ]; do
    want+=("$1")
    shift
  done
  shift
  local rc=0
  timeout 60 "$@" >out 2>err || rc=$?
  local -a problems=()
  [ "$rc" -eq 1 ] || problems+=("exit status $rc, expected 1")
  if grep -qE 'Sanitizer|runtime error:|internal error:' err; then problems+=("crash or sanitizer report"); fi
  if [ "$(wc -l <err)" -ne 1 ] || [ "$(head -c 7 err)" != "error: " ]; then
    problems+=("stderr is not exactly one line starting with 'error: '")
  fi
  local w
  for w in "${want[@]}"; do grep -qF -- "$w" err || problems+=("stderr lacks: $w"); done
  if [ ${#problems[@]} -eq 0 ]; then
    passed=$((passed + 1))
    echo "ok      $what"
    return
  fi
  failed=$((failed + 1))
  echo "FAILED  $what"
  local p
  for p in "${problems[@]}"; do echo "        - $p"; done
  sed 's/^/        | /' err | head -20
}

"$PYTHON" "$HERE/image_folder.py" good 6 1 || { echo "FAILED: writing the images"; exit 1; }

PLAIN='[{"type": "Resize", "args": {"size": [28, 28]}}, {"type": "ToTensor"}]'
# config NAME DATA_DIR TRAIN_TRANSFORMS [VALID_TRANSFORMS [EXTRA_ARGS]]: NAME.json for ImageFolderDataLoader.
config() {
  local transforms
  if [ -n "$3" ]; then transforms=", \"transforms\": {\"train\": $3, \"valid\": ${4:-$PLAIN}}"; else transforms=""; fi
  cat >"$1.json" <<EOF
{
  "name": "Bad", "n_gpu": 0,
  "arch": {"type": "MnistModel", "args": {"num_classes": 3}},
  "data_loader": {"type": "ImageFolderDataLoader", "args": {
    "data_dir": "$2", "channels": 1, "batch_size": 4, "num_workers": 1 $transforms ${5:-}}},
  "optimizer": {"type": "Adam", "args": {"lr": 0.001}},
  "loss": "nll_loss", "metrics": ["accuracy"],
  "trainer": {"epochs": 1, "save_dir": "saved/", "verbosity": 0, "monitor": "off", "tensorboard": false}
}
EOF
}
# a copy of the good folder, to damage
damaged() { rm -rf "$1" && cp -r good "$1"; }

damaged broken
printf '\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00' >broken/ring/001.png
config broken broken "$PLAIN"
expect_fail "train: a truncated PNG" "broken/ring/001.png: damaged PNG" -- "$TRAIN" -c broken.json

damaged notpng
echo "hello" >notpng/vertical/002.png
config notpng notpng "$PLAIN"
expect_fail "train: a text file named .png" "notpng/vertical/002.png: not a PNG file" -- "$TRAIN" -c notpng.json

damaged emptyclass
mkdir -p emptyclass/zebra/nested
echo "no images here" >emptyclass/zebra/readme.txt
config emptyclass emptyclass "$PLAIN"
expect_fail "train: an empty class folder" "emptyclass/zebra: class folder 'zebra' holds no images" -- \
  "$TRAIN" -c emptyclass.json

damaged fifo
rm fifo/horizontal/000.png && mkfifo fifo/horizontal/000.png
config fifo fifo "$PLAIN"
expect_fail "train: a FIFO among the images (refused without waiting)" "fifo/horizontal/000.png: cannot read" \
  "FIFO" -- "$TRAIN" -c fifo.json

damaged jpeg
printf '\xff\xd8\xff\xe0' >jpeg/ring/photo.jpg
config jpeg jpeg "$PLAIN"
expect_fail "train: a damaged JPEG among the images" "jpeg/ring/photo.jpg: damaged JPEG" -- "$TRAIN" -c jpeg.json

damaged bmp
printf 'BM' >bmp/ring/photo.bmp
config bmp bmp "$PLAIN"
expect_fail "train: a BMP among the images" "bmp/ring/photo.bmp: .bmp images are not supported (this build reads PNG and JPEG)" -- "$TRAIN" -c bmp.json

config sizes good ""
expect_fail "train: images of different sizes and no Resize" "good/horizontal/001.png" "good/horizontal/000.png" \
  "add a Resize" -- "$TRAIN" -c sizes.json

config nofolder nowhere "$PLAIN"
expect_fail "train: data_dir is not a folder" "nowhere: not a folder" -- "$TRAIN" -c nofolder.json

config mean good '[{"type": "Resize", "args": {"size": [28, 28]}}, {"type": "ToTensor"},
                   {"type": "Normalize", "args": {"mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2]}}]'
expect_fail "train: a mean of the wrong length" \
  "data_loader.args.transforms.train.2 (Normalize): mean and std have 3 values, the image has 1 channel" -- \
  "$TRAIN" -c mean.json

config std good '[{"type": "ToTensor"}, {"type": "Normalize", "args": {"mean": [0.5], "std": [0]}}]'
expect_fail "train: a std of zero" "data_loader.args.transforms.train.1 (Normalize)" "divide by zero" -- \
  "$TRAIN" -c std.json

config crop good '[{"type": "Resize", "args": {"size": [28, 28]}}, {"type": "RandomCrop", "args": {"size": 40}},
                   {"type": "ToTensor"}]'
expect_fail "train: a crop larger than the image" \
  "data_loader.args.transforms.train.1 (RandomCrop): the crop (40x40) is larger than the image (28x28)" -- \
  "$TRAIN" -c crop.json

config validsize good "$PLAIN" '[{"type": "Resize", "args": {"size": [32, 32]}}, {"type": "ToTensor"}]'
expect_fail "train: train and valid pipelines of different sizes" "the validation/test ones 1x32x32" -- \
  "$TRAIN" -c validsize.json

config unknown good '[{"type": "RandomFlip"}, {"type": "ToTensor"}]'
expect_fail "train: an unknown transform lists the known ones" \
  "data_loader.args.transforms.train.0.type: unknown name 'RandomFlip'" "RandomHorizontalFlip" -- \
  "$TRAIN" -c unknown.json

config arg good '[{"type": "Resize", "args": {"size": [28, 28], "interpolaton": "nearest"}}, {"type": "ToTensor"}]'
expect_fail "train: an unknown transform argument lists the accepted ones" \
  "data_loader.args.transforms.train.0.args.interpolaton: unknown key for Resize" "did you mean 'interpolation'" -- \
  "$TRAIN" -c arg.json

config totensor good '[{"type": "Resize", "args": {"size": [28, 28]}}]'
expect_fail "train: a pipeline without ToTensor" "data_loader.args.transforms.train: no ToTensor" -- \
  "$TRAIN" -c totensor.json

cat >novalid.json <<EOF
{"name": "Bad", "n_gpu": 0, "arch": {"type": "MnistModel", "args": {"num_classes": 3}},
 "data_loader": {"type": "ImageFolderDataLoader", "args": {"data_dir": "good", "channels": 1, "batch_size": 4,
   "transforms": {"train": $PLAIN}}},
 "optimizer": {"type": "Adam", "args": {}}, "loss": "nll_loss", "metrics": [],
 "trainer": {"epochs": 1, "save_dir": "saved/", "monitor": "off", "tensorboard": false}}
EOF
expect_fail "train: transforms without a valid pipeline" "data_loader.args.transforms: needs both" -- \
  "$TRAIN" -c novalid.json

config ondevice good '[{"type": "Resize", "args": {"size": [28, 28]}}, {"type": "RandomHorizontalFlip"},
                       {"type": "ToTensor"}]' "" ', "on_device": true'
expect_fail "train: on_device with random transforms" "on_device: the training transforms" "are random" -- \
  "$TRAIN" -c ondevice.json

config channels good "$PLAIN"
sed -i 's/"channels": 1/"channels": 7/' channels.json
expect_fail "train: channels out of range" "data_loader.args.channels: channels must be 1" -- \
  "$TRAIN" -c channels.json

sed 's/"channels": 1, //; s/ImageFolderDataLoader/Cifar10DataLoader/' nofolder.json >cifar.json
expect_fail "train: CIFAR-10 missing" "CIFAR-10 not found" "cifar-10-binary.tar.gz" -- "$TRAIN" -c cifar.json
mkdir -p cifar_bad/cifar-10-batches-bin
sed 's|"nowhere"|"cifar_bad"|' cifar.json >cifar_bad.json
head -c 3000 /dev/zero >cifar_bad/cifar-10-batches-bin/data_batch_1.bin
expect_fail "train: a CIFAR-10 batch of the wrong size" "data_batch_1.bin: not a CIFAR-10 batch file" -- \
  "$TRAIN" -c cifar_bad.json
sed 's/ImageFolderDataLoader/FashionMnistDataLoader/; s/"channels": 1, //' nofolder.json >fashion.json
expect_fail "train: Fashion-MNIST missing" "Fashion-MNIST not found" "dataset-fashion-mnist" -- \
  "$TRAIN" -c fashion.json

echo "$passed checks passed, $failed FAILED"
[ "$failed" -eq 0 ]
