/* OneCycleLR: the 1cycle policy (two or three phases, cosine or linear
 * annealing), cycling the momentum or Adam's beta1 against the lr.
 * PyTorch keeps max_lr, min_lr, max_momentum and base_momentum in the
 * optimizer's groups; here they are the scheduler's per-group arrays (saved
 * in its state), while initial_lr lives in the groups as in PyTorch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/optim/lr_scheduler_impl.h"
#include "engine/optim/optim_json.h"

static const double PI = 3.14159265358979323846;

enum { MAX_LR, MIN_LR, MAX_MOMENTUM, BASE_MOMENTUM, N_ARRAYS };
enum { INITIAL_LR = N_ARRAYS }; /* a phase endpoint read from the group */

typedef struct {
    double end_step;
    int start_lr, end_lr, start_momentum, end_momentum;
} Phase;

/* PyTorch's _schedule_phases. Returns how many. */
static int schedule_phases(const LRScheduler *s, Phase *ph)
{
    double total = (double)s->u.one_cycle.total_steps, pct = s->u.one_cycle.pct_start;
    if (s->u.one_cycle.three_phase) {
        ph[0] = (Phase){pct * total - 1, INITIAL_LR, MAX_LR, MAX_MOMENTUM, BASE_MOMENTUM};
        ph[1] = (Phase){2 * pct * total - 2, MAX_LR, INITIAL_LR, BASE_MOMENTUM, MAX_MOMENTUM};
        ph[2] = (Phase){total - 1, INITIAL_LR, MIN_LR, MAX_MOMENTUM, MAX_MOMENTUM};
        return 3;
    }
    ph[0] = (Phase){pct * total - 1, INITIAL_LR, MAX_LR, MAX_MOMENTUM, BASE_MOMENTUM};
    ph[1] = (Phase){total - 1, MAX_LR, MIN_LR, BASE_MOMENTUM, MAX_MOMENTUM};
    return 2;
}

static double anneal(const LRScheduler *s, double start, double end, double pct)
{
    if (s->u.one_cycle.anneal_cos) {
        double cos_out = cos(PI * pct) + 1;
        return end + (start - end) / 2.0 * cos_out;
    }
    return (end - start) * pct + start;
}

static double endpoint(const LRScheduler *s, int g, int which)
{
    return which == INITIAL_LR ? s->opt->groups[g].initial_lr : s->group_arrays[which][g];
}

static int one_cycle_get_lr(LRScheduler *s, double *lrs)
{
    const int64_t step_num = s->last_epoch;
    ENGINE_CHECK_INT(step_num <= s->u.one_cycle.total_steps,
                     "OneCycleLR: Tried to step %lld times. The specified number of total steps is %lld",
                     (long long)step_num + 1, (long long)s->u.one_cycle.total_steps);
    Phase ph[3];
    int n_phases = schedule_phases(s, ph);
    for (int g = 0; g < s->n_groups; g++) {
        double start_step = 0, momentum = 0;
        for (int i = 0; i < n_phases; i++) {
            if ((double)step_num <= ph[i].end_step || i == n_phases - 1) {
                double pct = ((double)step_num - start_step) / (ph[i].end_step - start_step);
                lrs[g] = anneal(s, endpoint(s, g, ph[i].start_lr), endpoint(s, g, ph[i].end_lr), pct);
                momentum = anneal(s, endpoint(s, g, ph[i].start_momentum), endpoint(s, g, ph[i].end_momentum), pct);
                break;
            }
            start_step = ph[i].end_step;
        }
        if (s->u.one_cycle.cycle_momentum && optimizer_set(s->opt, g, s->u.one_cycle.momentum_name, momentum) != 0)
            return -1;
    }
    return 0;
}

static void one_cycle_save(const LRScheduler *s, cJSON *obj)
{
    optim_json_add_int64(obj, "total_steps", s->u.one_cycle.total_steps);
    optim_json_add_double(obj, "pct_start", s->u.one_cycle.pct_start);
    cJSON_AddBoolToObject(obj, "three_phase", s->u.one_cycle.three_phase);
    cJSON_AddStringToObject(obj, "anneal_strategy", s->u.one_cycle.anneal_cos ? "cos" : "linear");
    cJSON_AddBoolToObject(obj, "cycle_momentum", s->u.one_cycle.cycle_momentum);
    cJSON_AddBoolToObject(obj, "use_beta1", strcmp(s->u.one_cycle.momentum_name, "beta1") == 0);
    static const char *const keys[N_ARRAYS] = {"max_lr", "min_lr", "max_momentum", "base_momentum"};
    for (int k = 0; k < N_ARRAYS; k++) optim_json_add_doubles(obj, keys[k], s->group_arrays[k], s->n_groups);
}

