#!/usr/bin/env bash
# End-to-end: data-parallel training under mpirun (OpenMPI, 2 and 3 ranks
# on the CPU; --oversubscribe lets them share a small machine).
#  - Equivalence, as PyTorch's DDP tests check it: N ranks at batch B/N end
#    20 Adam steps of MnistModel (dropout off) with the weights of one
#    process at batch B, within 1e-5 relative; also with gradient
#    accumulation, with a frozen layer, with 3 ranks, and for an MLP with
#    BatchNorm under distributed.sync_batchnorm (running statistics too).
#  - distributed.zero 1 (optimizer state sharded, ZeRO-1): weights and
#    gathered optimizer state bit-identical to unsharded training, each rank
#    holding half of the state, also on 3 ranks and when frozen layers join
#    the optimizer; its checkpoints resume anywhere.
#  - Against PyTorch itself: DistributedDataParallel on 2 gloo processes
#    from the same weights and samples ends with the same weights (1e-5).
#  - A real run: 2 epochs land in the single-process accuracy band, only
#    rank 0 writes (one run folder, each log line once), ./test under
#    mpirun reports what ./test alone reports.
#  - Resume across layouts: a checkpoint of 2 ranks resumes with 1 and one
#    of 1 with 2 (iteration-based epochs, so the loader stops inside its
#    epoch), ending where the uninterrupted run ends; another global batch
#    size inside an epoch is refused.
#  - Faults end every rank, with the rank and the cause, never a hang: one
#    rank's broken data file, a rank killed with SIGKILL (the last
#    checkpoint stays loadable), ranks with different models or configs,
#    a diverging run; bad "distributed" settings are one-line errors.
# Skipped (exit 0 with SKIP) without mpirun or MNIST.
# usage: e2e_distributed.sh TRAIN TEST SOURCE_DIR
# shellcheck source=e2e_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

MPIRUN=$(command -v mpirun || true)
BUILD=$(dirname "$TRAIN")
if [ -z "$MPIRUN" ] || [ ! -f "$BUILD/libdist_mpi.so" ]; then
  echo "[  SKIPPED ] no mpirun or no $BUILD/libdist_mpi.so (apt-get install libopenmpi-dev openmpi-bin, then rebuild)"
  exit 0
fi
mpi_env
# one thread per rank: the ranks share the machine's cores
export OMP_NUM_THREADS=1
# mpi N LOG ARGS...: N ranks of ./train, bounded in time; returns mpirun's status
mpi() {
  local n=$1 log=$2
  shift 2
  timeout 120 "$MPIRUN" -np "$n" "$TRAIN" "$@" >"$log" 2>&1
}
ck() { ls "$1"/models/*/*/"$2" 2>/dev/null | head -n 1; }

# 640 MNIST images, no validation, 20 steps of global batch 32, MnistModel without dropout, Adam
SMALL=(-c "$SRC/config.json" --set "data_loader.args.data_dir=$DATA" --set data_loader.args.limit=640
       --set data_loader.args.validation_split=0 --set trainer.epochs=1 --set trainer.verbosity=1
       --set trainer.monitor=off --set arch.args.dropout=0 --set optimizer.type=Adam
       --set data_loader.args.num_workers=1)

# ---- equivalence: N ranks at B/N against one process at B ----
# equivalent NAME RANKS SINGLE_ARGS -- RANK_ARGS: compares the two final checkpoints
equivalent() {
  local name=$1 ranks=$2
  shift 2
  local single=() multi=()
  while [ "$1" != "--" ]; do single+=("$1"); shift; done
  shift
  multi=("$@")
  if train "$name.1.log" "${SMALL[@]}" --set "trainer.save_dir=$T/$name.1" "${single[@]}" &&
    mpi "$ranks" "$name.n.log" "${SMALL[@]}" --set "trainer.save_dir=$T/$name.n" "${multi[@]}"; then
    check "$name: $ranks ranks end with one process's weights (1e-5 relative)" \
      ckpt close "$(ck "$T/$name.n" checkpoint-epoch1.ckpt)" "$(ck "$T/$name.1" checkpoint-epoch1.ckpt)" 1e-5
  else
    fail "$name: $(tail -n 3 "$name.n.log")"
  fi
}
start=$SECONDS
equivalent adam 2 --set data_loader.args.batch_size=32 -- --set data_loader.args.batch_size=16
equivalent accumulate 2 --set data_loader.args.batch_size=32 -- \
  --set data_loader.args.batch_size=8 --set trainer.accumulate_grad_batches=2
