/* Reading a transform's "args" (see transform_internal.h): torchvision's
 * arguments are often "a number or a list" (size, padding, degrees, mean),
 * which the generic ArgSpec reader does not take; every message starts
 * with the transform's key path and type. */
#include "data_loader/transform_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int transform_fail(const Transform *t, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    engine_error("%s: %s", t->where, msg);
    return -1;
}

void *transform_params(Transform *t, size_t n)
{
    t->params = calloc(1, n);
    ENGINE_ASSERT(t->params != NULL);
    return t->params;
}

int targ_check(const Transform *t, const Config *cfg, const char *args_path, const char *const *keys)
{
    char what[64];
    snprintf(what, sizeof what, "%s", t->type);
    return config_check_keys(cfg, args_path, keys, what);
}

/* The node of args_path.name, NULL when absent or null. */
static const cJSON *arg_node(const Config *cfg, const char *args_path, const char *name, char *key, size_t n)
{
    snprintf(key, n, "%s.%s", args_path, name);
    const cJSON *node = config_find(cfg, key);
    return cJSON_IsNull(node) ? NULL : node;
}

int targ_numbers(const Transform *t, const Config *cfg, const char *args_path, const char *name, double *out,
                 int max, int *n, const char *expected)
{
    char key[400];
    const cJSON *node = arg_node(cfg, args_path, name, key, sizeof key);
    *n = 0;
    if (!node) return 0;
    bool ok = cJSON_IsNumber(node) || (cJSON_IsArray(node) && cJSON_GetArraySize(node) >= 1 &&
                                       cJSON_GetArraySize(node) <= max);
    const cJSON *item;
    if (cJSON_IsArray(node)) cJSON_ArrayForEach(item, node) ok = ok && cJSON_IsNumber(item);
    if (!ok) {
        engine_error("%s: %s: expected %s, got %s", cfg->label, key, expected, config_describe(node));
        return -1;
    }
    if (cJSON_IsNumber(node)) {
        out[(*n)++] = node->valuedouble;
    } else {
        cJSON_ArrayForEach(item, node) out[(*n)++] = item->valuedouble;
    }
    for (int i = 0; i < *n; i++)
        if (!isfinite(out[i])) {
            engine_error("%s: %s: expected %s, got %s", cfg->label, key, expected, config_describe(node));
            return -1;
        }
    return 0;
}

int targ_ints(const Transform *t, const Config *cfg, const char *args_path, const char *name, int64_t *out, int max,
              int *n, int64_t min, int64_t max_value, const char *expected)
{
    double v[8];
    ENGINE_ASSERT(max <= 8);
    if (targ_numbers(t, cfg, args_path, name, v, max, n, expected)) return -1;
    for (int i = 0; i < *n; i++) {
        if (v[i] != floor(v[i]) || v[i] < (double)min || v[i] > (double)max_value) {
            char key[400];
            snprintf(key, sizeof key, "%s.%s", args_path, name);
            engine_error("%s: %s: expected %s, whole numbers from %lld to %lld, got %s", cfg->label, key, expected,
                         (long long)min, (long long)max_value, config_describe(config_find(cfg, key)));
            return -1;
        }
        out[i] = (int64_t)v[i];
    }
    return 0;
}

int targ_number(const Transform *t, const Config *cfg, const char *args_path, const char *name, double def,
                double *out)
{
    char key[400];
    *out = def;
    if (!arg_node(cfg, args_path, name, key, sizeof key)) return 0;
    if (config_number(cfg, key, out)) return -1;
    return 0;
}

int targ_bool(const Transform *t, const Config *cfg, const char *args_path, const char *name, bool def, bool *out)
{
    char key[400];
    *out = def;
    if (!arg_node(cfg, args_path, name, key, sizeof key)) return 0;
    return config_bool(cfg, key, out);
}

int targ_choice(const Transform *t, const Config *cfg, const char *args_path, const char *name,
                const char *const *choices, int def, int *out)
{
    char key[400];
    *out = def;
    if (!arg_node(cfg, args_path, name, key, sizeof key)) return 0;
    const char *s;
    if (config_string(cfg, key, &s)) return -1;
    char known[256] = "";
    size_t pos = 0;
    for (int i = 0; choices[i]; i++) {
        if (strcmp(s, choices[i]) == 0) {
            *out = i;
            return 0;
        }
        pos += (size_t)snprintf(known + pos, sizeof known - pos, "%s\"%s\"", i ? ", " : "", choices[i]);
    }
    engine_error("%s: %s: unknown value \"%s\" (known: %s)", cfg->label, key, s, known);
    return -1;
}
