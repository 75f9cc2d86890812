/* cJSON helpers for the optimizer and scheduler state dicts (see optim_json.h). */
#include "engine/optim/optim_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"

/* cJSON prints numbers with an approximate round-trip check, which can lose
 * the last bit; the shortest of %.15g..%.17g that reads back exactly is
 * written as raw text instead (cJSON reads numbers with strtod, exactly). */
cJSON *optim_json_double(double v)
{
    if (isnan(v)) return cJSON_CreateString("nan");
    if (isinf(v)) return cJSON_CreateString(v > 0 ? "inf" : "-inf");
    char text[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, v);
        if (strtod(text, NULL) == v) break;
    }
    return cJSON_CreateRaw(text);
}

cJSON *optim_json_int64(int64_t v)
{
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)v);
    return cJSON_CreateRaw(text);
}

void optim_json_add_int64(cJSON *obj, const char *key, int64_t v)
{
    cJSON_AddItemToObject(obj, key, optim_json_int64(v));
}

void optim_json_add_double(cJSON *obj, const char *key, double v)
{
    cJSON_AddItemToObject(obj, key, optim_json_double(v));
}

void optim_json_add_doubles(cJSON *obj, const char *key, const double *v, int n)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, key);
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, optim_json_double(v[i]));
}

cJSON *optim_json_parse_object(const char *text, const char *what)
{
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return engine_error("%s: the state is not a JSON object", what);
    }
    return root;
}

int optim_json_item_double(const cJSON *item, double *out, const char *what, const char *key)
{
    if (cJSON_IsNumber(item)) {
        *out = item->valuedouble;
        return 0;
    }
    if (cJSON_IsString(item)) {
        const char *s = item->valuestring;
        if (strcmp(s, "inf") == 0) *out = INFINITY;
        else if (strcmp(s, "-inf") == 0) *out = -INFINITY;
        else if (strcmp(s, "nan") == 0) *out = NAN;
        else s = NULL;
        if (s) return 0;
    }
    engine_error("%s: '%s' is missing or not a number", what, key);
    return -1;
}

int optim_json_get_double(const cJSON *obj, const char *key, double *out, const char *what)
{
    return optim_json_item_double(cJSON_GetObjectItemCaseSensitive(obj, key), out, what, key);
}

int optim_json_get_int64(const cJSON *obj, const char *key, int64_t *out, const char *what)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    double v = cJSON_IsNumber(item) ? item->valuedouble : NAN;
    ENGINE_CHECK_INT(v == floor(v) && fabs(v) < 9007199254740992.0, "%s: '%s' is missing or not an integer", what,
                     key);
    *out = (int64_t)v;
    return 0;
}

int optim_json_get_bool(const cJSON *obj, const char *key, bool *out, const char *what)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    ENGINE_CHECK_INT(cJSON_IsBool(item), "%s: '%s' is missing or not true/false", what, key);
    *out = cJSON_IsTrue(item);
    return 0;
}

const char *optim_json_get_string(const cJSON *obj, const char *key, const char *what)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    ENGINE_CHECK(cJSON_IsString(item), "%s: '%s' is missing or not a string", what, key);
    return item->valuestring;
}

int optim_json_get_doubles(const cJSON *obj, const char *key, double *out, int n, const char *what)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key);
    ENGINE_CHECK_INT(cJSON_IsArray(arr) && cJSON_GetArraySize(arr) == n, "%s: '%s' must be a list of %d numbers",
                     what, key, n);
    for (int i = 0; i < n; i++)
        if (optim_json_item_double(cJSON_GetArrayItem(arr, i), &out[i], what, key) != 0) return -1;
    return 0;
}
