/* What the GPU tests share: whether a CUDA device is there (and skipping
 * visibly without one), the numeric modes, and copying inputs to the
 * device. The op comparisons themselves are tests/test_backend_ops.c's.
 * Without a CUDA build or device the tests skip visibly. */
#ifndef TESTS_GPU_COMPARE_H
#define TESTS_GPU_COMPARE_H

#include "tests/support/check.h"

#define GPU_DEVICE CUDA(0)

/* Whether this build has CUDA, its backend module loads and a device is
 * visible (the first call loads the module). */
bool gpu_available(void);
/* Why not, as one line: no CUDA in this build, the module or a CUDA library
 * missing (dlopen's message), or no device. */
const char *gpu_missing_reason(void);

/* Prints "SKIP: no CUDA device (<why>)" and skips the current test without
 * one (ctest reports it as skipped). */
#define REQUIRE_GPU()                                                   \
    do {                                                                \
        if (!gpu_available()) {                                         \
            print_message("SKIP: no CUDA device (%s)\n", gpu_missing_reason()); \
            skip();                                                     \
        }                                                               \
    } while (0)

/* Sets the GPU numeric modes for a test (TF32 math, deterministic
 * algorithms); no-ops in builds without CUDA. */
void gpu_set_modes(bool tf32, bool deterministic);

/* A copy of t on device, outside autograd; a leaf that requires grad
 * when t does. NULL stays NULL. */
Tensor *leaf_on(Tensor *t, Device device);


#endif
