#!/usr/bin/env bash
# End-to-end: trainer options on a real MNIST subset (1000-2000 images).
#  - early stopping stops after early_stop epochs without improvement, and
#    early_stop 0 turns it off; an equal value counts as an improvement, as
#    in the reference (so a run that cannot learn, lr 0, never stops early);
#  - trainer.len_epoch (iteration-based training) runs that many batches per
#    epoch, across the loader's epochs;
#  - ReduceLROnPlateau as lr_scheduler steps on the monitored metric;
#  - data_loader.args.on_device (the whole dataset resident, batches
#    gathered there) trains exactly as batches assembled by the workers.
# usage: e2e_options.sh TRAIN TEST SOURCE_DIR
# shellcheck source=e2e_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

STOP_LINE="Validation performance didn't improve for 1 epochs. Training stops."

# --- early stopping: "max val_loss" cannot improve after epoch 1 while the
# model learns (val_loss falls every epoch here: 2.10, 1.54, 1.05)
start=$SECONDS
if train stop.log "${BASE_ARGS[@]}" --set "trainer.save_dir=$T/stop" --set data_loader.args.limit=2000 \
  --set "trainer.monitor=max val_loss" --set trainer.early_stop=1 --set trainer.epochs=10 &&
  run=$(run_dir "$T/stop" Mnist_LeNet); then
  pass "early_stop 1: exit 0 ($((SECONDS - start)) s)"
  epochs=$(epochs_logged stop.log)
  [ "$epochs" = "1 2 3" ] && pass "early_stop 1: epochs 1 2 3 of 10 run" || fail "early_stop 1: epochs '$epochs', expected '1 2 3'"
  check "early_stop 1: '$STOP_LINE' on the console" grep -qF "$STOP_LINE" stop.log
  check "early_stop 1: ... and in info.log" grep -qF "$STOP_LINE" "$T"/stop/log/Mnist_LeNet/*/info.log
  [ -s "$run/checkpoint-epoch3.ckpt" ] && [ ! -e "$run/checkpoint-epoch4.ckpt" ] &&
    pass "early_stop 1: checkpoints end at epoch 3" || fail "early_stop 1: the run folder holds $(ls "$run")"
  best=$(ckpt meta "$run/model_best.ckpt" epoch)
  [ "$best" = 1 ] && pass "early_stop 1: model_best is epoch 1" || fail "early_stop 1: model_best is epoch '$best', expected 1"
else
  fail "early_stop 1 run"
fi

if train nostop.log "${BASE_ARGS[@]}" --set "trainer.save_dir=$T/nostop" --set data_loader.args.limit=1000 \
  --set "trainer.monitor=max val_loss" --set trainer.early_stop=0 --set trainer.epochs=4; then
  epochs=$(epochs_logged nostop.log)
  [ "$epochs" = "1 2 3 4" ] && pass "early_stop 0: all 4 epochs run" || fail "early_stop 0: epochs '$epochs', expected '1 2 3 4'"
  check "early_stop 0: no 'Training stops'" bash -c "! grep -q 'Training stops' nostop.log"
else
  fail "early_stop 0 run"
fi

# lr 0: every epoch's val_loss equals epoch 1's, which counts as improved
if train lr0.log "${BASE_ARGS[@]}" --set "trainer.save_dir=$T/lr0" --set data_loader.args.limit=1000 --lr 0 \
  --set trainer.early_stop=1 --set trainer.epochs=3 && run=$(run_dir "$T/lr0" Mnist_LeNet); then
  epochs=$(epochs_logged lr0.log)
  losses=$(awk 'NF >= 3 && $(NF-2) == "val_loss" { printf "%s ", $NF }' lr0.log)
  [ "$epochs" = "1 2 3" ] && pass "lr 0, early_stop 1: ties are improvements, all 3 epochs run (val_loss $losses)" ||
    fail "lr 0, early_stop 1: epochs '$epochs', expected '1 2 3' (val_loss $losses)"
  best=$(ckpt meta "$run/model_best.ckpt" epoch)
  [ "$best" = 3 ] && pass "lr 0: model_best is the last tie, epoch 3" || fail "lr 0: model_best is epoch '$best', expected 3"
  check "lr 0: the weights do not move" ckpt same "$run/checkpoint-epoch1.ckpt" "$run/checkpoint-epoch3.ckpt"
else
  fail "lr 0 run"
fi

# --- on_device: the same batches, so the same weights, bit for bit
if train plain.log "${BASE_ARGS[@]}" --set "trainer.save_dir=$T/plain" --set data_loader.args.limit=1000 \
  --set trainer.epochs=2 && plain_run=$(run_dir "$T/plain" Mnist_LeNet) &&
  train resident.log "${BASE_ARGS[@]}" --set "trainer.save_dir=$T/resident" --set data_loader.args.limit=1000 \
    --set trainer.epochs=2 --set data_loader.args.on_device=true && resident_run=$(run_dir "$T/resident" Mnist_LeNet); then
  check "on_device: weights after 2 epochs equal the worker-assembled run's" \
    ckpt same "$plain_run/checkpoint-epoch2.ckpt" "$resident_run/checkpoint-epoch2.ckpt"
else
  fail "on_device runs"
fi

# --- iteration-based training: 10 batches per epoch, where the loader has 8
# (900 training images), so epoch 1 already wraps around the loader
start=$SECONDS
if train iter.log "${BASE_ARGS[@]}" --set "trainer.save_dir=$T/iter" --set data_loader.args.limit=1000 \
  --set trainer.len_epoch=10 --set trainer.epochs=2 --set trainer.verbosity=2 &&
  run=$(run_dir "$T/iter" Mnist_LeNet); then
  pass "len_epoch 10: exit 0 ($((SECONDS - start)) s)"
  # Adam counts its steps: one per batch
  s1=$(ckpt meta "$run/checkpoint-epoch1.ckpt" optimizer state.0.step)
  s2=$(ckpt meta "$run/checkpoint-epoch2.ckpt" optimizer state.0.step)
  [ "$s1" = 10 ] && [ "$s2" = 20 ] && pass "len_epoch 10: 10 optimizer steps per epoch" ||
    fail "len_epoch 10: optimizer steps after epochs 1, 2: '$s1' '$s2', expected 10 20"
  check "len_epoch 10: progress counts 1280 samples per epoch" grep -qF "Train Epoch: 2 [0/1280 (0%)]" iter.log
else
  fail "len_epoch 10 run"
fi

# --- ReduceLROnPlateau on the monitored metric (min val_loss). In mode
# "max" a falling val_loss is a bad epoch every time: with patience 0 the lr
# halves after epochs 2 and 3, and the scheduler's best stays epoch 1's.
start=$SECONDS
plateau='{"type": "ReduceLROnPlateau", "args": {"mode": "max", "factor": 0.5, "patience": 0}}'
if train plateau.log "${BASE_ARGS[@]}" --set "trainer.save_dir=$T/plateau" --set data_loader.args.limit=1000 \
  --set "lr_scheduler=$plateau" --set trainer.epochs=3 && run=$(run_dir "$T/plateau" Mnist_LeNet); then
  pass "ReduceLROnPlateau: exit 0 ($((SECONDS - start)) s)"
  lrs=""
  for e in 1 2 3; do lrs="$lrs $(ckpt meta "$run/checkpoint-epoch$e.ckpt" optimizer param_groups.0.lr)"; done
  [ "$lrs" = " 0.001 0.0005 0.00025" ] && pass "ReduceLROnPlateau: lr after epochs 1 2 3:$lrs" ||
    fail "ReduceLROnPlateau: lr after epochs 1 2 3:$lrs, expected 0.001 0.0005 0.00025"
  first_val_loss=$(awk 'NF >= 3 && $(NF-2) == "val_loss" { print $NF; exit }' plateau.log)
  sched_best=$(ckpt meta "$run/checkpoint-epoch3.ckpt" lr_scheduler best)
  check "ReduceLROnPlateau: it watched val_loss (best $sched_best, epoch 1 val_loss $first_val_loss)" \
    awk -v a="$sched_best" -v b="$first_val_loss" 'BEGIN { d = a - b; exit !(b > 0 && d * d < 1e-10) }'
else
  fail "ReduceLROnPlateau run"
fi
finish
