#!/usr/bin/env bash
# End-to-end: transfer learning from config (arch.pretrained, arch.exclude,
# arch.freeze, trainer.unfreeze_epoch, optimizer.param_groups), with PyTorch
# as the oracle (Debian's python3-torch; TORCH_PYTHON chooses another).
#  - PyTorch trains MnistModel briefly on Fashion-MNIST (Debian's
#    dataset-fashion-mnist; without it, MNIST with permuted labels) and saves
#    it with utils/safetensors.py; ./train loads it with fc2 excluded and the
#    convs frozen and fine-tunes on an MNIST subset for 20 steps (shuffle
#    off, fc2 in a parameter group of its own lr). The frozen tensors of the
#    final checkpoint are bit-identical to PyTorch's file, and PyTorch's own
#    fine-tuning from the same weights, on the same batches with the same
#    dropout masks (tests/ref/finetune_ref.py), gives the same losses.
#  - trainer.unfreeze_epoch: the frozen tensors change from that epoch on,
#    the optimizer gains a group the scheduler scales, and resuming from a
#    checkpoint before or after that epoch ends bit-identical to a straight
#    run. One of our own checkpoints serves as arch.pretrained there.
#  - The README's PyTorch example runs as written and its file loads.
#  - Bad input is a one-line error naming the file, key or tensor.
# usage: e2e_finetune.sh TRAIN TEST SOURCE_DIR
# shellcheck source=e2e_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

ft() { "$PYTHON" "$HERE/e2e_finetune.py" "$@"; }
TORCH_PY=${TORCH_PYTHON:-/usr/bin/python3}
REF="$SRC/tests/ref/finetune_ref.py"
have_torch=false
if [ -x "$TORCH_PY" ] && "$TORCH_PY" -c "import torch, numpy" 2>/dev/null; then have_torch=true; fi
FASHION=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}

# write_config FILE NAME SAVE_DIR ARCH_EXTRA OPTIMIZER_EXTRA TRAINER_EXTRA: a small MnistModel
# run on the first MNIST images (no validation split); the extras are JSON members.
write_config() {
  cat >"$1" <<EOF
{
    "name": "$2",
    "n_gpu": 0,
    "seed": 7,
    "arch": {"type": "MnistModel", "args": {}$4},
    "data_loader": {"type": "MnistDataLoader",
                    "args": {"data_dir": "$DATA", "batch_size": 32, "shuffle": false, "validation_split": 0,
                             "num_workers": 1, "limit": 640}},
    "optimizer": {"type": "SGD", "args": {"lr": 0.01, "momentum": 0.9}$5},
    "loss": "nll_loss",
    "metrics": ["accuracy"],
    "trainer": {"epochs": 1, "save_dir": "$3", "save_period": 1, "verbosity": 1, "monitor": "off",
                "tensorboard": false$6}
}
EOF
}
CONVS=(conv1.weight conv1.bias conv2.weight conv2.bias)

# ---- the weights to start from ----
start=$SECONDS
pretrained=""
if $have_torch; then
  if [ -f "$FASHION/train-images-idx3-ubyte.gz" ]; then
    src_data=$FASHION
    permute=()
    what="Fashion-MNIST"
  else
    echo "note: $FASHION not found (apt-get install dataset-fashion-mnist): pretraining on MNIST with permuted labels"
    src_data=$DATA/MNIST/raw
    permute=(--permute-labels)
    what="MNIST, labels permuted"
  fi
  if "$TORCH_PY" "$REF" pretrain pre.safetensors "$src_data" "${permute[@]}" >pretrain.log 2>&1; then
    pretrained=$T/pre.safetensors
    pass "PyTorch pretrained MnistModel on $what and saved it with utils/safetensors.py ($((SECONDS - start)) s): $(cat pretrain.log)"
  else
    fail "PyTorch pretraining: $(tail -n 5 pretrain.log)"
  fi
else
  echo "SKIP: PyTorch parts ($TORCH_PY cannot import torch and numpy): pretraining, the README example, the loss comparison"
