#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a tested build: setup
# (scripts/build.sh test: the tests' deps, build with warnings as errors, MNIST), the whole
# test suite, then the suite again under AddressSanitizer/LeakSanitizer +
# UBSan, then a short fuzzing round of every libFuzzer harness
# (scripts/fuzz.sh: 10 s each, plus the replay of saved reproducers).
# Usage: scripts/setup_and_test.sh [--no-sanitize] [--no-fuzz]
#   --no-sanitize  skips the sanitizer round and the fuzzing (both need sanitizer builds)
#   --no-fuzz      skips the fuzzing only
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=1
fuzz=1
for arg in "$@"; do
    case "$arg" in
    --no-sanitize) sanitize=0 fuzz=0 ;;
    --no-fuzz) fuzz=0 ;;
    *) echo "usage: $0 [--no-sanitize] [--no-fuzz]" >&2; exit 2 ;;
    esac
done
# only what the tests need (python3-torch...), and clang for the fuzzing
if [ $fuzz -eq 1 ]; then scripts/build.sh test fuzz; else scripts/build.sh test; fi
jobs=$(nproc)
(cd build && ctest --output-on-failure -j"$jobs")

if [ $sanitize -eq 1 ]; then
    # CPU code only: the CUDA runtime and ASan do not mix, and no GPU is needed to check the rest
    cmake -S . -B build-sanitize -DWERROR=ON -DSANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DTOP_LEVEL_LINKS=OFF -DWITH_CUDA=OFF
    cmake --build build-sanitize -j"$jobs"
    (cd build-sanitize && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --output-on-failure -j"$jobs")
fi

if [ $fuzz -eq 1 ]; then
    # libFuzzer harnesses (tests/fuzz), clang + ASan + UBSan, in build-fuzz; a long run: scripts/fuzz.sh 3600
    scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
fi
