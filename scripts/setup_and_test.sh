#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a tested build: setup
# (scripts/build.sh: deps, build with warnings as errors, MNIST), the whole
# test suite, then the suite again under AddressSanitizer/LeakSanitizer +
# UBSan. Usage: scripts/setup_and_test.sh [--no-sanitize]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
jobs=$(nproc)
(cd build && ctest --output-on-failure -j"$jobs")

if [ "${1:-}" != "--no-sanitize" ]; then
    # CPU code only: the CUDA runtime and ASan do not mix, and no GPU is needed to check the rest
    cmake -S . -B build-sanitize -DWERROR=ON -DSANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DTOP_LEVEL_LINKS=OFF -DWITH_CUDA=OFF
    cmake --build build-sanitize -j"$jobs"
    (cd build-sanitize && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --output-on-failure -j"$jobs")
fi