static int check_options(int64_t total_steps, double pct_start, const char *anneal_strategy, const char *what)
{
    ENGINE_CHECK_INT(total_steps > 0, "%s: Expected positive integer total_steps, but got %lld", what,
                     (long long)total_steps);
    ENGINE_CHECK_INT(pct_start >= 0 && pct_start <= 1, "%s: Expected float between 0 and 1 pct_start, but got %g",
                     what, pct_start);
    ENGINE_CHECK_INT(anneal_strategy && (strcmp(anneal_strategy, "cos") == 0 || strcmp(anneal_strategy, "linear") == 0),
                     "%s: anneal_strategy must be one of 'cos' or 'linear', instead got %s", what,
                     anneal_strategy ? anneal_strategy : "(null)");
    return 0;
}

static int one_cycle_load(LRScheduler *s, const cJSON *obj, const char *what)
{
    static const char *const keys[N_ARRAYS] = {"max_lr", "min_lr", "max_momentum", "base_momentum"};
    double *arrays[N_ARRAYS] = {0};
    int64_t total_steps;
    double pct_start;
    bool three_phase, cycle_momentum, use_beta1;
    const char *anneal_strategy = optim_json_get_string(obj, "anneal_strategy", what);
    int rc = -1;
    if (!anneal_strategy || optim_json_get_int64(obj, "total_steps", &total_steps, what) != 0 ||
        optim_json_get_double(obj, "pct_start", &pct_start, what) != 0 ||
        optim_json_get_bool(obj, "three_phase", &three_phase, what) != 0 ||
        optim_json_get_bool(obj, "cycle_momentum", &cycle_momentum, what) != 0 ||
        optim_json_get_bool(obj, "use_beta1", &use_beta1, what) != 0 ||
        check_options(total_steps, pct_start, anneal_strategy, what) != 0)
        goto done;
    const char *momentum_name = use_beta1 ? "beta1" : "momentum";
    if (cycle_momentum && !optimizer_has_hparam(s->opt, momentum_name)) {
        engine_error("%s: the state cycles '%s', which the %s optimizer does not have", what, momentum_name,
                     optimizer_name(s->opt));
        goto done;
    }
    for (int k = 0; k < N_ARRAYS; k++)
        if (!(arrays[k] = sched_read_group_array(s, obj, keys[k], what))) goto done;
    s->u.one_cycle.total_steps = total_steps;
    s->u.one_cycle.pct_start = pct_start;
    s->u.one_cycle.three_phase = three_phase;
    s->u.one_cycle.anneal_cos = strcmp(anneal_strategy, "cos") == 0;
    s->u.one_cycle.cycle_momentum = cycle_momentum;
    s->u.one_cycle.momentum_name = momentum_name;
    for (int k = 0; k < N_ARRAYS; k++) memcpy(s->group_arrays[k], arrays[k], sizeof(double) * (size_t)s->n_groups);
    rc = 0;
done:
    for (int k = 0; k < N_ARRAYS; k++) free(arrays[k]);
    return rc;
}

/* A group added after construction follows the first group's schedule from
 * the current step: its values, initial_lr, lr and momentum (see lr_scheduler.h). */
static int one_cycle_adopt(LRScheduler *s, int g)
{
    ParamGroup *first = &s->opt->groups[0], *group = &s->opt->groups[g];
    if (s->u.one_cycle.cycle_momentum) {
        const char *name = s->u.one_cycle.momentum_name;
        if (optimizer_set(s->opt, g, name, optimizer_get(s->opt, 0, name)) != 0) return -1;
    }
    for (int k = 0; k < N_ARRAYS; k++) s->group_arrays[k][g] = s->group_arrays[k][0];
    group->initial_lr = first->initial_lr;
    group->lr = first->lr;
    return 0;
}

