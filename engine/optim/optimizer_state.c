/* Optimizer state dicts, shaped like PyTorch's optimizer.state_dict():
 *   {"type": "Adam",
 *    "param_groups": [{"lr": 0.001, "betas": [0.9, 0.999], ..., "params": [0, 1]}, ...],
 *    "state": {"0": {"step": 10}, ...}}
 * plus tensors named "state.<param index>.<state name>". Loading validates
 * everything before it changes anything. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/optim/optim_json.h"
#include "engine/optim/optimizer_impl.h"
#include "engine/scope.h"

/* Writes group g's hyperparameters under PyTorch's keys (pairs as lists). */
static void add_group_hparams(cJSON *jg, const OptimizerVTable *vt, const ParamGroup *g)
{
    optim_json_add_double(jg, "lr", g->lr);
    for (int i = 0; i < vt->n_hparams; i++) {
        const HParamInfo *h = &vt->hparams[i];
        if (h->index < 0) {
            if (h->is_bool) cJSON_AddBoolToObject(jg, h->key, g->hparams[i] != 0);
            else optim_json_add_double(jg, h->key, g->hparams[i]);
            continue;
        }
        cJSON *arr = cJSON_GetObjectItemCaseSensitive(jg, h->key);
        if (!arr) arr = cJSON_AddArrayToObject(jg, h->key);
        cJSON_AddItemToArray(arr, optim_json_double(g->hparams[i]));
    }
    if (!isnan(g->initial_lr)) optim_json_add_double(jg, "initial_lr", g->initial_lr);
}

int optimizer_state_dict(Optimizer *opt, StateDict *tensors_out, char **json_out)
{
    const OptimizerVTable *vt = opt->vt;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "type", vt->name);
    cJSON *groups = cJSON_AddArrayToObject(root, "param_groups");
    int index = 0;
    for (int g = 0; g < opt->n_groups; g++) {
        cJSON *jg = cJSON_CreateObject();
        add_group_hparams(jg, vt, &opt->groups[g]);
        cJSON *params = cJSON_AddArrayToObject(jg, "params");
        for (int i = 0; i < opt->groups[g].n_params; i++) cJSON_AddItemToArray(params, optim_json_int64(index++));
        cJSON_AddItemToArray(groups, jg);
    }
    cJSON *state = cJSON_AddObjectToObject(root, "state");
    int rc = 0;
    for (int i = 0; i < opt->n_params && rc == 0; i++) {
        const ParamState *s = &opt->state[i];
        if (!s->initialized) continue;
        char name[96];
        snprintf(name, sizeof name, "%d", i);
        cJSON *js = cJSON_AddObjectToObject(state, name);
        optim_json_add_int64(js, "step", s->step);
        for (int k = 0; k < vt->n_state && rc == 0; k++) {
            if (!s->tensors[k]) continue;
            snprintf(name, sizeof name, "state.%d.%s", i, vt->state_names[k]);
            rc = state_dict_add(tensors_out, name, s->tensors[k]);
        }
    }
    *json_out = rc == 0 ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return rc;
}

/* ---- loading ---- */

/* Everything a state dict sets, gathered and checked before it is applied. */
typedef struct {
    ParamGroup *groups; /* lr, initial_lr and hparams only */
    bool *has_state;
    int64_t *steps;
    Tensor **tensors; /* n_params * OPTIM_MAX_STATE sources from the caller's dict */
} Loaded;

static void loaded_free(Loaded *L)
{
    free(L->groups);
    free(L->has_state);
    free(L->steps);
    free(L->tensors);
}

static int group_of(const Optimizer *opt, int index)
{
    for (int g = 0; g < opt->n_groups; g++) {
        if (index < opt->groups[g].n_params) return g;
        index -= opt->groups[g].n_params;
    }
    return -1;
}

