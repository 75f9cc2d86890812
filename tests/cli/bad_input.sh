#!/usr/bin/env bash
# Bad input to ./train and ./test. Every case must end with exit status 1 and
# exactly one line on stderr, "error: ...", naming the problem (file, key
# path, value or shape): never a crash, never a sanitizer report, and never a
# changed existing checkpoint (every run is followed by a byte check of the
# checkpoints written earlier).
#
# usage: bad_input.sh TRAIN TEST SOURCE_DIR
# The data is a small fake MNIST written into a temporary folder, so the
# test needs no download and runs in seconds.
set -u
export LC_ALL=C
if [ $# -ne 3 ]; then
  echo "usage: $0 TRAIN TEST SOURCE_DIR" >&2
  exit 2
fi
TRAIN=$(realpath "$1")
TEST=$(realpath "$2")
SRC=$(realpath "$3")
# Sanitizer builds: leaks count, and a report must not pass for our exit status 1.
export ASAN_OPTIONS="detect_leaks=1:exitcode=86${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:exitcode=87${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OPENBLAS_NUM_THREADS=1

T=$(mktemp -d)
trap 'chmod -R u+rwX "$T" 2>/dev/null; rm -rf "$T"' EXIT
ln -s "$SRC/logger" "$T/logger" # the programs read logger/logger_config.json from the working folder

passed=0
failed=0

# ---------------------------------------------------------------- helpers

# Checkpoints that no run may change: path -> sha256 (and the best.ckpt link).
declare -A protected=()
protected_link=""
protect() { protected[$1]=$(sha256sum <"$1"); }
protect_link() { protected_link=$(readlink "$T/saved/models/best.ckpt" 2>/dev/null || true); }

# Prints what changed among the protected files (nothing when all are intact).
changed_protected() {
  local f
  for f in "${!protected[@]}"; do
    if [ ! -f "$f" ]; then echo "$f was removed"
    elif [ "$(sha256sum <"$f")" != "${protected[$f]}" ]; then echo "$f was changed"; fi
  done
  local now
  now=$(readlink "$T/saved/models/best.ckpt" 2>/dev/null || true)
  [ "$now" = "$protected_link" ] || echo "saved/models/best.ckpt now points at '$now', not '$protected_link'"
}

# report WHAT PROBLEM...: one check, passed when no problem is given.
report() {
  local what=$1
  shift
  if [ $# -eq 0 ]; then
    passed=$((passed + 1))
    echo "ok      $what"
    return
  fi
  failed=$((failed + 1))
  echo "FAILED  $what"
  local p
  for p in "$@"; do echo "        - $p"; done
  echo "        stderr was:"
  sed 's/^/        | /' "$T/err" | head -40
}

# run_in_tmp PROG ARGS...: runs in $T with stdout/stderr in $T/out, $T/err; sets rc.
run_in_tmp() {
  rc=0
  (cd "$T" && "$@") >"$T/out" 2>"$T/err" || rc=$?
}

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
  run_in_tmp "$@"
  local -a problems=()
  [ "$rc" -eq 1 ] || problems+=("exit status $rc, expected 1")
  if grep -qE 'Sanitizer|runtime error:|internal error:' "$T/err"; then problems+=("crash or sanitizer report"); fi
  if [ "$(wc -l <"$T/err")" -ne 1 ] || [ "$(head -c 7 "$T/err")" != "error: " ]; then
    problems+=("stderr is not exactly one line starting with 'error: '")
  fi
  local w
  for w in "${want[@]}"; do grep -qF -- "$w" "$T/err" || problems+=("stderr lacks: $w"); done
  local c
  c=$(changed_protected)
  [ -z "$c" ] || problems+=("$c")
  report "$what" "${problems[@]}"
}

# expect_error_line WHAT EXACT_LINE -- PROG ARGS...: expect_fail, then one more
# check that stderr is exactly that line.
expect_error_line() {
  local what=$1 line=$2
  shift 3
  expect_fail "$what" -- "$@"
  if [ "$(cat "$T/err")" = "$line" ]; then report "$what: exact message"
  else report "$what: exact message" "expected: $line"; fi
}

# expect_ok WHAT -- PROG ARGS...: succeeds, no sanitizer report, protected files intact.
expect_ok() {
  local what=$1
  shift 2
  run_in_tmp "$@"
  local -a problems=()
  [ "$rc" -eq 0 ] || problems+=("exit status $rc, expected 0")
  if grep -qE 'Sanitizer|runtime error:' "$T/err"; then problems+=("sanitizer report"); fi
  local c
  c=$(changed_protected | grep -v best.ckpt)
  [ -z "$c" ] || problems+=("$c")
  report "$what" "${problems[@]}"
  protect_link # a successful run may point best.ckpt at its own best model
}

# be32 N / le64 N: printf escapes for a big-endian u32 / little-endian u64.
be32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
le64() {
  local i
  for i in 0 1 2 3 4 5 6 7; do printf '\\x%02x' $(($1 >> (8 * i) & 255)); done
}

# idx_images PATH COUNT [ROWS COLS [TYPE_BYTE]]: an IDX image file of random pixels.
idx_images() {
  local rows=${3:-28} cols=${4:-28} type=${5:-08}
  {
    printf "\\x00\\x00\\x$type\\x03$(be32 "$2")$(be32 "$rows")$(be32 "$cols")"
    head -c $(($2 * rows * cols)) /dev/urandom
  } >"$1"
}
# idx_labels PATH COUNT [MAX_LABEL]: labels 0, 1, ..., MAX_LABEL, 0, 1, ...
idx_labels() {
  local s="" i
  for ((i = 0; i < $2; i++)); do s+=$(printf '\\x%02x' $((i % (${3:-9} + 1)))); done
  printf "\\x00\\x00\\x08\\x01$(be32 "$2")$s" >"$1"
}
# mnist_dir DIR: the MNIST/raw layout with 600 training and 200 test samples.
mnist_dir() {
  mkdir -p "$1/MNIST/raw"
  idx_images "$1/MNIST/raw/train-images-idx3-ubyte" 600
  idx_labels "$1/MNIST/raw/train-labels-idx1-ubyte" 600
  idx_images "$1/MNIST/raw/t10k-images-idx3-ubyte" 200
  idx_labels "$1/MNIST/raw/t10k-labels-idx1-ubyte" 200
}

# safetensors PATH HEADER_JSON [DATA_BYTES]: a file in the safetensors layout.
safetensors() {
  { printf "$(le64 ${#2})"; printf '%s' "$2"; head -c "${3:-0}" /dev/zero; } >"$1"
}

# config_with SED_SCRIPT: $T/config.json = base.json edited (the edit must change it).
config_with() {
  sed "$1" "$T/base.json" >"$T/config.json"
  if [ "$(sha256sum <"$T/base.json")" = "$(sha256sum <"$T/config.json")" ]; then
    echo "test bug: '$1' does not change base.json" >&2
    exit 2
  fi
}

# with_meta SRC DST KEY VALUE: a copy of checkpoint SRC with metadata KEY set
# to VALUE (python3, standard library only).
with_meta() {
  python3 - "$@" <<'PY'
import json, struct, sys
src, dst, key, value = sys.argv[1:5]
data = open(src, "rb").read()
(n,) = struct.unpack("<Q", data[:8])
header = json.loads(data[8:8 + n])
header["__metadata__"][key] = value
h = json.dumps(header).encode()
open(dst, "wb").write(struct.pack("<Q", len(h)) + h + data[8 + n:])
PY
}

# ---------------------------------------------------------------- setup

mnist_dir "$T/data"
mkdir -p "$T/empty"
# One key per line, so sed can change or drop any of them.
cat >"$T/base.json" <<EOF
{
    "name": "BadInput",
    "n_gpu": 0,
    "arch": {
        "type": "MLP",
        "args": {
            "hidden": [32]
        }
    },
    "data_loader": {
        "type": "MnistDataLoader",
        "args": {
            "data_dir": "$T/data",
            "batch_size": 64,
            "shuffle": true,
            "validation_split": 0.1,
            "num_workers": 0,
            "limit": 512
        }
    },
    "optimizer": {
        "type": "Adam",
        "args": {
            "lr": 0.001,
            "weight_decay": 0,
            "amsgrad": true
        }
    },
    "loss": "nll_loss",
    "metrics": [
        "accuracy", "top_k_acc"
    ],
    "lr_scheduler": {
        "type": "StepLR",
        "args": {
            "step_size": 50,
            "gamma": 0.1
        }
    },
    "trainer": {
        "epochs": 1,
        "save_dir": "$T/saved",
        "save_period": 1,
        "verbosity": 2,
        "monitor": "min val_loss",
        "early_stop": 10,
        "tensorboard": false
    }
}
EOF
sed -e 's/"type": "MLP"/"type": "MnistModel"/' -e '/"hidden"/d' "$T/base.json" >"$T/mnistmodel.json"

# One quick epoch of the MLP: the checkpoint the checkpoint cases start from,
# and the files no later run may change.
run_in_tmp "$TRAIN" -c base.json
CK_DIR=$(find "$T/saved/models/BadInput" -mindepth 1 -maxdepth 1 -type d | head -1)
CK="$CK_DIR/checkpoint-epoch1.ckpt"
if [ "$rc" -ne 0 ] || [ ! -f "$CK" ] || [ ! -f "$CK_DIR/model_best.ckpt" ]; then
  echo "FAILED  setup: training the MLP for one epoch (exit status $rc)"
  sed 's/^/        | /' "$T/err" "$T/out" | tail -40
  exit 1
fi
protect "$CK"
protect "$CK_DIR/model_best.ckpt"
protect "$CK_DIR/config.json"
protect_link
echo "setup   trained the MLP for one epoch: $CK"

# ---------------------------------------------------------------- cases

case_missing_config() {
  expect_fail "train: missing config file" "missing.json: cannot open: No such file or directory" -- \
    "$TRAIN" -c missing.json
  expect_fail "test: missing config file for fine-tuning" "missing.json: cannot open" -- \
    "$TEST" -c missing.json -r "$CK"
  expect_fail "train: neither -c nor -r" "Add '-c config.json'" -- "$TRAIN"
  expect_fail "test: no checkpoint" "./test needs a checkpoint: -r" -- "$TEST" -c base.json
}

case_unreadable_config() {
  cp "$T/base.json" "$T/locked.json"
  chmod 000 "$T/locked.json"
  if [ "$(id -u)" -eq 0 ]; then
    echo "SKIP    unreadable config: running as root, where chmod 000 does not stop reads"
  else
    expect_fail "train: unreadable config" "locked.json: cannot open: Permission denied" -- "$TRAIN" -c locked.json
  fi
  chmod 644 "$T/locked.json"
  mkdir -p "$T/config_dir"
  expect_fail "train: config is a folder" "config_dir: cannot read: Is a directory" -- "$TRAIN" -c config_dir
}

case_invalid_json() {
  printf '{\n    "name": "x",\n    "n_gpu": 0,\n    "arch": ,\n    "loss": "nll_loss"\n}\n' >"$T/config.json"
  expect_fail "train: invalid JSON names the line" "config.json: invalid JSON near line 4" -- "$TRAIN" -c config.json
  config_with 's/"metrics": \[/"metrics": [,/'
  expect_fail "train: invalid JSON further down" "config.json: invalid JSON near line 30" -- "$TRAIN" -c config.json
  expect_fail "test: invalid JSON in the fine-tuning config" "config.json: invalid JSON near line 30" -- \
    "$TEST" -c config.json -r "$CK"
  : >"$T/config.json"
  expect_fail "train: empty config file" "config.json: invalid JSON near line 1" -- "$TRAIN" -c config.json
  echo '[1, 2]' >"$T/config.json"
  expect_fail "train: config is not an object" "config.json: expected a JSON object at the top level" -- \
    "$TRAIN" -c config.json
}

case_wrong_type() {
  config_with 's/"lr": 0.001/"lr": "fast"/'
  expect_error_line "train: optimizer.args.lr is a string" \
    'error: config.json: optimizer.args.lr: expected a number, got "fast"' -- "$TRAIN" -c config.json
  config_with 's/"epochs": 1,/"epochs": "10",/'
  expect_fail "train: trainer.epochs is a string" 'config.json: trainer.epochs: expected an integer, got "10"' -- \
    "$TRAIN" -c config.json
  config_with 's/"epochs": 1,/"epochs": 2.5,/'
  expect_fail "train: trainer.epochs is not an integer" "config.json: trainer.epochs: expected an integer, got 2.5" -- \
    "$TRAIN" -c config.json
  config_with 's/"shuffle": true/"shuffle": "yes"/'
  expect_fail "train: shuffle is not a bool" \
    'config.json: data_loader.args.shuffle: expected true or false, got "yes"' -- "$TRAIN" -c config.json
  config_with 's/"data_dir": ".*"/"data_dir": 5/'
  expect_fail "train: data_dir is a number" "config.json: data_loader.args.data_dir: expected a string, got 5" -- \
    "$TRAIN" -c config.json
  config_with 's/"loss": "nll_loss"/"loss": ["nll_loss"]/'
  expect_fail "train: loss is a list" 'config.json: loss: expected a string, got ["nll_loss"]' -- \
    "$TRAIN" -c config.json
  config_with 's/"hidden": \[32\]/"hidden": [32, "wide"]/'
  expect_fail "train: arch.args.hidden holds a string" \
    'config.json: arch.args.hidden.1: expected an integer, got "wide"' -- "$TRAIN" -c config.json
  config_with 's/"hidden": \[32\]/"hidden": [0]/'
  expect_fail "train: arch.args.hidden holds 0" "config.json: arch.args.hidden.0: layer sizes must be positive" -- \
    "$TRAIN" -c config.json
  config_with 's/"verbosity": 2/"verbosity": 7/'
  expect_fail "train: trainer.verbosity out of range" "config.json: trainer.verbosity: expected 0, 1 or 2, got 7" -- \
    "$TRAIN" -c config.json
  config_with 's/"lr": 0.001/"lr": -1/'
  expect_fail "train: negative learning rate" "config.json: optimizer.args: Adam: Invalid learning rate: -1" -- \
    "$TRAIN" -c config.json
  config_with 's/"step_size": 50/"step_size": 0/'
  expect_fail "train: StepLR step_size 0" "config.json: lr_scheduler.args: StepLR: step_size" -- \
    "$TRAIN" -c config.json
  expect_fail "train: a MultiStepLR milestone past int64" \
    "base.json: lr_scheduler.args.milestones.1: expected an integer, got 1e+115" -- \
    "$TRAIN" -c base.json --set 'lr_scheduler={"type": "MultiStepLR", "args": {"milestones": [2, 1e115]}}'
  expect_fail "train: a MultiStepLR milestone of 2.5" \
    "base.json: lr_scheduler.args.milestones.0: expected an integer, got 2.5" -- \
    "$TRAIN" -c base.json --set 'lr_scheduler={"type": "MultiStepLR", "args": {"milestones": [2.5]}}'
  config_with 's/"monitor": "min val_loss"/"monitor": "lowest val_loss"/'
  expect_fail "train: bad trainer.monitor" 'config.json: trainer.monitor: expected "off"' -- "$TRAIN" -c config.json
}

case_missing_key() {
  config_with '/"epochs"/d'
  expect_fail "train: no trainer.epochs" "config.json: trainer.epochs: missing key" -- "$TRAIN" -c config.json
  config_with '/"batch_size"/d'
  expect_fail "train: no data_loader.args.batch_size" "config.json: data_loader.args.batch_size: missing key" -- \
    "$TRAIN" -c config.json
  config_with '/"loss"/d'
  expect_fail "train: no loss" "config.json: loss: missing key" -- "$TRAIN" -c config.json
  config_with '/"type": "Adam"/d'
  expect_fail "train: no optimizer.type" "config.json: optimizer.type: missing key" -- "$TRAIN" -c config.json
  config_with '/"save_dir"/d'
  expect_fail "train: no trainer.save_dir" "config.json: trainer.save_dir: missing key" -- "$TRAIN" -c config.json
  expect_fail "train: trainer.save_dir inside a file" "base.json/saved/models/BadInput: cannot create directory" \
    "Not a directory" -- "$TRAIN" -c base.json --set trainer.save_dir="$T/base.json/saved"
}

case_unknown_names() {
  expect_fail "train: unknown arch" "base.json: arch.type: unknown name 'Resnet'" "MnistModel" "MLP" -- \
    "$TRAIN" -c base.json --set arch.type=Resnet
  expect_fail "train: unknown optimizer" "base.json: optimizer.type: unknown name 'Adamm'" "SGD" "Adam" -- \
    "$TRAIN" -c base.json --set optimizer.type=Adamm
  expect_fail "train: unknown loss" "base.json: loss: unknown name 'mse'" "nll_loss" "cross_entropy" -- \
    "$TRAIN" -c base.json --set loss=mse
  expect_fail "train: unknown metric" "base.json: metrics: unknown name 'f1'" "accuracy" "top_k_acc" -- \
    "$TRAIN" -c base.json --set metrics.1=f1
  expect_fail "train: unknown lr_scheduler" "base.json: lr_scheduler.type: unknown name 'Step'" "StepLR" -- \
    "$TRAIN" -c base.json --set lr_scheduler.type=Step
  expect_fail "train: unknown data_loader" "base.json: data_loader.type: unknown name 'Cifar'" "MnistDataLoader" -- \
    "$TRAIN" -c base.json --set data_loader.type=Cifar
  config_with 's/"n_gpu": 0,/"n_gpu": 0, "cuda": {"tf32": "yes"},/'
  expect_fail "train: cuda.tf32 not a boolean" "config.json: cuda.tf32: expected true or false" -- \
    "$TRAIN" -c config.json
  config_with 's/"n_gpu": 0,/"n_gpu": 0, "cuda": {"tf33": true},/'
  expect_fail "train: unknown key in cuda" "config.json: cuda.tf33: unknown key" "tf32" "deterministic" -- \
    "$TRAIN" -c config.json
  config_with 's/"batch_size": [0-9]*,/&  "on_device": 1,/'
  expect_fail "train: on_device not a boolean" "config.json: data_loader.args.on_device: expected true or false" -- \
    "$TRAIN" -c config.json
  expect_fail "test: unknown metric" "metrics: unknown name 'f1'" "accuracy" -- \
    "$TEST" -r "$CK" --set metrics.0=f1
  expect_fail "test: unknown loss" "loss: unknown name 'mse'" "nll_loss" -- "$TEST" -r "$CK" --set loss=mse
}

case_unknown_args() {
  config_with 's/"amsgrad": true/"amsgrad": true, "momentum": 0.9/'
  expect_fail "train: unknown key in optimizer.args" \
    "config.json: optimizer.args.momentum: unknown key for Adam (accepted: lr, betas, eps" -- "$TRAIN" -c config.json
  config_with 's/"gamma": 0.1/"gamma": 0.1, "step": 3/'
  expect_fail "train: unknown key in lr_scheduler.args" "config.json: lr_scheduler.args.step: unknown key for StepLR" -- \
    "$TRAIN" -c config.json
  config_with 's/"shuffle": true/"shufle": true/'
  expect_fail "train: unknown key in data_loader.args" \
    "config.json: data_loader.args.shufle: unknown key for MnistDataLoader" -- "$TRAIN" -c config.json
  config_with 's/"hidden": \[32\]/"hiden": [32]/'
  expect_fail "train: unknown key in arch.args" "config.json: arch.args.hiden: unknown key for MLP" -- \
    "$TRAIN" -c config.json
  expect_fail "train: an MLP argument for MnistModel" "mnistmodel.json: arch.args.hidden: unknown key for MnistModel" -- \
    "$TRAIN" -c mnistmodel.json --set arch.args.hidden='[8]'
}

case_batch_size() {
  expect_fail "train: batch_size 0" "data_loader.args.batch_size: batch_size must be a positive integer, got 0" -- \
    "$TRAIN" -c base.json --set data_loader.args.batch_size=0
  expect_fail "train: batch_size -3" "data_loader.args.batch_size: batch_size must be a positive integer, got -3" -- \
    "$TRAIN" -c base.json --bs -3
  expect_fail "train: batch_size 1.5" "data_loader.args.batch_size: expected an integer, got 1.5" -- \
    "$TRAIN" -c base.json --set data_loader.args.batch_size=1.5
  config_with 's/"batch_size": 64/"batch_size": "64"/'
  expect_fail "train: batch_size a string" 'config.json: data_loader.args.batch_size: expected an integer, got "64"' -- \
    "$TRAIN" -c config.json
  expect_fail "train: --bs not a number" 'data_loader.args.batch_size: expected a number for --set, got "many"' -- \
    "$TRAIN" -c base.json --bs many
  # larger than the dataset (and than memory): one batch of every sample, as in PyTorch
  expect_ok "train: batch_size 10^12 trains on one batch" -- "$TRAIN" -c base.json --bs 1000000000000
}

case_validation_split() {
  expect_fail "train: validation_split -0.1" "validation_split" "-0.1" -- \
    "$TRAIN" -c base.json --set data_loader.args.validation_split=-0.1
  expect_fail "train: validation_split 1.5 (neither a fraction nor a count)" "validation_split" "1.5" -- \
    "$TRAIN" -c base.json --set data_loader.args.validation_split=1.5
  expect_fail "train: validation count = dataset size" "validation_split" "(512)" "512 samples" -- \
    "$TRAIN" -c base.json --set data_loader.args.validation_split=512
  expect_fail "train: validation count > dataset size" "validation_split" "(100000)" "512 samples" -- \
    "$TRAIN" -c base.json --set data_loader.args.validation_split=100000
  expect_fail "train: validation_split a string" 'data_loader.args.validation_split: expected a number, got "10%"' -- \
    "$TRAIN" -c base.json --set data_loader.args='{"data_dir": "data", "batch_size": 8, "validation_split": "10%"}'
}

case_mnist_missing() {
  expect_fail "train: MNIST missing" "MNIST not found" "empty/MNIST/raw/train-images-idx3-ubyte" "fetch_mnist.sh" -- \
    "$TRAIN" -c base.json --set data_loader.args.data_dir="$T/empty"
  expect_fail "test: MNIST missing" "MNIST not found" "empty/MNIST/raw/t10k-images-idx3-ubyte" "fetch_mnist.sh" -- \
    "$TEST" -r "$CK" --set data_loader.args.data_dir="$T/empty"
  mkdir -p "$T/nolabels/MNIST/raw"
  cp "$T/data/MNIST/raw/train-images-idx3-ubyte" "$T/nolabels/MNIST/raw/"
  expect_fail "train: only the labels file missing" "MNIST not found" "train-labels-idx1-ubyte is missing" -- \
    "$TRAIN" -c base.json --set data_loader.args.data_dir="$T/nolabels"
}

# bad_mnist NAME: a copy of the fake MNIST in $T/NAME to damage; prints its raw folder.
bad_mnist() {
  rm -rf "${T:?}/$1"
  mkdir -p "$T/$1"
  cp -r "$T/data/MNIST" "$T/$1/"
  echo "$T/$1/MNIST/raw"
}

case_idx_truncated() {
  local raw
  raw=$(bad_mnist trunc_data)
  head -c 100000 "$T/data/MNIST/raw/train-images-idx3-ubyte" >"$raw/train-images-idx3-ubyte"
  expect_fail "train: truncated image file" "train-images-idx3-ubyte: truncated IDX file: shape [600, 28, 28]" -- \
    "$TRAIN" -c base.json --set data_loader.args.data_dir="$T/trunc_data"
  raw=$(bad_mnist trunc_header)
  head -c 10 "$T/data/MNIST/raw/train-images-idx3-ubyte" >"$raw/train-images-idx3-ubyte"
  expect_fail "train: truncated IDX header" "train-images-idx3-ubyte: truncated IDX header" -- \
    "$TRAIN" -c base.json --set data_loader.args.data_dir="$T/trunc_header"
  raw=$(bad_mnist empty_file)
  : >"$raw/train-images-idx3-ubyte"
  expect_fail "train: empty image file" "train-images-idx3-ubyte: truncated IDX file (no 4-byte magic number)" -- \
    "$TRAIN" -c base.json --set data_loader.args.data_dir="$T/empty_file"
  raw=$(bad_mnist trunc_labels)
  head -c 100 "$T/data/MNIST/raw/t10k-labels-idx1-ubyte" >"$raw/t10k-labels-idx1-ubyte"
  expect_fail "test: truncated label file" "t10k-labels-idx1-ubyte: truncated IDX file" -- \
    "$TEST" -r "$CK" --set data_loader.args.data_dir="$T/trunc_labels"
  raw=$(bad_mnist trunc_gz)
  gzip -c "$T/data/MNIST/raw/train-images-idx3-ubyte" | head -c 50000 >"$raw/train-images-idx3-ubyte.gz"
  rm "$raw/train-images-idx3-ubyte"
  expect_fail "train: truncated .gz image file" "train-images-idx3-ubyte.gz: truncated IDX file" -- \
    "$TRAIN" -c base.json --set data_loader.args.data_dir="$T/trunc_gz"
  raw=$(bad_mnist extra_data)
  echo "more" >>"$raw/train-labels-idx1-ubyte"
  expect_fail "train: trailing bytes after the data" "train-labels-idx1-ubyte: trailing data" -- \
    "$TRAIN" -c base.json --set data_loader.args.data_dir="$T/extra_data"
}

case_idx_bad_header() {
  local raw
  raw=$(bad_mnist magic)
  idx_images "$raw/train-images-idx3-ubyte" 600 28 28 0d
  expect_fail "train: wrong IDX magic (type byte)" "train-images-idx3-ubyte: not an IDX file of unsigned bytes" \
    "magic 00 00 0d 03" -- "$TRAIN" -c base.json --set data_loader.args.data_dir="$T/magic"
  raw=$(bad_mnist text)
  echo "this is not an IDX file" >"$raw/train-images-idx3-ubyte"
  expect_fail "train: a text file as IDX" "train-images-idx3-ubyte: not an IDX file of unsigned bytes" -- \
    "$TRAIN" -c base.json --set data_loader.args.data_dir="$T/text"
  raw=$(bad_mnist swapped)
  cp "$T/data/MNIST/raw/train-images-idx3-ubyte" "$raw/train-labels-idx1-ubyte"
  expect_fail "train: images where the labels belong" "train-labels-idx1-ubyte: expected an IDX file with 1 dims" -- \
    "$TRAIN" -c base.json --set data_loader.args.data_dir="$T/swapped"
  raw=$(bad_mnist huge)
  printf "\\x00\\x00\\x08\\x03$(be32 4294967295)$(be32 4294967295)$(be32 28)" >"$raw/train-images-idx3-ubyte"
  expect_fail "train: IDX header with absurd sizes" "train-images-idx3-ubyte: damaged IDX header" -- \
    "$TRAIN" -c base.json --set data_loader.args.data_dir="$T/huge"
  raw=$(bad_mnist big)
  printf "\\x00\\x00\\x08\\x03$(be32 2000000)$(be32 28)$(be32 28)" >"$raw/train-images-idx3-ubyte"
  head -c 1000 /dev/zero >>"$raw/train-images-idx3-ubyte"
  expect_fail "train: IDX header announcing 1.5 GB in a 1 kB file" \
    "train-images-idx3-ubyte: truncated IDX file: shape [2000000, 28, 28]" -- \
    "$TRAIN" -c base.json --set data_loader.args.data_dir="$T/big"
  raw=$(bad_mnist small_images)
  idx_images "$raw/train-images-idx3-ubyte" 600 20 20
  expect_fail "train: 20x20 images" "images are not 28x28" "[600, 20, 20]" -- \
    "$TRAIN" -c base.json --set data_loader.args.data_dir="$T/small_images"
  raw=$(bad_mnist counts)
  idx_labels "$raw/train-labels-idx1-ubyte" 599
  expect_fail "train: image and label counts differ" "image and label counts differ" "[600, 28, 28]" "[599]" -- \
    "$TRAIN" -c base.json --set data_loader.args.data_dir="$T/counts"
  raw=$(bad_mnist no_samples)
  idx_images "$raw/train-images-idx3-ubyte" 0
  idx_labels "$raw/train-labels-idx1-ubyte" 0
  expect_fail "train: IDX files with no samples" "train-images-idx3-ubyte" "the files hold no samples" -- \
    "$TRAIN" -c base.json --set data_loader.args.data_dir="$T/no_samples"
  raw=$(bad_mnist labels)
  idx_labels "$raw/t10k-labels-idx1-ubyte" 200 12
  expect_fail "test: a label outside 0..9" "t10k-labels-idx1-ubyte: a label is outside 0..9" -- \
    "$TEST" -r "$CK" --set data_loader.args.data_dir="$T/labels"
}

case_checkpoint_truncated() {
  head -c 5000 "$CK" >"$T/trunc.ckpt"
  expect_fail "test: checkpoint cut in its data" "trunc.ckpt: tensor 'layers.0.weight'" "truncated file?" -- \
    "$TEST" -r trunc.ckpt
  expect_fail "train: resume from a checkpoint cut in its data" "trunc.ckpt:" "truncated file?" -- \
    "$TRAIN" -r trunc.ckpt
  head -c 100 "$CK" >"$T/trunc_header.ckpt"
  expect_fail "test: checkpoint cut in its header" "trunc_header.ckpt: header length" "(truncated?)" -- \
    "$TEST" -r trunc_header.ckpt
  head -c 5 "$CK" >"$T/trunc5.ckpt"
  expect_fail "train: 5-byte checkpoint" "trunc5.ckpt: not a safetensors file (5 bytes" -- "$TRAIN" -r trunc5.ckpt
}

case_checkpoint_not_safetensors() {
  head -c 65536 /dev/urandom >"$T/random.ckpt"
  expect_fail "test: random bytes" "random.ckpt: not a safetensors file" -- "$TEST" -r random.ckpt
  expect_fail "train: resume from random bytes" "random.ckpt: not a safetensors file" -- "$TRAIN" -r random.ckpt
  printf 'epoch: 3\nweights: none\n' >"$T/text.ckpt"
  expect_fail "test: a text file" "text.ckpt: not a safetensors file" -- "$TEST" -r text.ckpt
  expect_fail "test: an executable" "not a safetensors file" -- "$TEST" -r "$TRAIN"
  : >"$T/empty.ckpt"
  expect_fail "train: an empty file" "empty.ckpt: not a safetensors file (0 bytes" -- "$TRAIN" -r empty.ckpt
  safetensors "$T/badjson.ckpt" '{"w": {"dtype": "F32", '
  expect_fail "test: header that is not JSON" "badjson.ckpt: header is not valid JSON" -- "$TEST" -r badjson.ckpt
}

case_checkpoint_foreign() {
  safetensors "$T/plain.safetensors" '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' 8
  expect_fail "test: safetensors without our metadata" \
    "plain.safetensors: a safetensors file, but not a checkpoint of this framework (metadata 'format' is missing)" -- \
    "$TEST" -r plain.safetensors
  safetensors "$T/pt.safetensors" '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' 8
  expect_fail "train: a PyTorch safetensors file" "pt.safetensors: a safetensors file, but not a checkpoint" "'pt'" -- \
    "$TRAIN" -r pt.safetensors
  local meta='"format":"ctorch-template checkpoint v1","arch":"MLP","rng_default":"[1, 2]"'
  safetensors "$T/badconfig.ckpt" "{\"__metadata__\":{$meta,\"epoch\":\"1\",\"config\":\"{\\\"name\\\": \"}}"
  expect_fail "test: checkpoint whose embedded config is broken" "badconfig.ckpt (embedded config): invalid JSON" -- \
    "$TEST" -r badconfig.ckpt
  safetensors "$T/badepoch.ckpt" "{\"__metadata__\":{$meta,\"config\":\"{}\",\"epoch\":\"-4\"}}"
  expect_fail "train: checkpoint with a negative epoch" "badepoch.ckpt: checkpoint metadata is damaged" -- \
    "$TRAIN" -r badepoch.ckpt
  safetensors "$T/noweights.ckpt" "{\"__metadata__\":{$meta,\"epoch\":\"1\",\"config\":\"{}\"}}"
  expect_fail "test: our checkpoint with an empty config" "noweights.ckpt (embedded config): data_loader.type: missing key" -- \
    "$TEST" -r noweights.ckpt
}

case_checkpoint_other_arch() {
  expect_fail "train: MLP checkpoint resumed as MnistModel" \
    "checkpoint-epoch1.ckpt: the checkpoint's weights (arch MLP) do not fit the model (MnistModel)" \
    'Missing key(s) in state_dict: "conv1.weight"' 'Unexpected key(s) in state_dict: "layers.0.weight"' -- \
    "$TRAIN" -c mnistmodel.json -r "$CK"
  expect_fail "test: MLP checkpoint tested as MnistModel" "do not fit the model (MnistModel)" "Missing key(s)" -- \
    "$TEST" -c mnistmodel.json -r "$CK"
  expect_fail "test: MLP checkpoint with its arch changed by --set" "do not fit the model (MnistModel)" -- \
    "$TEST" -r "$CK" --set arch.type=MnistModel --set arch.args='{}'
  expect_fail "train: MLP checkpoint resumed with other layer sizes" "do not fit the model (MLP)" \
    "size mismatch for layers.0.weight: copying a param with shape [32, 784] from checkpoint" -- \
    "$TRAIN" -r "$CK" --set arch.args.hidden='[16]'
}

case_checkpoint_missing() {
  expect_fail "train: -r to a missing file" "missing.ckpt: cannot open: No such file or directory" -- \
    "$TRAIN" -r missing.ckpt
  expect_fail "test: -r to a missing file" "missing.ckpt: cannot open: No such file or directory" -- \
    "$TEST" -r missing.ckpt
  expect_fail "test: -r to a folder" "Is a directory" -- "$TEST" -r "$CK_DIR"
}

case_set() {
  expect_fail "train: --set with a bad value type" 'base.json: trainer.epochs: expected a number for --set, got "abc"' -- \
    "$TRAIN" -c base.json --set trainer.epochs=abc
  expect_fail "train: --set on a missing parent" "base.json: --set nothere.deep: no object at nothere" -- \
    "$TRAIN" -c base.json --set nothere.deep=1
  expect_fail "train: --set under a number" "--set trainer.epochs.x: no object at trainer.epochs" -- \
    "$TRAIN" -c base.json --set trainer.epochs.x=1
  expect_fail "train: --set without =" "--set expects KEY.PATH=VALUE, got trainer.epochs" -- \
    "$TRAIN" -c base.json --set trainer.epochs
  expect_fail "train: --set at the end" "--set expects KEY.PATH=VALUE, got nothing" -- "$TRAIN" -c base.json --set
  expect_fail "train: --set a bool to maybe" 'trainer.tensorboard: expected true or false for --set, got "maybe"' -- \
    "$TRAIN" -c base.json --set trainer.tensorboard=maybe
  expect_fail "train: --set past the end of a list" "--set metrics.7: no element 7" -- \
    "$TRAIN" -c base.json --set metrics.7=accuracy
  expect_fail "train: --set an integer key to 2.5" "base.json: trainer.epochs: expected an integer, got 2.5" -- \
    "$TRAIN" -c base.json --set trainer.epochs=2.5
  expect_fail "train: --lr not a number" 'optimizer.args.lr: expected a number for --set, got "fast"' -- \
    "$TRAIN" -c base.json --lr fast
  expect_fail "test: --set with a bad value type" 'n_gpu: expected a number for --set, got "two"' -- \
    "$TEST" -r "$CK" --set n_gpu=two
}

case_command_line() {
  expect_fail "train: unknown option" "unrecognized argument: --bogus" -- "$TRAIN" -c base.json --bogus
  expect_fail "train: unknown short option" "unrecognized argument: -x" -- "$TRAIN" -c base.json -x 3
  expect_fail "train: config without -c" "unrecognized argument: base.json" -- "$TRAIN" base.json
  expect_fail "train: -c without a value" "-c expects a value" -- "$TRAIN" -c
  expect_fail "test: -r without a value" "-r expects a value" -- "$TEST" -r
  expect_fail "test: --lr is a train option" "unrecognized argument: --lr" -- "$TEST" -r "$CK" --lr 0.1
  local prog opt
  for prog in "$TRAIN" "$TEST"; do
    for opt in -h --help; do
      run_in_tmp "$prog" -c missing.json "$opt"
      local -a problems=()
      [ "$rc" -eq 0 ] || problems+=("exit status $rc, expected 0")
      grep -q "^usage: " "$T/out" || problems+=("no usage line on stdout")
      grep -q -- "--set KEY.PATH=VALUE" "$T/out" || problems+=("usage does not mention --set")
      [ ! -s "$T/err" ] || problems+=("stderr is not empty")
      report "$(basename "$prog") $opt: usage, exit status 0" "${problems[@]}"
    done
  done
}

case_divergence() {
  local before after
  before=$(ls "$T/saved/models/BadInput" "$T/saved/log/BadInput" 2>/dev/null)
  expect_fail "train: diverging learning rate" "base.json: epoch 1: the training loss is nan" "optimizer.args.lr" -- \
    "$TRAIN" -c base.json --lr 1e30
  after=$(ls "$T/saved/models/BadInput" "$T/saved/log/BadInput" 2>/dev/null)
  if [ "$before" != "$after" ]; then
    report "train: a run that diverges in its first epoch leaves no run folder" \
      "run folders before: $(echo $before)" "after: $(echo $after)"
  else
    report "train: a run that diverges in its first epoch leaves no run folder"
  fi
  # training started from the checkpoint (epoch 2), then failed: the checkpoint stays as it was
  expect_fail "train: resumed run that diverges in epoch 2" "epoch 2: the training loss is nan" -- \
    "$TRAIN" -r "$CK" --set trainer.epochs=2 --set optimizer.type=SGD --set optimizer.args='{"lr": 1e30}'
}

# Existing run folders named like the next runs' ids (MMDD_HHMMSS of the next
# seconds), each with checkpoints: failing runs and a successful one must
# leave every byte of them as it was.

# Numbers out of range and hostile sizes: in configs, on the command line,
# in checkpoints' metadata.
case_hostile_numbers() {
  expect_fail "train: ResNet18 with 8006399337547549 input channels" "arch" "8006399337547549" -- \
    "$TRAIN" -c base.json --set arch.type=ResNet18 --set 'arch.args={"in_channels":8006399337547549}'
  with_meta "$CK" "$T/hugearch.ckpt" config "$(sed -e 's/"type": "MLP"/"type": "ResNet18"/' \
    -e 's/"hidden": \[32\]/"in_channels": 8006399337547549/' "$T/base.json")"
  expect_fail "test: a checkpoint whose config asks for 8006399337547549 input channels" "8006399337547549" -- \
    "$TEST" -r hugearch.ckpt
  local v
  for v in 9223372036854775807 abc -1 1.5 " 3" 1125899906842625; do
    with_meta "$CK" "$T/epoch.ckpt" epoch "$v"
    expect_fail "train: checkpoint with epoch \"$v\"" "epoch.ckpt: checkpoint metadata is damaged: 'epoch'" -- \
      "$TRAIN" -r epoch.ckpt
  done
  with_meta "$CK" "$T/count.ckpt" not_improved_count 5
  expect_fail "train: checkpoint with not_improved_count above its epoch" \
    "count.ckpt: checkpoint metadata is damaged: 'not_improved_count'" -- "$TRAIN" -r count.ckpt
  for v in "[-1, 2]" "[1]" "[1, 2, 3]" "[18446744073709551616, 1]" "[1, 2] x"; do
    with_meta "$CK" "$T/rng.ckpt" rng_default "$v"
    expect_fail "train: checkpoint with rng_default $v" "rng.ckpt: checkpoint metadata is damaged: 'rng_default'" -- \
      "$TRAIN" -r rng.ckpt
  done
  with_meta "$CK" "$T/loader.ckpt" loader_epoch "[1, 2, -3]"
  expect_fail "train: checkpoint with a negative loader position" \
    "loader.ckpt: checkpoint metadata is damaged: 'loader_epoch'" -- "$TRAIN" -r loader.ckpt
  with_meta "$CK" "$T/progress.ckpt" epoch_progress '{"epoch": 2, "batch": -1, "totals": {}}'
  expect_fail "train: checkpoint with a negative batch in its epoch progress" \
    "progress.ckpt: checkpoint metadata is damaged: 'epoch_progress'" -- "$TRAIN" -r progress.ckpt
  with_meta "$CK" "$T/monitor.ckpt" monitor_best "fast"
  expect_fail "train: checkpoint with monitor_best \"fast\"" "monitor.ckpt: checkpoint metadata is damaged: 'monitor_best'" -- \
    "$TRAIN" -r monitor.ckpt

  expect_fail "train: --set eps=1e999 inside a JSON value" "base.json: optimizer.args.eps: not a finite number" -- \
    "$TRAIN" -c base.json --set 'optimizer.args={"lr":0.001,"eps":1e999}'
  expect_fail "train: --lr inf" "base.json: optimizer.args.lr: not a finite number" -- "$TRAIN" -c base.json --lr inf
  expect_fail "train: --lr nan" "base.json: optimizer.args.lr: not a finite number" -- "$TRAIN" -c base.json --lr nan
  config_with 's/"lr": 0.001/"lr": 1e999/'
  expect_fail "train: lr 1e999 in the config file" "config.json: optimizer.args.lr: not a finite number" -- \
    "$TRAIN" -c config.json
  expect_fail "train: 9e15 epochs" "base.json: trainer.epochs (9000000000000000) times 8 batches per epoch is more steps" -- \
    "$TRAIN" -c base.json --set trainer.epochs=9000000000000000
  expect_fail "train: early_stop -1" "base.json: trainer.early_stop: must be 0 (never) or a number of epochs, got -1" -- \
    "$TRAIN" -c base.json --set trainer.early_stop=-1
  expect_fail "train: len_epoch -1" "base.json: trainer.len_epoch: expected 0 (epoch-based) or a number of batches" -- \
    "$TRAIN" -c base.json --set trainer.len_epoch=-1
  expect_fail "train: n_gpu -1" "base.json: n_gpu: expected 0 (CPU) or a number of GPUs, got -1" -- \
    "$TRAIN" -c base.json --set n_gpu=-1
  expect_fail "test: n_gpu -1" "n_gpu: expected 0 (CPU) or a number of GPUs, got -1" -- "$TEST" -r "$CK" --set n_gpu=-1
  expect_fail "train: empty save_dir" "base.json: trainer.save_dir: must name a folder for the runs" -- \
    "$TRAIN" -c base.json --set trainer.save_dir=
  expect_fail "train: save_dir is the root" "base.json: trainer.save_dir: must name a folder for the runs" -- \
    "$TRAIN" -c base.json --set trainer.save_dir=//
  expect_fail "train: a run name that leaves save_dir" "base.json: name: must be a folder name" -- \
    "$TRAIN" -c base.json --set name=..
}

# Every key a user writes is used or refused.
case_resume_adds_scheduler() {
  # the checkpoint's optimizer state has no initial_lr (StepLR sets it, but
  # check the front door: a run resumed with OneCycleLR added must not train with lr nan)
  expect_ok "train: resume adding OneCycleLR to a run" -- "$TRAIN" -r "$CK" --set trainer.epochs=2 \
    --set 'lr_scheduler={"type": "OneCycleLR", "args": {"max_lr": 0.01}}' --set "trainer.save_dir=$T/onecycle"
}

case_strict_keys() {
  expect_fail "train: a typo in trainer" "base.json: trainer.epochz: unknown key (did you mean 'epochs'?" -- \
    "$TRAIN" -c base.json --set trainer.epochz=1
  expect_fail "test: a typo in trainer" "trainer.epochz: unknown key (did you mean 'epochs'?" -- \
    "$TEST" -r "$CK" --set trainer.epochz=1
  expect_fail "train: an unknown top-level key" "base.json: optimiser: unknown key (did you mean 'optimizer'?" -- \
    "$TRAIN" -c base.json --set 'optimiser={"type": "SGD"}'
  config_with 's/"name": "BadInput",/"name": "BadInput", "comment": "x",/'
  expect_fail "train: an unknown top-level key in the file" "config.json: comment: unknown key (known keys at the top level:" -- \
    "$TRAIN" -c config.json
  config_with 's/"epochs": 1,/"epochs": 1, "epochs": 100,/'
  expect_fail "train: a key written twice" "config.json: trainer.epochs: duplicate key" -- "$TRAIN" -c config.json
  expect_fail "train: a duplicate key inside a --set value" "base.json: optimizer.args.lr: duplicate key" -- \
    "$TRAIN" -c base.json --set 'optimizer.args={"lr": 0.1, "lr": 0.2}'
  expect_fail "train: --set with an empty key part" "base.json: --set .name: a key path is names joined by single dots" -- \
    "$TRAIN" -c base.json --set .name=b
  expect_fail "train: --set JSON with trailing text" 'base.json: metrics: expected JSON for --set, got "["accuracy"]]"' -- \
    "$TRAIN" -c base.json --set 'metrics=["accuracy"]]'
  expect_fail "train: a typo in an argument" "base.json: optimizer.args.betas1: unknown key for Adam (did you mean 'betas'?" -- \
    "$TRAIN" -c base.json --set optimizer.args.betas1=0.9
  expect_fail "train: trainer is not an object" "base.json: trainer: expected an object, got 5" -- \
    "$TRAIN" -c base.json --set trainer=5
  local nine='["accuracy","accuracy","accuracy","accuracy","accuracy","accuracy","accuracy","accuracy","accuracy"]'
  expect_fail "train: nine metrics" "metrics: expected a list of at most 8 metric names" -- \
    "$TRAIN" -c base.json --set "metrics=$nine"
  expect_fail "test: nine metrics, as ./train" "metrics: expected a list of at most 8 metric names" -- \
    "$TEST" -r "$CK" --set "metrics=$nine"
  expect_fail "test: a metric listed twice" "metrics.1: 'accuracy' is listed twice" -- \
    "$TEST" -r "$CK" --set 'metrics=["accuracy","accuracy"]'
  # a config larger than a checkpoint can hold: refused before training
  python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); c["data_loader"]["args"]["data_dir"] = "x" * (17 << 20); json.dump(c, open(sys.argv[2], "w"))' \
    "$T/base.json" "$T/huge.json"
  expect_fail "train: a 17 MiB config" "huge.json: the config is 17.0 MiB as JSON; at most 16 MiB fits into a checkpoint" -- \
    "$TRAIN" -c huge.json
  rm -f "$T/huge.json"
}

