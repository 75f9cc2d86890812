#!/usr/bin/env bash
# What threads buy the default config: the steady epoch (bench/epoch_floor.sh)
# on 1 thread, and on N threads with each batch split into one shard per
# thread (trainer.batch_split "auto", the default) and kept whole (1: each op
# threaded), rounds alternating so that a change of load hits all three.
# Prints the medians over rounds, the speed-ups over 1 thread, each one's
# ratio to the N-thread floor (the epoch's FLOP at the N-thread sgemm peak)
# and the fastest and slowest round (on a shared machine the load moves the
# two-thread epoch the most), then the same ratios for the fastest rounds.
#
# Usage: bench/thread_scaling.sh [epochs] [threads] [rounds]   (defaults 3, nproc, 3)
#   BUILD=dir as for epoch_floor.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-3}
threads=${2:-$(nproc)}
rounds=${3:-3}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for r in $(seq "$rounds"); do
    for mode in one split whole; do
        case $mode in
        one) n=1 set="" ;;
        split) n=$threads set="trainer.batch_split=auto" ;;
        whole) n=$threads set="trainer.batch_split=1" ;;
        esac
        TRAIN_SET=$set bench/epoch_floor.sh "$epochs" "$n" 1 >"$out.run"
        steady=$(awk '/^steady epoch/ {print $3}' "$out.run")
        floor=$(awk '/^floor/ {print $2}' "$out.run")
        acc=$(awk -F'round: ' '/val_accuracy/ {print $2}' "$out.run" | tr -d ') ')
        echo "$mode $steady $floor $acc" >>"$out"
        echo "round $r: $mode ($n threads) steady epoch $steady s, floor $floor s, val_accuracy $acc" >&2
    done
done
rm -f "$out.run"
# column $2 of a mode's rounds, in increasing order
sorted() { awk -v m="$1" -v c="$2" '$1 == m {print $c}' "$out" | sort -g; }
median() { sorted "$1" "$2" | awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# the fastest and slowest round of a mode: how much the load moved it
range() { sorted "$1" 2 | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.3f-%.3f", lo, hi}'; }
one=$(median one 2) split=$(median split 2) whole=$(median whole 2) floor=$(median split 3)
printf '%-40s %10s %12s %12s %14s\n' "default config, steady epoch" seconds "vs 1 thread" "vs floor" "rounds' range"
printf '%-40s %10.3f %12s %12s %14s\n' "1 thread" "$one" 1.00 - "$(range one)"
printf '%-40s %10.3f %12.2f %12.2f %14s\n' "$threads threads, batch_split auto (shards)" "$split" \
    "$(echo "$one / $split" | bc -l)" "$(echo "$split / $floor" | bc -l)" "$(range split)"
printf '%-40s %10.3f %12.2f %12.2f %14s\n' "$threads threads, batch_split 1 (whole)" "$whole" \
    "$(echo "$one / $whole" | bc -l)" "$(echo "$whole / $floor" | bc -l)" "$(range whole)"
echo "medians of $rounds rounds of $epochs epochs; floor at the $threads-thread sgemm peak: $floor s"
# the least disturbed rounds, the nearest this gets to a quiet machine
one_min=$(sorted one 2 | head -1) split_min=$(sorted split 2 | head -1)
printf 'fastest rounds: 1 thread %.3f s, %d threads split %.3f s: %.2f times 1 thread, %.2fx the floor\n' \
    "$one_min" "$threads" "$split_min" "$(echo "$one_min / $split_min" | bc -l)" "$(echo "$split_min / $floor" | bc -l)"
