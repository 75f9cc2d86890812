/* Whole-tensor collectives on the tensor's own device (see tensor_comm.h). */
#include "dist/tensor_comm.h"

#include "dist/world.h"
#include "engine/backend.h"
#include "engine/error.h"

int dist_broadcast_tensor(Tensor *t, int root, const char *what)
{
    ENGINE_CHECK_INT(tensor_is_contiguous(t), "distributed: %s is not contiguous", what);
    int64_t bytes = tensor_numel(t) * (int64_t)dtype_size(t->dtype);
    if (tensor_is_cuda(t)) { /* over NCCL, ordered with the kernels that made and use t */
        const DeviceCommOps *dops = dist_device_ops(tensor_device(t).index);
        if (!dops) return -1;
        if (dops->broadcast(tensor_data(t), bytes, root, backend_of(t)->stream())) {
            engine_error("rank %d: %s (broadcasting %s)", dist_rank(), dops->error(), what);
            return -1;
        }
        return 0;
    }
    if (dist_broadcast(tensor_data(t), bytes, root)) {
        engine_error_context("broadcasting %s", what);
        return -1;
    }
    return 0;
}

Tensor *dist_allreduce_sum_tensor(Tensor *t)
{
    if (!t) return NULL;
    ENGINE_CHECK(t->dtype == DT_F32, "distributed: all-reduce expects a float32 tensor, got %s", dtype_name(t->dtype));
    Tensor *host = tensor_empty(t->shape, DT_F32, CPU);
    if (!host || tensor_copy_(host, t)) return NULL;
    if (dist_allreduce_sum_f32(tensor_f32(host), tensor_numel(host))) return NULL;
    if (!tensor_is_cuda(t)) return host;
    Tensor *out = tensor_empty(t->shape, DT_F32, tensor_device(t));
    return out && tensor_copy_(out, host) == 0 ? out : NULL;
}
