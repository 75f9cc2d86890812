/* Adadelta with weight decay (torch.optim.Adadelta). */
#include <math.h>

#include "engine/optim/algorithms.h"
#include "engine/optim/optimizer_impl.h"
#include "engine/optim/multi_tensor.h"

enum { RHO, EPS, WEIGHT_DECAY, MAXIMIZE, N_HPARAMS };
enum { SQUARE_AVG, ACC_DELTA, N_STATE };

static const HParamInfo hparams[N_HPARAMS] = {
    [RHO] = {"rho", "rho", -1, false, 0, 1, false},
    [EPS] = {"eps", "eps", -1, false, 0, INFINITY, false},
    [WEIGHT_DECAY] = {"weight_decay", "weight_decay", -1, false, 0, INFINITY, false},
    [MAXIMIZE] = {"maximize", "maximize", -1, true, 0, 0, false},
};
static const char *const state_names[N_STATE] = {"square_avg", "acc_delta"};

static bool adadelta_state_required(const ParamGroup *g, int k) { return true; }

static int adadelta_step(const ParamGroup *g, ParamState *s, Tensor *param, Tensor *grad)
{
    const double *hp = g->hparams;
    Tensor *square_avg = optim_state_tensor(s, SQUARE_AVG, param, 0.0);
    Tensor *acc_delta = optim_state_tensor(s, ACC_DELTA, param, 0.0);
    if (!square_avg || !acc_delta) return -1;
    OptimUpdate u = {
        .kind = OPTIM_ADADELTA,
        .tensors = {param, grad, square_avg, acc_delta},
        .args.adadelta = {
            .lr = g->lr,
            .rho = hp[RHO],
            .eps = hp[EPS],
            .weight_decay = hp[WEIGHT_DECAY],
            .maximize = hp[MAXIMIZE] != 0,
        },
    };
    return optim_run_update(&u);
}

static const OptimizerVTable adadelta_vtable = {
    .name = "Adadelta",
    .n_hparams = N_HPARAMS,
    .hparams = hparams,
    .n_state = N_STATE,
    .state_names = state_names,
    .state_required = adadelta_state_required,
    .step = adadelta_step,
};

AdadeltaOptions adadelta_defaults(void) { return (AdadeltaOptions){.lr = 1.0, .rho = 0.9, .eps = 1e-6}; }

Optimizer *optim_adadelta(Tensor **params, int n, AdadeltaOptions o)
{
    double hp[N_HPARAMS] = {
        [RHO] = o.rho,
        [EPS] = o.eps,
        [WEIGHT_DECAY] = o.weight_decay,
        [MAXIMIZE] = o.maximize,
    };
    return optimizer_create(&adadelta_vtable, params, n, o.lr, hp);
}
