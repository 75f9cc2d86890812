/* Registries of optimizers and LR schedulers built from config (see optim_config.h). */
#include "utils/optim_config.h"

#include <stdio.h>
#include <string.h>

#include "utils/registry.h"

typedef Optimizer *(*OptimBuilder)(const Config *cfg, Tensor **params, int n);

#define ARG(path) "optimizer.args." path

/* Reads "betas": [b1, b2] when present. */
static int read_betas(const Config *cfg, double *betas)
{
    if (!config_has(cfg, ARG("betas"))) return 0;
    int n = 0;
    double b[2];
    if (config_number_array(cfg, ARG("betas"), b, 2, &n) != 0) return -1;
    ENGINE_CHECK_INT(n == 2, "%s: optimizer.args.betas: expected [beta1, beta2]", cfg->label);
    betas[0] = b[0];
    betas[1] = b[1];
    return 0;
}

static Optimizer *build_sgd(const Config *cfg, Tensor **params, int n)
{
    static const char *const keys[] = {"lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize", NULL};
    SGDOptions o = sgd_defaults();
    if (config_check_keys(cfg, "optimizer.args", keys, "SGD") || config_number_or(cfg, ARG("lr"), o.lr, &o.lr) ||
        config_number_or(cfg, ARG("momentum"), o.momentum, &o.momentum) ||
        config_number_or(cfg, ARG("dampening"), o.dampening, &o.dampening) ||
        config_number_or(cfg, ARG("weight_decay"), o.weight_decay, &o.weight_decay) ||
        config_bool_or(cfg, ARG("nesterov"), o.nesterov, &o.nesterov) ||
        config_bool_or(cfg, ARG("maximize"), o.maximize, &o.maximize))
        return NULL;
    return optim_sgd(params, n, o);
}

static Optimizer *build_adam_like(const Config *cfg, Tensor **params, int n, bool decoupled)
{
    static const char *const keys[] = {"lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", NULL};
    AdamOptions o = decoupled ? adamw_defaults() : adam_defaults();
    if (config_check_keys(cfg, "optimizer.args", keys, decoupled ? "AdamW" : "Adam") ||
        config_number_or(cfg, ARG("lr"), o.lr, &o.lr) || read_betas(cfg, o.betas) ||
        config_number_or(cfg, ARG("eps"), o.eps, &o.eps) ||
        config_number_or(cfg, ARG("weight_decay"), o.weight_decay, &o.weight_decay) ||
        config_bool_or(cfg, ARG("amsgrad"), o.amsgrad, &o.amsgrad) ||
        config_bool_or(cfg, ARG("maximize"), o.maximize, &o.maximize))
        return NULL;
    return decoupled ? optim_adamw(params, n, o) : optim_adam(params, n, o);
}

static Optimizer *build_adam(const Config *cfg, Tensor **params, int n) { return build_adam_like(cfg, params, n, false); }
static Optimizer *build_adamw(const Config *cfg, Tensor **params, int n) { return build_adam_like(cfg, params, n, true); }

static Optimizer *build_rmsprop(const Config *cfg, Tensor **params, int n)
{
    static const char *const keys[] = {"lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize", NULL};
    RMSpropOptions o = rmsprop_defaults();
    if (config_check_keys(cfg, "optimizer.args", keys, "RMSprop") || config_number_or(cfg, ARG("lr"), o.lr, &o.lr) ||
        config_number_or(cfg, ARG("alpha"), o.alpha, &o.alpha) || config_number_or(cfg, ARG("eps"), o.eps, &o.eps) ||
        config_number_or(cfg, ARG("weight_decay"), o.weight_decay, &o.weight_decay) ||
        config_number_or(cfg, ARG("momentum"), o.momentum, &o.momentum) ||
        config_bool_or(cfg, ARG("centered"), o.centered, &o.centered) ||
        config_bool_or(cfg, ARG("maximize"), o.maximize, &o.maximize))
        return NULL;
    return optim_rmsprop(params, n, o);
}

