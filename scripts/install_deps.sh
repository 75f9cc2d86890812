#!/usr/bin/env bash
# Installs the Debian packages that the asked-for work needs, skipping what
# is already there. Runs apt-get as root, or through sudo otherwise.
# Usage: scripts/install_deps.sh [GROUP...]   (no GROUP: all of them)
#   train  building the engine and the programs, and training: compilers,
#          CMake, cJSON, OpenBLAS, oneDNN, libpng, libjpeg, zlib, and CMocka (the
#          build always configures the tests; the library is small)
#   dist   distributed training under mpirun: OpenMPI
#   test   the test suite: train and dist, plus python3 with torch, numpy and
#          torchvision (the PyTorch references), Fashion-MNIST (the
#          pretraining task of tests/cli/e2e_finetune.sh)
#   fuzz   the libFuzzer harnesses (scripts/fuzz.sh): clang, its runtimes, libomp
#   all    every group
# --print lists the packages of the groups instead of installing them.
set -euo pipefail

# libdnnl-dev (oneDNN): optional at build time, the CPU convolutions of layers with many channels
train=(build-essential cmake pkg-config libcjson-dev libopenblas-dev libdnnl-dev libpng-dev libjpeg62-turbo-dev
       zlib1g-dev libcmocka-dev)
# libopenmpi-dev: the MPI module (dist/comm_mpi.c); openmpi-bin: mpirun
dist=(libopenmpi-dev openmpi-bin)
# python3-torchvision: the references of the transforms and the PNG reader
# (tests/ref/transforms_ref.py, png_ref.py); dataset-fashion-mnist:
# /usr/share/datasets/fashion-mnist
test=(python3 python3-numpy python3-torch python3-torchvision dataset-fashion-mnist)
# libclang-rt-dev: libFuzzer and the sanitizer runtimes (only recommended by clang)
fuzz=(clang libclang-rt-dev libomp-dev)

print=0
groups=()
for arg in "$@"; do
    case "$arg" in
    --print) print=1 ;;
    train | dist | test | fuzz | all) groups+=("$arg") ;;
    *) echo "usage: $0 [--print] [train|dist|test|fuzz|all]..." >&2; exit 2 ;;
    esac
done
[ ${#groups[@]} -gt 0 ] || groups=(all)
packages=()
for g in "${groups[@]}"; do
    case "$g" in
    train) packages+=("${train[@]}") ;;
    dist) packages+=("${dist[@]}") ;;
    test) packages+=("${train[@]}" "${dist[@]}" "${test[@]}") ;;
    fuzz) packages+=("${fuzz[@]}") ;;
    all) packages+=("${train[@]}" "${dist[@]}" "${test[@]}" "${fuzz[@]}") ;;
    esac
done
# each package once, in the order first asked for
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | awk '!seen[$0]++')
if [ $print -eq 1 ]; then
    printf '%s\n' "${packages[@]}"
    exit 0
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install_deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
echo "install_deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
