#!/usr/bin/env bash
# ./predict end to end: a short ./train on an ImageFolder the test writes
# (tests/cli/image_folder.py) and, where MNIST is present, on an MNIST
# subset; then ./predict on PNG probes (grey, RGB, grey + alpha, RGBA, at
# the model's size and resized by the checkpoint's transforms) and on IDX
# samples, checked against PyTorch (tests/cli/predict_ref.py: the same
# weights in torch, torchvision's transforms, the softmax of the output):
# the classes by name in falling probability, min(--topk, classes) of them,
# each probability within 1e-5. A PNG of an MNIST digit predicts as its IDX
# sample does. Bad input (missing, not an image, damaged or empty PNGs,
# images the model cannot take, IDX indices out of range or not images, bad
# checkpoints and options) is one "error: <file>: ..." line per file and
# exit status 1, the good files of the same call still predicted.
# usage: predict.sh TRAIN PREDICT SOURCE_DIR
# shellcheck source=e2e_lib.sh
E2E_NO_MNIST=1 source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"
PREDICT=$TEST
REF="$HERE/predict_ref.py"
TORCH_PY=${TORCH_PYTHON:-/usr/bin/python3}
have_torch=false
if [ -x "$TORCH_PY" ] && "$TORCH_PY" -c "import torch, torchvision, PIL, numpy" 2>/dev/null; then have_torch=true; fi
MNIST_RAW="$SRC/data/MNIST/raw"
have_mnist=false
if [ -f "$MNIST_RAW/train-images-idx3-ubyte" ] && [ -f "$MNIST_RAW/t10k-images-idx3-ubyte" ]; then have_mnist=true; fi

# predict OUT ERR ARGS...: ./predict, stdout to OUT and stderr to ERR; echoes its exit status.
predict() {
  local out=$1 err=$2
  shift 2
  local rc=0
  "$PREDICT" "$@" >"$out" 2>"$err" || rc=$?
  echo "$rc"
}
# one_error ERR PATTERN: ERR is exactly one line, "error: ..." matching PATTERN (grep -E).
one_error() {
  [ "$(wc -l <"$1")" -eq 1 ] && grep -qE "^error: $2" "$1" || { echo "--- stderr:"; cat "$1"; return 1; }
}
# expect_failure WHAT PATTERN ARGS...: ./predict ARGS exits 1 with one error line matching PATTERN.
expect_failure() {
  local what=$1 pattern=$2
  shift 2
  local rc
  rc=$(predict bad.out bad.err "$@")
  if [ "$rc" = 1 ] && one_error bad.err "$pattern"; then pass "$what"; else fail "$what (exit $rc)"; fi
}
# torch_check WHAT CKPT OUT TOPK ARGS...: predict_ref.py check, when torch is here.
torch_check() {
  local what=$1
  shift
  if ! $have_torch; then return 0; fi
  if "$TORCH_PY" "$REF" check "$@" >ref.log 2>&1; then pass "$what: $(tail -n 1 ref.log | sed 's/^ok *//')"
  else fail "$what:"; cat ref.log; fi
}

start=$SECONDS
mnist_arg=()
$have_mnist && mnist_arg=("$MNIST_RAW")
"$PYTHON" "$HERE/image_folder.py" images/train 30 1 && "$PYTHON" "$REF" files probe "${mnist_arg[@]}" ||
  { echo "FAILED: writing the images"; exit 1; }

# ---- an ImageFolder model: three named classes, grey 28x28 after Resize
cat >shapes.json <<'EOF'
{
  "name": "Shapes", "n_gpu": 0, "seed": 3,
  "arch": {"type": "MnistModel", "args": {"num_classes": 3}},
  "data_loader": {"type": "ImageFolderDataLoader", "args": {
    "data_dir": "images/train", "channels": 1, "batch_size": 16, "shuffle": true,
    "validation_split": 0.2, "num_workers": 0,
    "transforms": {"train": [{"type": "Resize", "args": {"size": [28, 28]}}, {"type": "ToTensor"},
                             {"type": "Normalize", "args": {"mean": [0.5], "std": [0.5]}}],
                   "valid": [{"type": "Resize", "args": {"size": [28, 28]}}, {"type": "ToTensor"},
                             {"type": "Normalize", "args": {"mean": [0.5], "std": [0.5]}}]}}},
  "optimizer": {"type": "Adam", "args": {"lr": 0.003}},
  "loss": "nll_loss", "metrics": ["accuracy"],
  "trainer": {"epochs": 4, "save_dir": "saved/", "save_period": 10, "verbosity": 1,
              "monitor": "max val_accuracy", "early_stop": 0, "tensorboard": false}
}
EOF
if ! train shapes.log -c shapes.json || ! shapes=$(run_dir saved Shapes); then
  fail "ImageFolder: ./train"
  finish