static Optimizer *build_adagrad(const Config *cfg, Tensor **params, int n)
{
    static const char *const keys[] = {"lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps",
                                       "maximize", NULL};
    AdagradOptions o = adagrad_defaults();
    if (config_check_keys(cfg, "optimizer.args", keys, "Adagrad") || config_number_or(cfg, ARG("lr"), o.lr, &o.lr) ||
        config_number_or(cfg, ARG("lr_decay"), o.lr_decay, &o.lr_decay) ||
        config_number_or(cfg, ARG("weight_decay"), o.weight_decay, &o.weight_decay) ||
        config_number_or(cfg, ARG("initial_accumulator_value"), o.initial_accumulator_value,
                         &o.initial_accumulator_value) ||
        config_number_or(cfg, ARG("eps"), o.eps, &o.eps) || config_bool_or(cfg, ARG("maximize"), o.maximize, &o.maximize))
        return NULL;
    return optim_adagrad(params, n, o);
}

static Optimizer *build_adadelta(const Config *cfg, Tensor **params, int n)
{
    static const char *const keys[] = {"lr", "rho", "eps", "weight_decay", "maximize", NULL};
    AdadeltaOptions o = adadelta_defaults();
    if (config_check_keys(cfg, "optimizer.args", keys, "Adadelta") || config_number_or(cfg, ARG("lr"), o.lr, &o.lr) ||
        config_number_or(cfg, ARG("rho"), o.rho, &o.rho) || config_number_or(cfg, ARG("eps"), o.eps, &o.eps) ||
        config_number_or(cfg, ARG("weight_decay"), o.weight_decay, &o.weight_decay) ||
        config_bool_or(cfg, ARG("maximize"), o.maximize, &o.maximize))
        return NULL;
    return optim_adadelta(params, n, o);
}

static const RegistryEntry optimizers[] = {
    {"SGD", (void (*)(void))build_sgd},         {"Adam", (void (*)(void))build_adam},
    {"AdamW", (void (*)(void))build_adamw},     {"RMSprop", (void (*)(void))build_rmsprop},
    {"Adagrad", (void (*)(void))build_adagrad}, {"Adadelta", (void (*)(void))build_adadelta},
};

/* Errors from the optimizer and scheduler constructors themselves ("Adam:
 * Invalid learning rate: -1") get the config file and the args path. */
static void *in_config_context(void *built, const Config *cfg, const char *args_path)
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
    return b ? in_config_context(b(cfg, params, n), cfg, "optimizer.args") : NULL;
}

/* ---- schedulers ---- */

#undef ARG
#define ARG(path) "lr_scheduler.args." path

typedef LRScheduler *(*SchedBuilder)(const Config *cfg, Optimizer *opt, int64_t epochs, int64_t steps);

static LRScheduler *build_step_lr(const Config *cfg, Optimizer *opt, int64_t epochs, int64_t steps)
{
    static const char *const keys[] = {"step_size", "gamma", NULL};
    StepLROptions o = step_lr_defaults();
    if (config_check_keys(cfg, "lr_scheduler.args", keys, "StepLR") ||
        config_int(cfg, ARG("step_size"), &o.step_size) || config_number_or(cfg, ARG("gamma"), o.gamma, &o.gamma))
        return NULL;
    return sched_step_lr(opt, o);
}

static LRScheduler *build_multistep_lr(const Config *cfg, Optimizer *opt, int64_t epochs, int64_t steps)
{
    static const char *const keys[] = {"milestones", "gamma", NULL};
    MultiStepLROptions o = multistep_lr_defaults();
    double m[64];
    int64_t mi[64];
    int n = 0;
    if (config_check_keys(cfg, "lr_scheduler.args", keys, "MultiStepLR") ||
        config_number_array(cfg, ARG("milestones"), m, 64, &n) ||
        config_number_or(cfg, ARG("gamma"), o.gamma, &o.gamma))
        return NULL;
    for (int i = 0; i < n; i++) mi[i] = (int64_t)m[i];
    o.milestones = mi;
    o.n_milestones = n;
    return sched_multistep_lr(opt, o);
}

static LRScheduler *build_exponential_lr(const Config *cfg, Optimizer *opt, int64_t epochs, int64_t steps)
{
    static const char *const keys[] = {"gamma", NULL};
    ExponentialLROptions o;
    if (config_check_keys(cfg, "lr_scheduler.args", keys, "ExponentialLR") ||
        config_number(cfg, ARG("gamma"), &o.gamma))
        return NULL;
    return sched_exponential_lr(opt, o);
}

static LRScheduler *build_cosine_lr(const Config *cfg, Optimizer *opt, int64_t epochs, int64_t steps)
{
    static const char *const keys[] = {"T_max", "eta_min", NULL};
    CosineAnnealingLROptions o = cosine_annealing_lr_defaults();
    if (config_check_keys(cfg, "lr_scheduler.args", keys, "CosineAnnealingLR") ||
        config_int(cfg, ARG("T_max"), &o.T_max) || config_number_or(cfg, ARG("eta_min"), o.eta_min, &o.eta_min))
        return NULL;
    return sched_cosine_annealing_lr(opt, o);
}