equivalent frozen 2 --set data_loader.args.batch_size=32 --set 'arch.freeze=["conv1.*"]' -- \
  --set data_loader.args.batch_size=16 --set 'arch.freeze=["conv1.*"]'
# each rank splitting its batch in 2 shards (trainer.batch_split; on one thread the shards run in turn)
equivalent split 2 --set data_loader.args.batch_size=32 -- \
  --set data_loader.args.batch_size=16 --set trainer.batch_split=2
equivalent split_accumulate 2 --set data_loader.args.batch_size=32 -- \
  --set data_loader.args.batch_size=8 --set trainer.accumulate_grad_batches=2 --set trainer.batch_split=2
# one rank under mpirun runs the whole communication path (buckets, MPI all-reduce of one): the same bits
if mpi 1 one.log "${SMALL[@]}" --set "trainer.save_dir=$T/one" --set data_loader.args.batch_size=32; then
  check "mpirun -np 1 (the DDP path with one rank) gives one process's weights bit for bit" \
    ckpt same "$(ck "$T/one" checkpoint-epoch1.ckpt)" "$(ck "$T/adam.1" checkpoint-epoch1.ckpt)"
else
  fail "mpirun -np 1: $(tail -n 3 one.log)"
fi
# (600 samples: 3 ranks of 10 need no padding, which would repeat samples the single process sees once)
equivalent three 3 --set data_loader.args.batch_size=30 --set data_loader.args.limit=600 -- \
  --set data_loader.args.batch_size=10 --set data_loader.args.limit=600
# BatchNorm: SyncBatchNorm makes 2 ranks x 16 one process x 32 (running statistics included); without it
# each rank normalises by its own 16 samples. SGD: Adam would amplify the rounding noise of the
# Linear biases before a BatchNorm, whose exact gradient is 0.
BN=(--set 'arch={"type": "MLP", "args": {"hidden": [64, 32], "batch_norm": true}}' --set optimizer.type=SGD
    --set 'optimizer.args={"lr": 0.05, "momentum": 0.9}')
equivalent syncbn 2 "${BN[@]}" --set data_loader.args.batch_size=32 -- \
  "${BN[@]}" --set data_loader.args.batch_size=16 --set 'distributed={"sync_batchnorm": true}'
if mpi 2 localbn.log "${SMALL[@]}" "${BN[@]}" --set "trainer.save_dir=$T/localbn" --set data_loader.args.batch_size=16 &&
  ! ckpt close "$(ck "$T/localbn" checkpoint-epoch1.ckpt)" "$(ck "$T/syncbn.1" checkpoint-epoch1.ckpt)" 1e-3 >/dev/null; then
  pass "without sync_batchnorm each rank normalises by its own batch (the weights differ from the global batch's)"
else
  fail "BatchNorm without sync: $(tail -n 3 localbn.log)"
fi
check "the frozen conv1 stayed as initialised on both sides (bit-identical)" "$PYTHON" "$HERE/e2e_finetune.py" same \
  "$(ck "$T/frozen.n" checkpoint-epoch1.ckpt)" "$(ck "$T/frozen.1" checkpoint-epoch1.ckpt)" conv1.weight conv1.bias
echo "        (equivalence runs: $((SECONDS - start)) s)"

# ---- against PyTorch's DistributedDataParallel (gloo, 2 processes) from the same weights ----
start=$SECONDS
TORCH_PY=${TORCH_PYTHON:-/usr/bin/python3}
REF="$SRC/tests/ref/ddp_ref.py"
rc=0
"$TORCH_PY" "$REF" init torch_init.safetensors >ref.log 2>&1 || rc=$?
if [ "$rc" -eq 0 ]; then
  "$TORCH_PY" "$REF" train torch_init.safetensors "$DATA/MNIST/raw" torch_ddp.safetensors \
    '{"limit": 640, "batch_size": 16, "lr": 0.01, "momentum": 0.9}' >>ref.log 2>&1 || rc=$?
