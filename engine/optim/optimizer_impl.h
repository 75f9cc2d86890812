/* What an optimizer algorithm provides to the generic Optimizer (internal to
 * engine/optim): a table describing its hyperparameters and per-parameter
 * state, and the update of one parameter. */
#ifndef ENGINE_OPTIM_OPTIMIZER_IMPL_H
#define ENGINE_OPTIM_OPTIMIZER_IMPL_H

#include "engine/optim/optimizer.h"

#define OPTIM_MAX_STATE 3

typedef struct {
    const char *name; /* for optimizer_get/set: "beta1" */
    const char *key;  /* PyTorch's group key, used in state dicts: "betas" */
    int index;        /* position in key's tuple; -1 when the key holds one value */
    bool is_bool;
    double min, max; /* valid range (ignored for flags) */
    bool max_exclusive;
} HParamInfo;

struct ParamState {
    bool initialized; /* PyTorch creates a parameter's state at its first step */
    int64_t step;
    Tensor *tensors[OPTIM_MAX_STATE]; /* persistent; NULL until used */
};

struct OptimizerVTable {
    const char *name;
    int n_hparams;
    const HParamInfo *hparams;
    int n_state;
    const char *const *state_names; /* PyTorch's state keys: "exp_avg", ... */
    /* Checks what the ranges cannot express (NULL: nothing). 0 or -1 with an error. */
    int (*check)(double lr, const double *hparams);
    /* Whether a parameter with state must have state tensor k under group g's
     * options (loading refuses a state dict that lacks it). */
    bool (*state_required)(const ParamGroup *g, int k);
    /* One update of param with grad (both contiguous f32 of one shape, in a
     * scope with grad mode off). s->step is already incremented. It hands
     * the fused update to optim_run_update (multi_tensor.h), which may queue
     * it until the group's batch ends, so it must not read param after. */
    int (*step)(const ParamGroup *g, ParamState *s, Tensor *param, Tensor *grad);
};

/* Validates the parameters and hyperparameters and makes an optimizer with
 * one group; NULL with an error. */
Optimizer *optimizer_create(const OptimizerVTable *vt, Tensor **params, int n, double lr, const double *hparams);

/* Checks lr and hparams against vt's ranges and check(); 0 or -1 with an error. */
int optim_check_hparams(const OptimizerVTable *vt, double lr, const double *hparams);

/* State tensor k of a parameter shaped like param, made persistent and filled
 * with fill the first time it is asked for. NULL with an error. */
Tensor *optim_state_tensor(ParamState *s, int k, const Tensor *param, double fill);

/* Parameter index (numbered over the groups in order); index must exist. */
Tensor *optim_param_at(const Optimizer *opt, int index);

/* Frees a parameter's state tensors and marks it uninitialised. */
void optim_state_clear(ParamState *s);

#endif
