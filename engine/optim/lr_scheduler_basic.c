/* The epoch-based schedulers with closed-form rules: StepLR, MultiStepLR,
 * ExponentialLR, CosineAnnealingLR and LinearLR. Each get_lr is PyTorch's
 * chainable (recursive) form, operation for operation, so the lrs match its
 * doubles exactly. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/optim/lr_scheduler_impl.h"
#include "engine/optim/optim_json.h"

static const double PI = 3.14159265358979323846;

/* ---- StepLR ---- */

static int step_get_lr(LRScheduler *s, double *lrs)
{
    bool decay = s->last_epoch != 0 && s->last_epoch % s->u.step.step_size == 0;
    for (int g = 0; g < s->n_groups; g++) lrs[g] = s->opt->groups[g].lr * (decay ? s->u.step.gamma : 1.0);
    return 0;
}

static void step_save(const LRScheduler *s, cJSON *obj)
{
    optim_json_add_int64(obj, "step_size", s->u.step.step_size);
    optim_json_add_double(obj, "gamma", s->u.step.gamma);
}

static int step_load(LRScheduler *s, const cJSON *obj, const char *what)
{
    int64_t step_size;
    double gamma;
    if (optim_json_get_int64(obj, "step_size", &step_size, what) != 0 ||
        optim_json_get_double(obj, "gamma", &gamma, what) != 0)
        return -1;
    ENGINE_CHECK_INT(step_size >= 1, "%s: step_size must be at least 1, got %lld", what, (long long)step_size);
    s->u.step.step_size = step_size;
    s->u.step.gamma = gamma;
    return 0;
}

static const SchedulerVTable step_vtable = {
    .name = "StepLR", .get_lr = step_get_lr, .save = step_save, .load = step_load};

StepLROptions step_lr_defaults(void) { return (StepLROptions){.step_size = 1, .gamma = 0.1}; }

LRScheduler *sched_step_lr(Optimizer *opt, StepLROptions o)
{
    ENGINE_CHECK(o.step_size >= 1, "StepLR: step_size must be at least 1, got %lld", (long long)o.step_size);
    LRScheduler *s = sched_alloc(&step_vtable, opt, 0);
    s->u.step.step_size = o.step_size;
    s->u.step.gamma = o.gamma;
    return sched_initial_step(s);
}

/* ---- MultiStepLR ---- */

static int multistep_get_lr(LRScheduler *s, double *lrs)
{
    int hits = 0; /* PyTorch keeps milestones in a Counter: a repeated one decays repeatedly */
    for (int i = 0; i < s->u.multistep.n_milestones; i++) hits += s->u.multistep.milestones[i] == s->last_epoch;
    double factor = hits ? pow(s->u.multistep.gamma, (double)hits) : 1.0;
    for (int g = 0; g < s->n_groups; g++) lrs[g] = hits ? s->opt->groups[g].lr * factor : s->opt->groups[g].lr;
    return 0;
}

static void multistep_save(const LRScheduler *s, cJSON *obj)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, "milestones");
    for (int i = 0; i < s->u.multistep.n_milestones; i++)
        cJSON_AddItemToArray(arr, optim_json_int64(s->u.multistep.milestones[i]));
    optim_json_add_double(obj, "gamma", s->u.multistep.gamma);
}

static int multistep_load(LRScheduler *s, const cJSON *obj, const char *what)
{
    double gamma;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, "milestones");
    ENGINE_CHECK_INT(cJSON_IsArray(arr), "%s: 'milestones' is missing or not a list", what);
    if (optim_json_get_double(obj, "gamma", &gamma, what) != 0) return -1;
    int n = cJSON_GetArraySize(arr);
    int64_t *milestones = calloc((size_t)n + 1, sizeof(int64_t));
    ENGINE_ASSERT(milestones != NULL);
    for (int i = 0; i < n; i++) {
        const cJSON *m = cJSON_GetArrayItem(arr, i);
        if (!cJSON_IsNumber(m) || m->valuedouble != floor(m->valuedouble)) {
            free(milestones);
            engine_error("%s: milestones[%d] is not an integer", what, i);
            return -1;
        }
        milestones[i] = (int64_t)m->valuedouble;
    }
    free(s->u.multistep.milestones);
    s->u.multistep.milestones = milestones;
    s->u.multistep.n_milestones = n;
    s->u.multistep.gamma = gamma;
    return 0;
}

