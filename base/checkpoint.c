/* Checkpoint save/load (see checkpoint.h). */
#include "base/checkpoint.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPT_PREFIX "optimizer."

static char *rng_json(const uint64_t s[2])
{
    char *buf = malloc(64);
    ENGINE_ASSERT(buf != NULL);
    snprintf(buf, 64, "[%" PRIu64 ", %" PRIu64 "]", s[0], s[1]);
    return buf;
}

/* The loader's epoch: its generator state before the order was drawn, the
 * batches taken and the epochs begun (which seed the random transforms). */
static char *loader_epoch_json(const DataLoaderPosition *p)
{
    char *buf = malloc(128);
    ENGINE_ASSERT(buf != NULL);
    snprintf(buf, 128, "[%" PRIu64 ", %" PRIu64 ", %" PRId64 ", %" PRId64 "]", p->epoch_rng[0], p->epoch_rng[1],
             p->taken, p->epochs);
    return buf;
}

/* ["T-shirt/top", "Trouser", ...] */
static char *class_names_json(const char *const *names, int n)
{
    cJSON *list = cJSON_CreateArray();
    ENGINE_ASSERT(list != NULL);
    for (int i = 0; i < n; i++) {
        cJSON *name = cJSON_CreateString(names[i]);
        ENGINE_ASSERT(name != NULL);
        cJSON_AddItemToArray(list, name);
    }
    char *s = cJSON_PrintUnformatted(list);
    ENGINE_ASSERT(s != NULL);
    cJSON_Delete(list);
    return s;
}

static char *progress_json(const EpochProgress *p)
{
    cJSON *root = cJSON_CreateObject(), *totals = cJSON_CreateObject();
    ENGINE_ASSERT(root && totals);
    cJSON_AddNumberToObject(root, "epoch", (double)p->epoch);
    cJSON_AddNumberToObject(root, "batch", (double)p->batch);
    for (int i = 0; i < p->train.n; i++) {
        double pair[2] = {p->train.total[i], (double)p->train.count[i]};
        cJSON_AddItemToObject(totals, p->train.keys[i], cJSON_CreateDoubleArray(pair, 2));
    }
    cJSON_AddItemToObject(root, "totals", totals);
    char *s = cJSON_PrintUnformatted(root);
    ENGINE_ASSERT(s != NULL);
    cJSON_Delete(root);
    return s;
}

int checkpoint_save(const char *path, const CheckpointContent *c)
{
    StateDict model_sd, opt_sd, all;
    state_dict_init(&model_sd);
    state_dict_init(&opt_sd);
    state_dict_init(&all);
    char *opt_json = NULL, *sched_json = NULL, *config_json = NULL, *rng_d = NULL, *rng_l = NULL, *loader_e = NULL,
         *progress_j = NULL, *classes_j = NULL, *scaler_j = NULL;
    char layout[64] = "";
    if (c->ranks > 0)
        snprintf(layout, sizeof layout, "[%" PRId64 ", %" PRId64 "]", c->ranks, c->rank_batch_size);
    int rc = module_state_dict(c->model, &model_sd);
    if (rc == 0 && c->optimizer) rc = optimizer_state_dict(c->optimizer, &opt_sd, &opt_json);
    for (int i = 0; rc == 0 && i < model_sd.n; i++) rc = state_dict_add(&all, model_sd.names[i], model_sd.tensors[i]);
    for (int i = 0; rc == 0 && i < opt_sd.n; i++) {
        char name[512];
        snprintf(name, sizeof name, OPT_PREFIX "%s", opt_sd.names[i]);
        rc = state_dict_add(&all, name, opt_sd.tensors[i]);
    }
    if (rc == 0 && c->scheduler) sched_json = scheduler_state_dict(c->scheduler);
    if (rc == 0 && c->scheduler && !sched_json) rc = -1;
    if (rc == 0 && c->grad_scaler && c->grad_scaler->enabled && !(scaler_j = grad_scaler_state_json(c->grad_scaler)))
        rc = -1;
    if (rc == 0) {
        config_json = config_to_string(c->config);
        uint64_t state[2];
        if (c->rng_default) {
            generator_get_state(c->rng_default, state);
            rng_d = rng_json(state);
        }
        rng_l = c->loader ? rng_json(c->loader->rng) : NULL;
        if (c->progress) progress_j = progress_json(c->progress);
        loader_e = c->loader ? loader_epoch_json(c->loader) : NULL;
        if (c->class_names && c->n_classes > 0) classes_j = class_names_json(c->class_names, c->n_classes);
        char epoch[32], best[64], counter[32];
        snprintf(epoch, sizeof epoch, "%" PRId64, c->epoch);
        snprintf(best, sizeof best, "%.17g", c->monitor_best);
        snprintf(counter, sizeof counter, "%" PRId64, c->not_improved_count);
        const char *entries[][2] = {
            {"format", CHECKPOINT_FORMAT}, {"arch", c->model->type_name},
            {"epoch", epoch},              {"monitor_best", best},
            {"not_improved_count", counter}, {"config", config_json},
            {"optimizer", opt_json},       {"lr_scheduler", sched_json},
            {"rng_default", rng_d},        {"rng_loader", rng_l},
            {"loader_epoch", loader_e},    {"epoch_progress", progress_j},
            {"class_names", classes_j},    {"data_parallel", layout[0] ? layout : NULL},
            {"grad_scaler", scaler_j},
        };
        const char *keys[16], *values[16];
        int n = 0;
        for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++)
            if (entries[i][1]) { /* absent parts (no scheduler...) are left out */
                keys[n] = entries[i][0];
                values[n++] = entries[i][1];
            }
        rc = safetensors_save(path, all.n, (const char *const *)all.names, all.tensors, n, keys, values);
    }
    free(opt_json);
    free(sched_json);
    free(config_json);
    free(rng_d);
    free(rng_l);
    free(loader_e);
    free(progress_j);
    free(classes_j);
    free(scaler_j);
    state_dict_free(&model_sd);
    state_dict_free(&opt_sd);
    state_dict_free(&all);
    return rc;
}