static int read_group(const Optimizer *opt, const cJSON *jg, int g, ParamGroup *out, const char *what)
{
    const OptimizerVTable *vt = opt->vt;
    char where[160];
    snprintf(where, sizeof where, "%s: param_groups[%d]", what, g);
    ENGINE_CHECK_INT(cJSON_IsObject(jg), "%s is not an object", where);
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(jg, "params");
    ENGINE_CHECK_INT(cJSON_IsArray(params), "%s: 'params' is missing or not a list", where);
    ENGINE_CHECK_INT(cJSON_GetArraySize(params) == opt->groups[g].n_params,
                     "%s: loaded state dict contains a parameter group that doesn't match the size of optimizer's "
                     "group (%d parameters saved, %d in the optimizer)",
                     where, cJSON_GetArraySize(params), opt->groups[g].n_params);
    if (optim_json_get_double(jg, "lr", &out->lr, where) != 0) return -1;
    out->initial_lr = NAN;
    if (cJSON_GetObjectItemCaseSensitive(jg, "initial_lr") &&
        optim_json_get_double(jg, "initial_lr", &out->initial_lr, where) != 0)
        return -1;
    for (int i = 0; i < vt->n_hparams; i++) {
        const HParamInfo *h = &vt->hparams[i];
        bool flag;
        if (h->is_bool) {
            if (optim_json_get_bool(jg, h->key, &flag, where) != 0) return -1;
            out->hparams[i] = flag;
            continue;
        }
        if (h->index < 0) {
            if (optim_json_get_double(jg, h->key, &out->hparams[i], where) != 0) return -1;
            continue;
        }
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(jg, h->key);
        ENGINE_CHECK_INT(cJSON_IsArray(arr) && cJSON_GetArraySize(arr) > h->index,
                         "%s: '%s' is missing or has no element %d", where, h->key, h->index);
        if (optim_json_item_double(cJSON_GetArrayItem(arr, h->index), &out->hparams[i], where, h->key) != 0)
            return -1;
    }
    return optim_check_hparams(vt, out->lr, out->hparams);
}

static int read_state_entries(const Optimizer *opt, const cJSON *state, Loaded *L, const char *what)
{
    ENGINE_CHECK_INT(cJSON_IsObject(state), "%s: 'state' is missing or not an object", what);
    const cJSON *entry;
    cJSON_ArrayForEach(entry, state)
    {
        char *end;
        long index = strtol(entry->string, &end, 10);
        ENGINE_CHECK_INT(*end == '\0' && end != entry->string && index >= 0 && index < opt->n_params,
                         "%s: state entry '%s' does not name a parameter (the optimizer has %d)", what,
                         entry->string, opt->n_params);
        char where[160];
        snprintf(where, sizeof where, "%s: state[%ld]", what, index);
        ENGINE_CHECK_INT(cJSON_IsObject(entry), "%s is not an object", where);
        if (optim_json_get_int64(entry, "step", &L->steps[index], where) != 0) return -1;
        ENGINE_CHECK_INT(L->steps[index] >= 0, "%s: negative step %lld", where, (long long)L->steps[index]);
        L->has_state[index] = true;
    }
    return 0;
}

/* Parses "state.<index>.<name>" into the parameter index and state slot. */
static int parse_tensor_name(const Optimizer *opt, const char *name, int *index, int *slot, const char *what)
{
    const OptimizerVTable *vt = opt->vt;
    char *end = NULL;
    long i = strncmp(name, "state.", 6) == 0 ? strtol(name + 6, &end, 10) : -1;
    ENGINE_CHECK_INT(end && end != name + 6 && *end == '.' && i >= 0 && i < opt->n_params,
                     "%s: unexpected tensor '%s' (expected state.<parameter index>.<name> with an index below %d)",
                     what, name, opt->n_params);
    for (int k = 0; k < vt->n_state; k++) {
        if (strcmp(end + 1, vt->state_names[k]) == 0) {
            *index = (int)i;
            *slot = k;
            return 0;
        }
    }
    engine_error("%s: unexpected tensor '%s' (%s has no state called '%s')", what, name, vt->name, end + 1);
    return -1;
}

static int read_tensors(const Optimizer *opt, const StateDict *sd, Loaded *L, const char *what)
{
    for (int j = 0; sd && j < sd->n; j++) {
        int index, slot;
        if (parse_tensor_name(opt, sd->names[j], &index, &slot, what) != 0) return -1;
        const Tensor *t = sd->tensors[j];
        Shape expected = optimizer_state_shape(opt, index);
        ENGINE_CHECK_INT(L->has_state[index], "%s: tensor '%s' has no entry in the state's JSON", what,
                         sd->names[j]);
        ENGINE_CHECK_INT(t && shape_equal(t->shape, expected),
                         "%s: '%s' has shape %s but parameter %d's state has shape %s", what, sd->names[j],
                         t ? shape_str(t->shape) : "(null)", index, shape_str(expected));
        ENGINE_CHECK_INT(t->dtype == DT_F32, "%s: '%s' has dtype %s, expected float32", what, sd->names[j],
                         dtype_name(t->dtype));
        L->tensors[index * OPTIM_MAX_STATE + slot] = (Tensor *)t;
    }
    for (int i = 0; i < opt->n_params; i++) {
        if (!L->has_state[i]) continue;
        const ParamGroup *g = &L->groups[group_of(opt, i)];
        for (int k = 0; k < opt->vt->n_state; k++)
            ENGINE_CHECK_INT(L->tensors[i * OPTIM_MAX_STATE + k] || !opt->vt->state_required(g, k),
                             "%s: missing tensor state.%d.%s", what, i, opt->vt->state_names[k]);
    }
    return 0;
}

