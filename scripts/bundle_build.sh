#!/usr/bin/env bash
# Builds the project for a GPU machine that has the NVIDIA driver, CUDA and
# cuDNN but none of this project's other dependencies, and gathers what the
# GPU checks and benchmarks need into one folder: the programs, tests and
# benchmarks (linked against one shared libengine.so, beside which the CUDA
# backend module libengine_cuda.so is loaded on demand), the shared libraries they load that are
# neither the C library's nor CUDA's, and MNIST as .gz IDX files.
#
# Usage: scripts/bundle_build.sh OUT_DIR [CUDA_ARCHS]   (CUDA_ARCHS default 90)
# On the GPU machine, from a checkout of the same sources:
#   export LD_LIBRARY_PATH=$OUT_DIR/lib:$LD_LIBRARY_PATH
#   mkdir -p data/MNIST/raw && cp $OUT_DIR/mnist/* data/MNIST/raw/
#   scripts/gpu_check.sh $OUT_DIR/build
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/bundle_build.sh OUT_DIR [CUDA_ARCHS]}
archs=${2:-90}
build=build-bundle
# no oneDNN: its 40 MB library beside OpenBLAS's 37 would not fit in what
# travels to the GPU machine, and GPU runs do not use it (the CPU side runs
# on our kernels and OpenBLAS, as a build without libdnnl-dev does)
cmake -S . -B "$build" -DWERROR=ON -DWITH_CUDA=ON -DENGINE_SHARED=ON -DTOP_LEVEL_LINKS=OFF -DWITH_DNNL=OFF \
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CUDA_ARCHITECTURES=$archs" >/dev/null
grep -q "ENGINE_HAVE_CUDA" "$build/CMakeFiles/engine.dir/flags.make" ||
    { echo "bundle_build: the CUDA backend is not in this build (toolkit or cuDNN not found)" >&2; exit 1; }
cmake --build "$build" -j "$(nproc)"
scripts/fetch_mnist.sh >/dev/null

rm -rf "$out"
mkdir -p "$out/build/tests" "$out/build/bench" "$out/lib" "$out/mnist"
cp "$build/train" "$build/test" "$out/build/"
cp "$build"/tests/test_* "$out/build/tests/"
cp "$build"/bench/bench_* "$out/build/bench/"
cp "$build"/libengine.so "$out/lib/"
# the CUDA backend module, next to libengine.so, where the engine looks for
# it (programs and tests alike; engine/backend_module.h)
cp "$build"/libengine_cuda.so "$out/lib/"
# the distributed transports (MPI, NCCL), next to the programs where ./train
# looks for them (dist/world.c), when the build has them: gpu_check.sh runs
# the NCCL path with one rank where the GPU machine has mpirun and OpenMPI
for m in "$build"/libdist_mpi.so "$build"/libdist_nccl.so; do
    if [ -f "$m" ]; then cp "$m" "$out/build/"; fi
done
# every library the binaries load, except the C runtime's and CUDA's own
# (not the transports': they load only under mpirun, where OpenMPI and NCCL are installed)
for bin in "$out"/build/train "$out"/build/test "$out"/build/tests/* "$out"/build/bench/* "$out"/lib/libengine.so; do
    ldd "$bin" | awk '$3 ~ /^\// { print $3 }'
done | sort -u |
    grep -vE '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*|libcuda[^/]*|libcudart|libcublas[^/]*|libcudnn[^/]*|libnvrtc[^/]*|libnccl|libstdc\+\+|libgcc_s)\.so' |
    while read -r lib; do cp -L "$lib" "$out/lib/"; done
for f in data/MNIST/raw/*-ubyte; do gzip -9 -c "$f" >"$out/mnist/$(basename "$f").gz"; done
du -sh "$out"
