/* The generic optimizer: parameter groups, hyperparameters by name,
 * zero_grad and the step driver that hands each parameter to its algorithm. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/optim/multi_tensor.h"
#include "engine/optim/optimizer_impl.h"
#include "engine/scope.h"

const char *optimizer_name(const Optimizer *opt) { return opt->vt->name; }

int optim_check_hparams(const OptimizerVTable *vt, double lr, const double *hparams)
{
    ENGINE_CHECK_INT(lr >= 0.0, "%s: Invalid learning rate: %g", vt->name, lr);
    for (int i = 0; i < vt->n_hparams; i++) {
        const HParamInfo *h = &vt->hparams[i];
        double v = hparams[i];
        if (h->is_bool) continue;
        bool ok = v >= h->min && (h->max_exclusive ? v < h->max : v <= h->max);
        if (h->index >= 0)
            ENGINE_CHECK_INT(ok, "%s: Invalid %s parameter at index %d: %g", vt->name, h->key, h->index, v);
        ENGINE_CHECK_INT(ok, "%s: Invalid %s value: %g", vt->name, h->key, v);
    }
    return vt->check ? vt->check(lr, hparams) : 0;
}

/* Whether t is among the first n entries of list. */
static bool contains(Tensor *const *list, int n, const Tensor *t)
{
    for (int i = 0; i < n; i++)
        if (list[i] == t) return true;
    return false;
}

static bool in_any_group(const Optimizer *opt, const Tensor *t)
{
    for (int g = 0; g < opt->n_groups; g++)
        if (contains(opt->groups[g].params, opt->groups[g].n_params, t)) return true;
    return false;
}

static int check_params(const Optimizer *opt, Tensor **params, int n)
{
    const char *name = opt->vt->name;
    ENGINE_CHECK_INT(n > 0 && params != NULL, "%s: optimizer got an empty parameter list", name);
    for (int i = 0; i < n; i++) {
        Tensor *p = params[i];
        ENGINE_CHECK_INT(p != NULL, "%s: optimizer can only optimize Tensors, but parameter %d is NULL", name, i);
        ENGINE_CHECK_INT(tensor_is_leaf(p), "%s: can't optimize a non-leaf Tensor (parameter %d)", name, i);
        ENGINE_CHECK_INT(p->dtype == DT_F32, "%s: parameter %d has dtype %s; only float32 parameters can be optimized",
                         name, i, dtype_name(p->dtype));
        ENGINE_CHECK_INT(p->owner == NULL,
                         "%s: parameter %d (shape %s) belongs to a scope; parameters must be persistent "
                         "(tensor_persist) to outlive it",
                         name, i, shape_str(p->shape));
        ENGINE_CHECK_INT(!contains(params, i, p) && !in_any_group(opt, p),
                         "%s: some parameters appear in more than one parameter group (parameter %d, shape %s)",
                         name, i, shape_str(p->shape));
    }
    return 0;
}

/* Appends a group (params copied) with the given hyperparameters. */
static int append_group(Optimizer *opt, Tensor **params, int n, double lr, const double *hparams)
{
    if (check_params(opt, params, n) != 0) return -1;
    ParamGroup *groups = realloc(opt->groups, sizeof *groups * (size_t)(opt->n_groups + 1));
    ENGINE_ASSERT(groups != NULL);
    opt->groups = groups;
    ParamState *state = realloc(opt->state, sizeof *state * (size_t)(opt->n_params + n));
    ENGINE_ASSERT(state != NULL);
    opt->state = state;
    memset(opt->state + opt->n_params, 0, sizeof *state * (size_t)n);
    if (opt->own) { /* sharded: the new parameters are whole until optimizer_own */
        ElementRange *own = realloc(opt->own, sizeof *own * (size_t)(opt->n_params + n));
        ENGINE_ASSERT(own != NULL);
        opt->own = own;
        for (int i = 0; i < n; i++) own[opt->n_params + i] = (ElementRange){0, -1};
    }
    ParamGroup *g = &opt->groups[opt->n_groups++];
    memset(g, 0, sizeof *g);
    g->params = malloc(sizeof *g->params * (size_t)n);
    ENGINE_ASSERT(g->params != NULL);
    memcpy(g->params, params, sizeof *g->params * (size_t)n);
    g->n_params = n;
    g->lr = lr;
    g->initial_lr = NAN;
    memcpy(g->hparams, hparams, sizeof(double) * (size_t)opt->vt->n_hparams);
    opt->n_params += n;
    return opt->n_groups - 1;
}

Optimizer *optimizer_create(const OptimizerVTable *vt, Tensor **params, int n, double lr, const double *hparams)
{
    ENGINE_ASSERT(vt->n_hparams <= OPTIM_MAX_HPARAMS && vt->n_state <= OPTIM_MAX_STATE);
    if (optim_check_hparams(vt, lr, hparams) != 0) return NULL;
    Optimizer *opt = calloc(1, sizeof *opt);
    ENGINE_ASSERT(opt != NULL);
    opt->vt = vt;
    opt->default_lr = lr;
    memcpy(opt->defaults, hparams, sizeof(double) * (size_t)vt->n_hparams);
    if (append_group(opt, params, n, lr, hparams) < 0) {
        optimizer_free(opt);
        return NULL;
    }
    return opt;
}