static const SchedulerVTable one_cycle_vtable = {.name = "OneCycleLR",
                                                 .get_lr = one_cycle_get_lr,
                                                 .save = one_cycle_save,
                                                 .load = one_cycle_load,
                                                 .adopt = one_cycle_adopt};

OneCycleLROptions one_cycle_lr_defaults(void)
{
    return (OneCycleLROptions){
        .pct_start = 0.3,
        .anneal_strategy = "cos",
        .cycle_momentum = true,
        .base_momentum = 0.85,
        .max_momentum = 0.95,
        .div_factor = 25.,
        .final_div_factor = 1e4,
    };
}

/* Sets every group's momentum (or beta1) to value; on failure restores the
 * old ones, so a failed constructor changes nothing. */
static int set_momentum(Optimizer *opt, const char *name, double value)
{
    double *old = malloc(sizeof(double) * (size_t)opt->n_groups);
    ENGINE_ASSERT(old != NULL);
    int rc = 0;
    for (int g = 0; g < opt->n_groups && rc == 0; g++) {
        old[g] = optimizer_get(opt, g, name);
        if (optimizer_set(opt, g, name, value) != 0) {
            for (int k = 0; k < g; k++) optimizer_set(opt, k, name, old[k]);
            rc = -1;
        }
    }
    free(old);
    return rc;
}

LRScheduler *sched_one_cycle_lr(Optimizer *opt, OneCycleLROptions o)
{
    const char *what = "OneCycleLR";
    if (o.total_steps <= 0) {
        ENGINE_CHECK(o.total_steps == 0, "%s: Expected positive integer total_steps, but got %lld", what,
                     (long long)o.total_steps);
        ENGINE_CHECK(o.epochs != 0 || o.steps_per_epoch != 0,
                     "%s: You must define either total_steps OR (epochs AND steps_per_epoch)", what);
        ENGINE_CHECK(o.epochs > 0, "%s: Expected positive integer epochs, but got %lld", what, (long long)o.epochs);
        ENGINE_CHECK(o.steps_per_epoch > 0, "%s: Expected positive integer steps_per_epoch, but got %lld", what,
                     (long long)o.steps_per_epoch);
        ENGINE_CHECK(!__builtin_mul_overflow(o.epochs, o.steps_per_epoch, &o.total_steps),
                     "%s: epochs (%lld) times steps_per_epoch (%lld) overflows", what, (long long)o.epochs,
                     (long long)o.steps_per_epoch);
    }
    if (check_options(o.total_steps, o.pct_start, o.anneal_strategy, what) != 0) return NULL;
    const char *momentum_name = optimizer_has_hparam(opt, "beta1") ? "beta1" : "momentum";
    ENGINE_CHECK(!o.cycle_momentum || optimizer_has_hparam(opt, momentum_name),
                 "%s: optimizer must support momentum with `cycle_momentum` option enabled (%s has neither momentum "
                 "nor betas)",
                 what, optimizer_name(opt));
    if (o.cycle_momentum && set_momentum(opt, momentum_name, o.max_momentum) != 0) return NULL;
    for (int g = 0; g < opt->n_groups; g++)
        opt->groups[g].initial_lr = (o.max_lrs ? o.max_lrs[g] : o.max_lr) / o.div_factor;
    LRScheduler *s = sched_alloc(&one_cycle_vtable, opt, N_ARRAYS);
    s->u.one_cycle.total_steps = o.total_steps;
    s->u.one_cycle.pct_start = o.pct_start;
    s->u.one_cycle.three_phase = o.three_phase;
    s->u.one_cycle.anneal_cos = strcmp(o.anneal_strategy, "cos") == 0;
    s->u.one_cycle.cycle_momentum = o.cycle_momentum;
    s->u.one_cycle.momentum_name = momentum_name;
    for (int g = 0; g < s->n_groups; g++) {
        s->group_arrays[MAX_LR][g] = o.max_lrs ? o.max_lrs[g] : o.max_lr;
        s->group_arrays[MIN_LR][g] = opt->groups[g].initial_lr / o.final_div_factor;
        s->group_arrays[MAX_MOMENTUM][g] = o.max_momentum;
        s->group_arrays[BASE_MOMENTUM][g] = o.base_momentum;
    }
    return sched_initial_step(s);
}