fi
if [ "$rc" -eq 0 ] && mpi 2 vs_torch.log "${SMALL[@]}" --set "trainer.save_dir=$T/vs_torch" --set data_loader.args.batch_size=16 \
  --set data_loader.args.shuffle=false --set optimizer.type=SGD --set 'optimizer.args={"lr": 0.01, "momentum": 0.9}' \
  --set "arch.pretrained=$T/torch_init.safetensors"; then
  check "2 ranks end 20 SGD steps with PyTorch DDP's weights (gloo, 2 processes; 1e-5 relative)" \
    ckpt close "$(ck "$T/vs_torch" checkpoint-epoch1.ckpt)" torch_ddp.safetensors 1e-5
elif [ "$rc" -eq 3 ]; then
  echo "SKIP: no python3 with torch and gloo ($TORCH_PY): the comparison with PyTorch DDP is skipped"
else
  fail "PyTorch DDP reference (exit $rc): $(tail -n 3 ref.log) $(tail -n 3 vs_torch.log 2>/dev/null)"
fi
echo "        (PyTorch DDP comparison: $((SECONDS - start)) s)"

# ---- ZeRO-1: the optimizer state sharded over the ranks, the same training ----
start=$SECONDS
ZARGS=("${SMALL[@]}" --set data_loader.args.batch_size=16 --set trainer.epochs=2 --set data_loader.args.validation_split=0.1)
if mpi 2 z0.log "${ZARGS[@]}" --set "trainer.save_dir=$T/z0" &&
  mpi 2 z1.log "${ZARGS[@]}" --set "trainer.save_dir=$T/z1" --set 'distributed={"zero": 1}'; then
  check "distributed.zero 1: weights and optimizer state bit-identical to unsharded training (the checkpoint gathers them)" \
    ckpt same "$(ck "$T/z1" checkpoint-epoch2.ckpt)" "$(ck "$T/z0" checkpoint-epoch2.ckpt)" --with-optimizer
  split=$(sed -n 's/.*ZeRO-1: optimizer state elements per rank: \([0-9]*\), \([0-9]*\) (\([0-9]*\) in all).*/\1 \2 \3/p' z1.log | tail -n 1)
  # each element has one owner, an equal run per rank: the halves differ by at most one element per
  # state tensor (Adam with amsgrad keeps three); MnistModel's largest tensor alone is 73% of it all
  check "each rank holds half of the optimizer state ($split: per rank, in all)" \
    awk -v s="$split" 'BEGIN { split(s, v, " "); d = v[1] - v[2]
                               exit !(v[3] > 0 && v[1] + v[2] == v[3] && d <= 3 && d >= -3) }'
  # (the resumed runs save into new run folders: the newest checkpoint-epoch2 is theirs)
  newest() { ls -t "$1"/models/*/*/checkpoint-epoch2.ckpt | head -n 1; }
  # resumes epoch 2 from $2's epoch 1 under zero 1; it must end with z0's epoch 2
  zero_resume() { # log, run folder, what
    if mpi 2 "$1" -r "$(ck "$2" checkpoint-epoch1.ckpt)" --set 'distributed={"zero": 1}' &&
      [ "$(newest "$2")" != "$(ck "$2" checkpoint-epoch2.ckpt)" ]; then
      check "$3" ckpt same "$(ck "$T/z0" checkpoint-epoch2.ckpt)" "$(newest "$2")" --with-optimizer
    else
      fail "$3: $(tail -n 3 "$1")"
    fi
  }
  zero_resume z2.log "$T/z0" "a whole state resumed with zero 1 is sharded and goes on bit-identically"
  zero_resume z6.log "$T/z1" "a ZeRO checkpoint resumed with zero 1 goes on bit-identically"
  if train z3.log -r "$(ck "$T/z1" checkpoint-epoch1.ckpt)" --set data_loader.args.batch_size=32; then
    # (one process at batch 32 against 2 ranks at 16 sums the conv gradients in another order; after an
    # epoch of Adam (amsgrad) that rounding shows at about 1e-4: the format is what this checks)
    check "a ZeRO checkpoint resumes in one process (the single-process format)" \
      ckpt close "$(newest "$T/z1")" "$(ck "$T/z0" checkpoint-epoch2.ckpt)" 1e-3
  else
    fail "ZeRO checkpoint in one process: $(tail -n 3 z3.log)"
  fi
