/* Fuzzes checkpoint loading and resuming (base/checkpoint.h): the input is
 * a whole checkpoint file, read with checkpoint_load and restored as
 * BaseTrainer resumes a run into the small training run of fuzz_support.h
 * (the MLP of model/model.h, an optimizer and LR scheduler of the types the
 * checkpoint's config names, as ./train builds them, and a shuffling data
 * loader): the model's weights, the
 * optimizer state, the scheduler state (scheduler_load_state_dict), the RNG,
 * the loader's position and an interrupted epoch's progress. Then it trains
 * two steps from there, and, when everything was restored, saves a
 * checkpoint with the real writer that must load again: a resumed run must
 * be able to resume once more. Half of the mutations work inside one
 * metadata value (the states and the config are JSON texts in JSON strings). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/checkpoint.h"
#include "engine/engine.h"
#include "tests/fuzz/fuzz_support.h"
#include "utils/metric_tracker.h"

#define CHECK(cond)                                                                                            \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            fprintf(stderr, "fuzz_checkpoint: %s:%d: check failed: %s (error: %s)\n", __FILE__, __LINE__, #cond, \
                    engine_last_error());                                                                      \
            abort();                                                                                           \
        }                                                                                                      \
    } while (0)

static char save_path[256]; /* the resumed run's checkpoint */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    snprintf(save_path, sizeof save_path, "%s", fuzz_scratch_path("resumed.ckpt"));
    return 0;
}

static char first_failure[1024];

static void failed(bool *ok)
{
    CHECK(engine_has_error());
    if (*ok) snprintf(first_failure, sizeof first_failure, "%s", engine_last_error());
    *ok = false;
}

/* The type at key (a string the harness knows), or NULL. */
static const char *config_type(const Config *c, const char *key, const char *const *known, int n_known)
{
    const char *type;
    if (config_string(c, key, &type) != 0) {
        engine_clear_error();
        return NULL;
    }
    for (int i = 0; i < n_known; i++)
        if (strcmp(type, known[i]) == 0) return known[i];
    return NULL;
}

/* What BaseTrainer does with a loaded checkpoint; true when all of it was
 * restored (else first_failure says what was not). */
static bool resume(const Checkpoint *ck, FuzzRun *r)
{
    bool ok = true;
    if (checkpoint_restore_model(ck, r->model) != 0) failed(&ok);
    engine_clear_error();
    /* the optimizer state only when its type is the optimizer's, as BaseTrainer does */
    if (ck->optimizer_json && fuzz_state_type(ck->optimizer_json, (const char *const[]){optimizer_name(r->optimizer)}, 1)) {
        if (checkpoint_restore_optimizer(ck, r->optimizer) != 0) failed(&ok);
        engine_clear_error();
    }
    /* the same for the scheduler */
    if (r->scheduler && ck->scheduler_json &&
        fuzz_state_type(ck->scheduler_json, (const char *const[]){scheduler_name(r->scheduler)}, 1)) {
        if (scheduler_load_state_dict(r->scheduler, ck->scheduler_json) != 0) failed(&ok);
        engine_clear_error();
    }
    generator_set_state(generator_default(), ck->rng_default);
    if (ck->has_loader) data_loader_set_position(r->loader, &ck->loader);
    if (ck->has_progress) {
        static const char *const keys[] = {"loss", "accuracy"};
        MetricTracker t;
        tracker_init(&t, 2, keys);
        if (checkpoint_restore_progress(ck, &t) != 0) failed(&ok);
        engine_clear_error();
    }
    return ok;
}

/* ---- mutations inside the metadata ----
 * The optimizer and scheduler states and the config are JSON texts held in
 * JSON strings of the header: a byte mutation that puts a quote or a key
 * there breaks the header instead of the state. So half of the mutations
 * take one metadata value out, mutate it as text (with the dictionary) and
 * write the header back around the same data. */

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

