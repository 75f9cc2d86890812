/* arch.freeze and trainer.unfreeze_epoch (see finetune.h). */
#include "base/finetune.h"

#include <stdio.h>
#include <stdlib.h>

#include "utils/name_patterns.h"
#include "utils/param_groups.h"

/* The parameters arch.freeze names, in state_dict order, into *out (a
 * malloc'd array; *names the matching names, owned by named). */
static int frozen_params(const Config *cfg, const Module *model, StateDict *named, Tensor ***out,
                         const char ***names, int *n)
{
    NamePatterns freeze;
    *out = NULL;
    *names = NULL;
    *n = 0;
    if (module_named_parameters(model, named)) return -1;
    if (name_patterns_from_config(cfg, "arch.freeze", &freeze)) return -1;
    int rc = name_patterns_check_used(&freeze, cfg, (const char *const *)named->names, named->n, "parameter of the model");
    *out = malloc(sizeof **out * (size_t)(named->n + 1));
    *names = malloc(sizeof **names * (size_t)(named->n + 1));
    ENGINE_ASSERT(*out && *names);
    for (int k = 0; k < named->n && rc == 0; k++)
        if (name_patterns_first_match(&freeze, named->names[k]) >= 0) {
            (*names)[*n] = named->names[k];
            (*out)[(*n)++] = named->tensors[k];
        }
    name_patterns_free(&freeze);
    return rc;
}

int finetune_unfreeze_epoch(const Config *cfg, int64_t *epoch)
{
    if (config_int_or(cfg, "trainer.unfreeze_epoch", 0, epoch)) return -1;
    if (!config_has(cfg, "trainer.unfreeze_epoch")) return 0;
    ENGINE_CHECK_INT(*epoch >= 1, "%s: trainer.unfreeze_epoch: expected the epoch (>= 1) at whose start arch.freeze's "
                                  "parameters start training, got %lld",
                     cfg->label, (long long)*epoch);
    const cJSON *freeze = config_find(cfg, "arch.freeze");
    ENGINE_CHECK_INT(cJSON_IsArray(freeze) && cJSON_GetArraySize(freeze) > 0,
                     "%s: trainer.unfreeze_epoch: there is nothing to unfreeze: arch.freeze lists no parameters",
                     cfg->label);
    return 0;
}

/* "12 tensors, 11,700 parameters: conv1.weight, ..." for the log. */
static void describe(char *buf, size_t size, Tensor *const *params, const char *const *names, int n)
{
    int64_t numel = 0;
    for (int i = 0; i < n; i++) numel += tensor_numel(params[i]);
    char list[1400];
    name_list_join(list, sizeof list, names, n);
    snprintf(buf, size, "%d tensor%s, %lld parameters: %s", n, n == 1 ? "" : "s", (long long)numel, list);
}

int finetune_freeze_from_config(const Config *cfg, Module *model, const Logger *lg)
{
    int64_t unfreeze_epoch;
    if (finetune_unfreeze_epoch(cfg, &unfreeze_epoch)) return -1;
    StateDict named;
    Tensor **params;
    const char **names;
    int n;
    int rc = frozen_params(cfg, model, &named, &params, &names, &n);
    if (rc == 0 && n > 0) {
        for (int i = 0; i < n; i++) params[i]->requires_grad = false;
        char text[1600];
        describe(text, sizeof text, params, names, n);
        log_info(lg, "Frozen (arch.freeze) %s: %s", unfreeze_epoch ? "until trainer.unfreeze_epoch" : "for the run",
                 text);
    }
    free(params);
    free(names);
    state_dict_free(&named);
    return rc;
}

int finetune_unfreeze(const Config *cfg, Module *model, Optimizer *opt, LRScheduler *sched, const Logger *lg)
{
    StateDict named;
    Tensor **params;
    const char **names;
    int n, first = opt->n_groups;
    int rc = frozen_params(cfg, model, &named, &params, &names, &n);
    if (rc == 0) {
        for (int i = 0; i < n; i++) params[i]->requires_grad = true;
        rc = optimizer_add_params_from_config(cfg, opt, model, params, n) < 0 ? -1 : 0;
    }
    if (rc == 0 && sched) rc = scheduler_adopt_param_groups(sched);
    if (rc == 0 && lg) {
        char text[1600];
        describe(text, sizeof text, params, names, n);
        log_info(lg, "Unfrozen (trainer.unfreeze_epoch) %s", text);
        for (int g = first; g < opt->n_groups; g++) {
            param_group_describe(opt, g, model, text, sizeof text);
            log_info(lg, "  added to the optimizer as parameter group %d: %s", g, text);
        }
    }
    free(params);
    free(names);
    state_dict_free(&named);
    return rc;
}