else
  fail "ZeRO runs: $(tail -n 3 z1.log)"
fi
# 3 ranks: runs that end inside tensors at other places, one tensor split over all three
if mpi 3 z4.log "${ZARGS[@]}" --set trainer.epochs=1 --set "trainer.save_dir=$T/z4" &&
  mpi 3 z5.log "${ZARGS[@]}" --set trainer.epochs=1 --set "trainer.save_dir=$T/z5" --set 'distributed={"zero": 1}'; then
  check "distributed.zero 1 on 3 ranks: bit-identical to unsharded training" \
    ckpt same "$(ck "$T/z5" checkpoint-epoch1.ckpt)" "$(ck "$T/z4" checkpoint-epoch1.ckpt)" --with-optimizer
else
  fail "ZeRO on 3 ranks: $(tail -n 3 z5.log)"
fi
# unfrozen parameters join the optimizer in epoch 2: they are cut among the ranks on their own
UARGS=("${ZARGS[@]}" --set 'arch.freeze=["conv*"]' --set trainer.unfreeze_epoch=2)
if mpi 2 u0.log "${UARGS[@]}" --set "trainer.save_dir=$T/u0" &&
  mpi 2 u1.log "${UARGS[@]}" --set "trainer.save_dir=$T/u1" --set 'distributed={"zero": 1}'; then
  check "distributed.zero 1 with layers unfrozen in epoch 2: bit-identical to unsharded training" \
    ckpt same "$(ck "$T/u1" checkpoint-epoch2.ckpt)" "$(ck "$T/u0" checkpoint-epoch2.ckpt)" --with-optimizer
else
  fail "ZeRO with unfreeze_epoch: $(tail -n 3 u1.log)"
fi
echo "        (ZeRO runs: $((SECONDS - start)) s)"

# ---- a real run ----
start=$SECONDS
REAL=("${BASE_ARGS[@]}" --set data_loader.args.limit=6000 --set data_loader.args.validation_split=0.2
      --set trainer.epochs=2)
if mpi 2 real.log "${REAL[@]}" --set data_loader.args.batch_size=64 --set trainer.save_dir="$T/real" &&
  run=$(run_dir "$T/real" Mnist_LeNet) &&
  train real1.log "${REAL[@]}" --set data_loader.args.batch_size=128 --set trainer.save_dir="$T/real1"; then
  acc=$(epoch_value real.log val_accuracy)
  acc1=$(epoch_value real1.log val_accuracy)
  check "2 ranks x 2 epochs: val_accuracy $acc (>= 0.85)" at_least "$acc" 0.85
  check "... in the single-process band (one process at the same global batch: $acc1, +-0.03)" \
    awk -v a="$acc" -v b="$acc1" 'BEGIN { d = a - b; exit !(d < 0.03 && d > -0.03) }'
  check "the log says the layout" grep -q "Distributed data parallel: 2 ranks (mpi), batch_size 64 per rank, global batch size 128" real.log
  check "each epoch is logged once (rank 0 logs)" test "$(grep -c "    epoch          : 2" real.log)" = 1
  check "one run folder, rank 0's" test "$(ls "$T/real/models/Mnist_LeNet" | wc -l)" = 1
  "$TEST" -r "$run/checkpoint-epoch2.ckpt" >test1.log 2>&1
  timeout 120 "$MPIRUN" -np 2 "$TEST" -r "$run/checkpoint-epoch2.ckpt" >test2.log 2>&1
  r1=$(grep "'loss'" test1.log)
  r2=$(grep "'loss'" test2.log)
  check "./test under mpirun reports what ./test alone does ($r1)" test -n "$r1" -a "$r1" = "$r2"
  check "... once" test "$(grep -c "'loss'" test2.log)" = 1
else
  fail "mpirun -np 2 ./train: $(tail -n 5 real.log)"
fi
echo "        (real run: $((SECONDS - start)) s)"

