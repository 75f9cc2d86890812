/* Checkpoint save/load (see checkpoint.h). */
#include "utils/checkpoint.h"

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

/* The loader's epoch: its generator state before the order was drawn and the batches taken. */
static char *loader_epoch_json(const DataLoaderPosition *p)
{
    char *buf = malloc(96);
    ENGINE_ASSERT(buf != NULL);
    snprintf(buf, 96, "[%" PRIu64 ", %" PRIu64 ", %" PRId64 "]", p->epoch_rng[0], p->epoch_rng[1], p->taken);
    return buf;
}

int checkpoint_save(const char *path, const CheckpointContent *c)
{
    StateDict model_sd, opt_sd, all;
    state_dict_init(&model_sd);
    state_dict_init(&opt_sd);
    state_dict_init(&all);
    char *opt_json = NULL, *sched_json = NULL, *config_json = NULL, *rng_d = NULL, *rng_l = NULL, *loader_e = NULL;
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
    if (rc == 0) {
        config_json = config_to_string(c->config);
        uint64_t state[2];
        if (c->rng_default) {
            generator_get_state(c->rng_default, state);
            rng_d = rng_json(state);
        }
        rng_l = c->loader ? rng_json(c->loader->rng) : NULL;
        loader_e = c->loader ? loader_epoch_json(c->loader) : NULL;
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
            {"loader_epoch", loader_e},
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
    state_dict_free(&model_sd);
    state_dict_free(&opt_sd);
    state_dict_free(&all);
    return rc;
}

void checkpoint_free(Checkpoint *ck)
{
    if (!ck) return;
    safetensors_free(ck->st);
    config_free(ck->config);
    free(ck->path);
    free(ck);
}

static bool parse_rng(const char *s, uint64_t out[2])
{
    unsigned long long a, b;
    if (!s || sscanf(s, "[%llu, %llu]", &a, &b) != 2) return false;
    out[0] = a;
    out[1] = b;
    return true;
}

Checkpoint *checkpoint_load(const char *path)
{
    Safetensors *st = safetensors_load(path);
    if (!st) return NULL;
    Checkpoint *ck = calloc(1, sizeof *ck);
    ENGINE_ASSERT(ck != NULL);
    ck->st = st;
    ck->path = strdup(path);
    const char *format = safetensors_meta(st, "format");
    const char *config = safetensors_meta(st, "config");
    const char *epoch = safetensors_meta(st, "epoch");
    const char *best = safetensors_meta(st, "monitor_best");
    const char *counter = safetensors_meta(st, "not_improved_count");
    ck->arch = safetensors_meta(st, "arch");
    ck->optimizer_json = safetensors_meta(st, "optimizer");
    ck->scheduler_json = safetensors_meta(st, "lr_scheduler");
    if (!format || strcmp(format, CHECKPOINT_FORMAT) != 0 || !config || !epoch || !ck->arch) {
        engine_error("%s: a safetensors file, but not a checkpoint of this framework (metadata 'format' is %s%s%s)",
                     path, format ? "'" : "", format ? format : "missing", format ? "'" : "");
        checkpoint_free(ck);
        return NULL;
    }
    char label[4200];
    snprintf(label, sizeof label, "%s (embedded config)", path);
    ck->config = config_parse(config, label);
    ck->epoch = strtoll(epoch, NULL, 10);
    ck->monitor_best = best ? strtod(best, NULL) : NAN;
    ck->not_improved_count = counter ? strtoll(counter, NULL, 10) : 0;
    bool rng_ok = parse_rng(safetensors_meta(st, "rng_default"), ck->rng_default);
    ck->has_loader = parse_rng(safetensors_meta(st, "rng_loader"), ck->loader.rng);
    ck->loader.taken = INT64_MAX; /* without loader_epoch: resume at an epoch's end */
    const char *loader_epoch = safetensors_meta(st, "loader_epoch");
    unsigned long long e0, e1;
    long long taken;
    if (loader_epoch && sscanf(loader_epoch, "[%llu, %llu, %lld]", &e0, &e1, &taken) == 3) {
        ck->loader.epoch_rng[0] = e0;
        ck->loader.epoch_rng[1] = e1;
        ck->loader.taken = taken;
    }
    if (!ck->config || ck->epoch < 0 || !rng_ok) {
        if (ck->config) engine_error("%s: checkpoint metadata is damaged (epoch or RNG state)", path);
        checkpoint_free(ck);
        return NULL;
    }
    return ck;
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
