/* optimizer.param_groups (see param_groups.h). */
#include "utils/param_groups.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utils/name_patterns.h"
#include "utils/optim_config.h"

#define GROUPS_KEY "optimizer.param_groups"
#define MAX_GROUP_KEYS 16

/* Which config entry claims each of the model's parameters. */
typedef struct {
    StateDict named; /* every parameter, state_dict order */
    int *entry_of;   /* per parameter: the claiming entry, or -1 (the default group) */
    int n_entries;
} Assignment;

static void assignment_free(Assignment *a)
{
    state_dict_free(&a->named);
    free(a->entry_of);
}

/* The entry's keys: "params" and the optimizer's arguments. */
static int check_entry_keys(const Config *cfg, const char *path, const char *type)
{
    int n_specs;
    const ArgSpec *specs = optimizer_arg_specs(type, &n_specs);
    ENGINE_ASSERT(specs != NULL && n_specs < MAX_GROUP_KEYS); /* the type was checked by building the optimizer */
    const char *allowed[MAX_GROUP_KEYS + 1];
    allowed[0] = "params";
    for (int i = 0; i < n_specs; i++) allowed[i + 1] = specs[i].key;
    allowed[n_specs + 1] = NULL;
    char what[64];
    snprintf(what, sizeof what, "a parameter group of %s", type);
    return config_check_keys(cfg, path, allowed, what);
}

static int assign(const Config *cfg, const Module *model, const char *type, Assignment *a)
{
    memset(a, 0, sizeof *a);
    if (module_named_parameters(model, &a->named)) return -1;
    a->entry_of = malloc(sizeof *a->entry_of * (size_t)(a->named.n > 0 ? a->named.n : 1));
    ENGINE_ASSERT(a->entry_of != NULL);
    for (int k = 0; k < a->named.n; k++) a->entry_of[k] = -1;
    const cJSON *groups = config_find(cfg, GROUPS_KEY);
    if (!groups) return 0;
    if (!cJSON_IsArray(groups)) {
        engine_error("%s: " GROUPS_KEY ": expected a list of groups such as [{\"params\": [\"fc*\"], \"lr\": 0.01}], "
                     "got %s",
                     cfg->label, config_describe(groups));
        return -1;
    }
    a->n_entries = cJSON_GetArraySize(groups);
    for (int j = 0; j < a->n_entries; j++) {
        char path[64], params_key[80];
        snprintf(path, sizeof path, GROUPS_KEY ".%d", j);
        snprintf(params_key, sizeof params_key, "%s.params", path);
        const cJSON *entry = cJSON_GetArrayItem(groups, j);
        if (!cJSON_IsObject(entry)) {
            engine_error("%s: %s: expected a group such as {\"params\": [\"fc*\"], \"lr\": 0.01}, got %s", cfg->label,
                         path, config_describe(entry));
            return -1;
        }
        if (check_entry_keys(cfg, path, type)) return -1;
        ENGINE_CHECK_INT(config_has(cfg, params_key), "%s: %s: a group needs \"params\": the name patterns of its parameters",
                         cfg->label, path);
        NamePatterns p;
        if (name_patterns_from_config(cfg, params_key, &p)) return -1;
        int rc = p.n > 0 ? 0 : -1;
        if (rc) engine_error("%s: %s: expected at least one name pattern", cfg->label, params_key);
        if (rc == 0) rc = name_patterns_check_used(&p, cfg, (const char *const *)a->named.names, a->named.n, "parameter of the model");
        for (int k = 0; k < a->named.n && rc == 0; k++) {
            int i = name_patterns_first_match(&p, a->named.names[k]);
            if (i < 0) continue;
            if (a->entry_of[k] >= 0) {
                engine_error("%s: %s.%d: '%s' matches %s, which " GROUPS_KEY ".%d already holds (some parameters "
                             "appear in more than one parameter group)",
                             cfg->label, params_key, i, p.patterns[i], a->named.names[k], a->entry_of[k]);
                rc = -1;
            }
            a->entry_of[k] = j;
        }
        name_patterns_free(&p);
        if (rc) return -1;
    }
    return 0;
}

/* Sets group g's hyperparameters from entry j's keys (the others keep args'). */
static int set_entry_hparams(const Config *cfg, Optimizer *opt, int g, int j, const char *type)
{
    int n_specs;
    const ArgSpec *specs = optimizer_arg_specs(type, &n_specs);
    for (int i = 0; i < n_specs; i++) {
        char key[128];
        snprintf(key, sizeof key, GROUPS_KEY ".%d.%s", j, specs[i].key);
        if (!config_has(cfg, key)) continue;
        double v[2];
        int n = 1, rc;
        bool flag;
        switch (specs[i].type) {
        case ARG_NUMBER: rc = config_number(cfg, key, &v[0]); break;
        case ARG_BOOL:
            rc = config_bool(cfg, key, &flag);
            v[0] = flag;
            break;
        case ARG_NUMBER_PAIR:
            rc = config_number_array(cfg, key, v, 2, &n);
            ENGINE_CHECK_INT(rc != 0 || n == 2, "%s: %s: expected a pair [a, b], got %s", cfg->label, key,
                             config_describe(config_find(cfg, key)));
            break;
        default: ENGINE_ASSERT(!"optimizer arguments are numbers, flags and pairs");
        }
        if (rc) return -1;
        /* a pair such as betas is "beta1" and "beta2" in the engine */
        char name[64];
        for (int k = 0; k < n; k++) {
            if (n == 2) snprintf(name, sizeof name, "%.*s%d", (int)strlen(specs[i].key) - 1, specs[i].key, k + 1);
            else snprintf(name, sizeof name, "%s", specs[i].key);
            if (optimizer_set(opt, g, name, v[k]) != 0) {
                optim_config_in_context(NULL, cfg, key); /* "config.json: optimizer.param_groups.0.lr: SGD: ..." */
                return -1;
            }
        }
    }
    return 0;
}