int optimizer_add_param_group(Optimizer *opt, Tensor **params, int n)
{
    return append_group(opt, params, n, opt->default_lr, opt->defaults);
}

void optim_state_clear(ParamState *s)
{
    for (int k = 0; k < OPTIM_MAX_STATE; k++) {
        tensor_free(s->tensors[k]);
        s->tensors[k] = NULL;
    }
    s->initialized = false;
    s->step = 0;
}

void optimizer_free(Optimizer *opt)
{
    if (!opt) return;
    for (int i = 0; i < opt->n_params; i++) optim_state_clear(&opt->state[i]);
    for (int g = 0; g < opt->n_groups; g++) free(opt->groups[g].params);
    free(opt->groups);
    free(opt->state);
    free(opt->own);
    free(opt);
}

Tensor *optim_state_tensor(ParamState *s, int k, const Tensor *param, double fill)
{
    if (s->tensors[k]) return s->tensors[k];
    Tensor *t = tensor_full(param->shape, fill, DT_F32, tensor_device(param));
    if (!t) return NULL;
    s->tensors[k] = tensor_persist(t);
    return t;
}

/* ---- hyperparameters by name ---- */

static int hparam_index(const OptimizerVTable *vt, const char *name)
{
    for (int i = 0; i < vt->n_hparams; i++)
        if (strcmp(vt->hparams[i].name, name) == 0) return i;
    return -1;
}

bool optimizer_has_hparam(const Optimizer *opt, const char *name)
{
    return strcmp(name, "lr") == 0 || strcmp(name, "initial_lr") == 0 || hparam_index(opt->vt, name) >= 0;
}

/* The slot that holds name in group g; NULL with an error. */
static double *hparam_slot(const Optimizer *opt, int group, const char *name)
{
    if (group < 0 || group >= opt->n_groups) {
        engine_error("%s: no parameter group %d (the optimizer has %d)", opt->vt->name, group, opt->n_groups);
        return NULL;
    }
    ParamGroup *g = &opt->groups[group];
    if (strcmp(name, "lr") == 0) return &g->lr;
    if (strcmp(name, "initial_lr") == 0) return &g->initial_lr;
    int i = hparam_index(opt->vt, name);
    if (i < 0) {
        char known[256] = "lr, initial_lr";
        for (int k = 0; k < opt->vt->n_hparams; k++) {
            size_t len = strlen(known);
            snprintf(known + len, sizeof known - len, ", %s", opt->vt->hparams[k].name);
        }
        engine_error("%s: no hyperparameter '%s' (known: %s)", opt->vt->name, name, known);
        return NULL;
    }
    return &g->hparams[i];
}

double optimizer_get(const Optimizer *opt, int group, const char *name)
{
    double *slot = hparam_slot(opt, group, name);
    return slot ? *slot : NAN;
}

int optimizer_set(Optimizer *opt, int group, const char *name, double value)
{
    double *slot = hparam_slot(opt, group, name);
    if (!slot) return -1;
    ParamGroup *g = &opt->groups[group];
    double old = *slot;
    *slot = value;
    if (slot != &g->initial_lr && optim_check_hparams(opt->vt, g->lr, g->hparams) != 0) {
        *slot = old;
        return -1;
    }
    return 0;
}

/* ---- zero_grad and step ---- */

void optimizer_zero_grad(Optimizer *opt, bool set_to_none)
{
    for (int g = 0; g < opt->n_groups; g++) {
        for (int i = 0; i < opt->groups[g].n_params; i++) {
            Tensor *p = opt->groups[g].params[i];
            if (!p->grad) continue;
            if (set_to_none) {
                tensor_free(p->grad);
                p->grad = NULL;
            } else {
                tensor_fill_(p->grad, 0.0);
            }
        }
    }
}

/* Checks every gradient before anything is updated, so a failed step leaves
 * the parameters and state as they were. */
static int check_grads(const Optimizer *opt)
{
    int index = 0;
    for (int g = 0; g < opt->n_groups; g++) {
        for (int i = 0; i < opt->groups[g].n_params; i++, index++) {
            const Tensor *p = opt->groups[g].params[i], *grad = p->grad;
            if (!grad) continue;
            ENGINE_CHECK_INT(shape_equal(grad->shape, p->shape),
                             "%s.step: parameter %d has shape %s but its gradient has shape %s", opt->vt->name, index,
                             shape_str(p->shape), shape_str(grad->shape));
            ENGINE_CHECK_INT(grad->dtype == DT_F32, "%s.step: the gradient of parameter %d has dtype %s, expected %s",
                             opt->vt->name, index, dtype_name(grad->dtype), dtype_name(p->dtype));
            ENGINE_CHECK_INT(device_equal(tensor_device(grad), tensor_device(p)),
                             "%s.step: parameter %d is on %s but its gradient is on %s", opt->vt->name, index,
                             device_name(tensor_device(p)), device_name(tensor_device(grad)));
        }
    }
    return 0;
}