void checkpoint_free(Checkpoint *ck)
{
    if (!ck) return;
    for (int i = 0; i < ck->n_classes; i++) free(ck->class_names[i]);
    free(ck->class_names);
    safetensors_free(ck->st);
    config_free(ck->config);
    free(ck->path);
    free(ck);
}

/* ---- strict reading of the metadata's numbers ---- */

static bool parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s || isspace((unsigned char)*s)) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || errno || v < min || v > max) return false;
    *out = v;
    return true;
}

/* A JSON array of exactly n unsigned 64-bit integers ("[1, 2]"); uint64
 * values are written as decimal text, beyond what a double holds exactly,
 * so the items are read from the text, not from cJSON's doubles. */
static bool parse_u64_array(const char *s, uint64_t *out, int n)
{
    if (!s) return false;
    const char *p = s;
    while (*p == ' ') p++;
    if (*p++ != '[') return false;
    for (int i = 0; i < n; i++) {
        while (*p == ' ') p++;
        if (!isdigit((unsigned char)*p)) return false;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno) return false;
        out[i] = v;
        p = end;
        while (*p == ' ') p++;
        if (*p++ != (i + 1 < n ? ',' : ']')) return false;
    }
    while (*p == ' ') p++;
    return *p == '\0';
}

/* Epochs and counters stay far below what an int64 (and a double) holds, so
 * epoch + 1 and every count derived from them cannot wrap. */
#define CHECKPOINT_MAX_COUNT ((int64_t)1 << 50)

static void *damaged(Checkpoint *ck, const char *entry, const char *value, const char *expected)
{
    char shown[64];
    snprintf(shown, sizeof shown, "%s", value ? value : "");
    if (value && strlen(value) >= sizeof shown) strcpy(shown + sizeof shown - 4, "...");
    engine_error("%s: checkpoint metadata is damaged: '%s' is %s%s%s, expected %s", ck->path, entry, value ? "\"" : "",
                 value ? shown : "missing", value ? "\"" : "", expected);
    checkpoint_free(ck);
    return NULL;
}

/* "epoch_progress": {"epoch": e, "batch": k, "totals": {"loss": [total, count], ...}} */
static bool parse_progress(Checkpoint *ck, const char *json)
{
    cJSON *root = cJSON_Parse(json);
    const cJSON *epoch = cJSON_GetObjectItemCaseSensitive(root, "epoch");
    const cJSON *batch = cJSON_GetObjectItemCaseSensitive(root, "batch");
    const cJSON *totals = cJSON_GetObjectItemCaseSensitive(root, "totals");
    bool ok = cJSON_IsObject(root) && cJSON_IsNumber(epoch) && cJSON_IsNumber(batch) && cJSON_IsObject(totals) &&
              epoch->valuedouble == ck->epoch + 1 && batch->valuedouble >= 0 &&
              batch->valuedouble <= (double)CHECKPOINT_MAX_COUNT && batch->valuedouble == floor(batch->valuedouble);
    if (ok) {
        ck->progress_epoch = (int64_t)epoch->valuedouble;
        ck->progress_batch = (int64_t)batch->valuedouble;
    }
    const cJSON *item, *entries = ok ? totals : NULL;
    cJSON_ArrayForEach(item, entries)
    {
        const cJSON *total = cJSON_GetArrayItem(item, 0), *count = cJSON_GetArrayItem(item, 1);
        if (ck->n_totals == TRACKER_MAX_KEYS || strlen(item->string) >= sizeof ck->total_keys[0] ||
            !cJSON_IsArray(item) || cJSON_GetArraySize(item) != 2 || !cJSON_IsNumber(total) ||
            !isfinite(total->valuedouble) || !cJSON_IsNumber(count) || count->valuedouble < 0 ||
            count->valuedouble > (double)CHECKPOINT_MAX_COUNT || count->valuedouble != floor(count->valuedouble)) {
            ok = false;
            break;
        }
        strcpy(ck->total_keys[ck->n_totals], item->string);
        ck->totals[ck->n_totals] = total->valuedouble;
        ck->counts[ck->n_totals] = (int64_t)count->valuedouble;
        ck->n_totals++;
    }
    cJSON_Delete(root);
    ck->has_progress = ok;
    return ok;
}

