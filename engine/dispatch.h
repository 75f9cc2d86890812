/* What the op layer needs to reach a backend's kernels: backend_of(t) and
 * NEED_KERNEL (engine/backend.h), and the checks every op makes on its
 * inputs' devices and dtypes. Ops are written once above this line; models,
 * losses and trainers never see a device branch. */
#ifndef ENGINE_DISPATCH_H
#define ENGINE_DISPATCH_H

#include "engine/backend.h"
#include "engine/tensor.h"

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
