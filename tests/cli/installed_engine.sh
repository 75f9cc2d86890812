#!/usr/bin/env bash
# The engine as a library that a project links: `cmake --install` of the
# build that made TRAIN puts the public headers (each compiles by itself, no
# backend internals among them), the library, the CUDA module beside
# libengine.so where the build has it, the CMake package and engine.pc under
# a prefix; a C program built with `pkg-config --cflags --libs engine` links
# and runs; a project made by `new_project.sh --installed-engine` (no
# engine/) configures against the prefix (find_package(Engine)), builds
# ./train with warnings as errors without compiling the engine, and trains
# one short epoch (on the real MNIST; that step alone skips without it);
# asked for a GPU, it loads the CUDA module from the prefix.
# usage: installed_engine.sh TRAIN TEST SOURCE_DIR (TRAIN's folder is the
# build installed)
# shellcheck source=e2e_lib.sh
E2E_NO_MNIST=1 source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"
BUILD=$(dirname "$TRAIN")
PREFIX=$T/prefix
[ -f "$BUILD/CMakeCache.txt" ] || {
  fail "$BUILD (the folder of $TRAIN) is not a CMake build folder"
  finish
}

# install
start=$SECONDS
if cmake --install "$BUILD" --prefix "$PREFIX" >"$T/install.log" 2>&1; then
  pass "cmake --install $BUILD --prefix \$T/prefix ($((SECONDS - start)) s)"
else
  fail "cmake --install:"
  tail -n 20 "$T/install.log"
  finish
fi
lib=""
for f in "$PREFIX"/lib/libengine.a "$PREFIX"/lib/libengine.so; do
  [ -f "$f" ] && lib=$f
done
lacks=""
for f in include/engine/engine.h include/engine/tensor.h include/engine/nn/nn.h include/engine/optim/optim.h \
  lib/cmake/Engine/EngineConfig.cmake lib/cmake/Engine/EngineConfigVersion.cmake lib/cmake/Engine/EngineTargets.cmake \
  lib/pkgconfig/engine.pc; do
  [ -f "$PREFIX/$f" ] || lacks="$lacks $f"
done
[ -n "$lib" ] && [ -z "$lacks" ] && pass "installed: ${lib#"$PREFIX"/}, the headers, the CMake package and engine.pc" ||
  fail "the prefix lacks:$lacks ${lib:-libengine.a or .so}: $(cd "$PREFIX" && find . -type f | head -40)"
private=$(cd "$PREFIX/include" && find . \( -path './engine/cpu*' -o -path './engine/cuda*' -o -name '*_impl.h' \
  -o -name dispatch.h -o -name backend_module.h \) -print)
[ -z "$private" ] && pass "no backend internals among the installed headers" || fail "private headers installed: $private"
if [ -f "$BUILD/libengine_cuda.so" ]; then
  [ -f "$PREFIX/lib/libengine_cuda.so" ] && [ -f "$PREFIX/lib/libengine.so" ] &&
    pass "the CUDA module is installed beside libengine.so, where the registry looks" ||
    fail "libengine_cuda.so is not beside libengine.so in $PREFIX/lib"
fi

# every public header compiles by itself, from the prefix alone
bad=""
n=0
while IFS= read -r h; do
  n=$((n + 1))
  printf '#include "%s"\n' "$h" | cc -std=c11 -Wall -Wextra -Wstrict-prototypes -Werror -I"$PREFIX/include" \
    -x c -fsyntax-only - >>"$T/headers.log" 2>&1 || bad="$bad $h"
done < <(cd "$PREFIX/include" && find engine -name '*.h' | sort)
[ "$n" -gt 0 ] && [ -z "$bad" ] && pass "each of the $n installed headers compiles by itself" || {
  fail "headers that do not compile by themselves:$bad"
  head -n 20 "$T/headers.log"
}

# a program built with pkg-config
cat >"$T/grad.c" <<'EOF'
/* Links the installed engine through pkg-config: d/dx sum(x*x) = 2x. */
#include <stdio.h>

#include "engine/engine.h"

int main(void)
{
    float data[3] = {1.0f, 2.0f, 3.0f};
    scope_begin();
    Tensor *x = tensor_from_data(data, SHAPE(3), DT_F32, CPU);
    if (!x) return 1;
    x->requires_grad = true;
    Tensor *y = t_sum(t_mul(x, x), NULL, 0, false);
    if (!y || tensor_backward(y, NULL) != 0) {
        fprintf(stderr, "engine: %s\n", engine_last_error());
        return 1;
    }
    const float *g = tensor_f32(x->grad);
    printf("sum(x*x) = %g, grad = [%g, %g, %g]\n", tensor_item(y), g[0], g[1], g[2]);
    int ok = tensor_item(y) == 14.0 && g[0] == 2.0f && g[1] == 4.0f && g[2] == 6.0f;
    scope_end();
    return ok ? 0 : 1;
}
EOF
flags=""
# shellcheck disable=SC2086  # the flags are words
if ! command -v pkg-config >/dev/null; then
  fail "no pkg-config (scripts/install_deps.sh installs it)"
