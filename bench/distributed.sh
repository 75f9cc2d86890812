#!/usr/bin/env bash
# Distributed training on this machine, side by side (the default config:
# MnistModel on MNIST, global batch 128):
#   ours: 1 process x 2 threads, 2 ranks x 1 thread (mpirun), the latter
#   also with one gradient bucket for the whole model (bucket_mb 4096: the
#   averaging starts only after the whole backward, no overlap);
#   PyTorch: DistributedDataParallel on 2 gloo processes x 1 thread
#   (bench/ddp_reference.py).
# Steady s/epoch: ours from the wall times of 1- and 3-epoch runs
# ((T3 - T1) / 2), PyTorch's as it measures epochs 2..3 itself; medians of
# `rounds`. Also the share of an epoch our ranks spent waiting for the
# gradient averaging (rank 0's log), with and without overlap.
# usage: bench/distributed.sh [rounds]   (needs data/MNIST, mpirun, /usr/bin/python3 with torch)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
TRAIN=$(realpath "${TRAIN:-build/train}")
PY=${TORCH_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ln -s "$PWD/logger" "$work/logger"
ARGS=(-c "$PWD/config.json" --set "data_loader.args.data_dir=$PWD/data" --set n_gpu=0 --set trainer.monitor=off
      --set trainer.verbosity=2 --set trainer.tensorboard=false)

calc() { awk "BEGIN { print $* }"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# wall SECONDS of a command
wall() { local t0 t1; t0=$(date +%s.%N); "$@" >"$work/run.log" 2>&1; t1=$(date +%s.%N); calc "$t1 - $t0"; }
# steady KIND...: (T3 - T1) / 2 for one round of a run kind
steady() {
  local t1 t3
  t1=$(wall run_kind "$@" 1)
  t3=$(wall run_kind "$@" 3)
  cp "$work/run.log" "$work/last3.log"
  calc "($t3 - $t1) / 2"
}
run_kind() {
  local kind=$1 epochs=$2
  case $kind in
  single) OMP_NUM_THREADS=2 "$TRAIN" "${ARGS[@]}" --set "trainer.save_dir=$work/s" --set trainer.epochs="$epochs" ;;
  ranks) OMP_NUM_THREADS=1 mpirun -np 2 "$TRAIN" "${ARGS[@]}" --set "trainer.save_dir=$work/r" --set data_loader.args.batch_size=64 \
           --set trainer.epochs="$epochs" ;;
  ranks_one_bucket) OMP_NUM_THREADS=1 mpirun -np 2 "$TRAIN" "${ARGS[@]}" --set "trainer.save_dir=$work/b" \
           --set data_loader.args.batch_size=64 --set 'distributed={"bucket_mb": 4096}' --set trainer.epochs="$epochs" ;;
  esac
}
# the waiting share of the last 3-epoch run's epochs 2..3
wait_share() {
  awk '/Gradient averaging:/ { n++; if (n > 1) w += $3 } END { print w }' "$work/last3.log"
}

declare -A times waits
for kind in single ranks ranks_one_bucket; do
  for r in $(seq "$rounds"); do
    s=$(steady "$kind")
    times[$kind]+="$s "
    [ "$kind" != single ] && waits[$kind]+="$(wait_share) "
  done
done
torch_times=""
for r in $(seq "$rounds"); do
  OMP_NUM_THREADS=1 "$PY" bench/ddp_reference.py "$PWD/data/MNIST/raw" 2 64 3 >"$work/torch.log" 2>&1
  torch_times+="$(awk '$1 == "epoch_s" && $2 > 1 { s += $3; n++ } END { print s / n }' "$work/torch.log") "
done

med() { tr ' ' '\n' <<<"$1" | grep . | median; }
single=$(med "${times[single]}")
ranks=$(med "${times[ranks]}")
onebucket=$(med "${times[ranks_one_bucket]}")
torch=$(med "$torch_times")
printf "steady s/epoch, default config (global batch 128), medians of %d rounds\n" "$rounds"
printf "  %-44s %7.2f\n" "ours, 1 process x 2 threads" "$single"
printf "  %-44s %7.2f   (x%.2f vs 1 process)\n" "ours, 2 ranks x 1 thread (MPI)" "$ranks" "$(calc "$single / $ranks")"
printf "  %-44s %7.2f\n" "ours, 2 ranks x 1 thread, one bucket (no overlap)" "$onebucket"
printf "  %-44s %7.2f   (PyTorch / ours, 2 ranks: x%.2f)\n" "PyTorch DDP, 2 gloo processes x 1 thread" "$torch" \
  "$(calc "$torch / $ranks")"
w=$(med "${waits[ranks]}")
w1=$(med "${waits[ranks_one_bucket]}")
printf "waiting for the gradient averaging, share of an epoch (rank 0): %.1f%% with overlap, %.1f%% with one bucket\n" \
  "$(calc "100 * $w / 2 / $ranks")" "$(calc "100 * $w1 / 2 / $onebucket")"