# Where files go: best.ckpt in save_dir's own models/ folder; a file-size
# limit is a write error, and leaves no temporary file.
case_files() {
  mkdir -p "$T/x/models"
  echo "a user's own file" >"$T/x/models/best.ckpt"
  protect "$T/x/models/best.ckpt"
  expect_ok "train: save_dir inside a folder named models" -- "$TRAIN" -c base.json --set "trainer.save_dir=$T/x/models/exp"
  if [ -L "$T/x/models/exp/models/best.ckpt" ] && [ -f "$T/x/models/exp/models/best.ckpt" ]; then
    report "train: best.ckpt is linked in <save_dir>/models"
  else
    report "train: best.ckpt is linked in <save_dir>/models" "no link at $T/x/models/exp/models/best.ckpt"
  fi
  run_in_tmp bash -c "ulimit -f 300; exec '$TRAIN' -c base.json --set 'trainer.save_dir=$T/limited'"
  local -a problems=()
  [ "$rc" -eq 1 ] || problems+=("exit status $rc, expected 1")
  grep -q "^error: .*checkpoint-epoch1.ckpt: write failed: File too large" "$T/err" || problems+=("no write error on stderr")
  [ -z "$(find "$T/limited" -name '*.tmp.*')" ] || problems+=("temporary files left: $(find "$T/limited" -name '*.tmp.*')")
  report "train: a file-size limit (ulimit -f) is a write error" "${problems[@]}"
  mkfifo "$T/fifo.json"
  expect_fail "train: a FIFO as config file" "fifo.json" -- timeout 20 "$TRAIN" -c fifo.json
  expect_fail "test: a FIFO as checkpoint" "fifo.json" -- timeout 20 "$TEST" -r fifo.json
  expect_fail "train: /dev/zero as config file" "/dev/zero" -- timeout 20 "$TRAIN" -c /dev/zero
}

