/* Learning-rate schedulers (torch.optim.lr_scheduler): StepLR, MultiStepLR,
 * ExponentialLR, CosineAnnealingLR, LinearLR, OneCycleLR and
 * ReduceLROnPlateau, with PyTorch's formulas (the recursive forms its
 * step() uses) applied to every parameter group with per-group base lrs.
 *
 * As in PyTorch, constructing an epoch-based scheduler (all but
 * ReduceLROnPlateau) performs its first step (epoch 0), which may already
 * change the lrs (LinearLR, OneCycleLR), and stores each group's starting lr
 * as the group's initial_lr when it has none (its base lr). Call
 * scheduler_step() after optimizer_step(), once per epoch (or per batch for
 * OneCycleLR); ReduceLROnPlateau takes the monitored value instead:
 * scheduler_step_metric(). Constructors return NULL with an error for
 * invalid options. A scheduler references its optimizer, which must outlive it.
 *
 * Groups added to the optimizer after the scheduler was made (e.g. layers
 * unfrozen during fine-tuning) are taken in at the next step, state load or
 * scheduler_adopt_param_groups(). PyTorch's schedulers step whatever
 * optimizer.param_groups holds at each step; for such a group this means:
 *  - its initial_lr is set to its lr where unset (what the constructor does
 *    for the first groups) and is its base lr;
 *  - StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR and LinearLR
 *    then scale it from its own lr with the same recursive rule as every
 *    other group (as PyTorch's do; CosineAnnealingLR's restart step, where
 *    PyTorch would skip a group it has no base lr for, uses that base lr);
 *  - OneCycleLR, which sets every lr from the schedule (PyTorch fails there:
 *    the group lacks the keys its constructor sets), gives it the first
 *    group's max_lr, min_lr, momenta, initial_lr and its current lr and
 *    momentum, so it follows the first group's schedule from that step;
 *  - ReduceLROnPlateau (PyTorch reads past its min_lrs list) gives it the
 *    first group's min_lr. */
#ifndef ENGINE_OPTIM_LR_SCHEDULER_H
#define ENGINE_OPTIM_LR_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/optim/optimizer.h"

typedef struct LRScheduler LRScheduler;

/* lr *= gamma every step_size epochs. */
typedef struct {
    int64_t step_size;
    double gamma; /* 0.1 */
} StepLROptions;
StepLROptions step_lr_defaults(void);
LRScheduler *sched_step_lr(Optimizer *opt, StepLROptions o);

/* lr *= gamma at each milestone epoch (a milestone listed twice decays twice). */
typedef struct {
    const int64_t *milestones; /* copied */
    int n_milestones;
    double gamma; /* 0.1 */
} MultiStepLROptions;
MultiStepLROptions multistep_lr_defaults(void);
LRScheduler *sched_multistep_lr(Optimizer *opt, MultiStepLROptions o);

/* lr *= gamma every epoch. */
typedef struct {
    double gamma;
} ExponentialLROptions;
LRScheduler *sched_exponential_lr(Optimizer *opt, ExponentialLROptions o);

/* Cosine annealing from the base lr to eta_min over T_max epochs (and back
 * up over the next T_max, as PyTorch's recursive form does). */
typedef struct {
    int64_t T_max;
    double eta_min; /* 0 */
} CosineAnnealingLROptions;
CosineAnnealingLROptions cosine_annealing_lr_defaults(void);
LRScheduler *sched_cosine_annealing_lr(Optimizer *opt, CosineAnnealingLROptions o);

/* The lr factor goes linearly from start_factor to end_factor over total_iters epochs. */
typedef struct {
    double start_factor; /* 1/3 */
    double end_factor;   /* 1 */
    int64_t total_iters; /* 5 */
} LinearLROptions;
LinearLROptions linear_lr_defaults(void);
LRScheduler *sched_linear_lr(Optimizer *opt, LinearLROptions o);

/* The 1cycle policy, stepped once per batch: the lr rises from
 * max_lr / div_factor to max_lr over pct_start of the steps, then falls to
 * max_lr / div_factor / final_div_factor (three_phase: back to the start
 * first, then down); the momentum (or Adam's beta1) cycles the other way
 * between max_momentum and base_momentum when cycle_momentum is set. */
typedef struct {
    double max_lr;
    const double *max_lrs;  /* one per group, or NULL to use max_lr for all */
    int64_t total_steps;    /* or 0, then epochs * steps_per_epoch */
    int64_t epochs, steps_per_epoch;
    double pct_start;            /* 0.3 */
    const char *anneal_strategy; /* "cos" (default) or "linear" */
    bool cycle_momentum;         /* true */
    double base_momentum;        /* 0.85 */
    double max_momentum;         /* 0.95 */
    double div_factor;           /* 25 */
    double final_div_factor;     /* 1e4 */
    bool three_phase;            /* false */
} OneCycleLROptions;
OneCycleLROptions one_cycle_lr_defaults(void);
LRScheduler *sched_one_cycle_lr(Optimizer *opt, OneCycleLROptions o);

/* Multiplies the lr by factor when the metric has not improved for more
 * than patience steps, then waits cooldown steps. */
typedef struct {
    const char *mode;           /* "min" (default) or "max" */
    double factor;              /* 0.1 */
    int64_t patience;           /* 10 */
    double threshold;           /* 1e-4 */
    const char *threshold_mode; /* "rel" (default) or "abs" */
    int64_t cooldown;           /* 0 */
    double min_lr;              /* 0 */
    double eps;                 /* 1e-8 */
} ReduceLROnPlateauOptions;
ReduceLROnPlateauOptions reduce_lr_on_plateau_defaults(void);
LRScheduler *sched_reduce_lr_on_plateau(Optimizer *opt, ReduceLROnPlateauOptions o);

/* PyTorch's class name: "StepLR", ... */
const char *scheduler_name(const LRScheduler *s);
/* Whether the scheduler steps on a metric (ReduceLROnPlateau). */
bool scheduler_needs_metric(const LRScheduler *s);
/* One epoch-based step; -1 with an error for ReduceLROnPlateau or past
 * OneCycleLR's total steps. */
int scheduler_step(LRScheduler *s);
/* One ReduceLROnPlateau step with the monitored value; -1 with an error for
 * the other schedulers. */
int scheduler_step_metric(LRScheduler *s, double metric);
/* The lrs the last step set, one per parameter group. */
const double *scheduler_get_last_lr(const LRScheduler *s);
int scheduler_n_groups(const LRScheduler *s);
/* Takes in the groups added to the optimizer since the scheduler last saw
 * it (see above), so that its state dict and last lrs include them; call it
 * right after optimizer_add_param_group when the state may be saved before
 * the next step. 0, or -1 with an error (the optimizer lost groups). */
int scheduler_adopt_param_groups(LRScheduler *s);

/* The scheduler's state (counters, base lrs and options) as a malloc'd JSON
 * object, as PyTorch's scheduler.state_dict(). */
char *scheduler_state_dict(const LRScheduler *s);
/* Restores it; fails (changing nothing but the adoption of added groups)
 * with an error when the JSON is for another scheduler type or number of
 * groups. Like PyTorch, it does not touch the optimizer's lrs: load the
 * optimizer's state too. A state saved after groups were added loads into a
 * scheduler whose optimizer has the same groups again. */
int scheduler_load_state_dict(LRScheduler *s, const char *json);

void scheduler_free(LRScheduler *s);

#endif
