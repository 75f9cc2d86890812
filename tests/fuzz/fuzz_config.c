/* Fuzzes config parsing and --set (utils/config.h): the input is a config
 * file's text, then, after a NUL byte, NUL-separated "key.path=value"
 * overrides applied with config_set, as ./train --set applies them. A
 * config that parses is read back through every accessor at every key
 * path, printed and parsed again (it must give the same tree), checked
 * against the schema, and its optimizer, LR scheduler, loss, metrics and
 * (small) model are built as ./train builds them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "model/loss.h"
#include "model/metric.h"
#include "model/model.h"
#include "tests/fuzz/fuzz_support.h"
#include "utils/config.h"
#include "utils/optim_config.h"
#if __has_include("utils/config_schema.h")
#include "utils/config_schema.h"
#define HAVE_CONFIG_SCHEMA 1
#endif

#define CHECK(cond)                                                                                       \
    do {                                                                                                  \
        if (!(cond)) {                                                                                    \
            fprintf(stderr, "fuzz_config: %s:%d: check failed: %s (error: %s)\n", __FILE__, __LINE__, #cond, \
                    engine_last_error());                                                                 \
            abort();                                                                                      \
        }                                                                                                 \
    } while (0)

/* Every accessor on one key path. When the path can name node (no empty
 * or dotted keys on the way), config_find must lead back to it and each
 * accessor must accept exactly the nodes of its type. */
static void read_all_ways(const Config *c, const char *path, const cJSON *node, bool nameable)
{
    double d;
    int64_t i;
    bool b;
    const char *s;
    int rn = config_number(c, path, &d), ri = config_int(c, path, &i), rb = config_bool(c, path, &b),
        rs = config_string(c, path, &s);
    config_number_or(c, path, 1.0, &d);
    config_int_or(c, path, 1, &i);
    config_bool_or(c, path, true, &b);
    config_string_or(c, path, "x", &s);
    if (nameable) {
        CHECK(config_find(c, path) == node);
        CHECK(rn == (cJSON_IsNumber(node) ? 0 : -1));
        CHECK(ri != 0 || (cJSON_IsNumber(node) && (double)i == node->valuedouble));
        CHECK(rb == (cJSON_IsBool(node) ? 0 : -1));
        CHECK(rs == (cJSON_IsString(node) ? 0 : -1));
    }
    double arr[4];
    int n;
    config_number_array(c, path, arr, 4, &n);
    static const char *const allowed[] = {"type", "args", "lr", NULL};
    config_check_keys(c, path, allowed, "fuzz");
    CHECK(config_describe(node) != NULL);
    engine_clear_error();
}

static void walk(const Config *c, const cJSON *node, char *path, size_t cap, bool nameable, int depth)
{
    if (depth > 64) return; /* deep enough: cJSON nests up to 1000 */
    size_t len = strlen(path);
    int index = 0;
    for (const cJSON *item = node->child; item; item = item->next, index++) {
        bool ok = nameable;
        int w;
        if (cJSON_IsArray(node)) {
            w = snprintf(path + len, cap - len, "%s%d", len ? "." : "", index);
        } else {
            ok = ok && item->string[0] && !strchr(item->string, '.') && strlen(item->string) < 255;
            w = snprintf(path + len, cap - len, "%s%s", len ? "." : "", item->string);
        }
        if (w < 0 || (size_t)w >= cap - len) {
            path[len] = '\0';
            continue; /* a path too long to write out here */
        }
        read_all_ways(c, path, item, ok);
        if (cJSON_IsObject(item) || cJSON_IsArray(item)) walk(c, item, path, cap, ok, depth + 1);
        path[len] = '\0';
    }
}

/* Numbers under arch.args small enough that the model stays tiny. */
static bool small_numbers(const cJSON *node)
{
    if (cJSON_IsNumber(node)) return fabs(node->valuedouble) <= 64;
    for (const cJSON *item = node ? node->child : NULL; item; item = item->next)
        if (!small_numbers(item)) return false;
    return true;
}

