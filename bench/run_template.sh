#!/usr/bin/env bash
# Trains MNIST (config.json: MnistModel, batch 128) on one device with three
# programs, one after the other on this machine: our ./train, pytorch-template's
# train.py (same config.json, same thread count) and bench/best_effort_loop.py
# (a best-effort PyTorch loop: data on the device, no DataLoader). Each runs
# for 1 epoch and for N epochs, so that
#   steady s/epoch = (T_N - T_1) / (N - 1)   and   start-up = T_1 - steady
# (T_1, T_N: wall times, medians over rounds), and the median of the epoch
# times each program saw itself (epochs 2..N: info.log timestamps of the two
# templates, the loop's printed times). Also reports peak GPU memory of
# the program's process (nvidia-smi, sampled every ~50 ms; blank without it),
# peak RSS, val_accuracy per epoch and the test accuracy of both templates'
# model_best, with ratios reference / ours (above 1: we are faster / smaller).
#
# Usage: bench/run_template.sh PYTORCH_TEMPLATE_DIR [epochs] [threads] [cpu|cuda] [rounds]
#   PYTORCH_TEMPLATE_DIR: a checkout of victoresque/pytorch-template (or a bare
#   git repository of it); it is copied, never modified. It needs torchvision,
#   pandas and tqdm (Debian: apt-get install python3-torchvision python3-pandas
#   python3-tqdm). epochs N >= 2 (default 3), threads (default nproc), device
#   (default cpu; cuda sets n_gpu 1 in both configs, 0 for cpu), rounds
#   (default 1). The python with torch: $TORCH_PYTHON, else the first of
#   /usr/bin/python3, python3 whose torch imports (on cuda: sees a GPU).
#   BENCH_KEEP=1 keeps the work folder with every log.
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: bench/run_template.sh PYTORCH_TEMPLATE_DIR [epochs] [threads] [cpu|cuda] [rounds]"
ref=${1:?$usage}
epochs=${2:-3}
threads=${3:-$(nproc)}
device=${4:-cpu}
rounds=${5:-1}
case $device in cpu) n_gpu=0 ;; cuda) n_gpu=1 ;; *) echo "$usage" >&2; exit 2 ;; esac
[ "$epochs" -ge 2 ] && [ "$rounds" -ge 1 ] || { echo "$usage (epochs >= 2, rounds >= 1)" >&2; exit 2; }
source bench/lib_measure.sh

# the python: one whose torch imports (on cuda: sees a GPU)
want='import torch'
[ "$device" = cpu ] || want='import torch, sys; sys.exit(not torch.cuda.is_available())'
python=${TORCH_PYTHON:-}
if [ -z "$python" ]; then
    for p in /usr/bin/python3 python3; do
        command -v "$p" >/dev/null && "$p" -c "$want" 2>/dev/null && { python=$p; break; }
    done
fi
[ -n "$python" ] && "$python" -c "$want" 2>/dev/null ||
    { echo "no python3 with a torch for $device (set TORCH_PYTHON to one)" >&2; exit 1; }
"$python" -c 'import torchvision, pandas, tqdm' 2>/dev/null ||
    { echo "pytorch-template needs torchvision, pandas and tqdm for $python" >&2; exit 1; }
[ -x ./train ] && [ -x ./test ] || { echo "build first (scripts/build.sh)" >&2; exit 1; }
scripts/fetch_mnist.sh >/dev/null
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads

work=$(mktemp -d)
if [ -n "${BENCH_KEEP:-}" ]; then trap 'echo "logs kept in $work"' EXIT; else trap 'rm -rf "$work"' EXIT; fi
mkdir -p "$work/ref" "$work/data/MNIST" "$work/log"
if [ -d "$ref/.git" ] || [ -f "$ref/train.py" ]; then
    cp -r "$ref/." "$work/ref/"
else # a bare repository
    git -C "$ref" archive HEAD | tar -C "$work/ref" -xf -
