/* Registries of optimizers and LR schedulers built from config (see
 * optim_config.h). Each entry lists the constructor's arguments by their
 * PyTorch names and where they go in its options struct. */
#include "utils/optim_config.h"

#include <stdio.h>
#include <string.h>

#include "utils/registry.h"

#define OPT_ARGS "optimizer.args"
#define SCHED_ARGS "lr_scheduler.args"
#define N_SPECS(a) ((int)(sizeof(a) / sizeof((a)[0])))

typedef Optimizer *(*OptimBuilder)(const Config *cfg, Tensor **params, int n);

static const ArgSpec sgd_specs[] = {
    ARG_SPEC(ARG_NUMBER, lr, SGDOptions, lr),
    ARG_SPEC(ARG_NUMBER, momentum, SGDOptions, momentum),
    ARG_SPEC(ARG_NUMBER, dampening, SGDOptions, dampening),
    ARG_SPEC(ARG_NUMBER, weight_decay, SGDOptions, weight_decay),
    ARG_SPEC(ARG_BOOL, nesterov, SGDOptions, nesterov),
    ARG_SPEC(ARG_BOOL, maximize, SGDOptions, maximize),
};

static Optimizer *build_sgd(const Config *cfg, Tensor **params, int n)
{
    SGDOptions o = sgd_defaults();
    return config_read_args(cfg, OPT_ARGS, "SGD", sgd_specs, N_SPECS(sgd_specs), &o) ? NULL : optim_sgd(params, n, o);
}

static const ArgSpec adam_specs[] = {
    ARG_SPEC(ARG_NUMBER, lr, AdamOptions, lr),
    ARG_SPEC(ARG_NUMBER_PAIR, betas, AdamOptions, betas),
    ARG_SPEC(ARG_NUMBER, eps, AdamOptions, eps),
    ARG_SPEC(ARG_NUMBER, weight_decay, AdamOptions, weight_decay),
    ARG_SPEC(ARG_BOOL, amsgrad, AdamOptions, amsgrad),
    ARG_SPEC(ARG_BOOL, maximize, AdamOptions, maximize),
};

static Optimizer *build_adam(const Config *cfg, Tensor **params, int n)
{
    AdamOptions o = adam_defaults();
    return config_read_args(cfg, OPT_ARGS, "Adam", adam_specs, N_SPECS(adam_specs), &o) ? NULL
                                                                                        : optim_adam(params, n, o);
}

static Optimizer *build_adamw(const Config *cfg, Tensor **params, int n)
{
    AdamOptions o = adamw_defaults();
    return config_read_args(cfg, OPT_ARGS, "AdamW", adam_specs, N_SPECS(adam_specs), &o) ? NULL
                                                                                         : optim_adamw(params, n, o);
}

static const ArgSpec rmsprop_specs[] = {
    ARG_SPEC(ARG_NUMBER, lr, RMSpropOptions, lr),
    ARG_SPEC(ARG_NUMBER, alpha, RMSpropOptions, alpha),
    ARG_SPEC(ARG_NUMBER, eps, RMSpropOptions, eps),
    ARG_SPEC(ARG_NUMBER, weight_decay, RMSpropOptions, weight_decay),
    ARG_SPEC(ARG_NUMBER, momentum, RMSpropOptions, momentum),
    ARG_SPEC(ARG_BOOL, centered, RMSpropOptions, centered),
    ARG_SPEC(ARG_BOOL, maximize, RMSpropOptions, maximize),
};

static Optimizer *build_rmsprop(const Config *cfg, Tensor **params, int n)
{
    RMSpropOptions o = rmsprop_defaults();
    return config_read_args(cfg, OPT_ARGS, "RMSprop", rmsprop_specs, N_SPECS(rmsprop_specs), &o)
               ? NULL
               : optim_rmsprop(params, n, o);
}

