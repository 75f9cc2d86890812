#!/usr/bin/env bash
# Installs what is missing, builds (warnings are errors) into build/, which
# also links ./train and ./test, and fetches MNIST into data/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake -S . -B build -DWERROR=ON -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
scripts/fetch_mnist.sh
