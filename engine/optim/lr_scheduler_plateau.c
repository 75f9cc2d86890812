/* ReduceLROnPlateau: lowers the lr when a monitored metric stops improving
 * (mode min/max, relative or absolute threshold, patience, cooldown,
 * per-group min_lr, and eps to ignore negligible reductions). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/optim/lr_scheduler_impl.h"
#include "engine/optim/optim_json.h"

enum { MIN_LRS, N_ARRAYS };

static bool is_better(const LRScheduler *s, double a, double best)
{
    double t = s->u.plateau.threshold;
    if (!s->u.plateau.mode_max) return s->u.plateau.threshold_rel ? a < best * (1. - t) : a < best - t;
    return s->u.plateau.threshold_rel ? a > best * (t + 1.) : a > best + t;
}

static void reduce_lr(LRScheduler *s)
{
    for (int g = 0; g < s->n_groups; g++) {
        double old_lr = s->opt->groups[g].lr;
        double new_lr = fmax(old_lr * s->u.plateau.factor, s->group_arrays[MIN_LRS][g]);
        if (old_lr - new_lr > s->u.plateau.eps) s->opt->groups[g].lr = new_lr;
    }
}

static int plateau_step_metric(LRScheduler *s, double current)
{
    s->last_epoch++;
    if (is_better(s, current, s->u.plateau.best)) {
        s->u.plateau.best = current;
        s->u.plateau.num_bad_epochs = 0;
    } else {
        s->u.plateau.num_bad_epochs++;
    }
    if (s->u.plateau.cooldown_counter > 0) {
        s->u.plateau.cooldown_counter--;
        s->u.plateau.num_bad_epochs = 0; /* bad epochs in cooldown do not count */
    }
    if (s->u.plateau.num_bad_epochs > s->u.plateau.patience) {
        reduce_lr(s);
        s->u.plateau.cooldown_counter = s->u.plateau.cooldown;
        s->u.plateau.num_bad_epochs = 0;
    }
    for (int g = 0; g < s->n_groups; g++) s->last_lrs[g] = s->opt->groups[g].lr;
    return 0;
}

/* Parses mode and threshold_mode. */
static int parse_modes(const char *mode, const char *threshold_mode, bool *mode_max, bool *rel, const char *what)
{
    ENGINE_CHECK_INT(mode && (strcmp(mode, "min") == 0 || strcmp(mode, "max") == 0), "%s: mode %s is unknown!", what,
                     mode ? mode : "(null)");
    ENGINE_CHECK_INT(threshold_mode && (strcmp(threshold_mode, "rel") == 0 || strcmp(threshold_mode, "abs") == 0),
                     "%s: threshold mode %s is unknown!", what, threshold_mode ? threshold_mode : "(null)");
    *mode_max = strcmp(mode, "max") == 0;
    *rel = strcmp(threshold_mode, "rel") == 0;
    return 0;
}

static void plateau_save(const LRScheduler *s, cJSON *obj)
{
    optim_json_add_double(obj, "factor", s->u.plateau.factor);
    optim_json_add_doubles(obj, "min_lrs", s->group_arrays[MIN_LRS], s->n_groups);
    optim_json_add_int64(obj, "patience", s->u.plateau.patience);
    optim_json_add_int64(obj, "cooldown", s->u.plateau.cooldown);
    optim_json_add_int64(obj, "cooldown_counter", s->u.plateau.cooldown_counter);
    cJSON_AddStringToObject(obj, "mode", s->u.plateau.mode_max ? "max" : "min");
    optim_json_add_double(obj, "threshold", s->u.plateau.threshold);
    cJSON_AddStringToObject(obj, "threshold_mode", s->u.plateau.threshold_rel ? "rel" : "abs");
    optim_json_add_double(obj, "best", s->u.plateau.best);
    optim_json_add_int64(obj, "num_bad_epochs", s->u.plateau.num_bad_epochs);
    optim_json_add_double(obj, "eps", s->u.plateau.eps);
}

