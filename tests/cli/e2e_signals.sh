#!/usr/bin/env bash
# End-to-end: SIGINT and SIGTERM stop a run without losing it.
#  - A signal at a random point (in a training step, in validation, at a
#    save) ends ./train with exit status 128 + signal after the current step,
#    with the checkpoint of the exact position, its path and the command to
#    resume on stderr. Resuming from it gives the same final weights and
#    optimizer state as the uninterrupted run, bit for bit.
#  - A signal while a checkpoint is being written (its temporary file
#    exists) lets the save finish: the run stops at that epoch.
#  - A second SIGINT exits at once; the next save removes the temporary
#    files such dead runs leave.
# The points are random (the seed is printed); every check holds wherever
# the signal lands, and the summary says where they landed.
# usage: e2e_signals.sh TRAIN TEST SOURCE_DIR
# shellcheck source=e2e_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

seed=${SIGNAL_TEST_SEED:-$(date +%s)}
RANDOM=$seed
echo "        (signal points drawn with SIGNAL_TEST_SEED=$seed)"

# 3000 training and 3000 validation images: validation is a good part of each epoch
ARGS=("${BASE_ARGS[@]}" --set data_loader.args.limit=6000 --set data_loader.args.validation_split=0.5
      --set trainer.epochs=3 --set trainer.verbosity=2)
EPOCHS=3
BATCHES=24 # ceil(3000 / 128)

start_ms=$(date +%s%3N)
if ! train straight.log "${ARGS[@]}" --set "trainer.save_dir=$T/straight" || ! straight=$(run_dir "$T/straight" Mnist_LeNet); then
  fail "the uninterrupted run to compare with"
  finish
fi
straight_ms=$(($(date +%s%3N) - start_ms))
pass "the uninterrupted run ($straight_ms ms)"