fi
ln -s "$PWD/data/MNIST/raw" "$work/data/MNIST/raw"

# write_config OUT SAVE_DIR EPOCHS: our config.json (the reference's format, read
# by both templates) with data_dir in the work folder, save_dir, epochs and n_gpu
write_config() {
    "$python" - "$@" "$work/data/" "$n_gpu" <<'EOF'
import json, sys
out, save_dir, epochs, data_dir, n_gpu = sys.argv[1:]
with open("config.json") as f:
    c = json.load(f)
c["n_gpu"] = int(n_gpu)
c["data_loader"]["args"]["data_dir"] = data_dir
c["trainer"].update(save_dir=save_dir, epochs=int(epochs))
with open(out, "w") as f:
    json.dump(c, f, indent=4)
EOF
}

# run_one PROG EPOCHS ROUND: one measured run of PROG (ours, theirs or best),
# logged to $work/log/PROG.EPOCHS.ROUND, saving to $work/save/PROG.EPOCHS.ROUND/
run_one() {
    local tag=$1.$2.$3 rc=0
    local log=$work/log/$tag cfg=$work/$tag.json
    echo "  $1, $2 epoch(s), round $3"
    case $1 in
    ours) write_config "$cfg" "$work/save/$tag/" "$2"
          measure "$log" . ./train -c "$cfg" || rc=$? ;;
    theirs) write_config "$cfg" "$work/save/$tag/" "$2"
          measure "$log" "$work/ref" "$python" train.py -c "$cfg" || rc=$? ;;
    best) measure "$log" . "$python" bench/best_effort_loop.py --device "$device" --epochs "$2" \
              --data-dir data/MNIST/raw || rc=$? ;;
    esac
    [ "$rc" = 0 ] || { echo "$1 ($2 epochs) failed with status $rc; the end of its log:"; tail -20 "$log"; exit 1; }
}

progs="ours theirs best"
echo "training on $device, $epochs epochs, $threads threads, $rounds round(s), python $python:"
for r in $(seq "$rounds"); do
    for p in $progs; do
        run_one "$p" 1 "$r"
        run_one "$p" "$epochs" "$r"
    done
done

# test accuracy of the two templates' model_best from round 1's N-epoch runs
ours_best=$(ls "$work"/save/ours."$epochs".1/models/Mnist_LeNet/*/model_best.ckpt)
theirs_best=$(ls "$work"/save/theirs."$epochs".1/models/Mnist_LeNet/*/model_best.pth)
./test -r "$ours_best" >"$work/ours_test.log" 2>&1 || { tail "$work/ours_test.log"; exit 1; }
(cd "$work/ref" && "$python" test.py -r "$theirs_best" >"$work/theirs_test.log" 2>&1) ||
    { tail "$work/theirs_test.log"; exit 1; }

# epoch_times PROG TAG: seconds of epochs 2..N of one run, as the program itself saw them: from the
# timestamps of the "epoch : k" lines of the templates' info.log (both log alike), from the epoch
# lines best_effort_loop.py prints
epoch_times() {
    if [ "$1" = best ]; then
        awk '$1 == "epoch" && $2 > 1 {print $3}' "$work/log/$2"
    else
        awk 'FNR == 1 {n = 0} / - trainer - INFO - +epoch +: / {
                 split($2, t, /[:,]/); s = t[1] * 3600 + t[2] * 60 + t[3] + t[4] / 1000
                 if (n++) print (s < prev ? s + 86400 : s) - prev; prev = s }' "$work"/save/"$2"/log/*/*/info.log
    fi
}

