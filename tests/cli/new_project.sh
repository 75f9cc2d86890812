#!/usr/bin/env bash
# End-to-end: ./new_project.sh copies the template into a new folder without
# .git, saved/, data/, build folders or the ./train and ./test links; the
# copy configures and builds on its own (warnings as errors), trains one
# short epoch on the real MNIST and evaluates it with ./test; a folder that
# already exists is refused with a message.
# usage: new_project.sh TRAIN TEST SOURCE_DIR (TRAIN and TEST are not used:
# the copy builds its own)
# shellcheck source=e2e_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

P=$T/MyProject
out=$("$SRC/new_project.sh" "$P" 2>&1)
rc=$?
[ "$rc" -eq 0 ] && [ -d "$P" ] && pass "new_project.sh $P" || fail "new_project.sh exited with $rc: $out"

for f in CMakeLists.txt config.json train.c test.c new_project.sh README.md logger/logger_config.json \
  base/base_trainer.c data_loader/data_loaders.c model/model.c trainer/trainer.c parse_config.c engine/tensor.h; do
  [ -f "$P/$f" ] || lacks="${lacks:-} $f"
done
[ -z "${lacks:-}" ] && pass "the copy holds the template's sources" || fail "the copy lacks:$lacks"
unwanted=""
for f in .git saved data train test; do
  [ -e "$P/$f" ] || [ -L "$P/$f" ] && unwanted="$unwanted $f"
done
builds=$(cd "$P" && ls -d build* 2>/dev/null)
[ -z "$unwanted$builds" ] && pass "no .git, saved/, data/, build*, train or test in the copy" ||
  fail "the copy holds:$unwanted $builds"
[ -x "$P/new_project.sh" ] && pass "new_project.sh stays executable" || fail "new_project.sh lost its x bit"

# a folder that exists is refused, and left as it was
before=$(find "$P" -mindepth 1 -maxdepth 1 | wc -l)
rc=0
out=$("$SRC/new_project.sh" "$P" 2>&1) || rc=$?
after=$(find "$P" -mindepth 1 -maxdepth 1 | wc -l)
[ "$rc" -ne 0 ] && grep -q "already exists" <<<"$out" && [ "$before" = "$after" ] &&
  pass "new_project.sh into an existing folder fails: $out" ||
  fail "new_project.sh into an existing folder: exit $rc, '$out', entries $before -> $after"

# the copy builds by itself (only the two programs, to save time)
start=$SECONDS
if (cmake -S "$P" -B "$P/build" -DWERROR=ON -DCMAKE_BUILD_TYPE=Release >"$T/configure.log" 2>&1 &&
  cmake --build "$P/build" -j2 --target train_prog test_prog >"$T/build.log" 2>&1); then
  pass "the copy configures and builds train and test with warnings as errors ($((SECONDS - start)) s)"
else
  fail "building the copy:"
  tail -n 20 "$T/configure.log" "$T/build.log"
  finish
fi
[ -x "$P/train" ] && [ -x "$P/test" ] && pass "the copy's ./train and ./test link to its build" ||
  fail "no ./train or ./test in the copy"

# used as a user would: from the project folder, with its own config and saved/
cd "$P" || exit 1
TRAIN=$P/train
start=$SECONDS
if train "$T/copy-train.log" -c config.json --set "data_loader.args.data_dir=$DATA" \
  --set data_loader.args.limit=1000 --set trainer.epochs=1 --set trainer.verbosity=1; then
  pass "the copy's ./train: 1 epoch on 1000 images ($((SECONDS - start)) s)"
else
  fail "the copy's ./train"
fi
[ -L saved/models/best.ckpt ] && [ -s saved/models/best.ckpt ] && [ -s "$(ls -d saved/log/Mnist_LeNet/*/)info.log" ] &&
  pass "the copy's runs go to its saved/" || fail "the copy's saved/ holds: $(find saved 2>/dev/null | head -20)"
rc=0
"$P/test" -r saved/models/best.ckpt >"$T/copy-test.log" 2>&1 || rc=$?
[ "$rc" -eq 0 ] && grep -q "^{'loss': " "$T/copy-test.log" && grep -q "(10000 test images)" "$T/copy-test.log" &&
  pass "the copy's ./test: $(grep "^{'loss': " "$T/copy-test.log")" || {
  fail "the copy's ./test exited with $rc:"
  tail -n 15 "$T/copy-test.log"
}
finish
