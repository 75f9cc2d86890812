#!/usr/bin/env bash
# Runs bench_models (ours) and bench_models.py (PyTorch) on the same device
# with the same thread count, alternating a few rounds, and prints per model
# the medians, their ratio (torch time / our time: above 1 means we are
# faster), the peak device memory of each (MiB; 0 on the CPU) and the shards
# our step split each batch into (trainer.batch_split "auto", as ./train).
# Usage: bench/run_models.sh [build_dir] [threads] [rounds] [device] [options...]
#   device   cpu (default) or cuda
#   options  passed to both programs: --iters N, --models a,b,..., --tf32,
#            --cpu-time (process CPU time instead of wall time)
# e.g. bench/run_models.sh build 2 1 cpu
#      bench/run_models.sh build 16 3 cuda --models resnet18_b256 --tf32
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${2:-$(nproc)}
rounds=${3:-3}
device=${4:-cpu}
shift $(($# < 4 ? $# : 4))
python=${TORCH_PYTHON:-/usr/bin/python3}
# the same OpenMP waiting policy ./train uses (utils/threads.h); override by exporting it
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
ours=$(mktemp) theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT
for _ in $(seq "$rounds"); do
    "$build/bench/bench_models" --device "$device" "$@" >>"$ours"
    "$python" bench/bench_models.py --device "$device" --threads "$threads" "$@" >>"$theirs"
done
# median over rounds of column $3 (time) or $5 (memory) of one model's lines
median() { awk -v m="$2" -v c="$3" '$1==m {print $c}' "$1" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-28s %12s %12s %8s %10s %10s %7s\n' model ours_ms torch_ms ratio ours_mb torch_mb shards
for model in $(awk '{print $1}' "$ours" | awk '!seen[$0]++'); do
    o=$(median "$ours" "$model" 3) t=$(median "$theirs" "$model" 3)
    om=$(median "$ours" "$model" 5) tm=$(median "$theirs" "$model" 5) shards=$(median "$ours" "$model" 7)
    printf '%-28s %12.3f %12.3f %8.2f %10.1f %10.1f %7s\n' "$model" "$o" "$t" "$(echo "$t / $o" | bc -l)" "$om" "$tm" "$shards"
done
echo "device=$device threads=$threads rounds=$rounds${*:+ options: $*} (median over rounds of per-round medians)"
