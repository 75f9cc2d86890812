/* Running or batching the optimizers' fused updates (see multi_tensor.h). */
#include "engine/optim/multi_tensor.h"

#include <stdlib.h>

#include "engine/dispatch.h"

/* The kernel of u's kind on its parameter's backend, called now; false
 * (with "adam_step is not implemented on ...") when that backend lacks it. */
static bool run_now(const OptimUpdate *u)
{
    Tensor *const *t = u->tensors;
    const Backend *b = backend_of(t[0]);
    const char *missing = NULL;
    switch (u->kind) {
    case OPTIM_SGD:
        if (b->sgd_step) b->sgd_step(t[0], t[1], t[2], &u->args.sgd);
        else missing = "sgd_step";
        break;
    case OPTIM_ADAM:
        if (b->adam_step) b->adam_step(t[0], t[1], t[2], t[3], t[4], &u->args.adam);
        else missing = "adam_step";
        break;
    case OPTIM_RMSPROP:
        if (b->rmsprop_step) b->rmsprop_step(t[0], t[1], t[2], t[3], t[4], &u->args.rmsprop);
        else missing = "rmsprop_step";
        break;
    case OPTIM_ADAGRAD:
        if (b->adagrad_step) b->adagrad_step(t[0], t[1], t[2], &u->args.adagrad);
        else missing = "adagrad_step";
        break;
    case OPTIM_ADADELTA:
        if (b->adadelta_step) b->adadelta_step(t[0], t[1], t[2], t[3], &u->args.adadelta);
        else missing = "adadelta_step";
        break;
    }
    if (missing) engine_error("%s is not implemented on %s", missing, b->name);
    return missing == NULL;
}

/* The open batch of this thread: queued updates, all of one kind and one
 * backend (the one whose optim_step_multi runs them). */
static _Thread_local struct {
    bool open;
    OptimUpdate *items;
    int n, cap;
} batch;

void optim_batch_begin(void)
{
    ENGINE_ASSERT(!batch.open && batch.n == 0);
    batch.open = true;
}

int optim_run_update(const OptimUpdate *u)
{
    const Backend *b = backend_of(u->tensors[0]);
    if (batch.open && b->optim_step_multi) {
        ENGINE_ASSERT(batch.n == 0 || (batch.items[0].kind == u->kind && backend_of(batch.items[0].tensors[0]) == b));
        if (batch.n == batch.cap) {
            batch.cap = batch.cap ? 2 * batch.cap : 16;
            batch.items = realloc(batch.items, sizeof *batch.items * (size_t)batch.cap);
            ENGINE_ASSERT(batch.items != NULL);
        }
        batch.items[batch.n++] = *u;
        return 0;
    }
    return run_now(u) ? 0 : -1;
}

void optim_batch_end(void)
{
    ENGINE_ASSERT(batch.open);
    if (batch.n > 0) backend_of(batch.items[0].tensors[0])->optim_step_multi(batch.items, batch.n);
    free(batch.items);
    batch.items = NULL;
    batch.n = batch.cap = 0;
    batch.open = false;
}
