/* Device discovery for engine/device.c in CUDA builds: the device count
 * comes from the CUDA runtime state (runtime.h), which never aborts when
 * the driver or device is missing. Plain C. */
#ifndef ENGINE_CUDA_DEVICE_H
#define ENGINE_CUDA_DEVICE_H

#include "engine/cuda/runtime.h"

#endif