static int read_all(const Optimizer *opt, const StateDict *sd, const char *json, Loaded *L, const char *what)
{
    cJSON *root = optim_json_parse_object(json, what);
    if (!root) return -1;
    int rc = -1;
    const char *type = optim_json_get_string(root, "type", what);
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(root, "param_groups");
    if (!type) goto done;
    if (strcmp(type, opt->vt->name) != 0) {
        engine_error("%s: the state dict is of optimizer type %s, but this optimizer is %s", what, type, opt->vt->name);
        goto done;
    }
    if (!cJSON_IsArray(groups) || cJSON_GetArraySize(groups) != opt->n_groups) {
        engine_error("%s: loaded state dict has a different number of parameter groups (%d saved, %d in the "
                     "optimizer)",
                     what, cJSON_IsArray(groups) ? cJSON_GetArraySize(groups) : 0, opt->n_groups);
        goto done;
    }
    for (int g = 0; g < opt->n_groups; g++)
        if (read_group(opt, cJSON_GetArrayItem(groups, g), g, &L->groups[g], what) != 0) goto done;
    if (read_state_entries(opt, cJSON_GetObjectItemCaseSensitive(root, "state"), L, what) != 0) goto done;
    rc = read_tensors(opt, sd, L, what);
done:
    cJSON_Delete(root);
    return rc;
}

/* Copies of the loaded tensors on the parameters' devices, made before any
 * state is replaced so that a failure changes nothing. */
static int copy_tensors(const Optimizer *opt, Loaded *L, Tensor **copies)
{
    for (int i = 0; i < opt->n_params; i++) {
        const Tensor *p = optim_param_at(opt, i);
        for (int k = 0; k < OPTIM_MAX_STATE; k++) {
            Tensor *src = L->tensors[i * OPTIM_MAX_STATE + k];
            if (!src) continue;
            Tensor *t = tensor_empty(optimizer_state_shape(opt, i), DT_F32, tensor_device(p));
            if (!t || tensor_copy_(t, src) != 0) return -1;
            copies[i * OPTIM_MAX_STATE + k] = tensor_persist(t);
        }
    }
    return 0;
}

int optimizer_load_state_dict(Optimizer *opt, const StateDict *tensors, const char *json)
{
    char what[64];
    snprintf(what, sizeof what, "%s.load_state_dict", opt->vt->name);
    size_t n_slots = (size_t)opt->n_params * OPTIM_MAX_STATE;
    Loaded L = {
        .groups = calloc((size_t)opt->n_groups, sizeof(ParamGroup)),
        .has_state = calloc((size_t)opt->n_params, sizeof(bool)),
        .steps = calloc((size_t)opt->n_params, sizeof(int64_t)),
        .tensors = calloc(n_slots, sizeof(Tensor *)),
    };
    Tensor **copies = calloc(n_slots, sizeof(Tensor *));
    ENGINE_ASSERT(L.groups && L.has_state && L.steps && L.tensors && copies);
    scope_begin();
    int rc = read_all(opt, tensors, json, &L, what);
    if (rc == 0) rc = copy_tensors(opt, &L, copies);
    scope_end();
    if (rc == 0) {
        for (int g = 0; g < opt->n_groups; g++) {
            opt->groups[g].lr = L.groups[g].lr;
            /* a state saved without a scheduler has no initial_lr: keep the one
             * a scheduler made for this run set (OneCycleLR reads it every
             * step; NaN there would train with lr NaN) */
            if (!isnan(L.groups[g].initial_lr)) opt->groups[g].initial_lr = L.groups[g].initial_lr;
            memcpy(opt->groups[g].hparams, L.groups[g].hparams, sizeof L.groups[g].hparams);
        }
        for (int i = 0; i < opt->n_params; i++) {
            ParamState *s = &opt->state[i];
            optim_state_clear(s);
            s->initialized = L.has_state[i];
            s->step = L.steps[i];
            memcpy(s->tensors, copies + (size_t)i * OPTIM_MAX_STATE, sizeof s->tensors);
        }
    } else {
        for (size_t j = 0; j < n_slots; j++) tensor_free(copies[j]);
    }
    free(copies);
    loaded_free(&L);
    return rc;
}
