#!/usr/bin/env bash
# The default config's steady epoch against this machine's floor, measured in
# the same run: the floor is the epoch's work (161.4 GFLOP: 54,000 training
# samples x 2.88 MFLOP + 6,000 validation samples x 0.96 MFLOP for MnistModel)
# at the sgemm peak of this machine (bench_sgemm 2048^3, best of its runs, on
# the same threads, measured before and after the training and the higher
# kept). The steady epoch is the median over epochs 2..N of every round of the
# time between the "epoch :" lines of ./train's info.log.
# Prints the sgemm peak, the floor, the steady epoch and the ratio
# (steady / floor; the goal of issue 13 is at most 2).
#
# Usage: bench/epoch_floor.sh [epochs] [threads] [rounds]   (defaults 3, nproc, 1)
#   BUILD=dir: the build with ./train and bench/bench_sgemm (default: the
#   folder ./train links to, else build/). BENCH_KEEP=1 keeps the work folder.
#   CLOCK=cpu: also the epoch in CPU seconds (user + system of ./train, for
#   N epochs minus for 1 epoch, over N - 1): on a machine shared with other
#   jobs, with 1 thread, it leaves out the time ./train waited for a core
#   (compare it with the floor at the 1-thread peak).
#   TRAIN_SET="key=value ...": more --set options for ./train (e.g.
#   "trainer.batch_split=1"; bench/thread_scaling.sh uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-3}
threads=${2:-$(nproc)}
rounds=${3:-1}
[ "$epochs" -ge 2 ] && [ "$rounds" -ge 1 ] || { echo "usage: bench/epoch_floor.sh [epochs >= 2] [threads] [rounds]" >&2; exit 2; }
if [ -z "${BUILD:-}" ]; then
    if [ -L train ]; then BUILD=$(dirname "$(readlink -f train)"); else BUILD=build; fi
fi
train=$BUILD/train
sgemm=$BUILD/bench/bench_sgemm
[ -x "$train" ] && [ -x "$sgemm" ] || { echo "build first: $train and $sgemm (make train_prog bench_sgemm)" >&2; exit 1; }
scripts/fetch_mnist.sh >/dev/null
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
extra=()
for kv in ${TRAIN_SET:-}; do extra+=(--set "$kv"); done

work=$(mktemp -d)
if [ -n "${BENCH_KEEP:-}" ]; then trap 'echo "logs kept in $work"' EXIT; else trap 'rm -rf "$work"' EXIT; fi

peak() { "$sgemm" 2048 5 | awk '{for (i = 1; i < NF; i++) if ($i == "best_gflops") print $(i + 1)}'; }
p1=$(peak)
for r in $(seq "$rounds"); do
    "$train" -c config.json --set trainer.epochs="$epochs" --set trainer.save_dir="$work/save.$r/" \
        --set trainer.tensorboard=false --set n_gpu=0 ${extra[@]+"${extra[@]}"} >"$work/train.$r.log" 2>&1 ||
        { echo "train failed; the end of its log:" >&2; tail -20 "$work/train.$r.log" >&2; exit 1; }
done
p2=$(peak)
# CLOCK=cpu: CPU seconds of ./train for 1 and for N epochs (wait4's rusage)
cpu_s() {
    python3 -c 'import os, sys
pid = os.fork()
if pid == 0:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1); os.dup2(fd, 2)
    os.execv(sys.argv[2], sys.argv[2:])
_, st, ru = os.wait4(pid, 0)
print("%.3f" % (ru.ru_utime + ru.ru_stime)); sys.exit(os.waitstatus_to_exitcode(st))' "$@"
}
cpu_line=""
if [ "${CLOCK:-}" = cpu ]; then
    c1=() cn=()
    for r in $(seq "$rounds"); do
        c1+=("$(cpu_s "$work/cpu1.$r.log" "$train" -c config.json --set trainer.epochs=1 \
            --set trainer.save_dir="$work/cpu1.$r/" --set trainer.tensorboard=false --set n_gpu=0 ${extra[@]+"${extra[@]}"})")
        cn+=("$(cpu_s "$work/cpun.$r.log" "$train" -c config.json --set trainer.epochs="$epochs" \
            --set trainer.save_dir="$work/cpun.$r/" --set trainer.tensorboard=false --set n_gpu=0 ${extra[@]+"${extra[@]}"})")
    done
    cpu_line=$(for r in $(seq "$rounds"); do
            awk -v a="${c1[r - 1]}" -v b="${cn[r - 1]}" -v e="$epochs" 'BEGIN { printf "%.3f\n", (b - a) / (e - 1) }'
        done | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
fi
# seconds between consecutive "epoch :" lines of info.log (epochs 2..N)
for r in $(seq "$rounds"); do
    awk 'FNR == 1 {n = 0} / - trainer - INFO - +epoch +: / {
             split($2, t, /[:,]/); s = t[1] * 3600 + t[2] * 60 + t[3] + t[4] / 1000
             if (n++) print (s < prev ? s + 86400 : s) - prev; prev = s }' "$work"/save.$r/log/*/*/info.log
done | sort -g >"$work/epochs"
[ -s "$work/epochs" ] || { echo "no epoch times in info.log" >&2; exit 1; }
acc=$(for r in $(seq "$rounds"); do grep -h "val_accuracy" "$work"/save.$r/log/*/*/info.log | tail -1 | awk '{print $NF}'; done | tr '\n' ' ')
awk -v p1="$p1" -v p2="$p2" -v threads="$threads" -v acc="$acc" -v cpu="$cpu_line" '
    { v[n++] = $1 }
    END {
        steady = n % 2 ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
        peak = p1 > p2 ? p1 : p2
        floor = 161.4 / peak
        printf "threads %d  sgemm_2048 peak %.1f GFLOP/s (before %.1f, after %.1f)\n", threads, peak, p1, p2
        printf "floor %.3f s/epoch (161.4 GFLOP at the peak)\n", floor
        printf "steady epoch %.3f s (median of %d epoch times; min %.3f max %.3f)\n", steady, n, v[0], v[n - 1]
        printf "ratio steady / floor %.2f   (last val_accuracy per round: %s)\n", steady / floor, acc
        if (cpu != "") printf "CPU time per epoch %.3f s (user + system; median over rounds); ratio to the floor %.2f\n", cpu, cpu / floor
    }' "$work/epochs"
