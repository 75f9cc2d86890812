/* Running or batching the optimizers' fused updates (see multi_tensor.h). */
#include "engine/optim/multi_tensor.h"

#include <stdlib.h>

#include "engine/cpu/optim_kernels.h"
#include "engine/dispatch.h"
#ifdef ENGINE_HAVE_CUDA
#include "engine/cuda/optim_kernels.h"
#endif

static void run_now(const OptimUpdate *u)
{
    Tensor *const *t = u->tensors;
    switch (u->kind) {
    case OPTIM_SGD: KERNEL(t[0], sgd_step)(t[0], t[1], t[2], &u->args.sgd); break;
    case OPTIM_ADAM: KERNEL(t[0], adam_step)(t[0], t[1], t[2], t[3], t[4], &u->args.adam); break;
    case OPTIM_RMSPROP: KERNEL(t[0], rmsprop_step)(t[0], t[1], t[2], t[3], t[4], &u->args.rmsprop); break;
    case OPTIM_ADAGRAD: KERNEL(t[0], adagrad_step)(t[0], t[1], t[2], &u->args.adagrad); break;
    case OPTIM_ADADELTA: KERNEL(t[0], adadelta_step)(t[0], t[1], t[2], t[3], &u->args.adadelta); break;
    }
}

#ifdef ENGINE_HAVE_CUDA
/* The open batch of this thread: queued updates, all of one kind. */
static _Thread_local struct {
    bool open;
    OptimUpdate *items;
    int n, cap;
} batch;
#endif

void optim_batch_begin(void)
{
#ifdef ENGINE_HAVE_CUDA
    ENGINE_ASSERT(!batch.open && batch.n == 0);
    batch.open = true;
#endif
}

void optim_run_update(const OptimUpdate *u)
{
#ifdef ENGINE_HAVE_CUDA
    if (batch.open && tensor_is_cuda(u->tensors[0])) {
        ENGINE_ASSERT(batch.n == 0 || batch.items[0].kind == u->kind);
        if (batch.n == batch.cap) {
            batch.cap = batch.cap ? 2 * batch.cap : 16;
            batch.items = realloc(batch.items, sizeof *batch.items * (size_t)batch.cap);
            ENGINE_ASSERT(batch.items != NULL);
        }
        batch.items[batch.n++] = *u;
        return;
    }
#endif
    run_now(u);
}

void optim_batch_end(void)
{
#ifdef ENGINE_HAVE_CUDA
    ENGINE_ASSERT(batch.open);
    if (batch.n > 0) cuda_optim_step_multi(batch.items, batch.n);
    free(batch.items);
    batch.items = NULL;
    batch.n = batch.cap = 0;
    batch.open = false;
#endif
}
