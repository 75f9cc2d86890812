/* Adagrad with learning-rate decay, weight decay and an initial accumulator
 * value (torch.optim.Adagrad, dense gradients). PyTorch creates every
 * parameter's accumulator in the constructor; here it is made at the
 * parameter's first step, from the group's initial_accumulator_value, which
 * gives the same updates. */
#include <math.h>

#include "engine/optim/algorithms.h"
#include "engine/optim/optimizer_impl.h"
#include "engine/optim/multi_tensor.h"

enum { LR_DECAY, WEIGHT_DECAY, INITIAL_ACCUMULATOR_VALUE, EPS, MAXIMIZE, N_HPARAMS };
enum { SUM };

static const HParamInfo hparams[N_HPARAMS] = {
    [LR_DECAY] = {"lr_decay", "lr_decay", -1, false, 0, INFINITY, false},
    [WEIGHT_DECAY] = {"weight_decay", "weight_decay", -1, false, 0, INFINITY, false},
    [INITIAL_ACCUMULATOR_VALUE] = {"initial_accumulator_value", "initial_accumulator_value", -1, false, 0, INFINITY,
                                   false},
    [EPS] = {"eps", "eps", -1, false, 0, INFINITY, false},
    [MAXIMIZE] = {"maximize", "maximize", -1, true, 0, 0, false},
};
static const char *const state_names[] = {"sum"};

static bool adagrad_state_required(const ParamGroup *g, int k) { return true; }

static int adagrad_step(const ParamGroup *g, ParamState *s, Tensor *param, Tensor *grad)
{
    const double *hp = g->hparams;
    Tensor *sum = optim_state_tensor(s, SUM, param, hp[INITIAL_ACCUMULATOR_VALUE]);
    if (!sum) return -1;
    OptimUpdate u = {
        .kind = OPTIM_ADAGRAD,
        .tensors = {param, grad, sum},
        .args.adagrad = {
            .clr = g->lr / (1.0 + (double)(s->step - 1) * hp[LR_DECAY]),
            .eps = hp[EPS],
            .weight_decay = hp[WEIGHT_DECAY],
            .maximize = hp[MAXIMIZE] != 0,
        },
    };
    return optim_run_update(&u);
}

static const OptimizerVTable adagrad_vtable = {
    .name = "Adagrad",
    .n_hparams = N_HPARAMS,
    .hparams = hparams,
    .n_state = 1,
    .state_names = state_names,
    .state_required = adagrad_state_required,
    .step = adagrad_step,
};

AdagradOptions adagrad_defaults(void) { return (AdagradOptions){.lr = 1e-2, .eps = 1e-10}; }

Optimizer *optim_adagrad(Tensor **params, int n, AdagradOptions o)
{
    double hp[N_HPARAMS] = {
        [LR_DECAY] = o.lr_decay,
        [WEIGHT_DECAY] = o.weight_decay,
        [INITIAL_ACCUMULATOR_VALUE] = o.initial_accumulator_value,
        [EPS] = o.eps,
        [MAXIMIZE] = o.maximize,
    };
    return optimizer_create(&adagrad_vtable, params, n, o.lr, hp);
}
