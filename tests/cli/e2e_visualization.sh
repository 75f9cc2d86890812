#!/usr/bin/env bash
# End-to-end: what ./train and ./test write to show a run, read back by
# tests/cli/e2e_events.py (standard library only, independent of the C
# writer): the TensorBoard event file (every record's CRCs, file_version
# first, per-step train scalars for every step of both epochs, per-batch
# validation scalars equal to metrics.csv's, the input grids, a histogram of
# every parameter per epoch), metrics.csv (a row per epoch, rows flushed so a
# killed run keeps them), curves.png and input_grid.png, "tensorboard":
# false (no event file), ./test --confusion (CSV and heat map, next to the
# checkpoint or into a given folder) and the progress line on and off a
# terminal.
# usage: e2e_visualization.sh TRAIN TEST SOURCE_DIR
# shellcheck source=e2e_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

events() { "$PYTHON" "$HERE/e2e_events.py" events "$1"; }
png_size() { "$PYTHON" "$HERE/e2e_events.py" png "$1"; }
# found KIND TAG: the events file's summary line for that tag (e2e_events.py's format)
found() { awk -v k="$1" -v t="$2" '$1 == k && $2 == t' summary.txt; }
# field N of found's line
field() { found "$1" "$2" | awk -v n="$3" '{ print $n }'; }

S=$T/saved
start=$SECONDS
if train train.log "${BASE_ARGS[@]}" --set "trainer.save_dir=$S" --set data_loader.args.limit=512 \
  --set trainer.epochs=2 --set trainer.tensorboard=true; then
  pass "./train: 2 epochs on 512 MNIST images with tensorboard on, exit 0 ($((SECONDS - start)) s)"
else
  fail "./train: 2 epochs on 512 MNIST images"
