/* Loss and metrics from config (see criterion_config.h). */
#include "utils/criterion_config.h"

#include <stdio.h>
#include <string.h>

#include "engine/error.h"

LossFn loss_from_config(const Config *cfg)
{
    const char *name;
    if (config_string(cfg, "loss", &name)) return NULL;
    return loss_lookup(name, cfg->label);
}

int metrics_from_config(const Config *cfg, int *n, const char **names, MetricFn *fns)
{
    const cJSON *arr = config_find(cfg, "metrics");
    *n = 0;
    if (!arr) return 0;
    ENGINE_CHECK_INT(cJSON_IsArray(arr) && cJSON_GetArraySize(arr) <= CONFIG_MAX_METRICS,
                     "%s: metrics: expected a list of at most %d metric names, got %s", cfg->label, CONFIG_MAX_METRICS,
                     config_describe(arr));
    for (int i = 0; i < cJSON_GetArraySize(arr); i++) {
        char key[32];
        snprintf(key, sizeof key, "metrics.%d", i);
        if (config_string(cfg, key, &names[i])) return -1;
        if (!(fns[i] = metric_lookup(names[i], cfg->label))) return -1;
        for (int j = 0; j < i; j++)
            ENGINE_CHECK_INT(strcmp(names[j], names[i]) != 0, "%s: %s: '%s' is listed twice", cfg->label, key,
                             names[i]);
        (*n)++;
    }
    return 0;
}
