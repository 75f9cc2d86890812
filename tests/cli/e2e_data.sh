#!/usr/bin/env bash
# End-to-end runs on image data the test writes (tests/cli/image_folder.py:
# three classes of grey and RGB PNGs of several sizes, in class folders and
# below them), so it never skips:
#  - ImageFolder: ./train reads the folder (channels 1, Resize to 28x28),
#    learns it, and ./test on test_dir reports every class's accuracy by
#    folder name and writes the confusion matrix with the names;
#  - augmentation: RandomCrop, RandomHorizontalFlip, RandomRotation and
#    ColorJitter for training, plain "valid" transforms for validation and
#    ./test; the same run with 0 and 2 loader workers, and 2 epochs +
#    `./train -r` + 2 more, give bit-identical checkpoints (the random
#    transforms follow the seed, the epoch and the sample alone), and the
#    augmentation changes what is learned;
#  - on_device keeps the deterministic dataset on the device and gives the
#    same run as without.
# usage: e2e_data.sh TRAIN TEST SOURCE_DIR
# shellcheck source=e2e_lib.sh
E2E_NO_MNIST=1 source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

# run LOG PROG ARGS...: stdout and stderr to LOG; prints the tail when it fails.
run() {
  local log=$1
  shift
  local rc=0
  "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "--- $* exited with $rc; the end of its output:"
    tail -n 15 "$log"
  fi
  return "$rc"
}
# value LOG KEY: the value of KEY in LOG's last "{'loss': ..., 'accuracy': ...}" line.
value() { grep -o "'$2': [0-9.e+-]*" "$1" | tail -n 1 | awk '{print $2}'; }

start=$SECONDS
"$PYTHON" "$HERE/image_folder.py" images/train 40 1 && "$PYTHON" "$HERE/image_folder.py" images/test 15 2 ||
  { echo "FAILED: writing the images"; exit 1; }

PLAIN='[{"type": "Resize", "args": {"size": [28, 28]}}, {"type": "ToTensor"},
         {"type": "Normalize", "args": {"mean": [0.5], "std": [0.5]}}]'
AUGMENTED='[{"type": "Resize", "args": {"size": [28, 28]}},
            {"type": "RandomCrop", "args": {"size": 28, "padding": 2, "padding_mode": "edge"}},
            {"type": "RandomHorizontalFlip"}, {"type": "RandomRotation", "args": {"degrees": 10}},
            {"type": "ColorJitter", "args": {"brightness": 0.3, "contrast": 0.3}}, {"type": "ToTensor"},
            {"type": "Normalize", "args": {"mean": [0.5], "std": [0.5]}}]'
# config NAME TRAIN_TRANSFORMS: NAME.json, MnistModel on the folder's 28x28 grey images.
config() {
  cat >"$1.json" <<EOF
{
  "name": "Shapes", "n_gpu": 0, "seed": 7,
  "arch": {"type": "MnistModel", "args": {"num_classes": 3}},
  "data_loader": {"type": "ImageFolderDataLoader", "args": {
    "data_dir": "images/train", "test_dir": "images/test", "channels": 1, "batch_size": 16, "shuffle": true,
    "validation_split": 0.2, "num_workers": 2,
    "transforms": {"train": $2, "valid": $PLAIN}}},
  "optimizer": {"type": "Adam", "args": {"lr": 0.003}},
  "loss": "nll_loss", "metrics": ["accuracy"],
  "trainer": {"epochs": 4, "save_dir": "saved/", "save_period": 1, "verbosity": 1,
              "monitor": "max val_accuracy", "early_stop": 0, "tensorboard": false}
}
EOF
}
config plain "$PLAIN"
config augmented "$AUGMENTED"

# ---- ImageFolder
if run plain.log "$TRAIN" -c plain.json --set trainer.save_dir=plain && plain=$(run_dir plain Shapes); then
  pass "ImageFolder: ./train -c plain.json exit 0"
  if run plain-test.log "$TEST" -r "$plain/model_best.ckpt" --confusion conf; then
    pass "ImageFolder: ./test exit 0"
    acc=$(value plain-test.log accuracy)
    at_least "$acc" 0.9 && pass "ImageFolder: ./test accuracy $acc >= 0.9 on test_dir" ||
      fail "ImageFolder: ./test accuracy '$acc' < 0.9"
    check "ImageFolder: ./test reports on test_dir's 45 images" grep -q "(45 test images)" plain-test.log
    check "ImageFolder: accuracy per class, by folder name" grep -qE "^ +horizontal *: [0-9.]+ \([0-9]+/15\)" plain-test.log
    check "ImageFolder: every class named" grep -qE "^ +ring *: [0-9.]+ \([0-9]+/15\)" plain-test.log
    check "ImageFolder: confusion.csv names the classes (sorted as torchvision)" \
      grep -qx "true/predicted,horizontal,ring,vertical" conf/confusion.csv
    check "ImageFolder: confusion.png" test -s conf/confusion.png
  else
    fail "ImageFolder: ./test -r model_best.ckpt"
  fi