fi
CK="$shapes/model_best.ckpt"
PNGS=(probe/horizontal_0.png probe/vertical_1.png probe/ring_2.png probe/ring_3.png probe/vertical_4.png
      probe/horizontal_5.png)

rc=$(predict shapes.out shapes.err -r "$CK" "${PNGS[@]}")
if [ "$rc" = 0 ] && [ ! -s shapes.err ]; then pass "ImageFolder: ./predict on 6 PNGs exit 0, nothing on stderr"
else fail "ImageFolder: ./predict exit $rc"; cat shapes.err; fi
check "ImageFolder: one block per image, the file named" \
  test "$(grep -c '^probe/.*\.png$' shapes.out)" = 6
# --topk defaults to 5, capped at the 3 classes
check "ImageFolder: 3 classes per image (--topk 5 capped at the class count)" \
  test "$(grep -c '^  ' shapes.out)" = 18
check "ImageFolder: the classes by folder name" \
  bash -c "grep -A3 '^probe/ring_2.png' shapes.out | grep -qE '^  ring +0\.[0-9]{6}$' && \
           grep -A3 '^probe/ring_2.png' shapes.out | grep -qE '^  horizontal +0\.[0-9]{6}$'"
# the stripes and rings are easy: the top class is the drawn one for most probes
right=0
for f in "${PNGS[@]}"; do
  kind=$(basename "$f" .png)
  top=$(grep -A1 "^$f\$" shapes.out | tail -n 1 | awk '{print $1}')
  [ "$top" = "${kind%_*}" ] && right=$((right + 1))
done
if [ "$right" -ge 4 ]; then pass "ImageFolder: top class right for $right of 6 probes"
else fail "ImageFolder: top class right for only $right of 6 probes"; cat shapes.out; fi
torch_check "ImageFolder: probabilities" "$CK" shapes.out 5 --png "${PNGS[@]}"
rc=$(predict top2.out top2.err -r "$CK" --topk 2 "${PNGS[@]:0:2}")
check "--topk 2: two classes per image" test "$rc" = 0 -a "$(grep -c '^  ' top2.out)" = 4
torch_check "--topk 2: probabilities" "$CK" top2.out 2 --png "${PNGS[@]:0:2}"
rc=$(predict top1.out top1.err -r "$CK" "${PNGS[2]}" --topk=1)
check "--topk=1: the top class only, as the first of the full list" \
  test "$rc" = 0 -a "$(awk 'NR > 1 { print $1, $2 }' top1.out)" = \
       "$(grep -A1 "^${PNGS[2]}\$" shapes.out | tail -n 1 | awk '{ print $1, $2 }')"
if $have_torch && "$TORCH_PY" "$REF" unnamed "$CK" unnamed.ckpt; then
  rc=$(predict unnamed.out unnamed.err -r unnamed.ckpt "${PNGS[@]:0:3}")
  check "a checkpoint without class names: the classes by index" \
    test "$rc" = 0 -a "$(grep -cE '^  [0-2]  0\.[0-9]{6}$' unnamed.out)" = 9
  torch_check "a checkpoint without class names: probabilities" unnamed.ckpt unnamed.out 5 --png "${PNGS[@]:0:3}"
fi

# ---- bad input: one line naming the file, exit 1, the good files still predicted
rc=$(predict mixed.out mixed.err -r "$CK" probe/nothing.png "${PNGS[0]}" probe/damaged.png probe/text.png \
  probe/empty.png probe "${PNGS[1]}")
if [ "$rc" = 1 ] && [ "$(wc -l <mixed.err)" -eq 5 ] && [ "$(grep -c '^probe/.*\.png$' mixed.out)" = 2 ]; then
  pass "bad files among good ones: 5 error lines, exit 1, the 2 good images predicted"
else fail "bad files among good ones (exit $rc)"; cat mixed.err; fi
check "missing file named" grep -qx "error: probe/nothing.png: cannot open: No such file or directory" mixed.err
check "damaged PNG named" grep -qE "^error: probe/damaged.png: damaged PNG" mixed.err
check "a text file named .png" grep -qE "^error: probe/text.png: neither a PNG or JPEG image nor an IDX file" mixed.err
check "an empty file" grep -qE "^error: probe/empty.png: .*empty" mixed.err
check "a folder" grep -qE "^error: probe: .*directory" mixed.err
expect_failure "channels the model cannot take (3 by --set): named" \
  "probe/horizontal_0.png: .*" -r "$CK" --set data_loader.args.channels=3 "${PNGS[0]}"
