/* RMSprop, plain or centered, with momentum and weight decay
 * (torch.optim.RMSprop). */
#include <math.h>

#include "engine/optim/algorithms.h"
#include "engine/optim/optimizer_impl.h"
#include "engine/optim/multi_tensor.h"

enum { ALPHA, EPS, WEIGHT_DECAY, MOMENTUM, CENTERED, MAXIMIZE, N_HPARAMS };
enum { SQUARE_AVG, MOMENTUM_BUFFER, GRAD_AVG, N_STATE };

static const HParamInfo hparams[N_HPARAMS] = {
    [ALPHA] = {"alpha", "alpha", -1, false, 0, INFINITY, false},
    [EPS] = {"eps", "eps", -1, false, 0, INFINITY, false},
    [WEIGHT_DECAY] = {"weight_decay", "weight_decay", -1, false, 0, INFINITY, false},
    [MOMENTUM] = {"momentum", "momentum", -1, false, 0, INFINITY, false},
    [CENTERED] = {"centered", "centered", -1, true, 0, 0, false},
    [MAXIMIZE] = {"maximize", "maximize", -1, true, 0, 0, false},
};
static const char *const state_names[N_STATE] = {"square_avg", "momentum_buffer", "grad_avg"};

static bool rmsprop_state_required(const ParamGroup *g, int k)
{
    switch (k) {
    case MOMENTUM_BUFFER: return g->hparams[MOMENTUM] > 0;
    case GRAD_AVG: return g->hparams[CENTERED] != 0;
    default: return true;
    }
}

static int rmsprop_step(const ParamGroup *g, ParamState *s, Tensor *param, Tensor *grad)
{
    const double *hp = g->hparams;
    bool centered = hp[CENTERED] != 0, use_momentum = hp[MOMENTUM] > 0;
    Tensor *square_avg = optim_state_tensor(s, SQUARE_AVG, param, 0.0);
    Tensor *grad_avg = centered ? optim_state_tensor(s, GRAD_AVG, param, 0.0) : NULL;
    Tensor *buf = use_momentum ? optim_state_tensor(s, MOMENTUM_BUFFER, param, 0.0) : NULL;
    if (!square_avg || (centered && !grad_avg) || (use_momentum && !buf)) return -1;
    OptimUpdate u = {
        .kind = OPTIM_RMSPROP,
        .tensors = {param, grad, square_avg, grad_avg, buf},
        .args.rmsprop = {
            .lr = g->lr,
            .alpha = hp[ALPHA],
            .eps = hp[EPS],
            .weight_decay = hp[WEIGHT_DECAY],
            .momentum = hp[MOMENTUM],
            .centered = centered,
            .maximize = hp[MAXIMIZE] != 0,
        },
    };
    return optim_run_update(&u);
}

static const OptimizerVTable rmsprop_vtable = {
    .name = "RMSprop",
    .n_hparams = N_HPARAMS,
    .hparams = hparams,
    .n_state = N_STATE,
    .state_names = state_names,
    .state_required = rmsprop_state_required,
    .step = rmsprop_step,
};

RMSpropOptions rmsprop_defaults(void) { return (RMSpropOptions){.lr = 1e-2, .alpha = 0.99, .eps = 1e-8}; }

Optimizer *optim_rmsprop(Tensor **params, int n, RMSpropOptions o)
{
    double hp[N_HPARAMS] = {
        [ALPHA] = o.alpha,
        [EPS] = o.eps,
        [WEIGHT_DECAY] = o.weight_decay,
        [MOMENTUM] = o.momentum,
        [CENTERED] = o.centered,
        [MAXIMIZE] = o.maximize,
    };
    return optimizer_create(&rmsprop_vtable, params, n, o.lr, hp);
}
