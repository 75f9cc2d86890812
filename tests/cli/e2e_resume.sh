#!/usr/bin/env bash
# End-to-end: resume is exact and fine-tuning takes only the weights.
#  - 4 epochs straight and 2 epochs + `./train -r checkpoint-epoch2.ckpt`
#    + 2 more give bit-identical weights and optimizer state, with shuffling
#    by 2 loader workers and MnistModel's dropout (so the loader order and
#    both RNG states must be restored); the same for iteration-based
#    training (trainer.len_epoch), whose epochs end inside the loader's.
#  - `./train -c other.json -r ckpt` starts at epoch 1 with other.json's
#    optimizer, epochs and name, from the checkpoint's weights.
# usage: e2e_resume.sh TRAIN TEST SOURCE_DIR
# shellcheck source=e2e_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

# resume_case LABEL ARGS...: 4 epochs straight vs 2 + resume to 4.
resume_case() {
  local label=$1
  shift
  local args=("${BASE_ARGS[@]}" "$@")
  local straight half resumed
  if ! train "$label-straight.log" "${args[@]}" --set "trainer.save_dir=$T/$label-straight" --set trainer.epochs=4 ||
    ! straight=$(run_dir "$T/$label-straight" Mnist_LeNet) ||
    ! train "$label-half.log" "${args[@]}" --set "trainer.save_dir=$T/$label-half" --set trainer.epochs=2 ||
    ! half=$(run_dir "$T/$label-half" Mnist_LeNet); then
    fail "$label: the runs to compare with"
    return
  fi
  # the resumed run keeps the checkpoint's config; --set applies on top of it
  if ! train "$label-resumed.log" -r "$half/checkpoint-epoch2.ckpt" --set "trainer.save_dir=$T/$label-resumed" \
    --set trainer.epochs=4 || ! resumed=$(run_dir "$T/$label-resumed" Mnist_LeNet); then
    fail "$label: ./train -r checkpoint-epoch2.ckpt"
    return
  fi
  check "$label: the resumed run says so" grep -q "Checkpoint loaded. Resume training from epoch 3" "$label-resumed.log"
  local epochs
  epochs=$(epochs_logged "$label-resumed.log")
  [ "$epochs" = "3 4" ] && pass "$label: the resumed run trains epochs 3 4" ||
    fail "$label: the resumed run logged epochs '$epochs', expected '3 4'"
  [ ! -e "$resumed/checkpoint-epoch1.ckpt" ] && [ -s "$resumed/checkpoint-epoch3.ckpt" ] &&
    pass "$label: the resumed run saves checkpoint-epoch3 and 4 only" || fail "$label: resumed run holds $(ls "$resumed")"
  check "$label: 2 + 2 epochs == 4 epochs, bit for bit (weights and optimizer state)" \
    ckpt same "$straight/checkpoint-epoch4.ckpt" "$resumed/checkpoint-epoch4.ckpt" --with-optimizer
  local a b
  a=$(epoch_value "$label-straight.log" val_loss)
  b=$(epoch_value "$label-resumed.log" val_loss)
  [ -n "$a" ] && [ "$a" = "$b" ] && pass "$label: epoch 4 val_loss the same: $a" || fail "$label: epoch 4 val_loss $a vs $b"
}

start=$SECONDS
resume_case epochs --set data_loader.args.limit=2000
# 1800 training images: 15 loader batches, so epoch 2 ends inside the loader's second epoch
resume_case iterations --set data_loader.args.limit=2000 --set trainer.len_epoch=10
echo "        (resume cases: $((SECONDS - start)) s)"

# fine-tuning: other.json's SGD with lr 0 leaves the weights as they come
# from the checkpoint, which shows that they do
start=$SECONDS
src_ckpt=$(run_dir "$T/epochs-half" Mnist_LeNet)/checkpoint-epoch2.ckpt
cat >other.json <<EOF
{
    "name": "FineTune",
    "arch": {"type": "MnistModel", "args": {}},
    "data_loader": {"type": "MnistDataLoader",
                    "args": {"data_dir": "$DATA", "batch_size": 64, "shuffle": true, "validation_split": 0.1,
                             "num_workers": 2, "limit": 1000}},
    "optimizer": {"type": "SGD", "args": {"lr": 0, "momentum": 0.9}},
    "loss": "nll_loss",
    "metrics": ["accuracy"],
    "trainer": {"epochs": 2, "save_dir": "$T/finetune", "save_period": 1, "verbosity": 1,
                "monitor": "max val_accuracy", "early_stop": 5}
}
EOF
if train finetune.log -c other.json -r "$src_ckpt" && ft=$(run_dir "$T/finetune" FineTune); then
  pass "./train -c other.json -r checkpoint-epoch2.ckpt exit 0 ($((SECONDS - start)) s)"
  check "the log says it fine-tunes" grep -q "Fine-tuning from its weights with the new config" finetune.log
  check "... and does not resume the old run" bash -c "! grep -q 'Resume training' finetune.log"
  epochs=$(epochs_logged finetune.log)
  [ "$epochs" = "1 2" ] && pass "fine-tuning trains epochs 1 2 (other.json's epochs)" ||
    fail "fine-tuning logged epochs '$epochs', expected '1 2'"
  check "fine-tuning starts from the checkpoint's weights (unchanged by lr 0)" \
    ckpt same "$src_ckpt" "$ft/checkpoint-epoch1.ckpt"
  opt=$(ckpt meta "$ft/checkpoint-epoch2.ckpt" optimizer type)
  lr=$(ckpt meta "$ft/checkpoint-epoch2.ckpt" optimizer param_groups.0.lr)
  [ "$opt" = SGD ] && [ "$lr" = 0 ] && pass "the optimizer is other.json's (SGD, lr 0)" ||
    fail "the fine-tuning optimizer is '$opt' with lr '$lr', expected SGD with lr 0"
  check "the run's config.json is other.json's (batch_size 64)" grep -qE '"batch_size":[[:space:]]*64' "$ft/config.json"
else
  fail "./train -c other.json -r checkpoint-epoch2.ckpt"
fi
finish
