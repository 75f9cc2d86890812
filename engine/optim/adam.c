/* Adam, with AMSGrad and L2 weight decay added to the gradient
 * (torch.optim.Adam); the update is shared with AdamW (adamw.c). */
#include <math.h>

#include "engine/optim/adam_impl.h"
#include "engine/optim/multi_tensor.h"

const HParamInfo adam_hparams[ADAM_N_HPARAMS] = {
    [ADAM_BETA1] = {"beta1", "betas", 0, false, 0, 1, true},
    [ADAM_BETA2] = {"beta2", "betas", 1, false, 0, 1, true},
    [ADAM_EPS] = {"eps", "eps", -1, false, 0, INFINITY, false},
    [ADAM_WEIGHT_DECAY] = {"weight_decay", "weight_decay", -1, false, 0, INFINITY, false},
    [ADAM_AMSGRAD] = {"amsgrad", "amsgrad", -1, true, 0, 0, false},
    [ADAM_MAXIMIZE] = {"maximize", "maximize", -1, true, 0, 0, false},
};
const char *const adam_state_names[ADAM_N_STATE] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};

bool adam_state_required(const ParamGroup *g, int k)
{
    return k != ADAM_MAX_EXP_AVG_SQ || g->hparams[ADAM_AMSGRAD] != 0;
}

int adam_update(const ParamGroup *g, ParamState *s, Tensor *param, Tensor *grad, bool decoupled)
{
    const double *hp = g->hparams;
    bool amsgrad = hp[ADAM_AMSGRAD] != 0;
    Tensor *exp_avg = optim_state_tensor(s, ADAM_EXP_AVG, param, 0.0);
    Tensor *exp_avg_sq = optim_state_tensor(s, ADAM_EXP_AVG_SQ, param, 0.0);
    Tensor *max_sq = amsgrad ? optim_state_tensor(s, ADAM_MAX_EXP_AVG_SQ, param, 0.0) : NULL;
    if (!exp_avg || !exp_avg_sq || (amsgrad && !max_sq)) return -1;
    double step = (double)s->step;
    OptimUpdate u = {
        .kind = OPTIM_ADAM,
        .tensors = {param, grad, exp_avg, exp_avg_sq, max_sq},
        .args.adam = {
            .lr = g->lr,
            .beta1 = hp[ADAM_BETA1],
            .beta2 = hp[ADAM_BETA2],
            .eps = hp[ADAM_EPS],
            .weight_decay = hp[ADAM_WEIGHT_DECAY],
            .bias_correction1 = 1.0 - pow(hp[ADAM_BETA1], step),
            .bias_correction2 = 1.0 - pow(hp[ADAM_BETA2], step),
            .amsgrad = amsgrad,
            .maximize = hp[ADAM_MAXIMIZE] != 0,
            .decoupled = decoupled,
        },
    };
    return optim_run_update(&u);
}

void adam_options_to_hparams(const AdamOptions *o, double *hp)
{
    hp[ADAM_BETA1] = o->betas[0];
    hp[ADAM_BETA2] = o->betas[1];
    hp[ADAM_EPS] = o->eps;
    hp[ADAM_WEIGHT_DECAY] = o->weight_decay;
    hp[ADAM_AMSGRAD] = o->amsgrad;
    hp[ADAM_MAXIMIZE] = o->maximize;
}

static int adam_step(const ParamGroup *g, ParamState *s, Tensor *param, Tensor *grad)
{
    return adam_update(g, s, param, grad, false);
}

static const OptimizerVTable adam_vtable = {
    .name = "Adam",
    .n_hparams = ADAM_N_HPARAMS,
    .hparams = adam_hparams,
    .n_state = ADAM_N_STATE,
    .state_names = adam_state_names,
    .state_required = adam_state_required,
    .step = adam_step,
};

AdamOptions adam_defaults(void) { return (AdamOptions){.lr = 1e-3, .betas = {0.9, 0.999}, .eps = 1e-8}; }

Optimizer *optim_adam(Tensor **params, int n, AdamOptions o)
{
    double hp[ADAM_N_HPARAMS];
    adam_options_to_hparams(&o, hp);
    return optimizer_create(&adam_vtable, params, n, o.lr, hp);
}
