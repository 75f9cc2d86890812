#!/usr/bin/env bash
# End-to-end: ./train trains MnistModel on a real MNIST subset (the first 6000
# training images: 5400 to train on, 600 held out) for 3 epochs, then ./test
# evaluates saved/models/best.ckpt on all 10,000 test images. Checks the exit
# statuses, accuracy floors, the run folders (checkpoints, config copy, log)
# and that best.ckpt follows the newest run.
# usage: e2e_train.sh TRAIN TEST SOURCE_DIR
# shellcheck source=e2e_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

# Well below what this run reaches (val_accuracy 0.943 after epoch 3, test
# accuracy 0.925), so that only a real regression in learning fails them.
VAL_FLOOR=0.90
TEST_FLOOR=0.88

S=$T/saved
start=$SECONDS
if train train.log "${BASE_ARGS[@]}" --set "trainer.save_dir=$S" --set data_loader.args.limit=6000 \
  --set trainer.epochs=3; then
  pass "./train: 3 epochs on 6000 MNIST images, exit 0 ($((SECONDS - start)) s)"
else
  fail "./train: 3 epochs on 6000 MNIST images"
fi
epochs=$(epochs_logged train.log)
[ "$epochs" = "1 2 3" ] && pass "epochs 1 2 3 logged" || fail "epochs logged: '$epochs', expected '1 2 3'"
val_acc=$(epoch_value train.log val_accuracy)
check "val_accuracy of epoch 3 = $val_acc >= $VAL_FLOOR" at_least "$val_acc" "$VAL_FLOOR"
# ctest runs this with 2 threads: the default trainer.batch_split splits each batch in two
[ "${OMP_NUM_THREADS:-}" != 2 ] ||
  check "2 threads: each batch in 2 shards (trainer.batch_split \"auto\")" \
    grep -q 'Batch split: each batch in 2 shards on 2 threads' train.log

if run=$(run_dir "$S" Mnist_LeNet); then
  id=$(basename "$run")
  missing=""
  for f in checkpoint-epoch1.ckpt checkpoint-epoch2.ckpt checkpoint-epoch3.ckpt model_best.ckpt config.json; do
    [ -s "$run/$f" ] || missing="$missing $f"
  done
  [ -z "$missing" ] && pass "saved/models/Mnist_LeNet/$id/ holds checkpoint-epoch1..3, model_best and config.json" ||
    fail "saved/models/Mnist_LeNet/$id/ lacks:$missing (has: $(ls "$run"))"
  [ ! -e "$run/checkpoint-epoch4.ckpt" ] && pass "no checkpoint beyond epoch 3" || fail "checkpoint-epoch4.ckpt exists"
  check "the run's config.json is the effective one (epochs 3, limit 6000)" \
    grep -qE '"epochs":[[:space:]]*3,' "$run/config.json"
  check "... limit 6000" grep -qE '"limit":[[:space:]]*6000' "$run/config.json"
  best_epoch=$(ckpt meta "$run/model_best.ckpt" epoch)
  [ "$best_epoch" = 3 ] && pass "model_best.ckpt is epoch 3 (val_loss fell every epoch)" ||
    fail "model_best.ckpt is epoch '$best_epoch', expected 3"
  check "model_best.ckpt holds the weights and optimizer state of checkpoint-epoch3.ckpt" \
    ckpt same "$run/model_best.ckpt" "$run/checkpoint-epoch3.ckpt" --with-optimizer

  info=$S/log/Mnist_LeNet/$id/info.log
  if [ -s "$info" ]; then
    logged=$(epochs_logged "$info")
    [ "$logged" = "1 2 3" ] && pass "saved/log/Mnist_LeNet/$id/info.log holds epochs 1 2 3" ||
      fail "info.log lists epochs '$logged', expected '1 2 3'"
    check "info.log lines carry time, logger name and level" grep -qE '^[0-9-]+ [0-9:,]+ - trainer - INFO - ' "$info"
  else
    fail "no saved/log/Mnist_LeNet/$id/info.log"
  fi

  link=$(readlink "$S/models/best.ckpt" || true)
  [ "$link" = "Mnist_LeNet/$id/model_best.ckpt" ] && [ "$S/models/best.ckpt" -ef "$run/model_best.ckpt" ] &&
    pass "saved/models/best.ckpt -> $link" || fail "saved/models/best.ckpt -> '$link', expected Mnist_LeNet/$id/model_best.ckpt"
else
  fail "run folder"
fi

# ./test with nothing but the checkpoint
start=$SECONDS
rc=0
"$TEST" -r "$S/models/best.ckpt" >test.log 2>&1 || rc=$?
if [ "$rc" -eq 0 ]; then pass "./test -r saved/models/best.ckpt exit 0 ($((SECONDS - start)) s)"
else fail "./test exited with $rc:"; tail -n 15 test.log; fi
result=$(grep -E "^\{'loss': " test.log || true)
metric() { sed -nE "s/.*'$1': ([0-9.eE+-]+).*/\\1/p" <<<"$result"; }
loss=$(metric loss)
acc=$(metric accuracy)
top_k=$(metric top_k_acc)
echo "        ./test: $result"
check "./test reports on 10000 test images" grep -q "(10000 test images)" test.log
check "./test prints loss ($loss)" at_least "$loss" 0
check "./test accuracy = $acc >= $TEST_FLOOR" at_least "$acc" "$TEST_FLOOR"
check "./test top_k_acc = $top_k >= accuracy" at_least "$top_k" "$acc"
# with 2 threads ./test splits its batches too: whole batches give the same line
if "$TEST" -r "$S/models/best.ckpt" --set trainer.batch_split=1 >test_whole.log 2>&1; then
  whole=$(grep -E "^\{'loss': " test_whole.log || true)
  [ -n "$result" ] && [ "$whole" = "$result" ] && pass "./test with batches whole (trainer.batch_split 1) prints the same" ||
    fail "./test with batches whole: '$whole', split: '$result'"
else
  fail "./test --set trainer.batch_split=1"; tail -n 5 test_whole.log
fi

# a newer run (another name, so its folder is new) takes over best.ckpt
if train newer.log "${BASE_ARGS[@]}" --set "trainer.save_dir=$S" --set name=Mnist_Newer \
  --set data_loader.args.limit=1000 --set trainer.epochs=1 && newer=$(run_dir "$S" Mnist_Newer); then
  link=$(readlink "$S/models/best.ckpt" || true)
  [ "$S/models/best.ckpt" -ef "$newer/model_best.ckpt" ] && pass "best.ckpt follows the newest run: -> $link" ||
    fail "after a newer run best.ckpt -> '$link', expected Mnist_Newer/$(basename "$newer")/model_best.ckpt"
else
  fail "the newer run"
fi
finish
