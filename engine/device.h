/* Which devices this build and machine offer. */
#ifndef ENGINE_DEVICE_H
#define ENGINE_DEVICE_H

#include <stdbool.h>

#include "engine/dtype.h"

/* CUDA devices visible to this process (CUDA_VISIBLE_DEVICES applies); 0 in
 * builds without CUDA or when the driver or device is missing. */
int device_cuda_count(void);
/* Waits until every operation queued on d has finished (for timing and
 * benchmarks; host reads of a tensor already wait for what they need).
 * No-op for the CPU, whose operations finish before they return. */
void device_synchronize(Device d);
/* Numeric modes of the CUDA backend (no-ops in builds without it): TF32
 * tensor-core math for matrix products and convolutions (off by default:
 * results within 1e-4 of the CPU; PyTorch's allow_tf32), and deterministic
 * algorithms only (cuDNN choice, no float atomics; cudnn.deterministic). */
void device_set_tf32(bool enabled);
void device_set_deterministic(bool enabled);

#endif