else
  fail "ImageFolder: ./train -c plain.json"
fi

# ---- augmentation: reproducible whatever num_workers is, and across a resume
ok=1
for w in 0 2; do
  run "aug$w.log" "$TRAIN" -c augmented.json --set "trainer.save_dir=aug$w" \
    --set "data_loader.args.num_workers=$w" --set trainer.epochs=4 || ok=0
done
aug0=$(run_dir aug0 Shapes) && aug2=$(run_dir aug2 Shapes) || ok=0
if [ $ok -eq 1 ]; then
  pass "augmentation: ./train with 0 and 2 workers exit 0"
  check "augmentation: 0 and 2 workers give the same weights and optimizer state, bit for bit" \
    ckpt same "$aug0/checkpoint-epoch4.ckpt" "$aug2/checkpoint-epoch4.ckpt" --with-optimizer
  if run augr1.log "$TRAIN" -c augmented.json --set trainer.save_dir=augr --set trainer.epochs=2 &&
    half=$(run_dir augr Shapes) &&
    run augr2.log "$TRAIN" -r "$half/checkpoint-epoch2.ckpt" --set trainer.save_dir=augr2 --set trainer.epochs=4 &&
    resumed=$(run_dir augr2 Shapes); then
    check "augmentation: 2 epochs + resume + 2 == 4 epochs, bit for bit (epochs 3, 4 drew their own transforms)" \
      ckpt same "$aug2/checkpoint-epoch4.ckpt" "$resumed/checkpoint-epoch4.ckpt" --with-optimizer
  else
    fail "augmentation: the resumed run"
  fi
  if ckpt same "$plain/checkpoint-epoch4.ckpt" "$aug2/checkpoint-epoch4.ckpt" >/dev/null 2>&1; then
    fail "augmentation: the augmented run learned exactly what the plain one did (are the transforms applied?)"
  else
    pass "augmentation: the augmented run differs from the plain one"
  fi
  if run aug-test.log "$TEST" -r "$aug2/checkpoint-epoch4.ckpt" && run aug-test2.log "$TEST" -r "$aug2/checkpoint-epoch4.ckpt"; then
    acc=$(value aug-test.log accuracy)
    at_least "$acc" 0.8 && pass "augmentation: ./test accuracy $acc >= 0.8" || fail "augmentation: ./test accuracy '$acc' < 0.8"
    [ "$(value aug-test.log loss)" = "$(value aug-test2.log loss)" ] &&
      pass "augmentation: ./test uses the deterministic valid transforms (same loss twice)" ||
      fail "augmentation: ./test gave two losses"
  else
    fail "augmentation: ./test"
  fi
else
  fail "augmentation: ./train with 0 and 2 workers"
fi

# ---- on_device: the deterministic dataset kept on the device (here the CPU) gives the same run
if run dev.log "$TRAIN" -c plain.json --set trainer.save_dir=dev \
  --set data_loader.args.on_device=true && dev=$(run_dir dev Shapes) && [ -n "${plain:-}" ]; then
  check "on_device: the same weights as without" ckpt same "$plain/checkpoint-epoch4.ckpt" "$dev/checkpoint-epoch4.ckpt"
else
  fail "on_device: ./train"
fi

# ---- JPEG: the same folder with every training image saved as JPEG by PIL (quality 95) trains;
# the decoded pixels equal PIL's (tests/test_jpeg.c), so a run reads what torchvision would
PIL_PY=${TORCH_PYTHON:-/usr/bin/python3}
if "$PIL_PY" -c "import PIL" 2>/dev/null; then
  cp -r images jpeg_images
  "$PIL_PY" - jpeg_images/train <<'PY'
import os, sys
from PIL import Image
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        if f.endswith(".png"):
            p = os.path.join(root, f)
            Image.open(p).convert("L").save(p[:-4] + ".jpg", "JPEG", quality=95)
            os.remove(p)
PY
  if run jpeg.log "$TRAIN" -c plain.json --set trainer.save_dir=jpeg --set data_loader.args.data_dir=jpeg_images/train \
    --set trainer.epochs=2 && jpeg=$(run_dir jpeg Shapes); then
    acc=$(epoch_value jpeg.log val_accuracy)
    check "JPEG ImageFolder: ./train reads .jpg images (val_accuracy $acc >= 0.5)" at_least "$acc" 0.5
  else
    fail "JPEG ImageFolder: ./train"
  fi
else
  echo "SKIP: no PIL ($PIL_PY) to write JPEG images"
fi

echo "        ($((SECONDS - start)) s)"
finish