fi

# ---- the README's example: the first python block of its Fine-tuning section, run as written ----
if $have_torch; then
  mkdir readme && ln -s "$SRC/utils" readme/utils
  awk '/^### Fine-tuning/ { f = 1 } f && /^```python/ { p = 1; next } p && /^```/ { exit } p' "$SRC/README.md" >readme/example.py
  if [ -s readme/example.py ] && (cd readme && "$TORCH_PY" example.py >example.log 2>&1); then
    write_config readme.json Readme "$T/readme-run" ', "pretrained": "readme/pretrained.safetensors"' "" ""
    if train readme.log -c readme.json --set data_loader.args.limit=32; then
      check "the README's PyTorch example runs as written; ./train loads its file" grep -q "loaded (8)" readme.log
    else
      fail "./train with the README example's pretrained.safetensors"
    fi
  else
    fail "the README's PyTorch example (Fine-tuning): $(tail -n 5 readme/example.log 2>/dev/null)"
  fi
fi

# ---- fine-tuning, against PyTorch ----
if [ -n "$pretrained" ]; then
  start=$SECONDS
  arch=", \"pretrained\": \"$pretrained\", \"exclude\": [\"fc2.*\"], \"freeze\": [\"conv1.*\", \"conv2.*\"]"
  groups=', "param_groups": [{"params": ["fc2.*"], "lr": 0.05}]'
  write_config ft.json FineTune "$T/ft" "$arch" "$groups" ""
  sed -i 's/"tensorboard": false/"tensorboard": true/' ft.json
  # the starting weights (the head's initialisation is ours): the same run with every lr 0.
  # The run compared with PyTorch keeps each batch whole (trainer.batch_split 1): the
  # reference draws the dropout masks of one stream, as an unsplit batch does
  if train init.log -c ft.json --set "trainer.save_dir=$T/init" --set optimizer.args.lr=0 \
    --set optimizer.param_groups.0.lr=0 --set data_loader.args.limit=32 &&
    init=$(run_dir "$T/init" FineTune)/checkpoint-epoch1.ckpt &&
    train ft.log -c ft.json --set trainer.batch_split=1 && run=$(run_dir "$T/ft" FineTune); then
    pass "./train fine-tunes from PyTorch's file: 20 steps ($((SECONDS - start)) s)"
    final=$run/checkpoint-epoch1.ckpt
    check "the log lists what was loaded" grep -q "loaded (6): conv1.weight, conv1.bias, conv2.weight, conv2.bias, fc1.weight, fc1.bias" ft.log
    check "... and what kept its initialisation" grep -q "left at their initialisation (2): fc2.weight, fc2.bias" ft.log
    check "the summary counts trainable and frozen parameters" \
      bash -c "grep -q 'Trainable parameters: 16560' ft.log && grep -q 'Frozen parameters: 5280' ft.log"
    check "the frozen convs of the final checkpoint are bit-identical to PyTorch's" \
      ft same "$pretrained" "$final" "${CONVS[@]}"
    check "fc1 (loaded, trainable) has trained" ft differ "$pretrained" "$final" fc1.weight fc1.bias
    check "fc2 is not PyTorch's (excluded)" ft differ "$pretrained" "$init" fc2.weight fc2.bias
    lr0=$(ckpt meta "$final" optimizer param_groups.0.lr)
    lr1=$(ckpt meta "$final" optimizer param_groups.1.lr)
    p0=$(ckpt meta "$final" optimizer param_groups.0.params)
    p1=$(ckpt meta "$final" optimizer param_groups.1.params)
    [ "$lr0" = 0.01 ] && [ "$lr1" = 0.05 ] && [ "$p0" = "[0, 1]" ] && [ "$p1" = "[2, 3]" ] &&
      pass "optimizer state: group 0 (fc1) lr 0.01, group 1 (fc2) lr 0.05, no slot for the frozen convs" ||
      fail "optimizer groups: lr $lr0 $lr1, params $p0 $p1"
    rng=$(ckpt meta "$final" rng_default)
    seed=${rng#[}
    seed=${seed%%,*}
    offset=${rng##*, }
    offset=${offset%]}
    # MnistModel draws 32 x 20 (Dropout2d) and 32 x 50 (dropout) words per step, 4 to a block
    offset=$((offset - 20 * (32 * 20 / 4 + 32 * 50 / 4)))
    args="{\"limit\": 640, \"batch_size\": 32, \"steps\": 20, \"freeze\": [\"conv1.*\", \"conv2.*\"],
           \"lr\": 0.01, \"momentum\": 0.9, \"groups\": [{\"params\": [\"fc2.*\"], \"lr\": 0.05}],
           \"rng\": [$seed, $offset]}"
    ours=$("$PYTHON" "$HERE/e2e_events.py" events "$(ls "$T"/ft/log/FineTune/*/events.out.tfevents.*)" |
      awk '$1 == "scalar" && $2 == "loss/train" { print $7 }')
    if "$TORCH_PY" "$REF" finetune "$init" "$DATA/MNIST/raw" "$args" >torch_losses.json 2>torch.err; then
      check "the per-step losses are PyTorch's within 1e-4" ft compare "$ours" torch_losses.json 1e-4
    else
      fail "PyTorch fine-tuning: $(tail -n 5 torch.err)"
    fi
  else
    fail "./train fine-tuning from $pretrained"
  fi
fi

# ---- unfreezing, with our own checkpoint as arch.pretrained, and resume across it ----
start=$SECONDS
write_config base.json Base "$T/base" "" "" ""
if train base.log -c base.json --set data_loader.args.limit=64 && base=$(run_dir "$T/base" Base)/checkpoint-epoch1.ckpt; then
  arch=", \"pretrained\": \"$base\", \"exclude\": [\"fc2.*\"], \"freeze\": [\"conv*\"]"
  sched=', "param_groups": [{"params": ["fc2.*"], "lr": 0.05}]'
  write_config uf.json Unfreeze "$T/uf" "$arch" "$sched" ', "unfreeze_epoch": 2'
  sed -i 's/"loss": "nll_loss",/"loss": "nll_loss", "lr_scheduler": {"type": "StepLR", "args": {"step_size": 1, "gamma": 0.5}},/' uf.json
  UF=(--set data_loader.args.limit=320 --set trainer.epochs=3 --set data_loader.args.shuffle=true)
  if train uf.log -c uf.json "${UF[@]}" && uf=$(run_dir "$T/uf" Unfreeze); then
    pass "trainer.unfreeze_epoch 2 of 3, from our checkpoint ($((SECONDS - start)) s)"
    check "our checkpoint loads as arch.pretrained (its optimizer tensors ignored)" \
      bash -c "grep -q 'loaded (6): conv1.weight' uf.log && ! grep -q 'skipped.*optimizer' uf.log"
    check "epoch 1: the frozen convs are the checkpoint's" ft same "$base" "$uf/checkpoint-epoch1.ckpt" "${CONVS[@]}"
    check "epoch 2: they have trained" ft differ "$base" "$uf/checkpoint-epoch2.ckpt" "${CONVS[@]}"
    check "the log says so at epoch 2" grep -q "added to the optimizer as parameter group 2: 4 tensors (conv1.weight, conv1.bias, conv2.weight, conv2.bias), lr 0.01" uf.log
    n1=$(ckpt meta "$uf/checkpoint-epoch1.ckpt" optimizer param_groups | grep -o '"params"' | wc -l)
    lr=$(ckpt meta "$uf/checkpoint-epoch2.ckpt" optimizer param_groups.2.lr)
    base_lr=$(ckpt meta "$uf/checkpoint-epoch2.ckpt" optimizer param_groups.2.initial_lr)
    lr0=$(ckpt meta "$uf/checkpoint-epoch2.ckpt" optimizer param_groups.0.lr)
    [ "$n1" = 2 ] && [ "$lr" = 0.005 ] && [ "$base_lr" = 0.01 ] && [ "$lr0" = 0.0025 ] &&
      pass "groups: 2 before, 3 after; StepLR halves the added group from its own lr (0.01 -> 0.005; group 0: 0.0025)" ||
      fail "groups before: $n1; added group lr $lr (initial_lr $base_lr), group 0 lr $lr0"
    for from in 1 2; do
      if train "uf-resume$from.log" -r "$uf/checkpoint-epoch$from.ckpt" --set "trainer.save_dir=$T/uf$from" &&
        r=$(run_dir "$T/uf$from" Unfreeze); then
        check "resumed from epoch $from: bit-identical to the straight run at epoch 3 (weights, optimizer)" \
          ckpt same "$uf/checkpoint-epoch3.ckpt" "$r/checkpoint-epoch3.ckpt" --with-optimizer
      else
        fail "./train -r checkpoint-epoch$from.ckpt"
      fi
    done
    check "resumed from epoch 1: unfreezes at epoch 2" grep -q "Epoch 2: trainer.unfreeze_epoch" uf-resume1.log
    check "resumed from epoch 2: rebuilds the unfrozen groups" grep -q "past trainer.unfreeze_epoch = 2" uf-resume2.log
    # SIGINT once epoch 2 (the unfreezing one) has begun: its checkpoint is inside that epoch, with
    # the added group; resumed, the run ends as the straight one (wherever the signal lands)
    "$TRAIN" -c uf.json "${UF[@]}" --set "trainer.save_dir=$T/ufsig" --set trainer.verbosity=2 >ufsig.log 2>&1 &
    pid=$!
    for _ in $(seq 500); do
      grep -q "Train Epoch: 2 " ufsig.log && break
      sleep 0.01
    done
    kill -INT "$pid" 2>/dev/null
    rc=0
    wait "$pid" || rc=$?
    # the checkpoint it names (inside an epoch, or at an epoch's end when the signal came there)
    stopped=$(sed -n 's/^  \.\/train -r //p' ufsig.log | tail -n 1)
    if [ "$rc" = 130 ] && [ -n "$stopped" ] && [ -f "$stopped" ]; then
      if train uf-resumesig.log -r "$stopped" --set "trainer.save_dir=$T/ufsig2" && r=$(run_dir "$T/ufsig2" Unfreeze); then
        check "interrupted ($(basename "$stopped")), resumed: bit-identical to the straight run" \
          ckpt same "$uf/checkpoint-epoch3.ckpt" "$r/checkpoint-epoch3.ckpt" --with-optimizer
      else
        fail "./train -r $stopped"
      fi
    elif [ "$rc" = 0 ] || grep -q "before training began: nothing saved" ufsig.log; then
      echo "note: SIGINT came when there was nothing to resume (exit $rc)"
    else
      fail "SIGINT during the unfreezing epoch: exit $rc, checkpoint '$stopped': $(tail -n 3 ufsig.log)"
    fi
  else
    fail "./train with trainer.unfreeze_epoch"
  fi
else
  fail "the run whose checkpoint serves as arch.pretrained"
fi

# ---- bad input: one line on stderr, exit 1, no run folder left ----
start=$SECONDS
# bad NAME EXPECTED ARCH_EXTRA OPTIMIZER_EXTRA TRAINER_EXTRA
bad() {
  local name=$1 expected=$2 rc=0
  write_config "bad-$name.json" "Bad_$name" "$T/bad" "$3" "$4" "$5"
  "$TRAIN" -c "bad-$name.json" >"bad-$name.out" 2>"bad-$name.err" || rc=$?
  local lines
  lines=$(wc -l <"bad-$name.err")
  if [ "$rc" = 1 ] && [ "$lines" = 1 ] && grep -qF -- "$expected" "bad-$name.err" && [ ! -e "$T/bad/models/Bad_$name" ]; then
    pass "$name: $(cat "bad-$name.err")"
  else
    fail "$name: exit $rc, $lines line(s) on stderr, expected one with '$expected': $(head -c 600 "bad-$name.err")"
  fi
}
if [ -n "${base:-}" ] && [ -f "$base" ]; then
  ft edit "$base" no_bias.safetensors --drop fc1.bias
  ft edit "$base" narrow.safetensors --rows fc2.weight 5
  ft edit "$base" extra.safetensors --add aux.weight
  bad missing_tensor "no_bias.safetensors has no tensor 'fc1.bias' (the model's is [50]" \
    ', "pretrained": "no_bias.safetensors"' "" ""
  bad misshaped_tensor "narrow.safetensors: 'fc2.weight' has shape [5, 50], the model's has shape [10, 50]" \
    ', "pretrained": "narrow.safetensors"' "" ""
  bad exclude_matches_nothing "arch.exclude.1: 'fc3.*' matches no tensor" \
    ', "pretrained": "extra.safetensors", "exclude": ["fc2.*", "fc3.*"]' "" ""
  bad missing_file "missing.safetensors" ', "pretrained": "missing.safetensors"' "" ""
  # a tensor only the file has is skipped, not an error
  write_config extra.json Extra "$T/extra" ', "pretrained": "extra.safetensors"' "" ""
  if train extra.log -c extra.json --set data_loader.args.limit=32; then
    check "a tensor only the file has is skipped and logged" grep -q "skipped (in the file, not in the model) (1): aux.weight" extra.log
  else
    fail "arch.pretrained with an extra tensor"
  fi
fi
bad exclude_without_pretrained "arch.exclude: only means something with arch.pretrained" ', "exclude": ["fc2.*"]' "" ""
bad freeze_matches_nothing "arch.freeze.1: 'conv9.*' matches no parameter of the model" ', "freeze": ["conv1.*", "conv9.*"]' "" ""
bad freeze_buffer_or_typo "arch.freeze: expected a list of name patterns" ', "freeze": "conv1.*"' "" ""
bad unfreeze_without_freeze "trainer.unfreeze_epoch: there is nothing to unfreeze" "" "" ', "unfreeze_epoch": 2'
bad unfreeze_epoch_zero "trainer.unfreeze_epoch: expected the epoch (>= 1)" ', "freeze": ["conv1.*"]' "" ', "unfreeze_epoch": 0'
bad freeze_everything "the model has no trainable parameters (8, all frozen by arch.freeze)" ', "freeze": ["*"]' "" ""
bad group_matches_nothing "optimizer.param_groups.0.params.0: 'fc9*' matches no parameter of the model" \
  "" ', "param_groups": [{"params": ["fc9*"], "lr": 0.1}]' ""
bad group_overlap "optimizer.param_groups.1.params.0: 'fc*' matches fc1.weight, which optimizer.param_groups.0 already holds" \
  "" ', "param_groups": [{"params": ["fc1.*"]}, {"params": ["fc*"]}]' ""
bad group_unknown_key "optimizer.param_groups.0.lrr: unknown key for a parameter group of SGD (did you mean 'lr'?" \
  "" ', "param_groups": [{"params": ["fc1.*"], "lrr": 0.1}]' ""
bad group_bad_lr "optimizer.param_groups.0.lr: SGD: Invalid learning rate: -1" \
  "" ', "param_groups": [{"params": ["fc1.*"], "lr": -1}]' ""
bad frozen_group_bad_lr "optimizer.param_groups.0.momentum: SGD: Invalid momentum value: -0.5" ', "freeze": ["conv*"]' \
  ', "param_groups": [{"params": ["conv*"], "momentum": -0.5}]' ', "unfreeze_epoch": 5'
bad group_without_params "optimizer.param_groups.0: a group needs \"params\"" "" ', "param_groups": [{"lr": 0.1}]' ""
echo "        (bad input: $((SECONDS - start)) s)"
finish
