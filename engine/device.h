/* Which devices this build and machine offer. */
#ifndef ENGINE_DEVICE_H
#define ENGINE_DEVICE_H

#include <stdbool.h>

#include "engine/dtype.h"

/* CUDA devices visible to this process (CUDA_VISIBLE_DEVICES applies); 0 in
 * builds without CUDA, when the CUDA backend module or the CUDA libraries
 * cannot be loaded, or when the driver or device is missing. The first call
 * loads the module (engine/backend.h); a CPU run that never asks maps none
 * of CUDA's libraries. */
int device_cuda_count(void);
/* Why a device type's backend could not be loaded, as one line ("" when it
 * was): for the warning of a run that falls back to the CPU. */
const char *device_unavailable_reason(DeviceType type);
/* Waits until every operation queued on d has finished (for timing and
 * benchmarks; host reads of a tensor already wait for what they need).
 * No-op for the CPU, whose operations finish before they return. */
void device_synchronize(Device d);
/* Numeric modes of the CUDA backend (no-ops in builds without it): TF32
 * tensor-core math for matrix products and convolutions (off by default:
 * results within 1e-4 of the CPU; PyTorch's allow_tf32), and deterministic
 * algorithms only (cuDNN choice, no float atomics; cudnn.deterministic).
 * Setting them loads nothing: a backend loaded later starts with them. */
void device_set_tf32(bool enabled);
void device_set_deterministic(bool enabled);
bool device_tf32(void);
bool device_deterministic(void);

#endif
