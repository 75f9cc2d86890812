#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz (clang, ASan + UBSan, in
# build-fuzz) and runs each one for a bounded time, one after the other,
# on one core each:
#   1. the saved reproducers of earlier findings (tests/fuzz/regressions/<harness>/)
#      are replayed once each;
#   2. the harness fuzzes for SECONDS, starting from the committed seed corpus
#      (tests/fuzz/corpus/<harness>/, copied: it is never modified) plus
#      what earlier runs in this build folder found (build-fuzz/fuzz-work/<harness>/corpus).
# It prints executions and findings per harness and exits non-zero on any
# crash, leak, sanitizer report, timeout or out-of-memory; reproducers are
# left in build-fuzz/fuzz-work/<harness>/ (crash-*, leak-*, timeout-*, oom-*).
#
# usage: scripts/fuzz.sh [SECONDS] [HARNESS...]
#   SECONDS   fuzzing time per harness (default 10, as in CI). A long run: scripts/fuzz.sh 3600
#   HARNESS   safetensors checkpoint idx config parse_config (default: all)
# environment: FUZZ_BUILD (build folder, default build-fuzz), CC (default clang),
#   FUZZ_KEEP_GOING=1 (go on after a finding, in libFuzzer's fork mode with one
#   job: long runs collect every finding instead of stopping at the first),
#   FUZZ_ARGS (more libFuzzer options, e.g. FUZZ_ARGS=-only_ascii=1)
# Reproduce a finding: build-fuzz/tests/fuzz/fuzz_<harness> FILE
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-10}
shift || true
case "$seconds" in '' | *[!0-9]*) echo "usage: $0 [SECONDS] [HARNESS...]" >&2; exit 2 ;; esac
all=(safetensors checkpoint idx config parse_config)
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${all[@]}")
build=${FUZZ_BUILD:-build-fuzz}
cc=${CC:-clang}
command -v "$cc" >/dev/null || { echo "fuzz: $cc not found (scripts/install_deps.sh fuzz installs clang)" >&2; exit 1; }

echo "== fuzz: building the harnesses in $build"
CC=$cc cmake -S . -B "$build" -DFUZZ=ON -DWITH_CUDA=OFF -DTOP_LEVEL_LINKS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target fuzzers -j"$(nproc)" >/dev/null

export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=0:symbolize=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

# The harness's message, the sanitizer's and the project's frames of the stack from a log.
report() {
    grep -E "^fuzz_[a-z_]+: |ERROR: |runtime error|^ +#[0-9]+ .* $PWD/" "$1" | grep -v "^INFO" | head -16 || true
}

failed=()
summary=()
for h in "${harnesses[@]}"; do
    bin="$build/tests/fuzz/fuzz_$h"
    [ -x "$bin" ] || { echo "fuzz: no harness $h ($bin)" >&2; exit 2; }
    work="$build/fuzz-work/$h"
    mkdir -p "$work/corpus"
    rm -f "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$work"/slow-unit-*
    dict=()
    [ "$h" != idx ] && dict=(-dict=tests/fuzz/json.dict)
    common=(-timeout=20 -rss_limit_mb=2048 -malloc_limit_mb=2048 -error_exitcode=77 -timeout_exitcode=78
            "-artifact_prefix=$work/" "${dict[@]}")

    # 1. earlier findings
    regressions=()
    if [ -d "tests/fuzz/regressions/$h" ]; then
        while IFS= read -r -d '' f; do regressions+=("$f"); done \
            < <(find "tests/fuzz/regressions/$h" -type f ! -name '*.md' ! -name '.*' -print0 | sort -z)
    fi
    : >"$work/regressions.log"
    n_failing=0
    for f in "${regressions[@]}"; do
        if ! "$bin" "${common[@]}" "$f" >"$work/regression.log" 2>&1; then
            echo "fuzz_$h: saved reproducer fails: $f"
            report "$work/regression.log"
            n_failing=$((n_failing + 1))
        fi
        cat "$work/regression.log" >>"$work/regressions.log"
    done
    rm -f "$work/regression.log"
    [ $n_failing -eq 0 ] || failed+=("$h ($n_failing of ${#regressions[@]} saved reproducers)")

    # 2. fuzzing, from the committed seeds and what earlier runs here found
    cp -r "tests/fuzz/corpus/$h/." "$work/corpus/"
    keep_going=()
    [ "${FUZZ_KEEP_GOING:-0}" = 1 ] && keep_going=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
    rc=0
    # shellcheck disable=SC2086
    timeout $((seconds + 120)) "$bin" "${common[@]}" "${keep_going[@]}" -max_total_time="$seconds" \
        -print_final_stats=1 ${FUZZ_ARGS:-} "$work/corpus" >"$work/fuzz.log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -1)
    # fork mode reports "#<executions>: cov: ..." instead
    [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9][0-9]*\):* .*/\1/p' "$work/fuzz.log" | tail -1)
    files=$(find "$work/corpus" -type f | wc -l)
    findings=$(find "$work" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
    line="fuzz_$h: ${execs:-?} executions in ${seconds} s, corpus $files inputs"
    if [ $rc -ne 0 ] || [ -n "$findings" ]; then
        line="$line, FAILED (exit $rc)"
        failed+=("$h")
        echo "$line"
        report "$work/fuzz.log"
        n_findings=$(printf '%s\n' "$findings" | grep -c . || true)
        for f in $(printf '%s\n' "$findings" | head -5); do echo "  reproducer: $f   (replay: $bin $f)"; done
        [ "$n_findings" -le 5 ] || echo "  ... $n_findings reproducers in $work/"
        echo "  log: $work/fuzz.log"
    else
        line="$line, no findings"
        echo "$line"
    fi
    summary+=("$line")
done

echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}" >&2
    exit 1
fi