elif flags=$(PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig pkg-config --cflags --libs engine 2>"$T/pkg.log") &&
  cc -std=c11 -Wall -Wextra -Werror "$T/grad.c" -o "$T/grad" $flags >"$T/cc.log" 2>&1; then
  pass "cc grad.c \$(pkg-config --cflags --libs engine) links: $flags"
  out=$(LD_LIBRARY_PATH=$PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$T/grad" 2>&1) &&
    pass "it runs: $out" || fail "the pkg-config program: $out"
else
  fail "building with pkg-config ($flags):"
  cat "$T/pkg.log"
  tail -n 20 "$T/cc.log"
fi

# a project against the installed engine: configure, build ./train only
P=$T/Installed
out=$("$SRC/new_project.sh" --installed-engine "$P" 2>&1) &&
  [ -f "$P/CMakeLists.txt" ] && [ ! -e "$P/engine" ] && [ ! -e "$P/tests" ] && [ ! -e "$P/bench" ] &&
  pass "new_project.sh --installed-engine: a copy without engine/, tests/ and bench/" ||
  fail "new_project.sh --installed-engine: $out; $(ls "$P" 2>&1)"
start=$SECONDS
if cmake -S "$P" -B "$P/build" -DWERROR=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX" \
  >"$T/configure.log" 2>&1 && cmake --build "$P/build" -j2 --target train_prog >"$T/build.log" 2>&1; then
  pass "the copy configures against the prefix and builds ./train with warnings as errors ($((SECONDS - start)) s)"
else
  fail "building the copy against the installed engine:"
  tail -n 20 "$T/configure.log" "$T/build.log"
  finish
fi
grep -q "Engine: installed, $PREFIX/lib/libengine" "$T/configure.log" &&
  pass "$(grep -o 'Engine: installed.*' "$T/configure.log")" ||
  fail "the copy did not find the installed engine: $(grep -i engine "$T/configure.log")"
grep -q 'engine/.*\.c\.o' "$T/build.log" && fail "the copy compiled engine sources" ||
  pass "the copy compiled none of the engine's sources"

# trains from its folder, as a user would
if [ ! -f "$DATA/MNIST/raw/train-images-idx3-ubyte" ] && [ ! -f "$DATA/MNIST/raw/train-images-idx3-ubyte.gz" ]; then
  echo "[  SKIPPED ] the copy's training: MNIST not found in $DATA/MNIST/raw (scripts/fetch_mnist.sh)"
  finish
fi
cd "$P" || exit 1
TRAIN=$P/train
start=$SECONDS
if train "$T/copy-train.log" -c config.json --set "data_loader.args.data_dir=$DATA" \
  --set data_loader.args.limit=1000 --set trainer.epochs=1 --set trainer.verbosity=1; then
  pass "the copy's ./train: 1 epoch on 1000 images ($((SECONDS - start)) s)"
else
  fail "the copy's ./train"
fi
[ -L saved/models/best.ckpt ] && [ -s saved/models/best.ckpt ] &&
  pass "the copy's checkpoint: saved/models/best.ckpt" || fail "the copy's saved/ holds: $(find saved 2>/dev/null | head -20)"
# asked for a GPU, the copy's engine finds the installed CUDA module, the one
# beside the installed libengine.so, and loads it where the machine has an
# NVIDIA driver (then trains on the CPU where there is no GPU); without a
# driver it names the module it left unloaded
if [ -f "$PREFIX/lib/libengine_cuda.so" ] && ! ls /dev/nvidiactl /proc/driver/nvidia/version /dev/dxg >/dev/null 2>&1; then
  if LD_DEBUG=files train "$T/copy-gpu.log" -c config.json --set "data_loader.args.data_dir=$DATA" \
    --set data_loader.args.limit=500 --set trainer.epochs=1 --set n_gpu=1 --set trainer.save_dir=saved-gpu/ &&
    grep -q "no NVIDIA driver on this machine .*, so $PREFIX/lib/libengine_cuda.so was not loaded" "$T/copy-gpu.log" &&
    ! grep -q "file=.*\(libengine_cuda\|libcudart\).*dynamically loaded" "$T/copy-gpu.log"; then
    pass "n_gpu=1 without an NVIDIA driver: the copy finds \$T/prefix/lib/libengine_cuda.so and leaves it unloaded"
  else
    fail "n_gpu=1 without a driver: $(grep -m3 'engine_cuda\|NVIDIA' "$T/copy-gpu.log")"
  fi
elif [ -f "$PREFIX/lib/libengine_cuda.so" ]; then
  if LD_DEBUG=files train "$T/copy-gpu.log" -c config.json --set "data_loader.args.data_dir=$DATA" \
    --set data_loader.args.limit=500 --set trainer.epochs=1 --set n_gpu=1 --set trainer.save_dir=saved-gpu/ &&
    grep -q "file=$PREFIX/lib/libengine_cuda.so .*dynamically loaded" "$T/copy-gpu.log"; then
    pass "n_gpu=1: the copy loads \$T/prefix/lib/libengine_cuda.so ($(grep -m1 -o 'no GPU available' "$T/copy-gpu.log" || echo 'GPU run'))"
  else
    fail "n_gpu=1 did not load the installed module: $(grep -m3 'engine_cuda' "$T/copy-gpu.log")"
  fi
fi
finish