/* Class names: at most this many, each 1 to CHECKPOINT_MAX_NAME bytes. */
#define CHECKPOINT_MAX_CLASSES 100000
#define CHECKPOINT_MAX_NAME 1024

/* "class_names": ["cat", "dog", ...], a non-empty list of non-empty strings. */
static bool parse_class_names(Checkpoint *ck, const char *json)
{
    cJSON *root = cJSON_Parse(json);
    int n = cJSON_IsArray(root) ? cJSON_GetArraySize(root) : 0;
    bool ok = n >= 1 && n <= CHECKPOINT_MAX_CLASSES;
    if (ok) {
        ck->class_names = calloc((size_t)n, sizeof(char *));
        ENGINE_ASSERT(ck->class_names != NULL);
    }
    const cJSON *item, *items = ok ? root : NULL;
    cJSON_ArrayForEach(item, items)
    {
        size_t len = cJSON_IsString(item) ? strlen(item->valuestring) : 0;
        if (len == 0 || len > CHECKPOINT_MAX_NAME) {
            ok = false;
            break;
        }
        ck->class_names[ck->n_classes] = strdup(item->valuestring);
        ENGINE_ASSERT(ck->class_names[ck->n_classes] != NULL);
        ck->n_classes++;
    }
    cJSON_Delete(root);
    return ok;
}

/* Takes st. */
static Checkpoint *checkpoint_open(Safetensors *st, const char *path)
{
    Checkpoint *ck = calloc(1, sizeof *ck);
    ENGINE_ASSERT(ck != NULL);
    ck->st = st;
    ck->path = strdup(path);
    ENGINE_ASSERT(ck->path != NULL);
    const char *format = safetensors_meta(st, "format");
    const char *config = safetensors_meta(st, "config");
    ck->arch = safetensors_meta(st, "arch");
    ck->optimizer_json = safetensors_meta(st, "optimizer");
    ck->scheduler_json = safetensors_meta(st, "lr_scheduler");
    ck->grad_scaler_json = safetensors_meta(st, "grad_scaler"); /* checked by grad_scaler_load_json */
    if (!format || strcmp(format, CHECKPOINT_FORMAT) != 0 || !config || !ck->arch) {
        engine_error("%s: a safetensors file, but not a checkpoint of this framework (metadata 'format' is %s%s%s)",
                     path, format ? "'" : "", format ? format : "missing", format ? "'" : "");
        checkpoint_free(ck);
        return NULL;
    }
    const char *text;
    text = safetensors_meta(st, "epoch");
    if (!parse_i64(text, 0, CHECKPOINT_MAX_COUNT, &ck->epoch))
        return damaged(ck, "epoch", text, "a whole number of epochs from 0 to 2^50");
    text = safetensors_meta(st, "not_improved_count");
    ck->not_improved_count = 0;
    if (text && !parse_i64(text, 0, ck->epoch, &ck->not_improved_count))
        return damaged(ck, "not_improved_count", text, "a whole number from 0 to the epoch");
    text = safetensors_meta(st, "monitor_best");
    ck->monitor_best = NAN;
    if (text) {
        char *end;
        ck->monitor_best = strtod(text, &end);
        if (!*text || *end != '\0') return damaged(ck, "monitor_best", text, "a number");
    }
    text = safetensors_meta(st, "rng_default");
    if (!parse_u64_array(text, ck->rng_default, 2)) return damaged(ck, "rng_default", text, "[state, stream]");
    text = safetensors_meta(st, "rng_loader");
    ck->has_loader = text != NULL;
    if (text && !parse_u64_array(text, ck->loader.rng, 2)) return damaged(ck, "rng_loader", text, "[state, stream]");
    ck->loader.taken = INT64_MAX; /* without loader_epoch: resume at an epoch's end */
    ck->loader.epochs = -1;
    text = safetensors_meta(st, "loader_epoch");
    if (text) {
        /* checkpoints written before the loader counted its epochs hold three numbers */
        uint64_t e[4];
        bool four = parse_u64_array(text, e, 4);
        if ((!four && !parse_u64_array(text, e, 3)) || e[2] > (uint64_t)CHECKPOINT_MAX_COUNT ||
            (four && e[3] > (uint64_t)CHECKPOINT_MAX_COUNT))
            return damaged(ck, "loader_epoch", text, "[state, stream, batches taken, epochs begun]");
        ck->loader.epoch_rng[0] = e[0];
        ck->loader.epoch_rng[1] = e[1];
        ck->loader.taken = (int64_t)e[2];
        if (four) ck->loader.epochs = (int64_t)e[3];
    }
    /* "[ranks, batch_size per rank]": where a resume inside an epoch can go on */
    text = safetensors_meta(st, "data_parallel");
    if (text) {
        uint64_t layout[2];
        if (!parse_u64_array(text, layout, 2) || layout[0] < 1 || layout[0] > (1u << 24) || layout[1] < 1 ||
            layout[1] > ((uint64_t)1 << 32))
            return damaged(ck, "data_parallel", text, "[ranks, batch_size per rank]");
        ck->global_batch_size = (int64_t)(layout[0] * layout[1]);
    }
    text = safetensors_meta(st, "epoch_progress");
    if (text && !parse_progress(ck, text))
        return damaged(ck, "epoch_progress", text, "{\"epoch\": the next epoch, \"batch\": k, \"totals\": {...}}");
    /* without the count (older checkpoints, which had no random transforms to seed): the epochs
     * trained, the interrupted one included */
    if (ck->loader.epochs < 0) ck->loader.epochs = ck->epoch + (ck->has_progress ? 1 : 0);
    text = safetensors_meta(st, "class_names");
    if (text && !parse_class_names(ck, text))
        return damaged(ck, "class_names", text, "a list of 1 to 100000 class names, each 1 to 1024 bytes");
    char label[4200];
    snprintf(label, sizeof label, "%s (embedded config)", path);
    if (!(ck->config = config_parse(config, label))) {
        checkpoint_free(ck);
        return NULL;
    }
    return ck;
}

