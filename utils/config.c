/* Config access by key path, with errors that name the file and the key. */
#include "utils/config.h"
#include "engine/serialize/atomic_file.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "utils/config_schema.h"
#include "utils/fs.h"

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* What JSON allows but a config must not hold: a key written twice in one
 * object (cJSON keeps both, and the first would silently win) and numbers
 * that overflow to infinity (1e999 would be saved as null, and the run's
 * own checkpoint could then never be resumed). path: the node's key path. */
static const char *check_values(const cJSON *node, char *path, size_t cap, const char **problem)
{
    size_t len = strlen(path);
    if (cJSON_IsNumber(node) && !isfinite(node->valuedouble)) {
        *problem = "not a finite number (out of the range of a double)";
        return path;
    }
    if (!cJSON_IsObject(node) && !cJSON_IsArray(node)) return NULL;
    int index = 0;
    for (const cJSON *item = node->child; item; item = item->next, index++) {
        if (cJSON_IsObject(node)) {
            for (const cJSON *before = node->child; before != item; before = before->next)
                if (strcmp(before->string, item->string) == 0) {
                    snprintf(path + len, cap - len, "%s%s", len ? "." : "", item->string);
                    *problem = "duplicate key (each key may appear once in an object)";
                    return path;
                }
            snprintf(path + len, cap - len, "%s%s", len ? "." : "", item->string);
        } else {
            snprintf(path + len, cap - len, "%s%d", len ? "." : "", index);
        }
        const char *bad = check_values(item, path, cap, problem);
        if (bad) return bad;
        path[len] = '\0';
    }
    return NULL;
}

/* 0, or -1 with "<label>: <key path>: <problem>". prefix: the key path of node. */
static int config_check_values(const cJSON *node, const char *label, const char *prefix)
{
    char path[1024];
    snprintf(path, sizeof path, "%s", prefix);
    const char *problem = NULL;
    const char *bad = check_values(node, path, sizeof path, &problem);
    if (!bad) return 0;
    engine_error("%s: %s: %s", label, bad[0] ? bad : "(top level)", problem);
    return -1;
}

Config *config_parse(const char *json, const char *label)
{
    cJSON *root = cJSON_ParseWithOpts(json, NULL, true);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        int line = 1;
        for (const char *p = json; at && p < at && *p; p++)
            if (*p == '\n') line++;
        return engine_error("%s: invalid JSON near line %d", label, line);
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return engine_error("%s: expected a JSON object at the top level", label);
    }
    if (config_check_values(root, label, "")) {
        cJSON_Delete(root);
        return NULL;
    }
    Config *c = malloc(sizeof *c);
    ENGINE_ASSERT(c != NULL);
    c->root = root;
    c->label = dup_str(label);
    return c;
}

Config *config_load(const char *path)
{
    char *text = fs_read_text(path);
    if (!text) return NULL;
    Config *c = config_parse(text, path);
    free(text);
    return c;
}

void config_free(Config *c)
{
    if (!c) return;
    cJSON_Delete(c->root);
    free(c->label);
    free(c);
}

/* The member of obj named by the n characters at key (any length: a key
 * too long for a buffer must still be found, or --set would add it twice). */
static cJSON *object_member(const cJSON *obj, const char *key, size_t n)
{
    for (cJSON *item = obj->child; item; item = item->next)
        if (item->string && strncmp(item->string, key, n) == 0 && item->string[n] == '\0') return item;
    return NULL;
}

/* Walks one dotted path. */
cJSON *config_find(const Config *c, const char *key_path)
{
    cJSON *node = c->root;
    const char *p = key_path;
    while (node && *p) {
        size_t n = strcspn(p, ".");
        if (cJSON_IsArray(node)) {
            char digits[24];
            if (n == 0 || n >= sizeof digits || strspn(p, "0123456789") < n) return NULL;
            memcpy(digits, p, n);
            digits[n] = '\0';
            long i = strtol(digits, NULL, 10);
            node = i <= INT32_MAX ? cJSON_GetArrayItem(node, (int)i) : NULL;
        } else if (cJSON_IsObject(node)) {
            node = object_member(node, p, n);
        } else {
            return NULL;
        }
        p += n;
        if (*p == '.') p++;
    }
    return node;
}

bool config_has(const Config *c, const char *key_path) { return config_find(c, key_path) != NULL; }

