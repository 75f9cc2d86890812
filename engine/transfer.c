/* Pinned tensors and overlapped host-to-device copies (see transfer.h): the
 * device-independent checks, and the CPU versions, which are plain copies. */
#include "engine/transfer.h"

#include <stdlib.h>
#include <string.h>

#include "engine/device.h"
#ifdef ENGINE_HAVE_CUDA
#include "engine/cuda/transfer.h"
#endif

struct Transfer {
    void *events; /* the CUDA events, made on the first copy to a GPU; NULL otherwise */
};

Tensor *tensor_empty_pinned(Shape shape, DType dtype)
{
#ifdef ENGINE_HAVE_CUDA
    size_t nbytes;
    if (!shape_check(shape, dtype_size(dtype), "empty_pinned", &nbytes)) return NULL;
    if (device_cuda_count() > 0) {
        Storage *s = storage_new_pinned(nbytes);
        if (s) return tensor_on_storage(s, dtype, shape);
    }
#endif
    return tensor_empty(shape, dtype, CPU);
}

bool tensor_is_pinned(const Tensor *t) { return t->storage->pinned; }

Transfer *transfer_new(void)
{
    Transfer *tr = calloc(1, sizeof *tr);
    ENGINE_CHECK(tr != NULL, "out of memory allocating a transfer");
    return tr;
}

void transfer_free(Transfer *tr)
{
    if (!tr) return;
#ifdef ENGINE_HAVE_CUDA
    cuda_transfer_free(tr->events);
#endif
    free(tr);
}

int transfer_start(Transfer *tr, Tensor *dst, const Tensor *src)
{
    ENGINE_CHECK_INT(tensor_device(src).type == DEVICE_CPU, "transfer: the source must be on the CPU, not %s",
                     device_name(tensor_device(src)));
    ENGINE_CHECK_INT(shape_equal(dst->shape, src->shape) && dst->dtype == src->dtype,
                     "transfer: destination %s %s and source %s %s differ", shape_str(dst->shape),
                     dtype_name(dst->dtype), shape_str(src->shape), dtype_name(src->dtype));
    ENGINE_CHECK_INT(tensor_is_contiguous(dst) && tensor_is_contiguous(src),
                     "transfer: destination and source must be contiguous");
    size_t nbytes = (size_t)tensor_numel(src) * dtype_size(src->dtype);
#ifdef ENGINE_HAVE_CUDA
    if (tensor_is_cuda(dst)) {
        if (!tr->events) tr->events = cuda_transfer_new();
        cuda_transfer_start(tr->events, tensor_data(dst), tensor_data(src), nbytes);
        return 0;
    }
#endif
    (void)tr;
    memcpy(tensor_data(dst), tensor_data(src), nbytes);
    return 0;
}

void transfer_use(Transfer *tr)
{
#ifdef ENGINE_HAVE_CUDA
    if (tr->events) cuda_transfer_use(tr->events);
#else
    (void)tr;
#endif
}

void transfer_wait(Transfer *tr)
{
#ifdef ENGINE_HAVE_CUDA
    if (tr->events) cuda_transfer_wait(tr->events);
#else
    (void)tr;
#endif
}
