#!/usr/bin/env bash
# Starts a new project from this template, as pytorch-template's
# new_project.py does: copies everything except .git, saved/, data/ and
# build output into the target folder, which must not exist yet.
# With --installed-engine the copy leaves out the engine's sources (engine/)
# and its tests and benchmarks (tests/, bench/): it then builds against an
# engine that `cmake --install` put under a prefix (find_package(Engine)).
# Usage: ./new_project.sh [--installed-engine] ../MyProject
set -euo pipefail
usage() {
    echo "usage: $0 [--installed-engine] NEW_PROJECT_DIR" >&2
    exit 2
}
installed=0
dest=""
for arg in "$@"; do
    case "$arg" in
    --installed-engine) installed=1 ;;
    -h | --help | -*) usage ;;
    *) [ -z "$dest" ] || usage; dest=$arg ;;
    esac
done
[ -n "$dest" ] || usage
src=$(cd "$(dirname "$0")" && pwd)
if [ -e "$dest" ]; then
    echo "new_project: $dest already exists; choose a new folder" >&2
    exit 1
fi
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
case "$dest/" in
    "$src"/*) echo "new_project: $dest is inside the template folder" >&2; rmdir "$dest"; exit 1 ;;
esac
# what is not template: version control, runs, data, builds, the links to built binaries
excludes=(--exclude=./.git --exclude=./saved --exclude=./data --exclude='./build*'
    --exclude=./train --exclude=./test --exclude=./predict --exclude=./tune --exclude='__pycache__')
if [ $installed -eq 1 ]; then
    excludes+=(--exclude=./engine --exclude=./tests --exclude=./bench)
fi
tar -C "$src" "${excludes[@]}" -cf - . | tar -C "$dest" -xf -
echo "New project created in $dest"
if [ $installed -eq 1 ]; then
    echo "Build it against the installed engine (cmake --install build --prefix PREFIX in the template):"
    echo "  cd $dest && cmake -S . -B build -DCMAKE_PREFIX_PATH=PREFIX && cmake --build build"
else
    echo "Build it with: cd $dest && scripts/setup_and_test.sh --no-sanitize   (or cmake -S . -B build && cmake --build build)"
    echo "or against an installed engine: cmake -S . -B build -DUSE_INSTALLED_ENGINE=ON -DCMAKE_PREFIX_PATH=PREFIX"
fi