static void build_like_train(const Config *c)
{
    const char *name;
    if (config_string(c, "loss", &name) == 0) loss_lookup(name, c->label);
    engine_clear_error();
    const cJSON *metrics = config_find(c, "metrics");
    for (int k = 0; cJSON_IsArray(metrics) && k < cJSON_GetArraySize(metrics) && k < 8; k++) {
        char key[32];
        snprintf(key, sizeof key, "metrics.%d", k);
        if (config_string(c, key, &name) == 0) metric_lookup(name, c->label);
        engine_clear_error();
    }

    /* the model, when it is one of the small ones with small arguments */
    const char *arch;
    if (config_string(c, "arch.type", &arch) == 0 &&
        (strcmp(arch, "MnistModel") == 0 || strcmp(arch, "LeNet5") == 0 ||
         (strcmp(arch, "MLP") == 0 && config_has(c, "arch.args.hidden"))) &&
        small_numbers(config_find(c, "arch.args"))) {
        Module *m = model_from_config(c);
        CHECK(m != NULL || engine_has_error());
        module_free(m);
    }
    engine_clear_error();

    /* the optimizer and scheduler over two small parameters */
    Tensor *params[2] = {tensor_persist(tensor_ones((Shape){.ndim = 2, .d = {3, 2}}, DT_F32, CPU)),
                         tensor_persist(tensor_zeros((Shape){.ndim = 1, .d = {2}}, DT_F32, CPU))};
    for (int k = 0; k < 2; k++) params[k]->requires_grad = true;
    Optimizer *opt = optimizer_from_config(c, params, 2);
    CHECK(opt != NULL || engine_has_error());
    engine_clear_error();
    if (opt) {
        int64_t epochs;
        if (config_int_or(c, "trainer.epochs", 4, &epochs) != 0 || epochs < 1 || epochs > 1000) epochs = 4;
        engine_clear_error();
        bool absent;
        LRScheduler *s = scheduler_from_config(c, opt, epochs, 3, &absent);
        CHECK(s != NULL || absent || engine_has_error());
        engine_clear_error();
        for (int k = 0; s && k < 3; k++) {
            if (scheduler_needs_metric(s)) scheduler_step_metric(s, 1.0 / (k + 1));
            else scheduler_step(s);
            CHECK(scheduler_n_groups(s) == 1);
            (void)scheduler_get_last_lr(s)[0];
        }
        if (s) {
            char *state = scheduler_state_dict(s);
            CHECK(state != NULL);
            CHECK(scheduler_load_state_dict(s, state) == 0);
            free(state);
        }
        engine_clear_error();
        scheduler_free(s);
        optimizer_free(opt);
    }
    tensor_free(params[0]);
    tensor_free(params[1]);
}

/* A key path without empty or overlong parts: one that names one node. */
static bool simple_path(const char *path)
{
    if (!*path) return false;
    for (const char *p = path;;) {
        size_t n = strcspn(p, ".");
        if (n == 0 || n >= 255) return false;
        p += n;
        if (!*p) return true;
        p++;
    }
}

/* config_set as README documents it: a new key takes the value as JSON
 * when the whole value parses, else as a string; an object, array or null
 * is replaced only by a whole JSON value. */
static void check_set(Config *c, const char *key, const char *value)
{
    bool simple = simple_path(key);
    const cJSON *old = simple ? config_find(c, key) : NULL;
    bool old_json = old && (cJSON_IsObject(old) || cJSON_IsArray(old) || cJSON_IsNull(old));
    if (config_set(c, key, value) != 0) {
        CHECK(engine_has_error());
        engine_clear_error();
        return;
    }
    if (!simple) return;
    const cJSON *now = config_find(c, key);
    CHECK(now != NULL);
    cJSON *whole = cJSON_ParseWithOpts(value, NULL, true);
    if (!old) {
        if (whole) CHECK(cJSON_Compare(now, whole, true));
        else CHECK(cJSON_IsString(now) && strcmp(now->valuestring, value) == 0);
    } else if (old_json) {
        CHECK(whole != NULL && cJSON_Compare(now, whole, true));
    }
    cJSON_Delete(whole);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    engine_clear_error();
    char *text = malloc(size + 1);
    CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    size_t json_len = strlen(text);
    scope_begin();
    Config *c = config_parse(text, "config.json");
    CHECK(c != NULL || engine_has_error());
    engine_clear_error();
    if (c) {
        /* the --set overrides: NUL-separated "key=value" after the JSON */
        for (size_t pos = json_len + 1; pos < size;) {
            char *item = text + pos;
            pos += strlen(item) + 1;
            char *eq = strchr(item, '=');
            if (!eq) continue;
            *eq = '\0';
            check_set(c, item, eq + 1);
        }
        char path[1024] = "";
        walk(c, c->root, path, sizeof path, true, 0);

        char *printed = config_to_string(c);
        CHECK(printed != NULL);
        Config *again = config_parse(printed, "printed");
        if (!again) {
            fprintf(stderr, "fuzz_config: a config does not parse after printing: %s\n%s\n", engine_last_error(),
                    printed);
            abort();
        }
        CHECK(cJSON_Compare(c->root, again->root, true));
        config_update(again, c);
        CHECK(cJSON_Compare(c->root, again->root, true));
        config_free(again);
        free(printed);
#ifdef HAVE_CONFIG_SCHEMA
        config_check_schema(c);
        engine_clear_error();
#endif
        build_like_train(c);
        config_free(c);
    }
    scope_end();
    engine_clear_error();
    free(text);
    return 0;
}
