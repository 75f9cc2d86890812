/* Pinned tensors and overlapped host-to-device copies (see transfer.h): the
 * device-independent checks; the copies themselves are the destination
 * backend's transfer slot, or plain copies where it has none (the CPU). */
#include "engine/transfer.h"

#include <stdlib.h>

#include "engine/backend.h"
#include "engine/device.h"

struct Transfer {
    const Backend *backend; /* whose slot events is; NULL until the first copy to a device that has slots */
    void *events;           /* that backend's copy slot (CUDA: stream events) */
};

Tensor *tensor_empty_pinned(Shape shape, DType dtype)
{
    size_t nbytes;
    if (!shape_check(shape, dtype_size(dtype), "empty_pinned", &nbytes)) return NULL;
    /* only a GPU's backend pins; asking for its devices loads it */
    if (device_cuda_count() > 0) {
        Storage *s = storage_new_pinned(nbytes);
        if (s) return tensor_on_storage(s, dtype, shape);
    }
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
    if (tr->events) tr->backend->transfer_free(tr->events);
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
    const Backend *b = backend_of(dst);
    if (!b->transfer_new) {
        b->memcpy_from_host(tensor_data(dst), tensor_data(src), nbytes);
        return 0;
    }
    ENGINE_CHECK_INT(!tr->events || tr->backend == b, "transfer: this slot copies to %s, not %s", tr->backend->name,
                     b->name);
    if (!tr->events) {
        tr->events = b->transfer_new();
        tr->backend = b;
    }
    b->transfer_start(tr->events, tensor_data(dst), tensor_data(src), nbytes);
    return 0;
}

void transfer_use(Transfer *tr)
{
    if (tr->events) tr->backend->transfer_use(tr->events);
}

void transfer_wait(Transfer *tr)
{
    if (tr->events) tr->backend->transfer_wait(tr->events);
}
