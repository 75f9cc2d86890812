/* What every LR scheduler shares: construction (base lrs from the groups'
 * initial_lr), taking in groups added to the optimizer later, the epoch
 * step that writes get_lr()'s values into the groups, and the common part
 * of the state dict. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/optim/lr_scheduler_impl.h"
#include "engine/optim/optim_json.h"

static double *alloc_group_array(int n)
{
    double *a = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    ENGINE_ASSERT(a != NULL);
    return a;
}

LRScheduler *sched_alloc(const SchedulerVTable *vt, Optimizer *opt, int n_arrays)
{
    ENGINE_ASSERT(n_arrays <= SCHED_MAX_GROUP_ARRAYS);
    LRScheduler *s = calloc(1, sizeof *s);
    ENGINE_ASSERT(s != NULL);
    s->vt = vt;
    s->opt = opt;
    s->n_groups = opt->n_groups;
    s->last_epoch = -1;
    s->base_lrs = alloc_group_array(s->n_groups);
    s->last_lrs = alloc_group_array(s->n_groups);
    for (int k = 0; k < n_arrays; k++) s->group_arrays[k] = alloc_group_array(s->n_groups);
    for (int g = 0; g < s->n_groups; g++) {
        ParamGroup *group = &opt->groups[g];
        s->last_lrs[g] = group->lr;
        if (vt->uses_metric) continue;
        if (isnan(group->initial_lr)) group->initial_lr = group->lr; /* PyTorch's setdefault('initial_lr', lr) */
        s->base_lrs[g] = group->initial_lr;
    }
    return s;
}

void scheduler_free(LRScheduler *s)
{
    if (!s) return;
    free(s->base_lrs);
    free(s->last_lrs);
    for (int k = 0; k < SCHED_MAX_GROUP_ARRAYS; k++) free(s->group_arrays[k]);
    if (s->vt->destroy) s->vt->destroy(s);
    free(s);
}

const char *scheduler_name(const LRScheduler *s) { return s->vt->name; }
bool scheduler_needs_metric(const LRScheduler *s) { return s->vt->uses_metric; }
const double *scheduler_get_last_lr(const LRScheduler *s) { return s->last_lrs; }
int scheduler_n_groups(const LRScheduler *s) { return s->n_groups; }

/* Grows a group array from n to m entries (the new ones zero). */
static double *grow_group_array(double *a, int n, int m)
{
    double *b = realloc(a, sizeof(double) * (size_t)m);
    ENGINE_ASSERT(b != NULL);
    memset(b + n, 0, sizeof(double) * (size_t)(m - n));
    return b;
}

/* PyTorch's schedulers iterate over optimizer.param_groups as it is at each
 * step, so a group added later is scaled from its own lr on; the arrays
 * sized at construction are grown here so that nothing reads past them. */
int scheduler_adopt_param_groups(LRScheduler *s)
{
    const int n = s->n_groups, m = s->opt->n_groups;
    if (m == n) return 0;
    ENGINE_CHECK_INT(m > n, "%s: the optimizer has %d parameter groups but the scheduler was made for %d", s->vt->name,
                     m, n);
    s->base_lrs = grow_group_array(s->base_lrs, n, m);
    s->last_lrs = grow_group_array(s->last_lrs, n, m);
    for (int k = 0; k < SCHED_MAX_GROUP_ARRAYS; k++)
        if (s->group_arrays[k]) s->group_arrays[k] = grow_group_array(s->group_arrays[k], n, m);
    for (int g = n; g < m; g++) {
        if (s->vt->adopt && s->vt->adopt(s, g) != 0) {
            s->n_groups = g; /* the groups before it stay adopted; the arrays are large enough */
            return -1;
        }
        ParamGroup *group = &s->opt->groups[g];
        if (!s->vt->uses_metric) {
            /* as at construction: PyTorch's setdefault('initial_lr', lr) */
            if (isnan(group->initial_lr)) group->initial_lr = group->lr;
            s->base_lrs[g] = group->initial_lr;
        }
        s->last_lrs[g] = group->lr;
    }
    s->n_groups = m;
    return 0;
}

