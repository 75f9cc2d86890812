/* The differentiable all-reduce of SyncBatchNorm (see sync_batch_norm.h):
 * out = sum over ranks of t, and, since every rank's out depends on every
 * rank's t with weight 1, the gradient of t is the sum over ranks of out's
 * gradient: the backward is the same all-reduce. Every rank runs the same
 * forward and backward, so the collectives line up. */
#include "dist/sync_batch_norm.h"

#include "dist/world.h"
#include "engine/autograd.h"
#include "engine/nn/layers.h"
#include "engine/ops.h"

/* A host copy of t (f32, contiguous, CPU) summed over the ranks. */
static Tensor *summed(Tensor *t)
{
    Tensor *out = tensor_empty(t->shape, DT_F32, CPU);
    if (!out || tensor_copy_(out, t)) return NULL;
    if (dist_allreduce_sum_f32(tensor_f32(out), tensor_numel(out))) return NULL;
    return out;
}

static int all_reduce_backward(Node *node, Tensor *grad_out, Tensor **grad_in)
{
    (void)node;
    return (grad_in[0] = summed(grad_out)) ? 0 : -1;
}

static Tensor *all_reduce(Tensor *t)
{
    if (!t) return NULL;
    ENGINE_CHECK(t->dtype == DT_F32 && !tensor_is_cuda(t),
                 "SyncBatchNorm: statistics are all-reduced as float32 CPU tensors (CUDA needs NCCL), got %s on %s",
                 dtype_name(t->dtype), device_name(tensor_device(t)));
    Tensor *out = summed(t);
    if (out) autograd_record("AllReduceBackward", all_reduce_backward, out, 1, &t);
    return out;
}

void dist_sync_batch_norm(bool on) { nn_batch_norm_set_sync(on ? all_reduce : NULL); }