# per program: T_1, T_N (medians over rounds), steady, start-up, peaks over the N-epoch runs
declare -A t1 tn steady startup inproc rss gpu
for p in $progs; do
    inproc[$p]=$(for r in $(seq "$rounds"); do epoch_times "$p" "$p.$epochs.$r"; done | median)
    inproc[$p]=$(num %.3f "${inproc[$p]}")
    t1[$p]=$(for r in $(seq "$rounds"); do field wall_s "$work/log/$p.1.$r"; done | median)
    tn[$p]=$(for r in $(seq "$rounds"); do field wall_s "$work/log/$p.$epochs.$r"; done | median)
    steady[$p]=$(calc %.3f "(${tn[$p]} - ${t1[$p]}) / ($epochs - 1)")
    startup[$p]=$(calc %.2f "${t1[$p]} - ${steady[$p]}")
    rss[$p]=$(for r in $(seq "$rounds"); do field rss_kb "$work/log/$p.$epochs.$r"; done | sort -g | tail -1)
    rss[$p]=$(calc %.0f "${rss[$p]} / 1024")
    gpu[$p]=$(for r in $(seq "$rounds"); do field gpu_mb "$work/log/$p.$epochs.$r"; done | sort -g | tail -1)
done
best_log=$work/log/best.$epochs.1
best() { num "$1" "$(field "$2" "$best_log")"; } # FORMAT KEY: a value from best_effort_loop.py's SUMMARY

row() { # LABEL OURS THEIRS BEST: one table line, with ratios reference / ours
    printf '%-36s %9s %9s %11s %10s %10s\n' "$1" "${2:--}" "${3:--}" "${4:--}" "$(ratio "$3" "$2")" "$(ratio "$4" "$2")"
}
vals() { grep -oE "val_accuracy *:? *[0-9.]+" "$1" | awk '{printf "%.4f ", $NF}'; }
testacc() { grep -oE "'accuracy': [0-9.]+" "$1" | awk '{print $2}'; }

echo
printf '%-36s %9s %9s %11s %10s %10s\n' "device $device, $epochs epochs" ours template best-effort template/us best/us
row "T_1 s (whole 1-epoch run)" "${t1[ours]}" "${t1[theirs]}" "${t1[best]}"
row "T_N s (whole $epochs-epoch run)" "${tn[ours]}" "${tn[theirs]}" "${tn[best]}"
row "steady s/epoch ((T_N - T_1)/(N - 1))" "${steady[ours]}" "${steady[theirs]}" "${steady[best]}"
row "start-up s (T_1 - steady)" "${startup[ours]}" "${startup[theirs]}" "${startup[best]}"
row "in-process median s/epoch (2..N)" "${inproc[ours]}" "${inproc[theirs]}" "${inproc[best]}"
row "in-process s, epoch 1" "" "" "$(best %.3f first_epoch_s)"
row "peak GPU MB (nvidia-smi, process)" "${gpu[ours]}" "${gpu[theirs]}" "${gpu[best]}"
row "torch max_memory_allocated MB" "" "" "$(best %.1f peak_alloc_mb)"
row "torch max_memory_reserved MB" "" "" "$(best %.1f peak_reserved_mb)"
row "peak RSS MB" "${rss[ours]}" "${rss[theirs]}" "${rss[best]}"
echo "val_accuracy per epoch (round 1):"
printf '  %-12s %s\n' ours "$(vals "$work/log/ours.$epochs.1")" template "$(vals "$work/log/theirs.$epochs.1")" \
    best-effort "$(vals "$best_log")"
printf 'test accuracy (model_best): ours %s, template %s\n' "$(testacc "$work/ours_test.log")" \
    "$(testacc "$work/theirs_test.log")"
echo "T_1, T_N: wall times of whole 1- and $epochs-epoch runs, medians over $rounds round(s); in-process: median"
echo "over epochs 2..N of every round, from info.log timestamps (templates) or printed times; peaks: max over rounds"
grep -q '\*' <<<"${gpu[*]}" && echo "*: the program's pid was not among nvidia-smi's (a container?): max over all GPU processes"
grep -l "no GPU available" "$work"/log/* >/dev/null 2>&1 && echo "WARNING: a program found no GPU and ran on the CPU"
echo "goal: ours < 0.25 s/epoch, template/us >= 10, best/us > 1 (reported, not asserted)"
