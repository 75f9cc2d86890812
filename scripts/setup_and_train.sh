#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a training run: setup
# (scripts/build.sh train: only what training needs, no python3-torch; the
# programs only), then ./train -c config.json with any extra arguments.
# Usage: scripts/setup_and_train.sh [train options, e.g. --set trainer.epochs=3]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh train
exec ./train -c config.json "$@"