const char *config_describe(const cJSON *node)
{
    static _Thread_local char buf[96];
    if (!node) return "nothing";
    char *s = cJSON_PrintUnformatted(node);
    if (!s) return "?";
    if (strlen(s) > 80) strcpy(s + 77, "...");
    snprintf(buf, sizeof buf, "%s", s);
    free(s);
    return buf;
}

static const cJSON *require(const Config *c, const char *key_path)
{
    const cJSON *n = config_find(c, key_path);
    if (!n) engine_error("%s: %s: missing key", c->label, key_path);
    return n;
}

static int type_error(const Config *c, const char *key_path, const char *expected, const cJSON *n)
{
    engine_error("%s: %s: expected %s, got %s", c->label, key_path, expected, config_describe(n));
    return -1;
}

static int read_number(const Config *c, const char *key_path, const cJSON *n, double *out)
{
    if (!cJSON_IsNumber(n)) return type_error(c, key_path, "a number", n);
    *out = n->valuedouble;
    return 0;
}

static int read_int(const Config *c, const char *key_path, const cJSON *n, int64_t *out)
{
    if (!cJSON_IsNumber(n) || n->valuedouble != floor(n->valuedouble) || fabs(n->valuedouble) > 9e15)
        return type_error(c, key_path, "an integer", n);
    *out = (int64_t)n->valuedouble;
    return 0;
}

static int read_bool(const Config *c, const char *key_path, const cJSON *n, bool *out)
{
    if (!cJSON_IsBool(n)) return type_error(c, key_path, "true or false", n);
    *out = cJSON_IsTrue(n);
    return 0;
}

static int read_string(const Config *c, const char *key_path, const cJSON *n, const char **out)
{
    if (!cJSON_IsString(n)) return type_error(c, key_path, "a string", n);
    *out = n->valuestring;
    return 0;
}

int config_number(const Config *c, const char *k, double *out)
{
    const cJSON *n = require(c, k);
    return n ? read_number(c, k, n, out) : -1;
}
int config_int(const Config *c, const char *k, int64_t *out)
{
    const cJSON *n = require(c, k);
    return n ? read_int(c, k, n, out) : -1;
}
int config_bool(const Config *c, const char *k, bool *out)
{
    const cJSON *n = require(c, k);
    return n ? read_bool(c, k, n, out) : -1;
}
int config_string(const Config *c, const char *k, const char **out)
{
    const cJSON *n = require(c, k);
    return n ? read_string(c, k, n, out) : -1;
}
int config_number_or(const Config *c, const char *k, double def, double *out)
{
    const cJSON *n = config_find(c, k);
    if (!n) return (*out = def), 0;
    return read_number(c, k, n, out);
}
int config_int_or(const Config *c, const char *k, int64_t def, int64_t *out)
{
    const cJSON *n = config_find(c, k);
    if (!n) return (*out = def), 0;
    return read_int(c, k, n, out);
}
int config_bool_or(const Config *c, const char *k, bool def, bool *out)
{
    const cJSON *n = config_find(c, k);
    if (!n) return (*out = def), 0;
    return read_bool(c, k, n, out);
}
int config_string_or(const Config *c, const char *k, const char *def, const char **out)
{
    const cJSON *n = config_find(c, k);
    if (!n) return (*out = def), 0;
    return read_string(c, k, n, out);
}

int config_check_keys(const Config *c, const char *key_path, const char *const *allowed, const char *what)
{
    const cJSON *obj = config_find(c, key_path);
    if (!obj) return 0;
    if (!cJSON_IsObject(obj)) return type_error(c, key_path, "an object", obj);
    const cJSON *item;
    cJSON_ArrayForEach(item, obj)
    {
        bool ok = false;
        for (int i = 0; allowed[i]; i++)
            if (strcmp(allowed[i], item->string) == 0) ok = true;
        if (!ok) {
            char known[512] = "";
            size_t pos = 0;
            for (int i = 0; allowed[i] && pos < sizeof known; i++)
                pos += (size_t)snprintf(known + pos, sizeof known - pos, "%s%s", i ? ", " : "", allowed[i]);
            const char *near = config_nearest_key(item->string, allowed);
            char hint[128] = "";
            if (near) snprintf(hint, sizeof hint, "did you mean '%s'? ", near);
            engine_error("%s: %s.%s: unknown key for %s (%saccepted: %s)", c->label, key_path, item->string, what, hint,
                         known);
            return -1;
        }
    }
    return 0;
}