# ---- resume across layouts (len_epoch 15 of the loader's 20 batches: it stops inside its epoch) ----
start=$SECONDS
LONG=("${SMALL[@]}" --set trainer.len_epoch=15 --set trainer.epochs=2)
if train straight.log "${LONG[@]}" --set "trainer.save_dir=$T/straight" --set data_loader.args.batch_size=32 &&
  mpi 2 first2.log "${LONG[@]}" --set "trainer.save_dir=$T/first2" --set data_loader.args.batch_size=16 --set trainer.epochs=1; then
  end=$(ck "$T/straight" checkpoint-epoch2.ckpt)
  if train resumed1.log -r "$(ck "$T/first2" checkpoint-epoch1.ckpt)" --set trainer.epochs=2 --set data_loader.args.batch_size=32; then
    check "2 ranks -> 1 process: resumed inside the loader's epoch, ends as the straight run" \
      ckpt close "$(ck "$T/first2" checkpoint-epoch2.ckpt)" "$end" 1e-5
  else
    fail "resume 2 -> 1"
  fi
  if mpi 2 resumed2.log -r "$(ck "$T/straight" checkpoint-epoch1.ckpt)" --set data_loader.args.batch_size=16; then
    check "1 process -> 2 ranks: ends as the straight run" \
      ckpt close "$(ck "$T/straight" checkpoint-epoch2.ckpt)" "$end" 1e-5
  else
    fail "resume 1 -> 2: $(tail -n 3 resumed2.log)"
  fi
  if ! mpi 2 badlayout.log -r "$(ck "$T/straight" checkpoint-epoch1.ckpt)" --set data_loader.args.batch_size=32 &&
    grep -q "stopped inside an epoch of global batches of 32 samples" badlayout.log; then
    pass "another global batch size inside an epoch is refused"
  else
    fail "another global batch size: $(tail -n 3 badlayout.log)"
  fi
else
  fail "the runs to resume from: $(tail -n 3 first2.log)"
fi
echo "        (resume runs: $((SECONDS - start)) s)"

# ---- faults ----
start=$SECONDS
# one rank's data file is broken (ranks in two folders, the config's data_dir relative)
mkdir -p good/data/MNIST bad/data/MNIST/raw
ln -s "$DATA/MNIST/raw" good/data/MNIST/raw
for f in "$DATA"/MNIST/raw/*; do ln -s "$f" bad/data/MNIST/raw/; done
rm -f bad/data/MNIST/raw/train-images-idx3-ubyte*
head -c 5000 "$DATA/MNIST/raw/train-images-idx3-ubyte" >bad/data/MNIST/raw/train-images-idx3-ubyte 2>/dev/null ||
  head -c 5000 <(gzip -dc "$DATA/MNIST/raw/train-images-idx3-ubyte.gz") >bad/data/MNIST/raw/train-images-idx3-ubyte
ONE=("${SMALL[@]}" --set data_loader.args.data_dir=data --set "trainer.save_dir=$T/faults")
rc=0
timeout 60 "$MPIRUN" -np 1 --wdir "$T/good" "$TRAIN" "${ONE[@]}" : -np 1 --wdir "$T/bad" "$TRAIN" "${ONE[@]}" \
  >broken.log 2>&1 || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q "error: rank 1 of 2: .*train-images-idx3-ubyte" broken.log; then
  pass "a broken data file on one rank ends the job with the rank and the file (exit $rc)"
else
  fail "broken data on one rank (exit $rc): $(grep error broken.log | head -n 2)"
fi
# different models, different configs
rc=0
timeout 60 "$MPIRUN" -np 1 "$TRAIN" "${SMALL[@]}" --set "trainer.save_dir=$T/mm" : \
  -np 1 "$TRAIN" "${SMALL[@]}" --set "trainer.save_dir=$T/mm" --set 'arch={"type": "MnistNet", "args": {}}' \
  >mismatch.log 2>&1 || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q "rank 1 built another model than rank 0" mismatch.log; then
  pass "ranks with different models are refused at start"
else
  fail "different models (exit $rc): $(grep error mismatch.log | head -n 2)"
fi
rc=0
timeout 60 "$MPIRUN" -np 1 "$TRAIN" "${SMALL[@]}" --set "trainer.save_dir=$T/mc" : \
  -np 1 "$TRAIN" "${SMALL[@]}" --set "trainer.save_dir=$T/mc" --lr 0.5 >mismatch2.log 2>&1 || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q "rank 1's config differs from rank 0's" mismatch2.log; then
  pass "ranks with different configs are refused at start"
else
  fail "different configs (exit $rc): $(grep error mismatch2.log | head -n 2)"
fi
# divergence is decided once, for all ranks
rc=0
mpi 2 nan.log "${SMALL[@]}" --set "trainer.save_dir=$T/nan" --set data_loader.args.batch_size=16 --lr 1e30 || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -q "training diverged" nan.log; then
  pass "a diverging run stops every rank with the divergence message"
else
  fail "divergence (exit $rc): $(tail -n 3 nan.log)"
fi
# a rank killed with SIGKILL: the job ends, the last checkpoint loads
KILL_ARGS=("${SMALL[@]}" --set "trainer.save_dir=$T/killed" --set data_loader.args.batch_size=16
           --set trainer.epochs=400 --set data_loader.args.limit=320)
"$MPIRUN" -np 2 "$TRAIN" "${KILL_ARGS[@]}" >killed.log 2>&1 &
job=$!
for _ in $(seq 600); do
  [ -n "$(ck "$T/killed" checkpoint-epoch2.ckpt)" ] && break
  sleep 0.1
done
victim=$(pgrep -P "$job" -f "$TRAIN" | tail -n 1)
t0=$SECONDS
[ -n "$victim" ] && kill -9 "$victim"
rc=0
wait_s=0
while kill -0 "$job" 2>/dev/null && [ $wait_s -lt 600 ]; do sleep 0.1; wait_s=$((wait_s + 1)); done
if kill -0 "$job" 2>/dev/null; then
  kill -9 "$job"
  fail "the job still ran 60 s after a rank was killed"
else
  wait "$job" || rc=$?
  last=$(ls -t "$T"/killed/models/*/*/checkpoint-epoch*.ckpt | head -n 1)
  if [ -n "$victim" ] && [ "$rc" -ne 0 ] && "$TEST" -r "$last" >killed_test.log 2>&1; then
    pass "a rank killed with SIGKILL ends the job ($((SECONDS - t0)) s, exit $rc); the last checkpoint loads"
  else
    fail "SIGKILL of a rank: victim '$victim', exit $rc, $(tail -n 2 killed_test.log 2>/dev/null)"
  fi
