# shellcheck shell=bash disable=SC2034  # (the variables are for the scripts that source this)
# Shared setup of the end-to-end tests (sourced by tests/cli/e2e_*.sh): the
# arguments TRAIN TEST SOURCE_DIR, the MNIST check, a temporary working
# folder removed at exit, and small helpers for runs, logs and checkpoints.
# The programs run in that folder (with a link to the template's logger/,
# whose config they read from the working folder) and write only below it.

set -u
export LC_ALL=C
if [ $# -ne 3 ]; then
  echo "usage: $0 TRAIN TEST SOURCE_DIR" >&2
  exit 2
fi
TRAIN=$(realpath "$1")
TEST=$(realpath "$2")
SRC=$(realpath "$3")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Sanitizer builds: a report must fail the run even where the program exits 0.
export ASAN_OPTIONS="detect_leaks=1:exitcode=86${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:exitcode=87${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OPENBLAS_NUM_THREADS=1

# E2E_NO_MNIST=1 (set before sourcing): a script whose data the test writes itself never skips.
DATA="$SRC/data/"
if [ "${E2E_NO_MNIST:-0}" != 1 ] && [ ! -f "$DATA/MNIST/raw/train-images-idx3-ubyte" ] && [ ! -f "$DATA/MNIST/raw/train-images-idx3-ubyte.gz" ]; then
  echo "[  SKIPPED ] MNIST not found in $DATA/MNIST/raw (scripts/fetch_mnist.sh puts it there)"
  exit 0
fi
PYTHON=$(command -v python3 || true)
if [ -z "$PYTHON" ]; then
  echo "FAILED: these tests read checkpoints with python3 (standard library only), and there is none" >&2
  exit 1
fi

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ln -s "$SRC/logger" "$T/logger"
cd "$T" || exit 1

failures=0
fail() {
  echo "FAILED: $*"
  failures=$((failures + 1))
}
pass() { echo "ok      $*"; }
# check WHAT COMMAND...: runs a test command; passes when it succeeds.
check() {
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
finish() {
  if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
  fi
  echo "all checks passed"
  exit 0
}

# The config every run starts from: the template's config.json reading the
# source tree's MNIST, with a quick, reproducible training set.
BASE_ARGS=(-c "$SRC/config.json" --set "data_loader.args.data_dir=$DATA" --set trainer.verbosity=1
           --set data_loader.args.num_workers=2 --set data_loader.args.shuffle=true)

# train LOG ARGS...: runs ./train in the working folder, stdout and stderr to
# LOG; returns its exit status and prints the output's tail when it fails.
train() {
  local log=$1
  shift
  local rc=0
  "$TRAIN" "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "--- ./train $* exited with $rc; the end of its output:"
    tail -n 15 "$log"
  fi
  return "$rc"
}

# run_dir SAVE_DIR NAME: the only run folder under SAVE_DIR/models/NAME
# (the tests give every run its own save_dir).
run_dir() {
  local dirs=("$1"/models/"$2"/*/)
  if [ ${#dirs[@]} -ne 1 ] || [ ! -d "${dirs[0]}" ]; then
    echo "$1/models/$2: expected exactly one run folder, found: ${dirs[*]}" >&2
    return 1
  fi
  echo "${dirs[0]%/}"
}

# epoch_value LOG KEY: the value of KEY ("val_accuracy") in the last epoch
# summary that LOG holds ("    val_accuracy   : 0.94").
epoch_value() { awk -v k="$2" 'NF >= 3 && $(NF-2) == k && $(NF-1) == ":" { v = $NF } END { print v }' "$1"; }
# epochs_logged LOG: the epoch numbers LOG's summaries list, on one line.
epochs_logged() { awk 'NF >= 3 && $(NF-2) == "epoch" && $(NF-1) == ":" { printf "%s%s", sep, $NF; sep = " " } END { print "" }' "$1"; }

# at_least VALUE FLOOR: VALUE is a number >= FLOOR.
at_least() { awk -v v="$1" -v f="$2" 'BEGIN { exit !(v ~ /^[0-9.eE+-]+$/ && v + 0 >= f + 0) }'; }

# ckpt ARGS...: tests/cli/e2e_ckpt.py (checkpoint contents, standard library only).
ckpt() { "$PYTHON" "$HERE/e2e_ckpt.py" "$@"; }

# expect_train_error WHAT PATTERN ARGS...: ./train ARGS fails as bad input does,
# exit 1 (not a signal), with an output line holding PATTERN (a fixed string).
expect_train_error() {
  local what=$1 pattern=$2
  shift 2
  local rc=0
  "$TRAIN" "$@" >bad.log 2>&1 || rc=$?
  if [ "$rc" -eq 1 ] && grep -qF -- "$pattern" bad.log; then
    pass "$what"
  else
    fail "$what (exit $rc): $(tail -n 3 bad.log)"
  fi
}

# mpi_env: what runs under mpirun need: root allowed, more ranks than cores
# allowed, and in sanitizer builds OpenMPI's memory (kept until exit) recognised
# by its modules (full stacks, plugins left loaded so that their frames keep
# a name) and suppressed (tests/support/lsan_openmpi.supp).
mpi_env() {
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
  export OMPI_MCA_mca_base_component_disable_dlclose=1
  export ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0"
  export LSAN_OPTIONS="suppressions=$SRC/tests/support/lsan_openmpi.supp:fast_unwind_on_malloc=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
}
