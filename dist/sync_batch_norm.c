/* The differentiable all-reduce of SyncBatchNorm (see sync_batch_norm.h):
 * out = sum over ranks of t, and, since every rank's out depends on every
 * rank's t with weight 1, the gradient of t is the sum over ranks of out's
 * gradient: the backward is the same all-reduce. Every rank runs the same
 * forward and backward, so the collectives line up. */
#include "dist/sync_batch_norm.h"

#include "dist/tensor_comm.h"
#include "engine/autograd.h"
#include "engine/nn/layers.h"
#include "engine/ops.h"

static int all_reduce_backward(Node *node, Tensor *grad_out, Tensor **grad_in)
{
    (void)node;
    return (grad_in[0] = dist_allreduce_sum_tensor(grad_out)) ? 0 : -1;
}

static Tensor *all_reduce(Tensor *t)
{
    Tensor *out = dist_allreduce_sum_tensor(t);
    if (out) autograd_record("AllReduceBackward", all_reduce_backward, out, 1, &t);
    return out;
}

void dist_sync_batch_norm(bool on) { nn_batch_norm_set_sync(on ? all_reduce : NULL); }