static size_t mutate_metadata(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    if (size < 8) return 0;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | data[i];
    if (n > size - 8) return 0;
    cJSON *header = cJSON_ParseWithLength((const char *)data + 8, (size_t)n);
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(header, "__metadata__");
    int count = cJSON_IsObject(meta) ? cJSON_GetArraySize(meta) : 0;
    cJSON *item = count ? cJSON_GetArrayItem(meta, (int)(seed / 2 % (unsigned)count)) : NULL;
    size_t out = 0;
    if (cJSON_IsString(item)) {
        size_t len = strlen(item->valuestring), cap = 2 * len + 64;
        uint8_t *text = malloc(cap + 1);
        CHECK(text != NULL);
        memcpy(text, item->valuestring, len);
        len = LLVMFuzzerMutate(text, len, cap);
        text[len] = '\0';
        cJSON *value = cJSON_CreateString((const char *)text);
        free(text);
        CHECK(value && cJSON_ReplaceItemViaPointer(meta, item, value));
        char *json = cJSON_PrintUnformatted(header);
        CHECK(json != NULL);
        size_t json_len = strlen(json), padded = (json_len + 7) & ~(size_t)7, data_len = size - 8 - (size_t)n;
        if (8 + padded + data_len <= max_size) {
            memmove(data + 8 + padded, data + 8 + n, data_len);
            for (int i = 0; i < 8; i++) data[i] = (uint8_t)((uint64_t)padded >> (8 * i));
            memcpy(data + 8, json, json_len);
            memset(data + 8 + json_len, ' ', padded - json_len);
            out = 8 + padded + data_len;
        }
        free(json);
    }
    cJSON_Delete(header);
    return out;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    size_t out = seed % 2 ? mutate_metadata(data, size, max_size, seed) : 0;
    return out ? out : LLVMFuzzerMutate(data, size, max_size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    engine_clear_error();
    scope_begin();
    Checkpoint *ck = checkpoint_load(fuzz_input_file(data, size));
    CHECK(ck != NULL || engine_has_error());
    if (!ck && getenv("FUZZ_VERBOSE")) fprintf(stderr, "fuzz_checkpoint: %s\n", engine_last_error());
    engine_clear_error();
    if (ck) {
        /* what checkpoint_load promises about the numbers it read */
        CHECK(ck->config != NULL && ck->arch != NULL && ck->st != NULL);
        CHECK(ck->epoch >= 0 && ck->not_improved_count >= 0 && ck->not_improved_count <= ck->epoch);
        CHECK(ck->loader.taken >= 0);
        CHECK(!ck->has_progress || (ck->progress_epoch == ck->epoch + 1 && ck->progress_batch >= 0));

        /* the optimizer and scheduler the run's config names, as ./train builds them (of the
         * types this harness knows; else those of the saved states) */
        const char *opt_type = config_type(ck->config, "optimizer.type", fuzz_optimizer_types, fuzz_n_optimizer_types);
        if (!opt_type) opt_type = fuzz_state_type(ck->optimizer_json, fuzz_optimizer_types, fuzz_n_optimizer_types);
        if (!opt_type) opt_type = "SGD";
        const char *sched_type =
            config_type(ck->config, "lr_scheduler.type", fuzz_scheduler_types, fuzz_n_scheduler_types);
        if (!sched_type && ck->scheduler_json) {
            sched_type = fuzz_state_type(ck->scheduler_json, fuzz_scheduler_types, fuzz_n_scheduler_types);
            if (!sched_type) sched_type = "StepLR"; /* an unknown type: not resumed */
        }
        FuzzRun r;
        if (fuzz_run_init(&r, opt_type, sched_type) != 0) {
            fprintf(stderr, "fuzz_checkpoint: the training run cannot be built: %s\n", engine_last_error());
            abort();
        }
        bool restored = resume(ck, &r);
        if (getenv("FUZZ_VERBOSE")) /* to see how far an input gets */
            fprintf(stderr, "fuzz_checkpoint: %s\n", restored ? "restored" : first_failure);
        for (int step = 0; step < 2; step++) {
            fuzz_run_step(&r); /* may fail (say, OneCycleLR past its last step), never crash */
            engine_clear_error();
        }
        if (restored) {
            DataLoaderPosition pos;
            data_loader_get_position(r.loader, &pos);
            CheckpointContent c = {
                .model = r.model,
                .optimizer = r.optimizer,
                .scheduler = r.scheduler,
                .epoch = ck->epoch, /* as saved on an interrupt right away */
                .monitor_best = ck->monitor_best,
                .not_improved_count = ck->not_improved_count,
                .rng_default = generator_default(),
                .loader = &pos,
                .config = r.config,
            };
            if (checkpoint_save(save_path, &c) != 0) {
                fprintf(stderr, "fuzz_checkpoint: a resumed run cannot save its checkpoint: %s\n",
                        engine_last_error());
                abort();
            }
            Checkpoint *again = checkpoint_load(save_path);
            if (!again) {
                fprintf(stderr, "fuzz_checkpoint: the checkpoint of a resumed run does not load: %s\n",
                        engine_last_error());
                abort();
            }
            FuzzRun r2;
            CHECK(fuzz_run_init(&r2, opt_type, sched_type) == 0);
            if (!resume(again, &r2)) {
                fprintf(stderr, "fuzz_checkpoint: the checkpoint of a resumed run does not restore: %s\n",
                        first_failure);
                abort();
            }
            fuzz_run_free(&r2);
            checkpoint_free(again);
            unlink(save_path);
        }
        fuzz_run_free(&r);
        checkpoint_free(ck);
    }
    scope_end();
    engine_clear_error();
    return 0;
}