quiet() { "$@" >/dev/null 2>&1; }
# last_run SAVE_DIR: the run folder, or "" when the run left none.
last_run() { ls -d "$1"/models/Mnist_LeNet/*/ 2>/dev/null | head -1; }

# signal_case N SIGNAL DELAY_MS: a run stopped by SIGNAL after DELAY_MS, then resumed to the end.
landed=()
signal_case() {
  local n=$1 sig=$2 delay_ms=$3 label="case $1 ($2 after ${3} ms)"
  local dir="$T/sig$n" rc=0
  "$TRAIN" "${ARGS[@]}" --set "trainer.save_dir=$dir" >"sig$n.log" 2>"sig$n.err" &
  local pid=$!
  sleep "$(awk -v ms="$delay_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
  kill -s "$sig" "$pid" 2>/dev/null
  wait "$pid" || rc=$?
  local want=130
  [ "$sig" = TERM ] && want=143
  if [ "$rc" -eq 0 ]; then # the run had ended: nothing to stop
    landed+=("after the end")
    check "$label: a run that had ended is the uninterrupted run" \
      ckpt same "$straight/checkpoint-epoch$EPOCHS.ckpt" "$(last_run "$dir")/checkpoint-epoch$EPOCHS.ckpt" --with-optimizer
    return
  fi
  if [ "$rc" -ne "$want" ]; then
    fail "$label: exit status $rc, expected $want"
    sed 's/^/        | /' "sig$n.err" | tail -n 40 # a crash's whole stack
    return
  fi
  local resume
  resume=$(awk '/^  \.\/train -r / { print $3 }' "sig$n.err")
  if [ -z "$resume" ]; then
    # stopped before training began: nothing saved, and no run folder left
    # (or, in the first milliseconds, before the handlers were installed)
    if [ -z "$(last_run "$dir")" ] && { [ ! -s "sig$n.err" ] || grep -q "before training began: nothing saved" "sig$n.err"; }; then
      landed+=("before training")
      pass "$label: stopped before training; nothing saved, no run folder left"
    else
      fail "$label: no resume command on stderr"
      sed 's/^/        | /' "sig$n.err" | tail -5
    fi
    return
  fi
  check "$label: stderr names the signal and the checkpoint" grep -q "interrupted by SIG$sig: the run's position is saved" "sig$n.err"
  [ -s "$resume" ] || { fail "$label: $resume does not exist"; return; }
  case $(basename "$resume") in
    *-batch"$BATCHES".ckpt) landed+=("in validation") ;;
    *-batch*) landed+=("in a training step") ;;
    *) landed+=("at an epoch's save") ;;
  esac
  check "$label: no temporary file left" bash -c "! ls '$(dirname "$resume")' | grep -q '\.tmp\.'"
  check "$label: ./test evaluates the saved checkpoint" quiet "$TEST" -r "$resume"
  if ! train "resume$n.log" -r "$resume" --set "trainer.save_dir=$dir-resumed"; then
    fail "$label: ./train -r $resume"
    return
  fi
  check "$label: resumed to the end == uninterrupted, bit for bit (weights and optimizer state)" \
    ckpt same "$straight/checkpoint-epoch$EPOCHS.ckpt" "$(last_run "$dir-resumed")/checkpoint-epoch$EPOCHS.ckpt" --with-optimizer
  local a b
  a=$(epoch_value straight.log val_loss)
  b=$(epoch_value "resume$n.log" val_loss)
  [ -n "$a" ] && [ "$a" = "$b" ] && pass "$label: last epoch's val_loss the same: $a" ||
    fail "$label: last epoch's val_loss $a vs $b"
}

span_ms=$straight_ms
for n in 1 2 3 4 5 6; do
  sig=INT
  [ $((n % 2)) -eq 0 ] && sig=TERM
  signal_case "$n" "$sig" $((RANDOM % span_ms))
done
echo "        (the signals landed: $(printf '%s; ' "${landed[@]}"))"

# A signal while a checkpoint is written: poll for its temporary file.
dir="$T/atsave"
"$TRAIN" "${ARGS[@]}" --set "trainer.save_dir=$dir" >atsave.log 2>atsave.err &
pid=$!
hit=""
for ((i = 0; i < 200000; i++)); do
  if seen=$(compgen -G "$dir/models/Mnist_LeNet/*/*.ckpt.tmp.*"); then
    kill -INT "$pid"
    hit=yes
    # which save: the last epoch's (checkpoint-epoch3, or model_best once checkpoint-epoch3 exists) lets the run end
    last_save=""
    case $seen in
      *checkpoint-epoch$EPOCHS.ckpt.tmp.*) last_save=yes ;;
      *model_best.ckpt.tmp.*) compgen -G "$dir/models/Mnist_LeNet/*/checkpoint-epoch$EPOCHS.ckpt" >/dev/null && last_save=yes ;;
    esac
    break
  fi
  kill -0 "$pid" 2>/dev/null || break
done
rc=0
wait "$pid" || rc=$?
if [ -z "$hit" ]; then
  echo "        (no save was caught in progress this time: the saves are short)"
elif [ -n "$last_save" ] && [ "$rc" -eq 0 ]; then
  # the save caught was the last epoch's: the run finishes, as it should
  check "SIGINT during the last epoch's save: the run finished as the uninterrupted one" \
    ckpt same "$straight/checkpoint-epoch$EPOCHS.ckpt" "$(last_run "$dir")/checkpoint-epoch$EPOCHS.ckpt" --with-optimizer
elif [ "$rc" -eq 130 ] && resume=$(awk '/^  \.\/train -r / { print $3 }' atsave.err) && [ -s "$resume" ]; then
  pass "SIGINT during a save: exit 130, the save finished ($(basename "$resume"))"
  check "SIGINT during a save: no temporary file left" bash -c "! ls '$(dirname "$resume")' | grep -q '\.tmp\.'"
else
  fail "SIGINT during a save: exit status $rc"
  sed 's/^/        | /' atsave.err | tail -5
fi

# Two SIGINTs: the second exits at once.
dir="$T/twice"
"$TRAIN" "${ARGS[@]}" --set "trainer.save_dir=$dir" >twice.log 2>twice.err &
pid=$!
sleep 0.5
kill -INT "$pid"
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
if [ "$rc" -eq 0 ] && [ -s "$(last_run "$dir")/checkpoint-epoch$EPOCHS.ckpt" ]; then
  echo "        (two SIGINTs: the run had ended before them)"