static void multistep_destroy(LRScheduler *s) { free(s->u.multistep.milestones); }

static const SchedulerVTable multistep_vtable = {.name = "MultiStepLR",
                                                 .get_lr = multistep_get_lr,
                                                 .save = multistep_save,
                                                 .load = multistep_load,
                                                 .destroy = multistep_destroy};

MultiStepLROptions multistep_lr_defaults(void) { return (MultiStepLROptions){.gamma = 0.1}; }

LRScheduler *sched_multistep_lr(Optimizer *opt, MultiStepLROptions o)
{
    ENGINE_CHECK(o.n_milestones >= 0 && (o.milestones || o.n_milestones == 0),
                 "MultiStepLR: milestones must be a list (got %d entries)", o.n_milestones);
    LRScheduler *s = sched_alloc(&multistep_vtable, opt, 0);
    s->u.multistep.milestones = calloc((size_t)o.n_milestones + 1, sizeof(int64_t));
    ENGINE_ASSERT(s->u.multistep.milestones != NULL);
    if (o.n_milestones) memcpy(s->u.multistep.milestones, o.milestones, sizeof(int64_t) * (size_t)o.n_milestones);
    s->u.multistep.n_milestones = o.n_milestones;
    s->u.multistep.gamma = o.gamma;
    return sched_initial_step(s);
}

/* ---- ExponentialLR ---- */

static int exponential_get_lr(LRScheduler *s, double *lrs)
{
    for (int g = 0; g < s->n_groups; g++)
        lrs[g] = s->last_epoch == 0 ? s->opt->groups[g].lr : s->opt->groups[g].lr * s->u.exponential.gamma;
    return 0;
}

static void exponential_save(const LRScheduler *s, cJSON *obj)
{
    optim_json_add_double(obj, "gamma", s->u.exponential.gamma);
}

static int exponential_load(LRScheduler *s, const cJSON *obj, const char *what)
{
    return optim_json_get_double(obj, "gamma", &s->u.exponential.gamma, what);
}

static const SchedulerVTable exponential_vtable = {
    .name = "ExponentialLR", .get_lr = exponential_get_lr, .save = exponential_save, .load = exponential_load};

LRScheduler *sched_exponential_lr(Optimizer *opt, ExponentialLROptions o)
{
    LRScheduler *s = sched_alloc(&exponential_vtable, opt, 0);
    s->u.exponential.gamma = o.gamma;
    return sched_initial_step(s);
}

/* ---- CosineAnnealingLR ---- */

static int cosine_get_lr(LRScheduler *s, double *lrs)
{
    const double T = (double)s->u.cosine.T_max, eta_min = s->u.cosine.eta_min;
    const int64_t e = s->last_epoch;
    for (int g = 0; g < s->n_groups; g++) {
        double lr = s->opt->groups[g].lr, base = s->base_lrs[g];
        if (e == 0) lrs[g] = lr;
        else if (s->step_count == 1 && e > 0) /* first step of a scheduler resumed at a later epoch */
            lrs[g] = eta_min + (base - eta_min) * (1 + cos((double)e * PI / T)) / 2;
        else if ((e - 1 - s->u.cosine.T_max) % (2 * s->u.cosine.T_max) == 0)
            lrs[g] = lr + (base - eta_min) * (1 - cos(PI / T)) / 2;
        else
            lrs[g] = (1 + cos(PI * (double)e / T)) / (1 + cos(PI * (double)(e - 1) / T)) * (lr - eta_min) + eta_min;
    }
    return 0;
}

static void cosine_save(const LRScheduler *s, cJSON *obj)
{
    optim_json_add_int64(obj, "T_max", s->u.cosine.T_max);
    optim_json_add_double(obj, "eta_min", s->u.cosine.eta_min);
}