Checkpoint *checkpoint_load(const char *path)
{
    Safetensors *st = safetensors_load(path);
    return st ? checkpoint_open(st, path) : NULL;
}

int checkpoint_restore_progress(const Checkpoint *ck, MetricTracker *t)
{
    ENGINE_ASSERT(ck->has_progress);
    for (int i = 0; i < t->n; i++) {
        int k = 0;
        while (k < ck->n_totals && strcmp(ck->total_keys[k], t->keys[i]) != 0) k++;
        ENGINE_CHECK_INT(k < ck->n_totals,
                         "%s: the interrupted epoch's progress has no total for '%s' (were the metrics changed?)",
                         ck->path, t->keys[i]);
        t->total[i] = ck->totals[k];
        t->count[i] = ck->counts[k];
    }
    return 0;
}

/* Joins the lines of PyTorch's multi-line load_state_dict message, so the
 * error stays one line on the terminal and in logs. */
static void one_line(char *s)
{
    char *out = s;
    for (const char *p = s; *p; p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r') {
            if (out > s && out[-1] != ' ') *out++ = ' ';
        } else {
            *out++ = *p;
        }
    }
    while (out > s && out[-1] == ' ') out--;
    *out = '\0';
}

int checkpoint_restore_model(const Checkpoint *ck, Module *model)
{
    StateDict sd;
    state_dict_init(&sd);
    for (int i = 0; i < ck->st->n_tensors; i++)
        if (strncmp(ck->st->names[i], OPT_PREFIX, strlen(OPT_PREFIX)) != 0)
            state_dict_add(&sd, ck->st->names[i], ck->st->tensors[i]);
    int rc = module_load_state_dict(model, &sd, true);
    state_dict_free(&sd);
    if (rc != 0) {
        char msg[4096];
        snprintf(msg, sizeof msg, "%s", engine_last_error());
        engine_clear_error();
        one_line(msg);
        engine_error("%s: the checkpoint's weights (arch %s) do not fit the model (%s): %s", ck->path, ck->arch,
                     model->type_name, msg);
    }
    return rc;
}

int checkpoint_restore_optimizer(const Checkpoint *ck, Optimizer *opt)
{
    ENGINE_CHECK_INT(ck->optimizer_json != NULL, "%s: the checkpoint has no optimizer state", ck->path);
    StateDict sd;
    state_dict_init(&sd);
    size_t plen = strlen(OPT_PREFIX);
    for (int i = 0; i < ck->st->n_tensors; i++)
        if (strncmp(ck->st->names[i], OPT_PREFIX, plen) == 0)
            state_dict_add(&sd, ck->st->names[i] + plen, ck->st->tensors[i]);
    int rc = optimizer_load_state_dict(opt, &sd, ck->optimizer_json);
    state_dict_free(&sd);
    return rc;
}
