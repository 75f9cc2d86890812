#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, skipping what is
# already there. Runs apt-get as root, or through sudo otherwise.
set -euo pipefail

# clang, libclang-rt-dev (libFuzzer and the sanitizer runtimes, only recommended by clang): the
# libFuzzer harnesses (scripts/fuzz.sh); dataset-fashion-mnist (/usr/share/datasets/fashion-mnist):
# the pretraining task of tests/cli/e2e_finetune.sh; python3-torchvision: the references of the
# transforms and the PNG reader (tests/ref/transforms_ref.py, png_ref.py); libopenmpi-dev,
# openmpi-bin: distributed training under mpirun (the MPI module, tests/cli/e2e_distributed.sh)
packages=(build-essential cmake pkg-config libcjson-dev libopenblas-dev libpng-dev libjpeg62-turbo-dev libcmocka-dev zlib1g-dev
          libomp-dev clang libclang-rt-dev python3 python3-numpy python3-torch python3-torchvision
          dataset-fashion-mnist libopenmpi-dev openmpi-bin)
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