/* The array at key_path, of at most max items (`items` names them), or
 * NULL with an error. */
static const cJSON *require_array(const Config *c, const char *key_path, int max, const char *items)
{
    const cJSON *arr = require(c, key_path);
    if (arr && (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > max)) {
        char what[64];
        snprintf(what, sizeof what, "an array of at most %d %s", max, items);
        type_error(c, key_path, what, arr);
        return NULL;
    }
    return arr;
}

/* Item i's key path in errors: "key_path.i". */
static const char *item_key(char *buf, size_t size, const char *key_path, int i)
{
    snprintf(buf, size, "%s.%d", key_path, i);
    return buf;
}

int config_number_array(const Config *c, const char *key_path, double *out, int max, int *n)
{
    const cJSON *arr = require_array(c, key_path, max, "numbers");
    if (!arr) return -1;
    int i = 0;
    const cJSON *item;
    char key[300];
    cJSON_ArrayForEach(item, arr)
    {
        if (read_number(c, item_key(key, sizeof key, key_path, i), item, &out[i]) != 0) return -1;
        i++;
    }
    *n = i;
    return 0;
}

int config_int_array(const Config *c, const char *key_path, int64_t *out, int max, int *n)
{
    const cJSON *arr = require_array(c, key_path, max, "integers");
    if (!arr) return -1;
    int i = 0;
    const cJSON *item;
    char key[300];
    cJSON_ArrayForEach(item, arr)
    {
        if (read_int(c, item_key(key, sizeof key, key_path, i), item, &out[i]) != 0) return -1;
        i++;
    }
    *n = i;
    return 0;
}

int config_read_args(const Config *c, const char *args_path, const char *what, const ArgSpec *specs, int n_specs,
                     void *opts)
{
    const char *keys[33];
    ENGINE_ASSERT(n_specs <= 32);
    for (int i = 0; i < n_specs; i++) keys[i] = specs[i].key;
    keys[n_specs] = NULL;
    if (config_check_keys(c, args_path, keys, what)) return -1;
    for (int i = 0; i < n_specs; i++) {
        char key[300];
        snprintf(key, sizeof key, "%s.%s", args_path, specs[i].key);
        void *field = (char *)opts + specs[i].offset;
        if (!config_has(c, key)) {
            if (specs[i].required) return (void)require(c, key), -1;
            continue;
        }
        int rc = 0;
        switch (specs[i].type) {
        case ARG_NUMBER: rc = config_number(c, key, field); break;
        case ARG_INT: rc = config_int(c, key, field); break;
        case ARG_BOOL: rc = config_bool(c, key, field); break;
        case ARG_STRING: rc = config_string(c, key, field); break;
        case ARG_NUMBER_PAIR: {
            int n = 0;
            double pair[2];
            rc = config_number_array(c, key, pair, 2, &n);
            if (rc == 0 && n != 2) rc = type_error(c, key, "a pair [a, b]", config_find(c, key));
            if (rc == 0) memcpy(field, pair, sizeof pair);
            break;
        }
        }
        if (rc) return -1;
    }
    return 0;
}

/* The value text typed like the node it replaces. */
/* The whole text as JSON, or NULL: "4abc" or "[1]]" are not JSON followed
 * by something to ignore. */
static cJSON *parse_whole(const char *text) { return cJSON_ParseWithOpts(text, NULL, true); }

static cJSON *typed_value(const Config *c, const char *key_path, const cJSON *old, const char *value)
{
    if (!old) {
        cJSON *j = parse_whole(value);
        return j ? j : cJSON_CreateString(value);
    }
    if (cJSON_IsNumber(old)) {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (*value == '\0' || *end != '\0' || errno)
            return engine_error("%s: %s: expected a number for --set, got \"%s\"", c->label, key_path, value);
        return cJSON_CreateNumber(v);
    }
    if (cJSON_IsBool(old)) {
        if (strcmp(value, "true") == 0) return cJSON_CreateTrue();
        if (strcmp(value, "false") == 0) return cJSON_CreateFalse();
        return engine_error("%s: %s: expected true or false for --set, got \"%s\"", c->label, key_path, value);
    }
    if (cJSON_IsString(old)) return cJSON_CreateString(value);
    cJSON *j = parse_whole(value);
    if (!j) return engine_error("%s: %s: expected JSON for --set, got \"%s\"", c->label, key_path, value);
    return j;
}