static const ArgSpec adagrad_specs[] = {
    ARG_SPEC(ARG_NUMBER, lr, AdagradOptions, lr),
    ARG_SPEC(ARG_NUMBER, lr_decay, AdagradOptions, lr_decay),
    ARG_SPEC(ARG_NUMBER, weight_decay, AdagradOptions, weight_decay),
    ARG_SPEC(ARG_NUMBER, initial_accumulator_value, AdagradOptions, initial_accumulator_value),
    ARG_SPEC(ARG_NUMBER, eps, AdagradOptions, eps),
    ARG_SPEC(ARG_BOOL, maximize, AdagradOptions, maximize),
};

static Optimizer *build_adagrad(const Config *cfg, Tensor **params, int n)
{
    AdagradOptions o = adagrad_defaults();
    return config_read_args(cfg, OPT_ARGS, "Adagrad", adagrad_specs, N_SPECS(adagrad_specs), &o)
               ? NULL
               : optim_adagrad(params, n, o);
}

static const ArgSpec adadelta_specs[] = {
    ARG_SPEC(ARG_NUMBER, lr, AdadeltaOptions, lr),
    ARG_SPEC(ARG_NUMBER, rho, AdadeltaOptions, rho),
    ARG_SPEC(ARG_NUMBER, eps, AdadeltaOptions, eps),
    ARG_SPEC(ARG_NUMBER, weight_decay, AdadeltaOptions, weight_decay),
    ARG_SPEC(ARG_BOOL, maximize, AdadeltaOptions, maximize),
};

static Optimizer *build_adadelta(const Config *cfg, Tensor **params, int n)
{
    AdadeltaOptions o = adadelta_defaults();
    return config_read_args(cfg, OPT_ARGS, "Adadelta", adadelta_specs, N_SPECS(adadelta_specs), &o)
               ? NULL
               : optim_adadelta(params, n, o);
}

static const RegistryEntry optimizers[] = {
    {"SGD", (void (*)(void))build_sgd},         {"Adam", (void (*)(void))build_adam},
    {"AdamW", (void (*)(void))build_adamw},     {"RMSprop", (void (*)(void))build_rmsprop},
    {"Adagrad", (void (*)(void))build_adagrad}, {"Adadelta", (void (*)(void))build_adadelta},
};

/* Each algorithm's arguments, in the order of optimizers[]. */
static const struct {
    const ArgSpec *specs;
    int n;
} optimizer_specs[] = {
    {sgd_specs, N_SPECS(sgd_specs)},         {adam_specs, N_SPECS(adam_specs)},
    {adam_specs, N_SPECS(adam_specs)},       {rmsprop_specs, N_SPECS(rmsprop_specs)},
    {adagrad_specs, N_SPECS(adagrad_specs)}, {adadelta_specs, N_SPECS(adadelta_specs)},
};

const ArgSpec *optimizer_arg_specs(const char *type, int *n)
{
    for (size_t i = 0; i < sizeof optimizers / sizeof optimizers[0]; i++)
        if (strcmp(optimizers[i].name, type) == 0) {
            *n = optimizer_specs[i].n;
            return optimizer_specs[i].specs;
        }
    *n = 0;
    return NULL;
}

/* Errors from the optimizer and scheduler constructors themselves ("Adam:
 * Invalid learning rate: -1") get the config file and the args path. */
void *optim_config_in_context(void *built, const Config *cfg, const char *args_path)
{
    if (built || !engine_has_error()) return built;
    const char *msg = engine_last_error();
    size_t n = strlen(cfg->label);
    if (strncmp(msg, cfg->label, n) == 0 && msg[n] == ':') return NULL; /* names the file already */
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", msg);
    engine_clear_error();
    return engine_error("%s: %s: %s", cfg->label, args_path, copy);
}

Optimizer *optimizer_from_config(const Config *cfg, Tensor **params, int n)
{
    const char *type;
    if (config_string(cfg, "optimizer.type", &type) != 0) return NULL;
    OptimBuilder b = (OptimBuilder)registry_find(optimizers, sizeof optimizers / sizeof optimizers[0], type,
                                                 cfg->label, "optimizer.type");
    return b ? optim_config_in_context(b(cfg, params, n), cfg, OPT_ARGS) : NULL;
}