static LRScheduler *build_linear_lr(const Config *cfg, Optimizer *opt, int64_t epochs, int64_t steps)
{
    static const char *const keys[] = {"start_factor", "end_factor", "total_iters", NULL};
    LinearLROptions o = linear_lr_defaults();
    if (config_check_keys(cfg, "lr_scheduler.args", keys, "LinearLR") ||
        config_number_or(cfg, ARG("start_factor"), o.start_factor, &o.start_factor) ||
        config_number_or(cfg, ARG("end_factor"), o.end_factor, &o.end_factor) ||
        config_int_or(cfg, ARG("total_iters"), o.total_iters, &o.total_iters))
        return NULL;
    return sched_linear_lr(opt, o);
}

static LRScheduler *build_one_cycle_lr(const Config *cfg, Optimizer *opt, int64_t epochs, int64_t steps)
{
    static const char *const keys[] = {"max_lr", "total_steps", "epochs", "steps_per_epoch", "pct_start",
                                       "anneal_strategy", "cycle_momentum", "base_momentum", "max_momentum",
                                       "div_factor", "final_div_factor", "three_phase", NULL};
    OneCycleLROptions o = one_cycle_lr_defaults();
    o.epochs = epochs;
    o.steps_per_epoch = steps;
    if (config_check_keys(cfg, "lr_scheduler.args", keys, "OneCycleLR") ||
        config_number(cfg, ARG("max_lr"), &o.max_lr) ||
        config_int_or(cfg, ARG("total_steps"), o.total_steps, &o.total_steps) ||
        config_int_or(cfg, ARG("epochs"), o.epochs, &o.epochs) ||
        config_int_or(cfg, ARG("steps_per_epoch"), o.steps_per_epoch, &o.steps_per_epoch) ||
        config_number_or(cfg, ARG("pct_start"), o.pct_start, &o.pct_start) ||
        config_string_or(cfg, ARG("anneal_strategy"), o.anneal_strategy, &o.anneal_strategy) ||
        config_bool_or(cfg, ARG("cycle_momentum"), o.cycle_momentum, &o.cycle_momentum) ||
        config_number_or(cfg, ARG("base_momentum"), o.base_momentum, &o.base_momentum) ||
        config_number_or(cfg, ARG("max_momentum"), o.max_momentum, &o.max_momentum) ||
        config_number_or(cfg, ARG("div_factor"), o.div_factor, &o.div_factor) ||
        config_number_or(cfg, ARG("final_div_factor"), o.final_div_factor, &o.final_div_factor) ||
        config_bool_or(cfg, ARG("three_phase"), o.three_phase, &o.three_phase))
        return NULL;
    return sched_one_cycle_lr(opt, o);
}

static LRScheduler *build_plateau(const Config *cfg, Optimizer *opt, int64_t epochs, int64_t steps)
{
    static const char *const keys[] = {"mode", "factor", "patience", "threshold", "threshold_mode",
                                       "cooldown", "min_lr", "eps", NULL};
    ReduceLROnPlateauOptions o = reduce_lr_on_plateau_defaults();
    if (config_check_keys(cfg, "lr_scheduler.args", keys, "ReduceLROnPlateau") ||
        config_string_or(cfg, ARG("mode"), o.mode, &o.mode) ||
        config_number_or(cfg, ARG("factor"), o.factor, &o.factor) ||
        config_int_or(cfg, ARG("patience"), o.patience, &o.patience) ||
        config_number_or(cfg, ARG("threshold"), o.threshold, &o.threshold) ||
        config_string_or(cfg, ARG("threshold_mode"), o.threshold_mode, &o.threshold_mode) ||
        config_int_or(cfg, ARG("cooldown"), o.cooldown, &o.cooldown) ||
        config_number_or(cfg, ARG("min_lr"), o.min_lr, &o.min_lr) || config_number_or(cfg, ARG("eps"), o.eps, &o.eps))
        return NULL;
    return sched_reduce_lr_on_plateau(opt, o);
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
    return b ? in_config_context(b(cfg, opt, epochs, steps_per_epoch), cfg, "lr_scheduler.args") : NULL;
}
