#!/usr/bin/env bash
# End-to-end: ./tune on a real MNIST subset (3000 training images, 3 or 4 epochs).
#  1. a 6-trial grid over lr and batch size, 2 at a time, ASHA: every trial
#     ends done or stopped, ASHA stops at least one (lr 1e-5 cannot keep up),
#     trials.csv, results.png, state.json, and best_config.json, which
#     ./train -c takes as is;
#  2. a 4-trial TPE search (images enough that a trial's last two epochs
#     outlast ./tune's poll of 0.25 s and this script's: see tpe_images)
#     interrupted by SIGINT while a trial runs: exit 130, the
#     running trial saved a checkpoint; ./tune -r finishes it with no
#     finished trial run again and the interrupted one resumed from its
#     checkpoint;
#     ./tune killed with SIGKILL as its trial starts: ./tune -r stops the
#     trial it left running (paused meanwhile, so that it cannot end first)
#     before restarting it, and refuses a second ./tune on the same folder;
#  3. a trial that ./train refuses is recorded with its error and the
#     search goes on; a metric the trials do not log stops the search;
#  4. bad search files: one error line naming the file and key, exit 1, no
#     search folder made;
#  5. under mpirun -np 3, rank 0 searches and ranks 1 and 2 run the trials.
# usage: e2e_tune.sh TRAIN TEST SOURCE_DIR TUNE
if [ $# -ne 4 ]; then
  echo "usage: $0 TRAIN TEST SOURCE_DIR TUNE" >&2
  exit 2
fi
TUNE=$(realpath "$4")
set -- "$1" "$2" "$3"
# shellcheck source=e2e_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

ARGS=("${BASE_ARGS[@]}" --set data_loader.args.limit=3000 --set trainer.epochs=3 --set n_gpu=0
      --set trainer.tensorboard=false --set data_loader.args.num_workers=0 --set "trainer.save_dir=$T/saved")
# tune LOG ARGS...: runs ./tune (with this build's ./train), output to LOG; returns its status.
tune() {
  local log=$1
  shift
  local rc=0
  "$TUNE" --train "$TRAIN" "$@" >"$log" 2>&1 || rc=$?
  return "$rc"
}
# csv_states FILE: the state column of trials.csv, on one line.
csv_states() { awk -F, 'NR > 1 { printf "%s%s", sep, $2; sep = " " } END { print "" }' "$1"; }
# state_of FOLDER: "id state starts" per trial from state.json.
state_of() {
  "$PYTHON" -c 'import json, sys
for t in json.load(open(sys.argv[1]))["trials"]: print(t["id"], t["state"], t["starts"])' "$1/state.json"
}

# --- 1. grid + ASHA --------------------------------------------------------
cat >grid.json <<'JSON'
{"space": {"data_loader.args.batch_size": {"grid": [64, 128]},
           "optimizer.args.lr": {"grid": [0.003, 0.00001, 0.001]}},
 "search": "grid", "max_concurrent": 2, "metric": "min val_loss",
 "scheduler": {"type": "ASHA", "args": {"grace_period": 1, "reduction_factor": 2}}}
JSON
start=$SECONDS
# 4 epochs (rungs at 1, 2 and 4): a trial told to stop at a rung ends before its budget
# even where the search reads its metrics an epoch late
if tune grid.log "${ARGS[@]}" --set trainer.epochs=4 -s grid.json; then
  pass "./tune: 6-trial grid over lr x batch size with ASHA, 2 at a time, exit 0 ($((SECONDS - start)) s)"
else
  fail "./tune grid search exited non-zero; its output:"
  tail -n 20 grid.log
fi
G=$(ls -d "$T"/saved/tune/Mnist_LeNet/*/ 2>/dev/null | head -n 1)
G=${G%/}
if [ -n "$G" ] && [ -s "$G/trials.csv" ]; then
  states=$(csv_states "$G/trials.csv")
  n=$(wc -w <<<"$states")
  [ "$n" = 6 ] && pass "trials.csv lists 6 trials ($states)" || fail "trials.csv lists $n trials: $states"
  bad=$(tr ' ' '\n' <<<"$states" | grep -cvE '^(done|stopped)$')
  if [ "$bad" = 0 ]; then
    pass "every trial ended done or stopped"
  else
    fail "trials neither done nor stopped: $states"
    # what such a trial said: its error column, the search's events about it and the end of its own log
    awk -F, 'NR > 1 && $2 != "done" && $2 != "stopped" { printf "    trial %s (%s): %s\n", $1, $2, $11 }' \
      "$G/trials.csv"
    for id in $(awk -F, 'NR > 1 && $2 != "done" && $2 != "stopped" { print $1 }' "$G/trials.csv"); do
      grep -E "\] trial $id " grid.log | sed 's/^/    search: /'
      tail -n 8 "$(printf '%s/trial_%03d/train.log' "$G" "$id")" 2>&1 | sed 's/^/    train.log: /'
    done
  fi
  stopped=$(tr ' ' '\n' <<<"$states" | grep -c '^stopped$')
  [ "$stopped" -ge 1 ] && pass "ASHA stopped $stopped trial(s) early" || fail "ASHA stopped no trial"
  # a stopped trial logged fewer epochs than the budget; its lr is the hopeless one or a worse half
  short=$(awk -F, 'NR > 1 && $2 == "stopped" && $5 < 4' "$G/trials.csv" | wc -l)
  [ "$short" = "$stopped" ] && pass "stopped trials ran fewer than 4 epochs" || fail "a stopped trial ran 4 epochs"
  worst_stopped=$(awk -F, 'NR > 1 && $4 == "1e-05" && $2 == "stopped"' "$G/trials.csv" | wc -l)
  [ "$worst_stopped" -ge 1 ] && pass "a trial with lr 1e-05 was stopped" || fail "no lr 1e-05 trial was stopped"
  check "trials.csv gives each trial's command line" grep -q -- "-c $G/config.json --set trainer.save_dir=$G/trial_000" "$G/trials.csv"
  check "results.png is a PNG" "$PYTHON" -c 'import sys; sys.exit(open(sys.argv[1], "rb").read(8) != b"\x89PNG\r\n\x1a\n")' "$G/results.png"
  check "the output names the best trial's checkpoint" grep -qE "^best checkpoint: $G/trial_00[0-9]/models/Mnist_LeNet/[0-9_]+/model_best.ckpt" grid.log
  ck=$(sed -n 's/^best checkpoint: //p' grid.log)
  [ -n "$ck" ] && [ -s "$ck" ] && pass "that checkpoint exists" || fail "best checkpoint '$ck' missing"
  # the trials' run folders are under <save_dir>/tune/<name>/<search_id>/
  check "trial_000 is an ordinary run folder (config.json, checkpoints, metrics.csv)" \
    bash -c "ls $G/trial_000/models/Mnist_LeNet/*/config.json $G/trial_000/log/Mnist_LeNet/*/metrics.csv >/dev/null"
  # best_config.json: the base config with the best values, trained as is (its save_dir is $T/saved)
  best_lr=$(sed -n 's/^best trial: .*optimizer.args.lr=\([^ ]*\).*/\1/p' grid.log)
  check "best_config.json holds the best trial's lr ($best_lr)" grep -qE "\"lr\":[[:space:]]*$best_lr," "$G/best_config.json"
  if train best.log -c "$G/best_config.json"; then
    pass "./train -c best_config.json trains (4 epochs)"
  else
    fail "./train -c best_config.json"
  fi
else
  fail "no search folder with trials.csv under $T/saved/tune/Mnist_LeNet"
fi

# --- 2. interrupt and resume -----------------------------------------------
cat >tpe.json <<'JSON'
{"space": {"optimizer.args.lr": {"loguniform": [1e-4, 1e-2]},
           "data_loader.args.batch_size": {"choice": [32, 64]}},
 "search": "tpe", "tpe": {"n_startup_trials": 2}, "num_samples": 4, "max_concurrent": 1, "seed": 3}
JSON
rm -rf "$T/saved/tune"
# 20000 images: with 6000 a release build had ended trial 1 before the
# signal landed; a sanitizer build runs some 10x slower, where 6000 are
# enough (and 20000 ran past the test's timeout)
tpe_images=20000
ldd "$TRAIN" 2>/dev/null | grep -q libasan && tpe_images=6000
"$TUNE" --train "$TRAIN" "${ARGS[@]}" --set data_loader.args.limit=$tpe_images -s tpe.json >tpe1.log 2>&1 &
pid=$!
# SIGINT once trial 1 has logged an epoch (trial 0 done, trial 1 running)
for _ in $(seq 1 3000); do
  grep -qs "trial 1 epoch 1" tpe1.log && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
kill -INT "$pid" 2>/dev/null
rc=0
wait "$pid" || rc=$?
[ "$rc" = 130 ] && pass "./tune interrupted by SIGINT exits 130" || { fail "./tune after SIGINT exited $rc"; tail -n 15 tpe1.log; }
R=$(ls -d "$T"/saved/tune/Mnist_LeNet/*/ 2>/dev/null | head -n 1)
R=${R%/}
check "it says how to resume" grep -q "./tune -r $R" tpe1.log
before=$(state_of "$R")
echo "$before" | sed 's/^/    before resume: /'
done_before=$(awk '$2 == "done" { print $1 }' <<<"$before")
interrupted=$(awk '$2 == "interrupted" { print $1 }' <<<"$before")
[ -n "$done_before" ] && [ -n "$interrupted" ] && pass "trials done ($done_before) and interrupted ($interrupted) at the signal" ||
  fail "expected done and interrupted trials, state: $before"
for id in $interrupted; do
  check "interrupted trial $id saved a checkpoint" bash -c "ls $R/trial_00$id/models/Mnist_LeNet/*/checkpoint-epoch*.ckpt >/dev/null 2>&1"
done
if tune tpe2.log -r "$R"; then pass "./tune -r finishes the search"; else fail "./tune -r exited non-zero"; tail -n 15 tpe2.log; fi
after=$(state_of "$R")
echo "$after" | sed 's/^/    after resume: /'
[ "$(awk '$2 == "done"' <<<"$after" | wc -l)" = 4 ] && pass "4 trials done" || fail "not all 4 trials done: $after"
for id in $done_before; do
  starts=$(awk -v i="$id" '$1 == i { print $3 }' <<<"$after")
  runs=$(ls -d "$R/trial_00$id"/models/Mnist_LeNet/*/ | wc -l)
  [ "$starts" = 1 ] && [ "$runs" = 1 ] && pass "trial $id, done before the signal, was not run again" ||
    fail "trial $id: $starts starts, $runs run folders"
done
for id in $interrupted; do
  check "trial $id resumed from its checkpoint" grep -q "Checkpoint loaded. Resume training" "$R/trial_00$id/train.log"
  epochs=$(awk -F, -v i="$id" 'NR > 1 && $1 == i { print $5 }' "$R/trials.csv")
  [ "$epochs" = 3 ] && pass "trial $id logged 3 epochs over both runs" || fail "trial $id logged '$epochs' epochs"
done

# --- 2b. ./tune killed outright (SIGKILL) ------------------------------------
# Its running trial goes on in its own process group; ./tune -r stops it (it
# saves its position) before resuming it, and a second ./tune -r on the same
# folder meanwhile is refused.
rm -rf "$T/saved/tune"
"$TUNE" --train "$TRAIN" "${ARGS[@]}" --set data_loader.args.limit=6000 -s tpe.json --search-set num_samples=2 \
  --search-set seed=4 >kill1.log 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  grep -qs "trial 0 started" kill1.log && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
K=$(ls -d "$T"/saved/tune/Mnist_LeNet/*/ 2>/dev/null | head -n 1)
K=${K%/}
orphan=$("$PYTHON" -c 'import json, sys
print(" ".join(str(t["pid"]) for t in json.load(open(sys.argv[1]))["trials"] if "pid" in t))' "$K/state.json")
# the trial's ./train, paused (if it is still that program, not a process
# that took its pid): it cannot finish by itself before ./tune -r looks
# (trials are short), so ./tune -r must find it and stop it
alive=""
[ -n "$orphan" ] && [ "$(readlink "/proc/$orphan/exe" 2>/dev/null)" = "$(realpath "$TRAIN")" ] &&
  kill -STOP "$orphan" 2>/dev/null && alive=1
"$TUNE" --train "$TRAIN" -r "$K" >kill2.log 2>&1 &
pid=$!
# it prints "resuming search" once it holds tune.lock: the second ./tune -r
# below starts after that, or the two race for the lock (when no paused
# trial holds the first one back, the second could take it first)
for _ in $(seq 1 300); do
  grep -qs "resuming search" kill2.log && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -n "$alive" ]; then
  for _ in $(seq 1 300); do
    grep -qs "pid $orphan) still runs" kill2.log && break
    sleep 0.1
  done
  kill -CONT "$orphan" 2>/dev/null # now it takes the SIGINT ./tune -r sent
fi
rc=0
"$TUNE" --train "$TRAIN" -r "$K" >kill3.log 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "another ./tune is running this search" kill3.log &&
  pass "a second ./tune -r on a running search is refused" || fail "second ./tune -r: exit $rc, $(cat kill3.log)"
rc=0
wait "$pid" || rc=$?
[ "$rc" = 0 ] && pass "./tune -r after SIGKILL finishes the search" || { fail "./tune -r after SIGKILL exited $rc"; tail -n 10 kill2.log; }
if [ -n "$alive" ]; then
  check "the trial left running (pid $orphan) was stopped before its restart" grep -q "pid $orphan) still runs" kill2.log
fi
# (its pid may be another process's by now: compare the program)
[ -n "$orphan" ] && [ "$(readlink "/proc/$orphan/exe" 2>/dev/null)" != "$(realpath "$TRAIN")" ] &&
  pass "no ./train of the killed search runs on" || fail "pid '$orphan' of the killed search still runs"
[ "$(state_of "$K" | awk '$2 == "done"' | wc -l)" = 2 ] && pass "both trials done" || fail "state: $(state_of "$K")"

# --- 3. a failing trial, an unlogged metric --------------------------------
# "Nope" passes the search file's checks (a string where the config has one)
# but ./train refuses it: that trial is recorded with its error, the other runs.
rm -rf "$T/saved/tune"
cat >fails.json <<'JSON'
{"space": {"optimizer.type": {"grid": ["Nope", "Adam"]}}, "search": "grid", "max_concurrent": 1}
JSON
if tune fails.log "${ARGS[@]}" --set trainer.epochs=1 -s fails.json; then
  pass "./tune with a failing trial goes on and exits 0"
else
  fail "./tune with a failing trial exited non-zero"
  tail -n 10 fails.log
fi
F=$(ls -d "$T"/saved/tune/Mnist_LeNet/*/ 2>/dev/null | head -n 1)
F=${F%/}
states=$(csv_states "$F/trials.csv" 2>/dev/null)
[ "$states" = "error done" ] && pass "trials.csv: error done" || fail "trials.csv states: '$states', expected 'error done'"
check "the failed trial's error names the optimizer" grep -qE '^0,error,Nope,.*Nope' "$F/trials.csv"
rm -rf "$T/saved/tune"
rc=0
tune metric.log "${ARGS[@]}" --set trainer.epochs=1 -s fails.json --search-set 'metric=min val_los' || rc=$?
[ "$rc" = 1 ] && grep -q 'metric: the metric "val_los" is not a column of' metric.log &&
  pass "a metric the trials do not log stops the search: $(grep '^error' metric.log)" ||
  fail "metric val_los: exit $rc, $(tail -n 3 metric.log)"

# --- 5. trials on MPI worker ranks (mpirun -np 3: rank 0 searches, ranks 1 and 2 run trials) ---
MPIRUN=$(command -v mpirun || true)
if [ -n "$MPIRUN" ] && [ -f "$(dirname "$TRAIN")/libdist_mpi.so" ]; then
  rm -rf "$T/saved/tune"
  cat >mpi.json <<'JSON'
{"space": {"optimizer.args.lr": {"grid": [0.0001, 0.001, 0.01, 0.03]}}, "search": "grid", "max_concurrent": 2,
 "metric": "min val_loss", "scheduler": {"type": "ASHA", "args": {"grace_period": 1, "reduction_factor": 2}}}
JSON
  rc=0
  mpi_env
  timeout 300 "$MPIRUN" -np 3 "$TUNE" --train "$TRAIN" "${ARGS[@]}" --set data_loader.args.limit=1000 -s mpi.json \
    >mpi.log 2>&1 || rc=$?
  M=$(ls -d "$T"/saved/tune/Mnist_LeNet/*/ 2>/dev/null | head -n 1)
  M=${M%/}
  states=$(csv_states "$M/trials.csv" 2>/dev/null)
  if [ "$rc" = 0 ] && [ "$(echo "$states" | wc -w)" = 4 ] && ! grep -q error <<<"$states"; then
    pass "mpirun -np 3 ./tune: 4 trials end ($states)"
  else
    fail "mpirun ./tune: exit $rc, states '$states': $(tail -n 5 mpi.log)"
  fi
  ranks=$(cat "$M"/trial_*/train.log 2>/dev/null | sed -n 's/^tune: this trial runs on rank \([0-9]*\) of 3.*/\1/p' | sort -u | tr '\n' ' ')
  [ "$ranks" = "1 2 " ] && pass "the trials ran on worker ranks 1 and 2" || fail "trials ran on ranks '$ranks'"
  check "the results are reported once, by rank 0" test "$(grep -c "best trial" mpi.log)" = 1
else
  echo "SKIP: no mpirun or no MPI module: trials on MPI ranks are not checked"
fi

# --- 4. bad search files ----------------------------------------------------
rm -rf "$T/saved/tune"
bad() {
  local what=$1 json=$2 want=$3 rc=0
  echo "$json" >bad.json
  "$TUNE" --train "$TRAIN" "${ARGS[@]}" -s bad.json >bad.log 2>&1 || rc=$?
  if [ "$rc" = 1 ] && [ "$(wc -l <bad.log)" = 1 ] && grep -qF "$want" bad.log && [ ! -e "$T/saved/tune" ]; then
    pass "$what: $(cat bad.log)"
  else
    fail "$what: exit $rc, output: $(cat bad.log)"
  fi
}
bad "unknown key" '{"space": {"optimizer.args.lrr": {"loguniform": [1e-4, 1e-1]}}}' "bad.json: space.optimizer.args.lrr: no such key"
bad "empty choice" '{"space": {"optimizer.type": {"choice": []}}}' "bad.json: space.optimizer.type: choice: the list is empty"
bad "low > high" '{"space": {"optimizer.args.lr": {"uniform": [0.1, 0.01]}}}' "bad.json: space.optimizer.args.lr: uniform expects low < high"
bad "log range with 0" '{"space": {"optimizer.args.lr": {"loguniform": [0, 0.1]}}}' "bad.json: space.optimizer.args.lr: loguniform needs a range above 0"
bad "type mismatch" '{"space": {"data_loader.args.batch_size": {"choice": ["big"]}}}' "bad.json: space.data_loader.args.batch_size: choice value 0 is a string"
bad "invalid JSON" '{"space": ' "bad.json"

finish
