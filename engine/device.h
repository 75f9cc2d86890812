/* Which devices this build and machine offer. */
#ifndef ENGINE_DEVICE_H
#define ENGINE_DEVICE_H

#include "engine/dtype.h"

/* CUDA devices visible to this process (CUDA_VISIBLE_DEVICES applies); 0 in
 * builds without CUDA or when the driver or device is missing. */
int device_cuda_count(void);

#endif