case_existing_checkpoints() {
  local now i dir
  now=$(date +%s)
  local -a dirs=()
  for ((i = 0; i < 8; i++)); do
    dir="$T/saved/models/BadInput/$(date -d "@$((now + i))" +%m%d_%H%M%S)"
    [ -d "$dir" ] && continue
    mkdir -p "$dir"
    cp "$CK" "$dir/checkpoint-epoch1.ckpt"
    cp "$CK_DIR/model_best.ckpt" "$dir/model_best.ckpt"
    protect "$dir/checkpoint-epoch1.ckpt"
    protect "$dir/model_best.ckpt"
    dirs+=("$dir")
  done
  config_with '/"epochs"/d'
  local before
  before=$(find "$T/saved/models/BadInput" -name 'checkpoint-epoch*.ckpt' | wc -l)
  expect_fail "train: failing run (no epochs) beside existing run folders" "trainer.epochs: missing key" -- \
    "$TRAIN" -c config.json
  expect_fail "train: resume failing on its config" 'trainer.epochs: expected a number for --set, got "x"' -- \
    "$TRAIN" -r "$CK" --set trainer.epochs=x
  expect_fail "train: resume with a broken fine-tuning config" "invalid JSON" -- \
    "$TRAIN" -c text.ckpt -r "$CK_DIR/model_best.ckpt"
  expect_ok "train: a successful run beside existing run folders" -- "$TRAIN" -c base.json
  expect_ok "train: a successful resume from a checkpoint" -- "$TRAIN" -r "$CK" --set trainer.epochs=2
  expect_ok "test: a successful test of a checkpoint" -- "$TEST" -r "$CK"
  local count
  count=$(find "$T/saved/models/BadInput" -name 'checkpoint-epoch*.ckpt' | wc -l)
  # one more from the fresh run (epoch 1) and one from the resumed one (epoch 2)
  if [ "$count" -eq $((before + 2)) ]; then
    report "train: successful runs wrote new checkpoints into new folders"
  else
    report "train: successful runs wrote new checkpoints into new folders" \
      "expected $((before + 2)) checkpoint-epoch files, found $count"
  fi
}

case_missing_config
case_unreadable_config
case_invalid_json
case_wrong_type
case_missing_key
case_unknown_names
case_unknown_args
case_batch_size
case_validation_split
case_mnist_missing
case_idx_truncated
case_idx_bad_header
case_checkpoint_truncated
case_checkpoint_not_safetensors
case_checkpoint_foreign
case_hostile_numbers
case_strict_keys
case_resume_adds_scheduler
case_files
case_checkpoint_other_arch
case_checkpoint_missing
case_set
case_command_line
case_divergence
case_existing_checkpoints

echo
if [ "$failed" -ne 0 ]; then
  echo "$failed checks FAILED, $passed checks passed"
  exit 1
fi
echo "$passed checks passed"