int config_set(Config *c, const char *key_path, const char *value)
{
    /* an empty part (".name", "a..b", "a.") would be looked up as the key ""
     * but inserted under another name */
    size_t len = strlen(key_path);
    ENGINE_CHECK_INT(len > 0 && key_path[0] != '.' && key_path[len - 1] != '.' && !strstr(key_path, ".."),
                     "%s: --set %s: a key path is names joined by single dots", c->label, key_path);
    const char *dot = strrchr(key_path, '.');
    char parent_path[256];
    const char *leaf = key_path;
    cJSON *parent = c->root;
    if (dot) {
        size_t n = (size_t)(dot - key_path);
        ENGINE_CHECK_INT(n < sizeof parent_path, "--set %s: key path too long", key_path);
        memcpy(parent_path, key_path, n);
        parent_path[n] = '\0';
        parent = config_find(c, parent_path);
        ENGINE_CHECK_INT(parent && (cJSON_IsObject(parent) || cJSON_IsArray(parent)),
                         "%s: --set %s: no object at %s", c->label, key_path, parent_path);
        leaf = dot + 1;
    }
    ENGINE_CHECK_INT(*leaf, "--set %s: empty key", key_path);
    cJSON *old = config_find(c, key_path);
    cJSON *v = typed_value(c, key_path, old, value);
    if (!v) return -1;
    if (config_check_values(v, c->label, key_path)) {
        cJSON_Delete(v);
        return -1;
    }
    if (cJSON_IsArray(parent)) {
        /* digits only, as config_find reads an index ("+1" or " 1" would be
         * set here but never found again) */
        bool digits = leaf[0] && strspn(leaf, "0123456789") == strlen(leaf) && strlen(leaf) < 10;
        long i = digits ? strtol(leaf, NULL, 10) : -1;
        if (i < 0 || i >= cJSON_GetArraySize(parent)) {
            cJSON_Delete(v);
            engine_error("%s: --set %s: no element %s in that array", c->label, key_path, leaf);
            return -1;
        }
        cJSON_ReplaceItemInArray(parent, (int)i, v);
    } else if (old) {
        cJSON_ReplaceItemInObjectCaseSensitive(parent, leaf, v);
    } else {
        cJSON_AddItemToObject(parent, leaf, v);
    }
    return 0;
}

int config_update(Config *c, const Config *other)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, other->root)
    {
        cJSON *copy = cJSON_Duplicate(item, true);
        ENGINE_CHECK_INT(copy != NULL, "out of memory");
        if (cJSON_GetObjectItemCaseSensitive(c->root, item->string))
            cJSON_ReplaceItemInObjectCaseSensitive(c->root, item->string, copy);
        else
            cJSON_AddItemToObject(c->root, item->string, copy);
    }
    return 0;
}

/* Numbers as the shortest text that reads back exactly: cJSON's printer
 * writes 15 digits whenever they read back within a relative epsilon, so
 * 0.30000000000000004 would be saved as 0.3 and a resumed run would differ. */
static void exact_numbers(cJSON *node)
{
    for (cJSON *item = node->child; item; item = item->next) {
        if (cJSON_IsNumber(item)) {
            char text[40];
            for (int digits = 15; digits <= 17; digits++) {
                snprintf(text, sizeof text, "%.*g", digits, item->valuedouble);
                if (strtod(text, NULL) == item->valuedouble) break;
            }
            char *raw = strdup(text);
            ENGINE_ASSERT(raw != NULL);
            item->type = cJSON_Raw;
            item->valuestring = raw;
        } else {
            exact_numbers(item);
        }
    }
}

char *config_to_string(const Config *c)
{
    cJSON *copy = cJSON_Duplicate(c->root, true);
    if (!copy) return NULL;
    exact_numbers(copy);
    char *text = cJSON_Print(copy);
    cJSON_Delete(copy);
    return text;
}

int config_save(const Config *c, const char *path)
{
    char *text = config_to_string(c);
    ENGINE_CHECK_INT(text != NULL, "%s: out of memory", path);
    int rc = atomic_write_file(path, text, strlen(text));
    free(text);
    return rc;
}