else
  [ "$rc" -eq 130 ] && pass "two SIGINTs: exit status 130" || fail "two SIGINTs: exit status $rc, expected 130"
fi

# Every thread of a training run blocks SIGINT and SIGTERM but the one that
# waits for them with sigwait (utils/interrupt.c: a handler run on a thread inside
# oneDNN's GEMM kernels writes its frame into the heap). Bits 2 and 15 of
# /proc's SigBlk (0x2 and 0x4000).
dir="$T/masks"
"$TRAIN" "${ARGS[@]}" --set "trainer.save_dir=$dir" >masks.log 2>masks.err &
pid=$!
for _ in $(seq 600); do grep -q "Train Epoch" masks.log && break; sleep 0.05; done
threads=0
blocking=0
for status in /proc/"$pid"/task/*/status; do
  blk=$(awk '/^SigBlk:/ { print $2 }' "$status" 2>/dev/null)
  [ -n "$blk" ] || continue
  threads=$((threads + 1))
  if (((16#$blk & 0x4002) == 0x4002)); then blocking=$((blocking + 1)); fi
done
kill -INT "$pid" 2>/dev/null
rc=0
wait "$pid" || rc=$?
if [ "$rc" -ne 130 ] && [ "$rc" -ne 0 ]; then
  fail "the run whose thread masks were read: exit status $rc, expected 130 (0 had it ended first)"
  sed 's/^/        | /' masks.err | tail -n 40
fi
if [ "$threads" -lt 3 ]; then
  echo "        (thread masks: the run had ended before they were read)"
else
  # (sigwait unblocks them in the waiting thread while it waits)
  [ "$blocking" -eq $((threads - 1)) ] && pass "$blocking of the $threads threads of a training run block SIGINT and SIGTERM: all but the one that waits for them" ||
    fail "$blocking of the $threads threads of a training run block SIGINT and SIGTERM; all but one should"
fi

# A run killed while saving leaves its temporary file; the next save of a run of that name removes it.
run=$(last_run "$T/straight")
fake="$run/checkpoint-epoch9.ckpt.tmp.$(hostname | tr './' '__').999999.0"
live="$run/checkpoint-epoch9.ckpt.tmp.$(hostname | tr './' '__').$$.0"
: >"$fake"
: >"$live"
if train stale.log "${ARGS[@]}" --set "trainer.save_dir=$T/straight" --set trainer.epochs=1; then
  [ ! -e "$fake" ] && pass "a dead run's temporary file is removed at the next save" ||
    fail "$fake is still there after the next save"
  [ -e "$live" ] && pass "a live process's temporary file is kept" || fail "$live (of a live process) was removed"
else
  fail "the run that cleans up"
fi
# A crash (SIGABRT, which glibc raises on heap corruption) says which signal and where, and keeps its exit status.
if ldd "$TRAIN" | grep -qE 'libasan|libtsan'; then
  echo "        (crash report: not in sanitizer builds, whose own reports stay)"
else
  (ulimit -c 0; exec "$TRAIN" "${ARGS[@]}" --set "trainer.save_dir=$T/crash") >crash.log 2>crash.err &
  pid=$!
  # its first output comes after the handlers are installed (a loaded machine may take a while to get there)
  for _ in $(seq 300); do [ -s crash.log ] && break; sleep 0.1; done
  kill -ABRT "$pid"
  rc=0
  wait "$pid" || rc=$?
  if [ "$rc" -eq 134 ] && grep -q "^train: crashed with SIGABRT" crash.err && grep -qE '\(\+0x[0-9a-f]+\)' crash.err; then
    pass "a crash prints its signal and the stack (exit status 134)"
  else
    fail "SIGABRT: exit status $rc (expected 134), stderr: $(tail -n 3 crash.err | tr '\n' ' ')"
  fi
fi
finish