/* Checks every entry's hyperparameters on a scratch optimizer, so that an
 * entry whose parameters are all frozen now (it gets a group only when they
 * are unfrozen, maybe epochs later) fails at the start, not then. */
static int check_entry_hparams(const Config *cfg, const Assignment *a, const char *type)
{
    if (a->n_entries == 0) return 0;
    Tensor *dummy = tensor_persist(tensor_zeros(SHAPE(1), DT_F32, CPU));
    ENGINE_ASSERT(dummy != NULL);
    Optimizer *scratch = optimizer_from_config(cfg, &dummy, 1);
    int rc = scratch ? 0 : -1;
    for (int j = 0; j < a->n_entries && rc == 0; j++) rc = set_entry_hparams(cfg, scratch, 0, j, type);
    optimizer_free(scratch);
    tensor_free(dummy);
    return rc;
}

/* The parameters of list (n) that fall in slot s (-1: the default group). */
static int slot_members(const Assignment *a, int s, Tensor *const *list, int n, Tensor **out)
{
    int m = 0;
    for (int k = 0; k < a->named.n; k++) {
        if (a->entry_of[k] != s) continue;
        for (int i = 0; i < n; i++)
            if (list[i] == a->named.tensors[k]) out[m++] = list[i];
    }
    return m;
}

/* Adds the groups of the parameters in list to *opt, or creates *opt with
 * them when it is NULL. Returns the number of groups added, or -1. */
static int add_groups(const Config *cfg, Optimizer **opt, const Assignment *a, const char *type, Tensor *const *list,
                      int n)
{
    Tensor **members = malloc(sizeof *members * (size_t)(n > 0 ? n : 1));
    ENGINE_ASSERT(members != NULL);
    int added = 0, rc = 0;
    for (int s = -1; s < a->n_entries && rc == 0; s++) {
        int m = slot_members(a, s, list, n, members);
        if (m == 0) continue;
        int g = 0;
        if (!*opt) rc = (*opt = optimizer_from_config(cfg, members, m)) ? 0 : -1;
        else rc = (g = optimizer_add_param_group(*opt, members, m)) < 0 ? -1 : 0;
        if (rc == 0) added++;
        if (rc == 0 && s >= 0) rc = set_entry_hparams(cfg, *opt, g, s, type);
    }
    free(members);
    return rc ? -1 : added;
}

Optimizer *optimizer_from_config_for_model(const Config *cfg, const Module *model)
{
    const char *type;
    int n_specs;
    if (config_string(cfg, "optimizer.type", &type)) return NULL;
    if (!optimizer_arg_specs(type, &n_specs)) return optimizer_from_config(cfg, NULL, 0); /* lists the known types */
    Assignment a;
    Optimizer *opt = NULL;
    if (assign(cfg, model, type, &a) == 0) {
        Tensor **trainable = malloc(sizeof *trainable * (size_t)(a.named.n > 0 ? a.named.n : 1));
        ENGINE_ASSERT(trainable != NULL);
        int n = 0;
        for (int k = 0; k < a.named.n; k++)
            if (a.named.tensors[k]->requires_grad) trainable[n++] = a.named.tensors[k];
        if (n == 0)
            engine_error("%s: the model has no trainable parameters (%d, all frozen by arch.freeze): nothing to "
                         "optimize",
                         cfg->label, a.named.n);
        else if (check_entry_hparams(cfg, &a, type) || add_groups(cfg, &opt, &a, type, trainable, n) < 0) {
            optimizer_free(opt);
            opt = NULL;
        }
        free(trainable);
    }
    assignment_free(&a);
    return opt;
}

int optimizer_add_params_from_config(const Config *cfg, Optimizer *opt, const Module *model, Tensor *const *params,
                                     int n)
{
    Assignment a;
    int rc = assign(cfg, model, optimizer_name(opt), &a);
    if (rc == 0) rc = add_groups(cfg, &opt, &a, optimizer_name(opt), params, n);
    assignment_free(&a);
    return rc;
}

void param_group_describe(const Optimizer *opt, int g, const Module *model, char *buf, size_t size)
{
    const ParamGroup *group = &opt->groups[g];
    StateDict named;
    const char **names = calloc((size_t)group->n_params + 1, sizeof *names);
    ENGINE_ASSERT(names != NULL);
    if (module_named_parameters(model, &named) == 0) {
        for (int i = 0; i < group->n_params; i++)
            for (int k = 0; k < named.n && !names[i]; k++)
                if (named.tensors[k] == group->params[i]) names[i] = named.names[k];
    } else {
        engine_clear_error();
        state_dict_init(&named);
    }
    for (int i = 0; i < group->n_params; i++)
        if (!names[i]) names[i] = "?";
    char list[400];
    name_list_join(list, sizeof list, names, group->n_params);
    snprintf(buf, size, "%d tensor%s (%s), lr %g", group->n_params, group->n_params == 1 ? "" : "s", list, group->lr);
    free(names);
    state_dict_free(&named);
}
