/* AdamW: Adam with decoupled weight decay (torch.optim.AdamW). */
#include "engine/optim/adam_impl.h"

static int adamw_step(const ParamGroup *g, ParamState *s, Tensor *param, Tensor *grad)
{
    return adam_update(g, s, param, grad, true);
}

static const OptimizerVTable adamw_vtable = {
    .name = "AdamW",
    .n_hparams = ADAM_N_HPARAMS,
    .hparams = adam_hparams,
    .n_state = ADAM_N_STATE,
    .state_names = adam_state_names,
    .state_required = adam_state_required,
    .step = adamw_step,
};

AdamOptions adamw_defaults(void)
{
    AdamOptions o = adam_defaults();
    o.weight_decay = 1e-2;
    return o;
}

Optimizer *optim_adamw(Tensor **params, int n, AdamOptions o)
{
    double hp[ADAM_N_HPARAMS];
    adam_options_to_hparams(&o, hp);
    return optimizer_create(&adamw_vtable, params, n, o.lr, hp);
}
