/* The search space (see space.h): parsing, validation against the config,
 * sampling and the forms a value takes (--set text, table, JSON, chart). */
#include "tuner/space.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "utils/config_schema.h"

static const char *const dist_names[] = {"uniform", "loguniform", "randint", "choice", "grid", NULL};

const char *dist_name(DistKind k) { return dist_names[k]; }

bool param_is_categorical(const Param *p) { return p->kind == DIST_CHOICE || p->kind == DIST_GRID; }

/* The JSON type a value must have to replace target (a cJSON type bit). */
static const char *type_name(const cJSON *n)
{
    if (cJSON_IsNumber(n)) return "a number";
    if (cJSON_IsString(n)) return "a string";
    if (cJSON_IsBool(n)) return "a boolean";
    if (cJSON_IsArray(n)) return "a list";
    if (cJSON_IsObject(n)) return "an object";
    return "null";
}

static bool same_type(const cJSON *target, const cJSON *v)
{
    if (cJSON_IsNull(target)) return true;
    if (cJSON_IsBool(target)) return cJSON_IsBool(v);
    return (target->type & 0xFF) == (v->type & 0xFF);
}

/* Text for --set: the shortest %g form that reads back exactly. */
static void number_text(double v, char *buf, size_t size)
{
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static int node_text(const cJSON *n, char *buf, size_t size)
{
    if (cJSON_IsNumber(n)) {
        number_text(n->valuedouble, buf, size);
        return 0;
    }
    if (cJSON_IsString(n)) {
        ENGINE_CHECK_INT(strlen(n->valuestring) < size, "value too long: %.40s...", n->valuestring);
        snprintf(buf, size, "%s", n->valuestring);
        return 0;
    }
    char *text = cJSON_PrintUnformatted(n);
    ENGINE_CHECK_INT(text != NULL, "out of memory");
    size_t len = strlen(text);
    if (len >= size) {
        engine_error("value too long: %.40s...", text);
        cJSON_free(text);
        return -1;
    }
    memcpy(buf, text, len + 1);
    cJSON_free(text);
    return 0;
}

int param_value_text(const Param *p, double x, char *buf, size_t size)
{
    if (param_is_categorical(p)) {
        const cJSON *n = cJSON_GetArrayItem(p->values, (int)x);
        ENGINE_CHECK_INT(n != NULL, "%s: no entry %g", p->key, x);
        return node_text(n, buf, size);
    }
    number_text(x, buf, size);
    return 0;
}

void param_value_display(const Param *p, double x, char *buf, size_t size)
{
    if (!param_is_categorical(p)) {
        snprintf(buf, size, p->kind == DIST_RANDINT ? "%.0f" : "%.4g", x);
        return;
    }
    const cJSON *n = cJSON_GetArrayItem(p->values, (int)x);
    if (n && cJSON_IsNumber(n)) snprintf(buf, size, "%.4g", n->valuedouble);
    else if (!n || node_text(n, buf, size)) snprintf(buf, size, "?");
}

cJSON *param_value_json(const Param *p, double x)
{
    if (param_is_categorical(p)) {
        const cJSON *n = cJSON_GetArrayItem(p->values, (int)x);
        return n ? cJSON_Duplicate(n, true) : NULL;
    }
    return cJSON_CreateNumber(x);
}

bool param_axis_is_index(const Param *p)
{
    if (!param_is_categorical(p)) return false;
    const cJSON *n;
    cJSON_ArrayForEach(n, p->values) if (!cJSON_IsNumber(n)) return true;
    return false;
}

double param_axis_value(const Param *p, double x)
{
    if (p->kind == DIST_LOGUNIFORM) return log10(x);
    if (!param_is_categorical(p)) return x;
    if (param_axis_is_index(p)) return x;
    const cJSON *n = cJSON_GetArrayItem(p->values, (int)x);
    return n ? n->valuedouble : NAN;
}

bool param_value_valid(const Param *p, double x)
{
    if (!isfinite(x)) return false;
    switch (p->kind) {
    case DIST_UNIFORM:
    case DIST_LOGUNIFORM: return x >= p->lo && x <= p->hi;
    case DIST_RANDINT: return x >= p->lo && x <= p->hi && x == floor(x);
    default: return x >= 0 && x < p->n_values && x == floor(x);
    }
}

double param_sample(const Param *p, TuneRng *r)
{
    switch (p->kind) {
    case DIST_UNIFORM: return p->lo + (p->hi - p->lo) * tune_rng_uniform(r);
    case DIST_LOGUNIFORM: {
        double v = exp(log(p->lo) + (log(p->hi) - log(p->lo)) * tune_rng_uniform(r));
        return v < p->lo ? p->lo : v >= p->hi ? nextafter(p->hi, p->lo) : v;
    }
    case DIST_RANDINT: return p->lo + (double)tune_rng_below(r, (uint64_t)(p->hi - p->lo) + 1);
    default: return (double)tune_rng_below(r, (uint64_t)p->n_values);
    }
}

/* Sets key to the candidate's text in a copy of config and runs the
 * config's own checks on it (schema, number ranges). */
static int try_value(const Config *config, const Config *search, const Param *p, const char *text)
{
    char *json = config_to_string(config);
    ENGINE_CHECK_INT(json != NULL, "out of memory");
    Config *copy = config_parse(json, config->label);
    free(json);
    if (!copy) return -1;
    int rc = config_set(copy, p->key, text);
    if (rc == 0) rc = config_check_schema(copy);
    config_free(copy);
    if (rc) {
        char why[600];
        snprintf(why, sizeof why, "%s", engine_last_error());
        engine_clear_error();
        engine_error("%s: space.%s: the value %s does not fit the config: %s", search->label, p->key, text, why);
    }
    return rc;
}

static int parse_range(Param *p, const cJSON *arg, const Config *search)
{
    const char *k = p->key, *d = dist_name(p->kind), *file = search->label;
    ENGINE_CHECK_INT(cJSON_IsArray(arg) && cJSON_GetArraySize(arg) == 2 && cJSON_IsNumber(cJSON_GetArrayItem(arg, 0)) &&
                         cJSON_IsNumber(cJSON_GetArrayItem(arg, 1)),
                     "%s: space.%s: %s expects [low, high] (two numbers), got %s", file, k, d, config_describe(arg));
    p->lo = cJSON_GetArrayItem(arg, 0)->valuedouble;
    p->hi = cJSON_GetArrayItem(arg, 1)->valuedouble;
    ENGINE_CHECK_INT(isfinite(p->lo) && isfinite(p->hi), "%s: space.%s: %s bounds must be finite", file, k, d);
    if (p->kind == DIST_RANDINT) {
        ENGINE_CHECK_INT(p->lo == floor(p->lo) && p->hi == floor(p->hi) && fabs(p->lo) <= 9007199254740992.0 &&
                             fabs(p->hi) <= 9007199254740992.0,
                         "%s: space.%s: randint expects integer bounds [low, high] (both included), got [%g, %g]",
                         file, k, p->lo, p->hi);
        ENGINE_CHECK_INT(p->lo <= p->hi, "%s: space.%s: randint: low %g > high %g", file, k, p->lo, p->hi);
        ENGINE_CHECK_INT(p->hi - p->lo < 9.0e15, "%s: space.%s: randint range too wide", file, k);
        return 0;
    }
    ENGINE_CHECK_INT(p->lo < p->hi, "%s: space.%s: %s expects low < high, got [%g, %g]", file, k, d, p->lo, p->hi);
    if (p->kind == DIST_LOGUNIFORM)
        ENGINE_CHECK_INT(p->lo > 0, "%s: space.%s: loguniform needs a range above 0 (a log scale cannot reach 0), got [%g, %g]",
                         file, k, p->lo, p->hi);
    return 0;
}

static int parse_param(Param *p, const cJSON *entry, const Config *search, const Config *config)
{
    const char *file = search->label, *k = entry->string;
    ENGINE_CHECK_INT(strlen(k) < TUNE_KEY_MAX, "%s: space: key path too long: %.60s...", file, k);
    snprintf(p->key, sizeof p->key, "%s", k);
    const char *last = strrchr(k, '.');
    last = last ? last + 1 : k;
    /* "args.lr" reads better than "lr" only when the last part is a number (an index) */
    snprintf(p->short_name, sizeof p->short_name, "%s", last);
    ENGINE_CHECK_INT(strcmp(k, "trainer.save_dir") != 0 && strcmp(k, "name") != 0,
                     "%s: space.%s: the search sets this key itself (each trial's run folder)", file, k);
    ENGINE_CHECK_INT(cJSON_IsObject(entry) && cJSON_GetArraySize(entry) == 1,
                     "%s: space.%s: expected one distribution, as {\"loguniform\": [1e-4, 1e-1]} (one of uniform, "
                     "loguniform, randint, choice, grid), got %s", file, k, config_describe(entry));
    const cJSON *arg = entry->child;
    int kind = -1;
    for (int i = 0; dist_names[i]; i++)
        if (strcmp(arg->string, dist_names[i]) == 0) kind = i;
    if (kind < 0) {
        const char *near = config_nearest_key(arg->string, dist_names);
        engine_error("%s: space.%s: unknown distribution \"%s\"%s%s%s (known: uniform, loguniform, randint, choice, grid)",
                     file, k, arg->string, near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
        return -1;
    }
    p->kind = (DistKind)kind;
    const cJSON *target = config_find(config, k);
    ENGINE_CHECK_INT(target != NULL,
                     "%s: space.%s: no such key in %s (the search varies keys the config has: add it there with a "
                     "default value)", file, k, config->label);
    if (!param_is_categorical(p)) {
        if (parse_range(p, arg, search)) return -1;
        ENGINE_CHECK_INT(cJSON_IsNumber(target) || cJSON_IsNull(target),
                         "%s: space.%s: %s gives numbers, but %s has %s there (%s)", file, k, dist_name(p->kind),
                         config->label, type_name(target), config_describe(target));
        char text[64];
        number_text(p->lo, text, sizeof text);
        if (try_value(config, search, p, text)) return -1;
        number_text(p->hi, text, sizeof text);
        return try_value(config, search, p, text);
    }
    ENGINE_CHECK_INT(cJSON_IsArray(arg), "%s: space.%s: %s expects a list of values, got %s", file, k,
                     dist_name(p->kind), config_describe(arg));
    p->n_values = cJSON_GetArraySize(arg);
    ENGINE_CHECK_INT(p->n_values > 0, "%s: space.%s: %s: the list is empty", file, k, dist_name(p->kind));
    ENGINE_CHECK_INT(p->n_values <= 10000, "%s: space.%s: %s: at most 10000 values, got %d", file, k,
                     dist_name(p->kind), p->n_values);
    const cJSON *v;
    int i = 0;
    cJSON_ArrayForEach(v, arg)
    {
        if (!same_type(target, v)) {
            char got[100];
            snprintf(got, sizeof got, "%s", config_describe(v));
            engine_error("%s: space.%s: %s value %d is %s (%s), but %s has %s there (%s)", file, k, dist_name(p->kind),
                         i, type_name(v), got, config->label, type_name(target), config_describe(target));
            return -1;
        }
        char text[4096];
        if (node_text(v, text, sizeof text)) return -1;
        if (try_value(config, search, p, text)) return -1;
        i++;
    }
    p->values = cJSON_Duplicate(arg, true);
    ENGINE_CHECK_INT(p->values != NULL, "out of memory");
    return 0;
}

int space_parse(Space *s, const Config *search, const Config *config)
{
    memset(s, 0, sizeof *s);
    const cJSON *space = config_find(search, "space");
    ENGINE_CHECK_INT(space != NULL, "%s: space: missing (the config keys to search, as {\"optimizer.args.lr\": "
                                    "{\"loguniform\": [1e-4, 1e-1]}})", search->label);
    ENGINE_CHECK_INT(cJSON_IsObject(space) && cJSON_GetArraySize(space) > 0,
                     "%s: space: expected an object of config key paths and distributions, got %s", search->label,
                     config_describe(space));
    ENGINE_CHECK_INT(cJSON_GetArraySize(space) <= TUNE_MAX_PARAMS, "%s: space: at most %d keys, got %d",
                     search->label, TUNE_MAX_PARAMS, cJSON_GetArraySize(space));
    const cJSON *entry;
    cJSON_ArrayForEach(entry, space)
    {
        if (parse_param(&s->params[s->n], entry, search, config)) {
            space_free(s);
            return -1;
        }
        s->n++;
    }
    return 0;
}

void space_free(Space *s)
{
    for (int i = 0; i < s->n; i++) cJSON_Delete(s->params[i].values);
    memset(s, 0, sizeof *s);
}