static int plateau_load(LRScheduler *s, const cJSON *obj, const char *what)
{
    double factor, threshold, best, eps;
    int64_t patience, cooldown, cooldown_counter, num_bad_epochs;
    bool mode_max, rel;
    const char *mode = optim_json_get_string(obj, "mode", what);
    const char *threshold_mode = mode ? optim_json_get_string(obj, "threshold_mode", what) : NULL;
    if (!threshold_mode || parse_modes(mode, threshold_mode, &mode_max, &rel, what) != 0 ||
        optim_json_get_double(obj, "factor", &factor, what) != 0 ||
        optim_json_get_double(obj, "threshold", &threshold, what) != 0 ||
        optim_json_get_double(obj, "best", &best, what) != 0 || optim_json_get_double(obj, "eps", &eps, what) != 0 ||
        optim_json_get_int64(obj, "patience", &patience, what) != 0 ||
        optim_json_get_int64(obj, "cooldown", &cooldown, what) != 0 ||
        optim_json_get_int64(obj, "cooldown_counter", &cooldown_counter, what) != 0 ||
        optim_json_get_int64(obj, "num_bad_epochs", &num_bad_epochs, what) != 0)
        return -1;
    ENGINE_CHECK_INT(factor < 1.0, "%s: Factor should be < 1.0 (got %g)", what, factor);
    double *min_lrs = sched_read_group_array(s, obj, "min_lrs", what);
    if (!min_lrs) return -1;
    memcpy(s->group_arrays[MIN_LRS], min_lrs, sizeof(double) * (size_t)s->n_groups);
    free(min_lrs);
    s->u.plateau.mode_max = mode_max;
    s->u.plateau.threshold_rel = rel;
    s->u.plateau.factor = factor;
    s->u.plateau.threshold = threshold;
    s->u.plateau.best = best;
    s->u.plateau.eps = eps;
    s->u.plateau.patience = patience;
    s->u.plateau.cooldown = cooldown;
    s->u.plateau.cooldown_counter = cooldown_counter;
    s->u.plateau.num_bad_epochs = num_bad_epochs;
    return 0;
}

/* A group added after construction gets the first group's min_lr. */
static int plateau_adopt(LRScheduler *s, int g)
{
    s->group_arrays[MIN_LRS][g] = s->group_arrays[MIN_LRS][0];
    return 0;
}

static const SchedulerVTable plateau_vtable = {
    .name = "ReduceLROnPlateau",
    .uses_metric = true,
    .step_metric = plateau_step_metric,
    .save = plateau_save,
    .load = plateau_load,
    .adopt = plateau_adopt,
};

ReduceLROnPlateauOptions reduce_lr_on_plateau_defaults(void)
{
    return (ReduceLROnPlateauOptions){
        .mode = "min", .factor = 0.1, .patience = 10, .threshold = 1e-4, .threshold_mode = "rel", .eps = 1e-8};
}

LRScheduler *sched_reduce_lr_on_plateau(Optimizer *opt, ReduceLROnPlateauOptions o)
{
    const char *what = "ReduceLROnPlateau";
    bool mode_max, rel;
    ENGINE_CHECK(o.factor < 1.0, "%s: Factor should be < 1.0 (got %g)", what, o.factor);
    if (parse_modes(o.mode, o.threshold_mode, &mode_max, &rel, what) != 0) return NULL;
    LRScheduler *s = sched_alloc(&plateau_vtable, opt, N_ARRAYS);
    for (int g = 0; g < s->n_groups; g++) s->group_arrays[MIN_LRS][g] = o.min_lr;
    s->last_epoch = 0;
    s->u.plateau.mode_max = mode_max;
    s->u.plateau.threshold_rel = rel;
    s->u.plateau.factor = o.factor;
    s->u.plateau.threshold = o.threshold;
    s->u.plateau.eps = o.eps;
    s->u.plateau.patience = o.patience;
    s->u.plateau.cooldown = o.cooldown;
    s->u.plateau.best = mode_max ? -INFINITY : INFINITY; /* the worse value for the mode */
    return s;
}
