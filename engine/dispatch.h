/* The one dispatch point from the op layer to a backend's kernels.
 *
 * Every kernel exists as cpu_<name> (engine/cpu) and, in CUDA builds,
 * cuda_<name> (engine/cuda) with the same signature; KERNEL(t, name) picks
 * by t's device. Ops are written once above this line; models, losses and
 * trainers never see a device branch. */
#ifndef ENGINE_DISPATCH_H
#define ENGINE_DISPATCH_H

#include "engine/tensor.h"

#ifdef ENGINE_HAVE_CUDA
#define KERNEL(t, name) (tensor_is_cuda(t) ? cuda_##name : cpu_##name)
#else
#define KERNEL(t, name) ((void)(t), cpu_##name)
#endif

/* Records an error and returns NULL from the caller when a and b are not on
 * one device. */
#define CHECK_SAME_DEVICE(op, a, b)                                                                   \
    ENGINE_CHECK(device_equal(tensor_device(a), tensor_device(b)),                                   \
                 "%s: expected all tensors to be on the same device, but found %s and %s", op,        \
                 device_name(tensor_device(a)), device_name(tensor_device(b)))

#define CHECK_DTYPE(op, t, dt, what)                                                                  \
    ENGINE_CHECK((t)->dtype == (dt), "%s: expected %s to be %s, got %s", op, what, dtype_name(dt),    \
                 dtype_name((t)->dtype))

#endif