/* Elements [r.lo, r.hi) of contiguous t, flattened: a view. */
static Tensor *flat_range(Tensor *t, ElementRange r)
{
    return t_narrow(t_reshape(t, SHAPE(tensor_numel(t))), 0, r.lo, r.hi - r.lo);
}

/* Updates one parameter (the elements it owns, when own is a range), or
 * queues its update (see multi_tensor.h). A strided parameter is updated
 * through a contiguous copy, *work, which the caller writes back once the
 * group's queued updates have run. */
static int step_param(const Optimizer *opt, const ParamGroup *g, ParamState *s, const ElementRange *own, Tensor *p,
                      Tensor **work)
{
    bool ranged = own && own->hi >= 0;
    if (ranged && own->hi == own->lo) return 0; /* another process updates it */
    *work = tensor_is_contiguous(p) ? p : t_clone(p);
    Tensor *grad = t_contiguous(p->grad);
    if (!*work || !grad) return -1;
    Tensor *param = ranged ? flat_range(*work, *own) : *work;
    if (ranged && !(grad = flat_range(grad, *own))) return -1;
    if (!param) return -1;
    s->initialized = true;
    s->step++;
    return opt->vt->step(g, s, param, grad);
}

/* One group's parameters with gradients, their updates batched (on CUDA
 * they run as one launch); state[i] and own[i] (NULL: whole) are parameter
 * i's. */
static int step_group(const Optimizer *opt, const ParamGroup *group, ParamState *state, const ElementRange *own)
{
    Tensor **work = calloc((size_t)(group->n_params > 0 ? group->n_params : 1), sizeof *work);
    ENGINE_ASSERT(work != NULL);
    int rc = 0;
    optim_batch_begin();
    for (int i = 0; i < group->n_params && rc == 0; i++)
        if (group->params[i]->grad)
            rc = step_param(opt, group, &state[i], own ? &own[i] : NULL, group->params[i], &work[i]);
    /* also after an error: the parameters before it are updated, as without batching */
    optim_batch_end();
    for (int i = 0; i < group->n_params; i++) {
        if (!work[i] || work[i] == group->params[i]) continue;
        int copied = tensor_copy_(group->params[i], work[i]);
        if (rc == 0) rc = copied;
    }
    free(work);
    return rc;
}

int optimizer_step(Optimizer *opt)
{
    if (check_grads(opt) != 0) return -1;
    scope_begin();
    bool mode = no_grad_begin();
    int rc = 0, index = 0;
    for (int g = 0; g < opt->n_groups && rc == 0; g++) {
        rc = step_group(opt, &opt->groups[g], &opt->state[index], opt->own ? &opt->own[index] : NULL);
        index += opt->groups[g].n_params;
    }
    grad_mode_restore(mode);
    scope_end();
    return rc;
}

/* ---- sharded state (ZeRO) ---- */

Tensor *optim_param_at(const Optimizer *opt, int index)
{
    for (int g = 0; g < opt->n_groups; g++) {
        if (index < opt->groups[g].n_params) return opt->groups[g].params[index];
        index -= opt->groups[g].n_params;
    }
    ENGINE_UNREACHABLE("parameter index out of range");
}

Shape optimizer_state_shape(const Optimizer *opt, int index)
{
    const Tensor *p = optim_param_at(opt, index);
    if (!opt->own || opt->own[index].hi < 0) return p->shape;
    return SHAPE(opt->own[index].hi - opt->own[index].lo);
}

int optimizer_own(Optimizer *opt, int index, int64_t lo, int64_t hi)
{
    ENGINE_CHECK_INT(index >= 0 && index < opt->n_params, "%s: no parameter %d (the optimizer has %d)", opt->vt->name,
                     index, opt->n_params);
    int64_t numel = tensor_numel(optim_param_at(opt, index));
    ENGINE_CHECK_INT(0 <= lo && lo <= hi && hi <= numel, "%s: elements [%lld, %lld) of parameter %d, which has %lld",
                     opt->vt->name, (long long)lo, (long long)hi, index, (long long)numel);
    if (!opt->own) {
        opt->own = malloc(sizeof *opt->own * (size_t)(opt->n_params ? opt->n_params : 1));
        ENGINE_ASSERT(opt->own != NULL);
        for (int i = 0; i < opt->n_params; i++) opt->own[i] = (ElementRange){0, -1};
    }
    optim_state_clear(&opt->state[index]);
    opt->own[index] = (ElementRange){lo, hi};
    return 0;
}

void optimizer_own_all(Optimizer *opt)
{
    for (int i = 0; i < opt->n_params; i++) optim_state_clear(&opt->state[i]);
    free(opt->own);
    opt->own = NULL;
}