fi
logs=("$S"/log/Mnist_LeNet/*/)
L=${logs[0]%/}
files=("$L"/events.out.tfevents.*)
host=$(uname -n)
if [ ${#files[@]} -eq 1 ] && [[ "$(basename "${files[0]}")" =~ ^events\.out\.tfevents\.[0-9]+\."$host"$ ]]; then
  pass "one event file: $(basename "${files[0]}")"
else
  fail "expected one events.out.tfevents.<unix time>.$host in $L, found: $(ls "$L")"
fi
if events "${files[0]}" >summary.txt; then
  pass "every record's length and data CRC checks out; $(grep '^records' summary.txt)"
else
  fail "the event file does not read back: $(tail -n 1 summary.txt)"
fi
check "the first event holds file_version brain.Event:2" grep -qx "file_version brain.Event:2" summary.txt

# training: one scalar per step for each quantity, steps 0 .. 2 * batches - 1
n=$(field scalar loss/train 3)
for tag in loss/train accuracy/train top_k_acc/train lr/train; do
  line=$(found scalar "$tag")
  [ -n "$n" ] && [ "$n" -ge 2 ] && [ "$(field scalar "$tag" 3)" = "$n" ] && [ "$(field scalar "$tag" 4)" = 0 ] &&
    [ "$(field scalar "$tag" 5)" = $((n - 1)) ] && [ "$(field scalar "$tag" 6)" = 1 ] &&
    pass "$tag: $n steps, 0..$((n - 1)) without gaps" || fail "$tag: '$line', expected $n steps 0..$((n - 1))"
done
[ "$(field scalar steps_per_sec/train 3)" = $((n - 1)) ] && pass "steps_per_sec/train at every step but the first" ||
  fail "steps_per_sec/train: '$(found scalar steps_per_sec/train)'"
lrs=$(field scalar lr/train 7 | tr , '\n' | sort -u)
[ "$lrs" = 0.00100000005 ] && pass "lr/train is the configured 0.001 at every step" || fail "lr/train values: $lrs"

# validation: a scalar per batch; with one validation batch per epoch they
# are the epochs' val_loss and val_accuracy of metrics.csv
csv=$L/metrics.csv
header="epoch,loss,accuracy,top_k_acc,val_loss,val_accuracy,val_top_k_acc"
if [ "$(head -n 1 "$csv")" = "$header" ] && [ "$(tail -n +2 "$csv" | cut -d, -f1 | tr '\n' ' ')" = "1 2 " ]; then
  pass "metrics.csv: header and the rows of epochs 1 and 2"
else
  fail "metrics.csv holds: $(cat "$csv")"
fi
for key in loss accuracy; do
  col=$(head -n 1 "$csv" | tr , '\n' | grep -nx "val_$key" | cut -d: -f1)
  want=$(tail -n +2 "$csv" | cut -d, -f"$col" | tr '\n' ,)
  got=$(field scalar "$key/valid" 7)
  if [ "$(field scalar "$key/valid" 3)" = 2 ] &&
    awk -v a="$got" -v b="$want" 'BEGIN { n = split(a, x, ","); split(b, y, ",");
      for (i = 1; i <= n; i++) { d = x[i] - y[i]; if (d < 0) d = -d; if (d > 1e-6 * (y[i] < 0 ? -y[i] : y[i]) + 1e-7) exit 1 } exit 0 }'; then
    pass "$key/valid at steps 0 and 1 = metrics.csv's val_$key ($got)"
  else
    fail "$key/valid: '$(found scalar "$key/valid")', metrics.csv val_$key: $want"
  fi
done
check "the epoch log's val_loss matches metrics.csv" awk -v v="$(epoch_value train.log val_loss)" \
  -v c="$(tail -n 1 "$csv" | cut -d, -f5)" 'BEGIN { d = v - c; exit !(d < 1e-5 && d > -1e-5) }'

# images: the input grid of each epoch (128 images: 8 x 16 cells of 28 + 2 pixels, plus 2)
[ "$(field image input/train 3)" = 2 ] && [ "$(field image input/train 7)" = "242x482,242x482" ] &&
  pass "input/train: a 242x482 grid in each epoch" || fail "input/train: '$(found image input/train)'"
[ "$(field image input/valid 3)" = 2 ] && pass "input/valid: a grid in each epoch" ||
  fail "input/valid: '$(found image input/valid)'"

# histograms: every parameter of MnistModel, each epoch, all of its values
good=0
for p in conv1.weight:250 conv1.bias:10 conv2.weight:5000 conv2.bias:20 fc1.weight:16000 fc1.bias:50 \
  fc2.weight:500 fc2.bias:10; do
  name=${p%%:*}
  numel=${p##*:}
  if [ "$(field histogram "$name" 3)" = 2 ] && [ "$(field histogram "$name" 7)" = "$numel,$numel" ]; then
    good=$((good + 1))
  else
    fail "histogram $name: '$(found histogram "$name")', expected 2 of $numel values"
  fi
done
[ "$good" = 8 ] && pass "a histogram of each of the 8 parameters, with all their values, in both epochs"

# the PNGs: well-formed (chunk CRCs, pixel data) and of the expected size
size=$(png_size "$L/input_grid.png")
[ "$size" = 242x482 ] && pass "input_grid.png: $size" || fail "input_grid.png: '$size', expected 242x482"
size=$(png_size "$L/curves.png")
[ "$size" = 1680x420 ] && pass "curves.png: $size (loss, accuracy, top_k_acc panels)" ||
  fail "curves.png: '$size', expected 1680x420"

# ./test --confusion: next to the checkpoint (best.ckpt's run folder), then into a given folder
run=$(run_dir "$S" Mnist_LeNet)
rc=0
"$TEST" -r "$S/models/best.ckpt" --confusion >test.log 2>test.err || rc=$?
if [ "$rc" -eq 0 ] && [ -s "$run/confusion.csv" ]; then
  pass "./test --confusion writes confusion.csv into the checkpoint's run folder"
else
  fail "./test --confusion: exit $rc; $(tail -n 3 test.err)"
fi
total=$(tail -n +2 "$run/confusion.csv" | awk -F, '{ for (i = 2; i <= NF; i++) s += $i } END { print s }')
rows=$(wc -l <"$run/confusion.csv")
[ "$rows" = 11 ] && [ "$total" = 10000 ] && pass "confusion.csv: 10 classes, counts summing to 10000" ||
  fail "confusion.csv: $rows lines, counts summing to '$total'"
right=$(tail -n +2 "$run/confusion.csv" | awk -F, '{ s += $($1 + 2) } END { print s }')
acc=$(sed -nE "s/.*'accuracy': ([0-9.]+).*/\\1/p" test.log)
check "the diagonal ($right) is ./test's accuracy ($acc) x 10000" \
  awk -v r="$right" -v a="$acc" 'BEGIN { d = r / 10000 - a; exit !(d < 1e-6 && d > -1e-6) }'
size=$(png_size "$run/confusion.png")
[ -n "$size" ] && pass "confusion.png: $size" || fail "confusion.png is not a PNG"
"$TEST" -r "$S/models/best.ckpt" --confusion "$T/cm/out" >/dev/null 2>&1 &&
  [ -s "$T/cm/out/confusion.csv" ] && [ -s "$T/cm/out/confusion.png" ] &&
  pass "./test --confusion DIR writes into DIR (made if missing)" || fail "./test --confusion DIR"

# the progress line: plain lines off a terminal, one line redrawn with \r on one
if grep -q $'\r' test.err; then fail "./test printed \\r off a terminal"; else
  check "./test off a terminal: plain progress lines" grep -qE '^Test [0-9]+/[0-9]+ .*it/s' test.err; fi
if command -v script >/dev/null; then
  script -qec "'$TEST' -r '$S/models/best.ckpt'" /dev/null >tty.log 2>&1 || true
  check "./test on a terminal: a bar redrawn with \\r" grep -qE $'\rTest \\[#+\\] 20/20 .*it/s' tty.log
else
  echo "note: no 'script' command here to fake a terminal; the bar itself is not checked"
fi

# "tensorboard": false: no event file, metrics.csv and curves.png still written
if train off.log "${BASE_ARGS[@]}" --set "trainer.save_dir=$T/off" --set data_loader.args.limit=512 \
  --set trainer.epochs=1 --set trainer.tensorboard=false; then
  off=("$T"/off/log/Mnist_LeNet/*/)
  ls "${off[0]}"events.out.tfevents.* >/dev/null 2>&1 && fail "tensorboard false: an event file was written" ||
    pass "tensorboard false: no event file"
  [ "$(wc -l <"${off[0]}metrics.csv")" = 2 ] && [ -s "${off[0]}curves.png" ] &&
    pass "tensorboard false: metrics.csv and curves.png are still written" || fail "tensorboard false: $(ls "${off[0]}")"
else
  fail "tensorboard false run"
fi

# a killed run keeps the rows of the epochs it finished
"$TRAIN" "${BASE_ARGS[@]}" --set "trainer.save_dir=$T/killed" --set data_loader.args.limit=512 \
  --set trainer.epochs=1000 >killed.log 2>&1 &
pid=$!
for _ in $(seq 600); do
  ls "$T"/killed/models/Mnist_LeNet/*/checkpoint-epoch2.ckpt >/dev/null 2>&1 && break
  sleep 0.1
done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
kcsv=("$T"/killed/log/Mnist_LeNet/*/metrics.csv)
saved=$(ls "$T"/killed/models/Mnist_LeNet/*/checkpoint-epoch*.ckpt 2>/dev/null | wc -l)
rows=$(($(wc -l <"${kcsv[0]}") - 1))
complete=$(tail -n +2 "${kcsv[0]}" | awk -F, 'NF == 7 && $1 == NR { n++ } END { print n + 0 }')
[ "$saved" -ge 2 ] && [ "$rows" -ge "$saved" ] && [ "$complete" -ge "$saved" ] &&
  pass "killed after $saved checkpoints: metrics.csv keeps $rows complete rows" ||
  fail "killed run: $saved checkpoints, metrics.csv has $rows rows ($complete complete): $(cat "${kcsv[0]}")"
finish