expect_failure "an IDX file without --index" "probe/small.idx: .*--index" -r "$CK" probe/small.idx
expect_failure "an IDX file of labels, not images" "probe/labels.idx: expected images" -r "$CK" probe/labels.idx --index 0
rc=$(predict idx.out idx.err -r "$CK" probe/small.idx --index 3 1 -1)
if [ "$rc" = 1 ] && [ "$(wc -l <idx.err)" = 2 ] && grep -qx 'probe/small.idx\[1\]' idx.out &&
   grep -qx 'error: probe/small.idx\[3\]: index 3 is out of range: the file holds 3 images (0 to 2)' idx.err &&
   grep -q '^error: probe/small.idx\[-1\]: index -1 is out of range' idx.err; then
  pass "IDX indices out of range: one line each, the one in range predicted (20x20 resized by the transforms)"
else fail "IDX indices out of range (exit $rc)"; cat idx.err; fi
head -c 1000 "$CK" >truncated.ckpt
expect_failure "a truncated checkpoint" "truncated.ckpt: " -r truncated.ckpt "${PNGS[0]}"
expect_failure "a PNG given as the checkpoint" "probe/ring_2.png: " -r probe/ring_2.png "${PNGS[0]}"
expect_failure "a missing checkpoint" "nothing.ckpt: cannot open" -r nothing.ckpt "${PNGS[0]}"
expect_failure "no checkpoint" "./predict needs a checkpoint" "${PNGS[0]}"
expect_failure "no images" "./predict needs images" -r "$CK"
expect_failure "--topk 0" "--topk expects a whole number >= 1, got 0" -r "$CK" --topk 0 "${PNGS[0]}"
expect_failure "--topk abc" "--topk expects a whole number >= 1, got abc" -r "$CK" --topk abc "${PNGS[0]}"
expect_failure "--index without a number" "--index expects one or more image indices" -r "$CK" probe/small.idx --index
expect_failure "an unknown option" "unrecognized argument: --bogus" -r "$CK" --bogus 1 "${PNGS[0]}"
check "-h describes the files, --index and --topk" \
  bash -c "'$PREDICT' -h | grep -q -- '--index I' && '$PREDICT' -h | grep -q -- '--topk K'"

# ---- MNIST: IDX samples and a PNG of a digit, unnamed-or-named classes as the checkpoint has them
if $have_mnist; then
  if train mnist.log "${BASE_ARGS[@]}" --set trainer.save_dir=msaved --set trainer.epochs=1 \
       --set data_loader.args.limit=2000 --set trainer.tensorboard=false --set n_gpu=0 &&
     mnist=$(run_dir msaved Mnist_LeNet); then
    MCK="$mnist/model_best.ckpt"
    IDX="$MNIST_RAW/t10k-images-idx3-ubyte"
    rc=$(predict mnist.out mnist.err -r "$MCK" "$IDX" --index 0 1 2 9999 --topk 10)
    check "MNIST: ./predict on 4 IDX samples exit 0" test "$rc" = 0 -a ! -s mnist.err
    check "MNIST: 10 classes each, labelled FILE[index]" \
      test "$(grep -c '^  ' mnist.out)" = 40 -a "$(grep -c "^$IDX\[[0-9]*\]\$" mnist.out)" = 4
    torch_check "MNIST: IDX probabilities" "$MCK" mnist.out 10 --idx "$IDX" --index 0 1 2 9999
    rc=$(predict digit.out digit.err -r "$MCK" probe/mnist0.png "$IDX" --index 0)
    if [ "$rc" = 0 ] && diff <(sed -n '2,6p' digit.out) <(sed -n '8,12p' digit.out) >/dev/null; then
      pass "MNIST: a PNG of test digit 0 predicts as the IDX sample"
    else fail "MNIST: PNG and IDX sample differ (exit $rc)"; cat digit.out digit.err; fi
    expect_failure "MNIST: an IDX of 20x20 images the model cannot take" \
      "probe/small.idx\[0\]: the model cannot take it \(1x20x20 after the transforms\)" -r "$MCK" probe/small.idx --index 0
    expect_failure "MNIST: a 30x26 PNG the model cannot take" "probe/ring_3.png: the model cannot take it" \
      -r "$MCK" probe/ring_3.png
  else
    fail "MNIST: ./train"
  fi
else
  echo "[  SKIPPED ] MNIST parts: no MNIST in $MNIST_RAW (scripts/fetch_mnist.sh puts it there)"
fi
$have_torch || echo "[  SKIPPED ] PyTorch comparisons: $TORCH_PY cannot import torch, torchvision, PIL and numpy"
echo "($((SECONDS - start)) s)"
finish
