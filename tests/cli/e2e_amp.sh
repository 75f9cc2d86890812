#!/usr/bin/env bash
# End-to-end mixed precision: MnistModel, 1 epoch on the first 6000 MNIST
# training images (5400 to train on: 43 steps of 128), the same seed in f32,
# "amp" bf16 and "amp" fp16 (GradScaler). Every step's training loss (from
# the TensorBoard events) of the bf16 and fp16 runs stays within STEP_TOL of
# the f32 run's, and the epoch's val_loss within VAL_TOL. The fp16
# checkpoint holds the GradScaler's state, and a resumed run continues it.
# A bad amp.dtype is a one-line error.
# usage: e2e_amp.sh TRAIN TEST SOURCE_DIR
# shellcheck source=e2e_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

# Measured (OMP_NUM_THREADS=2, seed 7): max |step loss - f32's| over the 43
# steps 0.0101 (bf16) and 0.0193 (fp16); step 0 differs by ~1e-5, the rest
# is the trajectories drifting apart through Adam. val_loss differs by
# 0.0021 (bf16) and 0.0034 (fp16). The bounds leave 2-4x margin.
STEP_TOL_BF16=0.04
STEP_TOL_F16=0.04
VAL_TOL=0.02

"$PYTHON" - "$SRC/config.json" cfg.json <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["amp"] = {"enabled": False, "dtype": "bf16"}
c["trainer"]["early_stop"] = 0
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY
ARGS=(-c cfg.json --set "data_loader.args.data_dir=$DATA" --set trainer.verbosity=1 --set data_loader.args.num_workers=2
      --set data_loader.args.limit=6000 --set trainer.epochs=1 --set seed=7)
for run in f32:false:bf16 bf16:true:bf16 fp16:true:fp16; do
  IFS=: read -r name enabled dtype <<<"$run"
  if train "$name.log" "${ARGS[@]}" --set "trainer.save_dir=$name" --set "amp.enabled=$enabled" --set "amp.dtype=$dtype"; then
    pass "./train with amp.enabled=$enabled amp.dtype=$dtype: exit 0"
  else
    fail "./train with amp.enabled=$enabled amp.dtype=$dtype"
  fi
done
check "the bf16 run says it autocasts" grep -q "Mixed precision: autocast to bfloat16$" bf16.log
check "the fp16 run uses a GradScaler" grep -q "Mixed precision: autocast to float16, GradScaler" fp16.log

# losses.py EVENTS...: the "loss/train" scalars of each TensorBoard event
# file (a minimal reader of the TFRecord + protobuf wire format), one line each.
cat >losses.py <<'PY'
import glob, struct, sys
def varint(b, i):
    r = s = 0
    while True:
        c = b[i]; i += 1; r |= (c & 0x7F) << s; s += 7
        if c < 0x80: return r, i
def fields(b):
    i = 0
    while i < len(b):
        k, i = varint(b, i); f, w = k >> 3, k & 7
        if w == 0: v, i = varint(b, i)
        elif w == 1: v = b[i:i + 8]; i += 8
        elif w == 5: v = b[i:i + 4]; i += 4
        elif w == 2: n, i = varint(b, i); v = b[i:i + n]; i += n
        else: raise ValueError("wire type %d" % w)
        yield f, v
for pattern in sys.argv[1:]:
    data = open(glob.glob(pattern)[0], "rb").read(); i = 0; losses = []
    while i < len(data):
        (n,) = struct.unpack("<Q", data[i:i + 8]); rec = data[i + 12:i + 12 + n]; i += 16 + n
        for f, v in fields(rec):
            if f == 5:
                for f2, v2 in fields(v):
                    d = dict(fields(v2)) if f2 == 1 else {}
                    if d.get(1) == b"loss/train" and 2 in d: losses.append(struct.unpack("<f", d[2])[0])
    print(" ".join("%.6f" % x for x in losses))
PY
ev() { echo "$1/log/Mnist_LeNet/*/events.out.tfevents.*"; }
if "$PYTHON" losses.py "$(ev f32)" "$(ev bf16)" "$(ev fp16)" >losses.txt; then
  read -r -a f32 < <(sed -n 1p losses.txt)
  for k in 2:bf16:$STEP_TOL_BF16 3:fp16:$STEP_TOL_F16; do
    IFS=: read -r line name tol <<<"$k"
    read -r -a low < <(sed -n "${line}p" losses.txt)
    if [ "${#low[@]}" -ne 43 ] || [ "${#f32[@]}" -ne 43 ]; then
      fail "$name: expected 43 step losses in each run, got ${#low[@]} and ${#f32[@]}"
      continue
    fi
    maxd=$(paste <(printf '%s\n' "${f32[@]}") <(printf '%s\n' "${low[@]}") |
      awk '{d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d} END {printf "%.4f", m}')
    check "$name: every step's loss within $tol of f32's (max |diff| $maxd over 43 steps; first ${f32[0]} vs ${low[0]}, last ${f32[42]} vs ${low[42]})" \
      awk -v d="$maxd" -v t="$tol" 'BEGIN {exit !(d <= t)}'
    vf=$(epoch_value f32.log val_loss)
    vl=$(epoch_value "$name.log" val_loss)
    check "$name: val_loss $vl within $VAL_TOL of f32's $vf" \
      awk -v a="$vf" -v b="$vl" -v t="$VAL_TOL" 'BEGIN {d = a - b; if (d < 0) d = -d; exit !(d <= t)}'
  done
else
  fail "reading the TensorBoard event files"
fi

# fp16: the scaler's state in the checkpoint (43 good steps: tracker 43, scale
# unchanged), and a resumed second epoch continues it (tracker 86)
if ck=$(ls fp16/models/Mnist_LeNet/*/checkpoint-epoch1.ckpt 2>/dev/null); then
  state=$(ckpt meta "$ck" grad_scaler)
  check "the fp16 checkpoint holds the GradScaler state ($state)" \
    grep -qE '"scale": 65536, .*"growth_interval": 2000, "_growth_tracker": 43\}' <<<"$state"
  check "the f32 checkpoint has none" test -z "$(ckpt meta "$(ls f32/models/Mnist_LeNet/*/checkpoint-epoch1.ckpt)" grad_scaler 2>/dev/null)"
  if train resume.log -r "$ck" --set trainer.epochs=2 --set trainer.verbosity=1; then
    ck2=$(ls fp16/models/Mnist_LeNet/*/checkpoint-epoch2.ckpt 2>/dev/null | head -n 1)
    state2=$(ckpt meta "$ck2" grad_scaler)
    check "resumed fp16 run continues the scaler ($state2)" grep -qE '"_growth_tracker": 86\}' <<<"$state2"
  else
    fail "resuming the fp16 run"
  fi
else
  fail "no fp16 checkpoint-epoch1.ckpt"
fi

if train bad.log "${ARGS[@]}" --set trainer.save_dir=bad --set amp.enabled=true --set amp.dtype=fp8; then
  fail "amp.dtype=fp8 was accepted"
else
  check "amp.dtype=fp8: one-line error naming the key" grep -q 'amp.dtype: expected "bf16" or "fp16", got "fp8"' bad.log
fi
finish