/* ---- schedulers ---- */

typedef LRScheduler *(*SchedBuilder)(const Config *cfg, Optimizer *opt, int64_t epochs, int64_t steps);

static LRScheduler *build_step_lr(const Config *cfg, Optimizer *opt, int64_t epochs, int64_t steps)
{
    static const ArgSpec specs[] = {
        ARG_SPEC_REQUIRED(ARG_INT, step_size, StepLROptions, step_size),
        ARG_SPEC(ARG_NUMBER, gamma, StepLROptions, gamma),
    };
    StepLROptions o = step_lr_defaults();
    return config_read_args(cfg, SCHED_ARGS, "StepLR", specs, N_SPECS(specs), &o) ? NULL : sched_step_lr(opt, o);
}

static LRScheduler *build_multistep_lr(const Config *cfg, Optimizer *opt, int64_t epochs, int64_t steps)
{
    static const char *const keys[] = {"milestones", "gamma", NULL};
    MultiStepLROptions o = multistep_lr_defaults();
    int64_t mi[64];
    int n = 0;
    if (config_check_keys(cfg, SCHED_ARGS, keys, "MultiStepLR") ||
        config_int_array(cfg, SCHED_ARGS ".milestones", mi, 64, &n) ||
        config_number_or(cfg, SCHED_ARGS ".gamma", o.gamma, &o.gamma))
        return NULL;
    o.milestones = mi;
    o.n_milestones = n;
    return sched_multistep_lr(opt, o);
}

static LRScheduler *build_exponential_lr(const Config *cfg, Optimizer *opt, int64_t epochs, int64_t steps)
{
    static const ArgSpec specs[] = {ARG_SPEC_REQUIRED(ARG_NUMBER, gamma, ExponentialLROptions, gamma)};
    ExponentialLROptions o = {0};
    return config_read_args(cfg, SCHED_ARGS, "ExponentialLR", specs, N_SPECS(specs), &o) ? NULL
                                                                                         : sched_exponential_lr(opt, o);
}

static LRScheduler *build_cosine_lr(const Config *cfg, Optimizer *opt, int64_t epochs, int64_t steps)
{
    static const ArgSpec specs[] = {
        ARG_SPEC_REQUIRED(ARG_INT, T_max, CosineAnnealingLROptions, T_max),
        ARG_SPEC(ARG_NUMBER, eta_min, CosineAnnealingLROptions, eta_min),
    };
    CosineAnnealingLROptions o = cosine_annealing_lr_defaults();
    return config_read_args(cfg, SCHED_ARGS, "CosineAnnealingLR", specs, N_SPECS(specs), &o)
               ? NULL
               : sched_cosine_annealing_lr(opt, o);
}

static LRScheduler *build_linear_lr(const Config *cfg, Optimizer *opt, int64_t epochs, int64_t steps)
{
    static const ArgSpec specs[] = {
        ARG_SPEC(ARG_NUMBER, start_factor, LinearLROptions, start_factor),
        ARG_SPEC(ARG_NUMBER, end_factor, LinearLROptions, end_factor),
        ARG_SPEC(ARG_INT, total_iters, LinearLROptions, total_iters),
    };
    LinearLROptions o = linear_lr_defaults();
    return config_read_args(cfg, SCHED_ARGS, "LinearLR", specs, N_SPECS(specs), &o) ? NULL : sched_linear_lr(opt, o);
}