static int cosine_load(LRScheduler *s, const cJSON *obj, const char *what)
{
    int64_t T_max;
    double eta_min;
    if (optim_json_get_int64(obj, "T_max", &T_max, what) != 0 ||
        optim_json_get_double(obj, "eta_min", &eta_min, what) != 0)
        return -1;
    ENGINE_CHECK_INT(T_max >= 1, "%s: T_max must be at least 1, got %lld", what, (long long)T_max);
    s->u.cosine.T_max = T_max;
    s->u.cosine.eta_min = eta_min;
    return 0;
}

static const SchedulerVTable cosine_vtable = {
    .name = "CosineAnnealingLR", .get_lr = cosine_get_lr, .save = cosine_save, .load = cosine_load};

CosineAnnealingLROptions cosine_annealing_lr_defaults(void) { return (CosineAnnealingLROptions){.T_max = 1}; }

LRScheduler *sched_cosine_annealing_lr(Optimizer *opt, CosineAnnealingLROptions o)
{
    ENGINE_CHECK(o.T_max >= 1, "CosineAnnealingLR: T_max must be at least 1, got %lld", (long long)o.T_max);
    LRScheduler *s = sched_alloc(&cosine_vtable, opt, 0);
    s->u.cosine.T_max = o.T_max;
    s->u.cosine.eta_min = o.eta_min;
    return sched_initial_step(s);
}

/* ---- LinearLR ---- */

static int linear_get_lr(LRScheduler *s, double *lrs)
{
    const double start = s->u.linear.start_factor, end = s->u.linear.end_factor;
    const int64_t e = s->last_epoch, total = s->u.linear.total_iters;
    for (int g = 0; g < s->n_groups; g++) {
        double lr = s->opt->groups[g].lr;
        if (e == 0) lrs[g] = lr * start;
        else if (e > total) lrs[g] = lr;
        else lrs[g] = lr * (1. + (end - start) / ((double)total * start + (double)(e - 1) * (end - start)));
    }
    return 0;
}

static int linear_check(double start, double end, int64_t total_iters, const char *what)
{
    ENGINE_CHECK_INT(start > 0 && start <= 1,
                     "%s: Starting multiplicative factor expected to be greater than 0 and less or equal to 1 (got %g)",
                     what, start);
    ENGINE_CHECK_INT(end >= 0 && end <= 1, "%s: Ending multiplicative factor expected to be between 0 and 1 (got %g)",
                     what, end);
    ENGINE_CHECK_INT(total_iters >= 0, "%s: total_iters must not be negative (got %lld)", what,
                     (long long)total_iters);
    return 0;
}

static void linear_save(const LRScheduler *s, cJSON *obj)
{
    optim_json_add_double(obj, "start_factor", s->u.linear.start_factor);
    optim_json_add_double(obj, "end_factor", s->u.linear.end_factor);
    optim_json_add_int64(obj, "total_iters", s->u.linear.total_iters);
}

static int linear_load(LRScheduler *s, const cJSON *obj, const char *what)
{
    double start, end;
    int64_t total;
    if (optim_json_get_double(obj, "start_factor", &start, what) != 0 ||
        optim_json_get_double(obj, "end_factor", &end, what) != 0 ||
        optim_json_get_int64(obj, "total_iters", &total, what) != 0 || linear_check(start, end, total, what) != 0)
        return -1;
    s->u.linear.start_factor = start;
    s->u.linear.end_factor = end;
    s->u.linear.total_iters = total;
    return 0;
}

static const SchedulerVTable linear_vtable = {
    .name = "LinearLR", .get_lr = linear_get_lr, .save = linear_save, .load = linear_load};

LinearLROptions linear_lr_defaults(void)
{
    return (LinearLROptions){.start_factor = 1.0 / 3, .end_factor = 1.0, .total_iters = 5};
}

LRScheduler *sched_linear_lr(Optimizer *opt, LinearLROptions o)
{
    if (linear_check(o.start_factor, o.end_factor, o.total_iters, "LinearLR") != 0) return NULL;
    LRScheduler *s = sched_alloc(&linear_vtable, opt, 0);
    s->u.linear.start_factor = o.start_factor;
    s->u.linear.end_factor = o.end_factor;
    s->u.linear.total_iters = o.total_iters;
    return sched_initial_step(s);
}
