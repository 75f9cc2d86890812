#!/usr/bin/env bash
# Starts a new project from this template, as pytorch-template's
# new_project.py does: copies everything except .git, saved/, data/ and
# build output into the target folder, which must not exist yet.
# Usage: ./new_project.sh ../MyProject
set -euo pipefail
if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    echo "usage: $0 NEW_PROJECT_DIR" >&2
    exit 2
fi
src=$(cd "$(dirname "$0")" && pwd)
dest=$1
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
tar -C "$src" \
    --exclude=./.git --exclude=./saved --exclude=./data --exclude='./build*' \
    --exclude=./train --exclude=./test --exclude=./predict --exclude=./tune --exclude='__pycache__' \
    -cf - . | tar -C "$dest" -xf -
echo "New project created in $dest"
echo "Build it with: cd $dest && scripts/setup_and_test.sh --no-sanitize   (or cmake -S . -B build && cmake --build build)"