/* PyTorch's _LRScheduler.step() without an epoch argument. */
static int epoch_step(LRScheduler *s)
{
    if (scheduler_adopt_param_groups(s) != 0) return -1;
    double *lrs = alloc_group_array(s->n_groups);
    s->step_count++;
    s->last_epoch++;
    int rc = s->vt->get_lr(s, lrs);
    if (rc == 0) {
        for (int g = 0; g < s->n_groups; g++) s->opt->groups[g].lr = s->last_lrs[g] = lrs[g];
    } else {
        s->step_count--;
        s->last_epoch--;
    }
    free(lrs);
    return rc;
}

LRScheduler *sched_initial_step(LRScheduler *s)
{
    s->step_count = 0;
    if (epoch_step(s) != 0) {
        scheduler_free(s);
        return NULL;
    }
    return s;
}

int scheduler_step(LRScheduler *s)
{
    ENGINE_CHECK_INT(!s->vt->uses_metric, "%s: step needs the monitored metric (use scheduler_step_metric)",
                     s->vt->name);
    return epoch_step(s);
}

int scheduler_step_metric(LRScheduler *s, double metric)
{
    ENGINE_CHECK_INT(s->vt->uses_metric, "%s: step takes no metric (use scheduler_step)", s->vt->name);
    if (scheduler_adopt_param_groups(s) != 0) return -1;
    return s->vt->step_metric(s, metric);
}

/* ---- state dict ---- */

char *scheduler_state_dict(const LRScheduler *s)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "type", s->vt->name);
    optim_json_add_int64(root, "last_epoch", s->last_epoch);
    optim_json_add_doubles(root, "_last_lr", s->last_lrs, s->n_groups);
    if (!s->vt->uses_metric) {
        optim_json_add_int64(root, "_step_count", s->step_count);
        optim_json_add_doubles(root, "base_lrs", s->base_lrs, s->n_groups);
    }
    s->vt->save(s, root);
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return json;
}

double *sched_read_group_array(const LRScheduler *s, const cJSON *obj, const char *key, const char *what)
{
    double *a = alloc_group_array(s->n_groups);
    if (optim_json_get_doubles(obj, key, a, s->n_groups, what) != 0) {
        free(a);
        return NULL;
    }
    return a;
}

int scheduler_load_state_dict(LRScheduler *s, const char *json)
{
    char what[64];
    snprintf(what, sizeof what, "%s.load_state_dict", s->vt->name);
    /* a state saved after groups were added has entries for them */
    if (scheduler_adopt_param_groups(s) != 0) return -1;
    cJSON *root = optim_json_parse_object(json, what);
    if (!root) return -1;
    int rc = -1;
    int64_t last_epoch = 0, step_count = 0;
    double *last_lrs = NULL, *base_lrs = NULL;
    const char *type = optim_json_get_string(root, "type", what);
    if (!type) goto done;
    if (strcmp(type, s->vt->name) != 0) {
        engine_error("%s: the state dict is of scheduler type %s, but this scheduler is %s", what, type, s->vt->name);
        goto done;
    }
    if (optim_json_get_int64(root, "last_epoch", &last_epoch, what) != 0) goto done;
    if (!(last_lrs = sched_read_group_array(s, root, "_last_lr", what))) goto done;
    if (!s->vt->uses_metric) {
        if (optim_json_get_int64(root, "_step_count", &step_count, what) != 0) goto done;
        if (!(base_lrs = sched_read_group_array(s, root, "base_lrs", what))) goto done;
    }
    if (s->vt->load(s, root, what) != 0) goto done; /* commits the kind's fields when valid */
    s->last_epoch = last_epoch;
    memcpy(s->last_lrs, last_lrs, sizeof(double) * (size_t)s->n_groups);
    if (!s->vt->uses_metric) {
        s->step_count = step_count;
        memcpy(s->base_lrs, base_lrs, sizeof(double) * (size_t)s->n_groups);
    }
    rc = 0;
done:
    free(last_lrs);
    free(base_lrs);
    cJSON_Delete(root);
    return rc;
}
