#!/usr/bin/env bash
# End-to-end: sequence classification from config, on variable-length
# token sequences the test writes (tests/cli/sequences.py): a batch of
# named fields ("input", "lengths", "target"), the padding collate
# (data_loader.args.collate {"type": "pad"}), and a model whose forward takes
# the batch (SequenceClassifier masks the padding with the lengths).
#  - ./train learns the task and ./test scores the test file.
#  - PyTorch (Debian's python3-torch) trains the same model from the same
#    initial weights on the same padded batches (pad_sequence, lengths):
#    the per-step losses agree within 1e-4.
#  - The padding does not leak into the result: the same run with another
#    padding_value and with num_workers 0 ends with the same checkpoint.
#  - Bad input is one line naming the key, field, file or line.
# usage: e2e_sequence.sh TRAIN TEST SOURCE_DIR
E2E_NO_MNIST=1
# shellcheck source=e2e_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

TORCH_PY=${TORCH_PYTHON:-/usr/bin/python3}
REF="$SRC/tests/ref/sequence_ref.py"
"$PYTHON" "$HERE/sequences.py" "$T/seq" 960 300 5 || exit 1

# write_config FILE SAVE_DIR EXTRA_LOADER_ARGS EXTRA_ARCH: SequenceClassifier on the sequences.
write_config() {
  cat >"$1" <<EOF
{
    "name": "Seq",
    "n_gpu": 0,
    "seed": 3,
    "arch": {"type": "SequenceClassifier",
             "args": {"vocab_size": 50, "embedding_dim": 16, "hidden": 32, "num_classes": 3}$4},
    "data_loader": {"type": "SequenceDataLoader",
                    "args": {"data_dir": "$T/seq", "batch_size": 32, "shuffle": true, "validation_split": 0.1,
                             "num_workers": 2, "collate": {"type": "pad", "args": {"padding_value": 0}}$3}},
    "optimizer": {"type": "Adam", "args": {"lr": 0.01}},
    "loss": "nll_loss",
    "metrics": ["accuracy"],
    "trainer": {"epochs": 4, "save_dir": "$2", "save_period": 4, "verbosity": 1, "monitor": "off",
                "tensorboard": true}
}
EOF
}

# ---- training and testing ----
write_config seq.json "$T/runs" "" ""
if train seq.log -c seq.json && run=$(run_dir "$T/runs" Seq); then
  acc=$(epoch_value seq.log val_accuracy)
  check "./train learns to classify variable-length sequences (val_accuracy $acc >= 0.85)" at_least "$acc" 0.85
  if "$TEST" -r "$run/checkpoint-epoch4.ckpt" >test.log 2>&1; then
    acc=$(sed -n "s/.*'accuracy': \([0-9.]*\).*/\1/p" test.log)
    check "./test scores the test file (accuracy $acc >= 0.85)" at_least "$acc" 0.85
    check "./test reads the test file" grep -q "Test set: $T/seq/test.txt" test.log
  else
    fail "./test: $(tail -n 3 test.log)"
  fi
  check "no input grid is drawn from token ids" test ! -e "$T/runs/log/Seq/$(basename "$run")/input_grid.png"
else
  fail "./train on sequences"
fi

# ---- the padding does not leak: other padding values and worker counts give the same weights ----
final=$run/checkpoint-epoch4.ckpt
write_config pad7.json "$T/pad7" "" ""
if train pad7.log -c pad7.json --set 'data_loader.args.collate={"type": "pad", "args": {"padding_value": {"input": 7}}}' \
  --set data_loader.args.num_workers=0 && other=$(run_dir "$T/pad7" Seq); then
  check "padding_value {\"input\": 7} and num_workers 0 end with the same weights" \
    "$PYTHON" "$HERE/e2e_finetune.py" same "$final" "$other/checkpoint-epoch4.ckpt" \
    embedding.weight fc1.weight fc1.bias fc2.weight fc2.bias
else
  fail "./train with padding_value 7"
fi

# ---- against PyTorch: the same model, weights and padded batches ----
if "$TORCH_PY" "$REF" init init.safetensors 50 16 32 3 11 2>torch.err; then
  write_config ref.json "$T/ref" "" ", \"pretrained\": \"$T/init.safetensors\""
  if train ref.log -c ref.json --set data_loader.args.shuffle=false --set data_loader.args.validation_split=0 \
    --set data_loader.args.limit=320 --set trainer.epochs=1 --set trainer.save_period=1; then
    ours=$("$PYTHON" "$HERE/e2e_events.py" events "$(ls "$T"/ref/log/Seq/*/events.out.tfevents.*)" |
      awk '$1 == "scalar" && $2 == "loss/train" { print $7 }')
    args='{"limit": 320, "batch_size": 32, "lr": 0.01, "padding_value": 0}'
    if "$TORCH_PY" "$REF" train init.safetensors "$T/seq/train.txt" "$args" >torch_losses.json 2>torch.err; then
      check "the per-step losses are PyTorch's within 1e-4" \
        "$PYTHON" "$HERE/e2e_finetune.py" compare "$ours" torch_losses.json 1e-4
    else
      fail "PyTorch training: $(tail -n 5 torch.err)"
    fi
  else
    fail "./train from PyTorch's initial weights"
  fi
else
  echo "SKIP: no python3 with torch ($TORCH_PY): the PyTorch comparison is skipped"
fi

# ---- bad input: one line naming what is wrong ----
expect_train_error "stacking sequences of different lengths asks for the padding collate" \
  'needs padding: data_loader.args.collate {"type": "pad"}' -c seq.json --set 'data_loader.args.collate={"type": "default"}' 
expect_train_error "an unknown collate is named" "unknown collate 'padded'" -c seq.json --set data_loader.args.collate.type=padded
expect_train_error "a padding value for a field that does not vary is refused" \
  "padding_value names 'target', which is not a field of variable length" \
  -c seq.json --set 'data_loader.args.collate={"type": "pad", "args": {"padding_value": {"target": -100}}}'
expect_train_error "a padding value that does not fit int64 tokens is refused" \
  "padding_value 0.5 does not fit field 'input' (int64)" -c seq.json --set data_loader.args.collate.args.padding_value=0.5
mkdir -p bad
printf '1 4 5 6\n2 7 x 9\n' >bad/train.txt
expect_train_error "a token that is not an integer names the file and line" "bad/train.txt:2: 'x' is not a token id" \
  -c seq.json --set "data_loader.args.data_dir=$T/bad"
printf '1 4 5 6\n\n2\n' >bad/train.txt
expect_train_error "a line without tokens names the file and line" "bad/train.txt:3: label 2 has no tokens" \
  -c seq.json --set "data_loader.args.data_dir=$T/bad"
expect_train_error "a sequence above max_length names the line" "tokens, more than max_length (20)" \
  -c seq.json --set data_loader.args.max_length=20
expect_train_error "transforms are refused for token sequences" "transforms" \
  -c seq.json --set 'data_loader.args.transforms={"train": [], "valid": []}'
printf '0 3 2 60\n1 4 4\n' >bad/train.txt
expect_train_error "a token id beyond vocab_size is an error, not a crash" "index 60 is out of bounds" \
  -c seq.json --set "data_loader.args.data_dir=$T/bad" --set data_loader.args.validation_split=0

finish
