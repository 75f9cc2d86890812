#!/usr/bin/env bash
# Installs what is missing (scripts/install_deps.sh GROUP...), builds
# (warnings are errors) into build/, which also links ./train and ./test,
# and fetches MNIST into data/.
# Usage: scripts/build.sh [GROUP...]   (install_deps.sh's groups; default: train)
# With the test (or all) group it builds everything, tests and benchmarks
# included; otherwise only the programs: ./train, ./test, ./predict, ./tune.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- train
scripts/install_deps.sh "$@"
cmake -S . -B build -DWERROR=ON -DCMAKE_BUILD_TYPE=Release
targets=(--target train_prog test_prog)
[ -f predict.c ] && targets+=(predict_prog)
[ -f tuner/CMakeLists.txt ] && targets+=(tune_prog)
for g in "$@"; do
    case "$g" in test | all) targets=() ;; esac
done
cmake --build build -j"$(nproc)" "${targets[@]}"
# Without MNIST the build is still good: the tests that need the data say
# SKIPPED, and ./train says how to get it.
scripts/fetch_mnist.sh || echo "warning: MNIST not fetched (see the message above); data tests will be skipped" >&2