static LRScheduler *build_one_cycle_lr(const Config *cfg, Optimizer *opt, int64_t epochs, int64_t steps)
{
    static const ArgSpec specs[] = {
        ARG_SPEC_REQUIRED(ARG_NUMBER, max_lr, OneCycleLROptions, max_lr),
        ARG_SPEC(ARG_INT, total_steps, OneCycleLROptions, total_steps),
        ARG_SPEC(ARG_INT, epochs, OneCycleLROptions, epochs),
        ARG_SPEC(ARG_INT, steps_per_epoch, OneCycleLROptions, steps_per_epoch),
        ARG_SPEC(ARG_NUMBER, pct_start, OneCycleLROptions, pct_start),
        ARG_SPEC(ARG_STRING, anneal_strategy, OneCycleLROptions, anneal_strategy),
        ARG_SPEC(ARG_BOOL, cycle_momentum, OneCycleLROptions, cycle_momentum),
        ARG_SPEC(ARG_NUMBER, base_momentum, OneCycleLROptions, base_momentum),
        ARG_SPEC(ARG_NUMBER, max_momentum, OneCycleLROptions, max_momentum),
        ARG_SPEC(ARG_NUMBER, div_factor, OneCycleLROptions, div_factor),
        ARG_SPEC(ARG_NUMBER, final_div_factor, OneCycleLROptions, final_div_factor),
        ARG_SPEC(ARG_BOOL, three_phase, OneCycleLROptions, three_phase),
    };
    OneCycleLROptions o = one_cycle_lr_defaults();
    o.epochs = epochs; /* the run's, unless the args say otherwise */
    o.steps_per_epoch = steps;
    return config_read_args(cfg, SCHED_ARGS, "OneCycleLR", specs, N_SPECS(specs), &o) ? NULL
                                                                                      : sched_one_cycle_lr(opt, o);
}

static LRScheduler *build_plateau(const Config *cfg, Optimizer *opt, int64_t epochs, int64_t steps)
{
    static const ArgSpec specs[] = {
        ARG_SPEC(ARG_STRING, mode, ReduceLROnPlateauOptions, mode),
        ARG_SPEC(ARG_NUMBER, factor, ReduceLROnPlateauOptions, factor),
        ARG_SPEC(ARG_INT, patience, ReduceLROnPlateauOptions, patience),
        ARG_SPEC(ARG_NUMBER, threshold, ReduceLROnPlateauOptions, threshold),
        ARG_SPEC(ARG_STRING, threshold_mode, ReduceLROnPlateauOptions, threshold_mode),
        ARG_SPEC(ARG_INT, cooldown, ReduceLROnPlateauOptions, cooldown),
        ARG_SPEC(ARG_NUMBER, min_lr, ReduceLROnPlateauOptions, min_lr),
        ARG_SPEC(ARG_NUMBER, eps, ReduceLROnPlateauOptions, eps),
    };
    ReduceLROnPlateauOptions o = reduce_lr_on_plateau_defaults();
    return config_read_args(cfg, SCHED_ARGS, "ReduceLROnPlateau", specs, N_SPECS(specs), &o)
               ? NULL
               : sched_reduce_lr_on_plateau(opt, o);
}

static const RegistryEntry schedulers[] = {
    {"StepLR", (void (*)(void))build_step_lr},
    {"MultiStepLR", (void (*)(void))build_multistep_lr},
    {"ExponentialLR", (void (*)(void))build_exponential_lr},
    {"CosineAnnealingLR", (void (*)(void))build_cosine_lr},
    {"LinearLR", (void (*)(void))build_linear_lr},
    {"OneCycleLR", (void (*)(void))build_one_cycle_lr},
    {"ReduceLROnPlateau", (void (*)(void))build_plateau},
};

LRScheduler *scheduler_from_config(const Config *cfg, Optimizer *opt, int64_t epochs, int64_t steps_per_epoch,
                                   bool *absent)
{
    *absent = !config_has(cfg, "lr_scheduler");
    if (*absent) return NULL;
    const char *type;
    if (config_string(cfg, "lr_scheduler.type", &type) != 0) return NULL;
    SchedBuilder b = (SchedBuilder)registry_find(schedulers, sizeof schedulers / sizeof schedulers[0], type,
                                                 cfg->label, "lr_scheduler.type");
    return b ? optim_config_in_context(b(cfg, opt, epochs, steps_per_epoch), cfg, SCHED_ARGS) : NULL;
}
