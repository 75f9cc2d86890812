/* Scheduler internals shared by the lr_scheduler*.c files (internal to
 * engine/optim): the scheduler struct, each kind's table of functions, and
 * the common construction, stepping and state helpers. */
#ifndef ENGINE_OPTIM_LR_SCHEDULER_IMPL_H
#define ENGINE_OPTIM_LR_SCHEDULER_IMPL_H

#include <cjson/cJSON.h>

#include "engine/optim/lr_scheduler.h"

/* Per-group values a scheduler keeps besides base_lrs and last_lrs. */
#define SCHED_MAX_GROUP_ARRAYS 4

typedef struct {
    const char *name;
    bool uses_metric; /* ReduceLROnPlateau: no base_lrs, no epoch step */
    /* PyTorch's get_lr(): the new lr of every group, computed after
     * last_epoch and step_count were advanced. May change other group
     * hyperparameters (OneCycleLR's momentum). 0 or -1 with an error. */
    int (*get_lr)(LRScheduler *s, double *lrs);
    /* ReduceLROnPlateau's step with the monitored value. */
    int (*step_metric)(LRScheduler *s, double metric);
    /* Adds the kind's own fields to the state JSON. */
    void (*save)(const LRScheduler *s, cJSON *obj);
    /* Reads and checks the kind's fields; commits them only when all are
     * valid. 0 or -1 with an error naming what. */
    int (*load)(LRScheduler *s, const cJSON *obj, const char *what);
    /* Frees what the kind allocated besides the group arrays (NULL: nothing). */
    void (*destroy)(LRScheduler *s);
    /* Fills the kind's per-group values for group g, which was added to the
     * optimizer after the scheduler was made (the group arrays already have
     * room for it); runs before the common part sets its base lr from its
     * initial_lr. NULL: nothing of its own. 0 or -1 with an error. */
    int (*adopt)(LRScheduler *s, int g);
} SchedulerVTable;

struct LRScheduler {
    const SchedulerVTable *vt;
    Optimizer *opt;
    int n_groups;
    int64_t last_epoch;
    int64_t step_count;
    double *base_lrs;
    double *last_lrs;
    double *group_arrays[SCHED_MAX_GROUP_ARRAYS]; /* each n_groups long, or NULL */
    union {
        struct {
            int64_t step_size;
            double gamma;
        } step;
        struct {
            int64_t *milestones;
            int n_milestones;
            double gamma;
        } multistep;
        struct {
            double gamma;
        } exponential;
        struct {
            int64_t T_max;
            double eta_min;
        } cosine;
        struct {
            double start_factor, end_factor;
            int64_t total_iters;
        } linear;
        struct {
            int64_t total_steps;
            double pct_start;
            bool three_phase, anneal_cos, cycle_momentum;
            const char *momentum_name; /* "momentum" or "beta1" */
        } one_cycle;
        struct {
            bool mode_max, threshold_rel;
            double factor, threshold, eps, best;
            int64_t patience, cooldown, cooldown_counter, num_bad_epochs;
        } plateau;
    } u;
};

/* A scheduler of kind vt on opt with its arrays allocated (group_arrays:
 * the first n_arrays), last_epoch -1 and last_lrs the groups' lrs. For
 * epoch-based kinds it also sets each group's initial_lr where unset and
 * takes base_lrs from them. Free with scheduler_free. */
LRScheduler *sched_alloc(const SchedulerVTable *vt, Optimizer *opt, int n_arrays);
/* The constructor's first step (epoch 0); frees s and returns NULL on failure. */
LRScheduler *sched_initial_step(LRScheduler *s);

/* Reads an array of exactly n_groups numbers into a new malloc'd array. */
double *sched_read_group_array(const LRScheduler *s, const cJSON *obj, const char *key, const char *what);

#endif
