/* SGD with momentum, dampening, Nesterov momentum and weight decay
 * (torch.optim.SGD). */
#include <math.h>

#include "engine/optim/algorithms.h"
#include "engine/optim/optimizer_impl.h"
#include "engine/optim/multi_tensor.h"

enum { MOMENTUM, DAMPENING, WEIGHT_DECAY, NESTEROV, MAXIMIZE, N_HPARAMS };
enum { MOMENTUM_BUFFER };

static const HParamInfo hparams[N_HPARAMS] = {
    [MOMENTUM] = {"momentum", "momentum", -1, false, 0, INFINITY, false},
    [DAMPENING] = {"dampening", "dampening", -1, false, -INFINITY, INFINITY, false},
    [WEIGHT_DECAY] = {"weight_decay", "weight_decay", -1, false, 0, INFINITY, false},
    [NESTEROV] = {"nesterov", "nesterov", -1, true, 0, 0, false},
    [MAXIMIZE] = {"maximize", "maximize", -1, true, 0, 0, false},
};
static const char *const state_names[] = {"momentum_buffer"};

static int sgd_check(double lr, const double *hp)
{
    ENGINE_CHECK_INT(!hp[NESTEROV] || (hp[MOMENTUM] > 0 && hp[DAMPENING] == 0),
                     "SGD: Nesterov momentum requires a momentum and zero dampening (momentum %g, dampening %g)",
                     hp[MOMENTUM], hp[DAMPENING]);
    return 0;
}

/* A missing buffer is not an error: PyTorch starts it from the next update. */
static bool sgd_state_required(const ParamGroup *g, int k) { return false; }

static int sgd_step(const ParamGroup *g, ParamState *s, Tensor *param, Tensor *grad)
{
    const double *hp = g->hparams;
    Tensor *buf = NULL;
    bool init = false;
    if (hp[MOMENTUM] != 0) {
        init = s->tensors[MOMENTUM_BUFFER] == NULL;
        if (!(buf = optim_state_tensor(s, MOMENTUM_BUFFER, param, 0.0))) return -1;
    }
    OptimUpdate u = {
        .kind = OPTIM_SGD,
        .tensors = {param, grad, buf},
        .args.sgd = {
            .lr = g->lr,
            .momentum = hp[MOMENTUM],
            .dampening = hp[DAMPENING],
            .weight_decay = hp[WEIGHT_DECAY],
            .nesterov = hp[NESTEROV] != 0,
            .maximize = hp[MAXIMIZE] != 0,
            .init_buffer = init,
        },
    };
    return optim_run_update(&u);
}

static const OptimizerVTable sgd_vtable = {
    .name = "SGD",
    .n_hparams = N_HPARAMS,
    .hparams = hparams,
    .n_state = 1,
    .state_names = state_names,
    .check = sgd_check,
    .state_required = sgd_state_required,
    .step = sgd_step,
};

SGDOptions sgd_defaults(void) { return (SGDOptions){.lr = 1e-3}; }

Optimizer *optim_sgd(Tensor **params, int n, SGDOptions o)
{
    double hp[N_HPARAMS] = {
        [MOMENTUM] = o.momentum,
        [DAMPENING] = o.dampening,
        [WEIGHT_DECAY] = o.weight_decay,
        [NESTEROV] = o.nesterov,
        [MAXIMIZE] = o.maximize,
    };
    return optimizer_create(&sgd_vtable, params, n, o.lr, hp);
}
