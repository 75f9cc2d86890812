/* Which devices this build and machine offer. */
#ifndef ENGINE_DEVICE_H
#define ENGINE_DEVICE_H

#include "engine/dtype.h"

/* CUDA devices visible to this process (CUDA_VISIBLE_DEVICES applies); 0 in
 * builds without CUDA or when the driver or device is missing. */
int device_cuda_count(void);
/* Waits until every operation queued on d has finished (for timing and
 * benchmarks; host reads of a tensor already wait for what they need).
 * No-op for the CPU, whose operations finish before they return. */
void device_synchronize(Device d);

#endif
