#!/usr/bin/env bash
# What the CUDA backend costs a CPU run: ./train of a CPU-only build beside
# ./train of a CUDA build (whose CUDA backend is a module loaded on demand,
# engine/backend.h), side by side on this machine in one run. For each
# case: the start-up time (./train --help, the loader and every library the
# program needs), and one short epoch of MnistModel on the CPU (wall time
# and peak RSS from wait4), medians over ROUNDS (interleaved across the
# cases); then the ratios to the CPU-only build, and whether the run mapped
# any CUDA library (LD_DEBUG).
#
# Cases: the CPU-only build (n_gpu 0); the CUDA build with n_gpu 0 (the
# module is never loaded); the CUDA build with n_gpu 1 on a machine without
# a usable GPU (without an NVIDIA driver the module is not loaded; with a
# driver but no device it and CUDA's libraries are, and no device is found;
# training runs on the CPU; where a GPU exists it is hidden with
# CUDA_VISIBLE_DEVICES= so that the run stays on the CPU); and, with
# BASELINE_TRAIN=PATH, another ./train binary (e.g. one built before the
# module, which links CUDA's libraries) with n_gpu 0.
#
# usage: bench/backend_overhead.sh [ROUNDS]      (default 5; needs MNIST in data/)
#   CPU_BUILD   CPU-only build folder (default build-bench-cpu; configured
#               with -DWITH_CUDA=OFF and built here when it has no ./train)
#   CUDA_BUILD  CUDA build folder with ./train and libengine_cuda.so (default build)
#   LIMIT       training images of the short epoch (default 2000)
#   BASELINE_TRAIN  optional extra ./train binary to measure
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
cpu_build=${CPU_BUILD:-build-bench-cpu}
cuda_build=${CUDA_BUILD:-build}
limit=${LIMIT:-2000}
python=/usr/bin/python3

[ -f data/MNIST/raw/train-images-idx3-ubyte ] || { echo "backend_overhead: no MNIST in data/ (scripts/fetch_mnist.sh)" >&2; exit 1; }
if [ ! -x "$cpu_build/train" ]; then
    echo "backend_overhead: building the CPU-only ./train in $cpu_build" >&2
    cmake -S . -B "$cpu_build" -DWITH_CUDA=OFF -DTOP_LEVEL_LINKS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$cpu_build" --target train_prog -j"$(nproc)" >/dev/null
fi
[ -x "$cuda_build/train" ] || { echo "backend_overhead: no $cuda_build/train" >&2; exit 1; }
[ -f "$cuda_build/libengine_cuda.so" ] ||
    { echo "backend_overhead: $cuda_build has no libengine_cuda.so (not a CUDA build?)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cases=("cpu-only build, n_gpu 0|$cpu_build/train|0"
    "CUDA build, n_gpu 0 (module not loaded)|$cuda_build/train|0"
    "CUDA build, n_gpu 1, no GPU|$cuda_build/train|1")
[ -n "${BASELINE_TRAIN:-}" ] && cases+=("baseline $BASELINE_TRAIN, n_gpu 0|$BASELINE_TRAIN|0")

OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} CUDA_VISIBLE_DEVICES= \
    "$python" - "$rounds" "$limit" "$work" "${cases[@]}" <<'EOF'
import os, statistics, subprocess, sys, time

rounds, limit, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
cases = [c.split("|") for c in sys.argv[4:]]

def run(argv, env=None):
    """wall seconds, peak RSS in MiB and the output of one run (wait4 gives this child's own rusage)"""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"backend_overhead: {' '.join(argv)} failed ({p.returncode}):\n{out.decode(errors='replace')[-2000:]}")
    return wall, ru.ru_maxrss / 1024.0, out.decode(errors="replace")

def train_argv(exe, n_gpu, i):
    return [exe, "-c", "config.json", "--set", f"n_gpu={n_gpu}", "--set", "trainer.epochs=1",
            "--set", f"data_loader.args.limit={limit}", "--set", f"trainer.save_dir={work}/{i}",
            "--set", "trainer.tensorboard=false"]

# rounds interleave the cases, so that a change in the machine's load (it
# may be shared) falls on every case alike
start = [[] for _ in cases]
epoch = [[] for _ in cases]
for _ in range(rounds):
    for i, (label, exe, n_gpu) in enumerate(cases):
        start[i] += [run([exe, "--help"])[0] * 1000 for _ in range(3)]
        epoch[i].append(run(train_argv(exe, n_gpu, i)))
rows = []
for i, (label, exe, n_gpu) in enumerate(cases):
    _, _, log = run(train_argv(exe, n_gpu, i), dict(os.environ, LD_DEBUG="files"))
    cuda_libs = sorted({w.split("=", 1)[1] for line in log.splitlines() for w in line.split()
                        if w.startswith("file=") and ("libcuda" in w or "libcublas" in w or "libcudnn" in w)})
    warned = any("Warning" in o for _, _, o in epoch[i])
    rows.append((label, statistics.median(start[i]), statistics.median(w for w, _, _ in epoch[i]),
                 statistics.median(r for _, r, _ in epoch[i]), cuda_libs, warned))

base = rows[0]
print(f"backend_overhead: {rounds} rounds (start-up: {3 * rounds} runs of --help), {limit} training images, "
      f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, medians")
print(f"{'case':<48} {'start-up ms':>11} {'x':>5} {'epoch run s':>11} {'x':>5} {'peak RSS MiB':>12} {'x':>5}  CUDA libraries mapped")
for label, s, w, r, libs, warned in rows:
    print(f"{label:<48} {s:>11.1f} {s / base[1]:>5.2f} {w:>11.2f} {w / base[2]:>5.2f} {r:>12.1f} {r / base[3]:>5.2f}  "
          f"{', '.join(libs) if libs else 'none'}{' (warned: no GPU)' if warned else ''}")
EOF