fi
echo "        (fault runs: $((SECONDS - start)) s)"

# ---- bad settings ----
rc=0
mpi 2 nccl.log "${SMALL[@]}" --set "trainer.save_dir=$T/nccl" --set n_gpu=0 --set 'distributed={"backend": "nccl"}' || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -qF 'distributed.backend: "nccl" averages CUDA gradients, but this run trains on cpu' nccl.log; then
  pass "distributed.backend nccl on CPU ranks is refused"
else
  fail "backend nccl on CPU ranks (exit $rc): $(grep error nccl.log | head -n 2)"
fi
expect_train_error "an unknown distributed.backend is refused" 'distributed.backend: expected "auto", "mpi" or "nccl", got "gloo"' \
  "${SMALL[@]}" --set 'distributed={"backend": "gloo"}'
expect_train_error "a bucket of 0 MB is refused" "distributed.bucket_mb: expected a size in (0, 4096] MB, got 0" \
  "${SMALL[@]}" --set 'distributed={"bucket_mb": 0}'
expect_train_error "accumulate_grad_batches 0 is refused" "trainer.accumulate_grad_batches: expected 1 to the 5 batches of an epoch, got 0" \
  "${SMALL[@]}" --set trainer.accumulate_grad_batches=0
# NCCL (CUDA ranks): the module is built with CUDA; on a GPU machine
# scripts/gpu_check.sh runs 1 rank on a GPU through it. Here it is never loaded.
if [ -f "$BUILD/libdist_nccl.so" ]; then
  pass "the NCCL module is built ($BUILD/libdist_nccl.so)"
fi
echo "SKIP: no GPU here: distributed training over NCCL is not run"
DIST_MODULE=/nonexistent/libdist_mpi.so train plain.log "${SMALL[@]}" --set "trainer.save_dir=$T/plain" &&
  pass "a plain ./train never loads the MPI module (a missing one does not matter)" ||
  fail "plain ./train with DIST_MODULE pointing nowhere"
finish
