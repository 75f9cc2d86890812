#!/usr/bin/env bash
# Runs bench_models (ours) and bench_models.py (Debian's PyTorch) with the
# same thread count, alternating a few rounds, and prints medians and ratios
# (ratio = torch time / our time: above 1 means we are faster).
# Usage: bench/run_models.sh [build_dir] [threads] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${2:-$(nproc)}
rounds=${3:-3}
python=${TORCH_PYTHON:-/usr/bin/python3}
# the same OpenMP waiting policy ./train uses (utils/threads.h); override by exporting it
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
ours=$(mktemp) theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT
for _ in $(seq "$rounds"); do
    "$build/bench/bench_models" 30 >>"$ours"
    "$python" bench/bench_models.py 30 "$threads" >>"$theirs"
done
printf '%-28s %12s %12s %8s\n' model ours_ms torch_ms ratio
for model in $(awk '{print $1}' "$ours" | sort -u); do
    o=$(awk -v m="$model" '$1==m {print $3}' "$ours" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    t=$(awk -v m="$model" '$1==m {print $3}' "$theirs" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    printf '%-28s %12.3f %12.3f %8.2f\n' "$model" "$o" "$t" "$(echo "$t / $o" | bc -l)"
done
echo "threads=$threads rounds=$rounds (median over rounds of per-round medians)"
