/* Helpers shared by the fuzz harnesses (see fuzz_support.h). */
#define _GNU_SOURCE /* memfd_create */
#include "tests/fuzz/fuzz_support.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model/loss.h"
#include "model/model.h"
#include "utils/optim_config.h"

void fuzz_init(void)
{
    setenv("OMP_NUM_THREADS", "1", 0);
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
}

typedef struct {
    int fd;
    char path[64];
} InputFile;

#define SCRATCH_PREFIX "ctorch-fuzz."

/* Removes the scratch files in dir of this process (own) or of processes
 * that no longer run (!own). */
static void remove_scratch(const char *dir, bool own)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, SCRATCH_PREFIX, strlen(SCRATCH_PREFIX)) != 0) continue;
        char *end;
        long pid = strtol(e->d_name + strlen(SCRATCH_PREFIX), &end, 10);
        if (*end != '.' || pid <= 0) continue;
        bool mine = pid == (long)getpid();
        if (own ? mine : (!mine && kill((pid_t)pid, 0) != 0 && errno == ESRCH)) unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

static const char *scratch_dir(void) { return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"; }

static void remove_own_scratch(void)
{
    remove_scratch(scratch_dir(), true);
    remove_scratch("/tmp", true);
}

static void scratch_init(void)
{
    static bool done;
    if (done) return;
    done = true;
    remove_scratch(scratch_dir(), false);
    remove_scratch("/tmp", false);
    atexit(remove_own_scratch);
}

const char *fuzz_scratch_path(const char *name)
{
    static char path[256];
    scratch_init();
    snprintf(path, sizeof path, "%s/" SCRATCH_PREFIX "%d.%s", scratch_dir(), (int)getpid(), name);
    return path;
}

/* A memfd read back through /proc/self/fd; without either, a scratch file
 * under /tmp. */
static void input_file_open(InputFile *f, const char *tag)
{
    if (f->path[0]) return;
    f->fd = memfd_create(tag, 0);
    if (f->fd >= 0) {
        snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
        if (access(f->path, R_OK) == 0) return;
        close(f->fd);
    }
    scratch_init();
    snprintf(f->path, sizeof f->path, "/tmp/" SCRATCH_PREFIX "%d.%s.XXXXXX", (int)getpid(), tag);
    f->fd = mkstemp(f->path);
    if (f->fd < 0) {
        perror("fuzz: cannot create the input file");
        abort();
    }
}

static const char *input_file_write(InputFile *f, const char *tag, const uint8_t *data, size_t size)
{
    input_file_open(f, tag);
    if (ftruncate(f->fd, 0) != 0) {
        perror("fuzz: ftruncate");
        abort();
    }
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(f->fd, data + done, size - done, (off_t)done);
        if (n <= 0) {
            perror("fuzz: cannot write the input file");
            abort();
        }
        done += (size_t)n;
    }
    return f->path;
}

const char *fuzz_input_file(const uint8_t *data, size_t size)
{
    static InputFile f;
    return input_file_write(&f, "fuzz-input", data, size);
}

const char *fuzz_input_file2(const uint8_t *data, size_t size)
{
    static InputFile f;
    return input_file_write(&f, "fuzz-input2", data, size);
}

/* ---- the training run ---- */

const char *const fuzz_optimizer_types[] = {"SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"};
const int fuzz_n_optimizer_types = 6;
static const char *const optimizer_args[] = {
    "{\"lr\": 0.1, \"momentum\": 0.9}",          "{\"lr\": 0.01, \"amsgrad\": true}",
    "{\"lr\": 0.01}",                             "{\"lr\": 0.01, \"momentum\": 0.5, \"centered\": true}",
    "{\"lr\": 0.1, \"lr_decay\": 0.01}",          "{}",
};
const char *const fuzz_scheduler_types[] = {"StepLR",   "MultiStepLR", "ExponentialLR",    "CosineAnnealingLR",
                                            "LinearLR", "OneCycleLR",  "ReduceLROnPlateau"};
const int fuzz_n_scheduler_types = 7;
static const char *const scheduler_args[] = {
    "{\"step_size\": 2, \"gamma\": 0.5}", "{\"milestones\": [1, 3]}", "{\"gamma\": 0.9}", "{\"T_max\": 4}",
    "{\"total_iters\": 3}",                "{\"max_lr\": 0.1}",        "{\"patience\": 0}",
};

const char *fuzz_state_type(const char *state_json, const char *const *known, int n_known)
{
    if (!state_json) return NULL;
    cJSON *root = cJSON_Parse(state_json);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    const char *found = NULL;
    for (int i = 0; i < n_known && cJSON_IsString(type); i++)
        if (strcmp(type->valuestring, known[i]) == 0) found = known[i];
    cJSON_Delete(root);
    return found;
}

#define N_SAMPLES 7
#define BATCH 3

static int fake_get(const Dataset *ds, int64_t i, const SampleContext *ctx, Sample *out)
{
    float *x = sample_f32(out, 0);
    for (int k = 0; k < 28 * 28; k++) x[k] = (float)((i * 7 + k) % 13) / 13.0f;
    *sample_i64(out, 1) = i % 2;
    return 0;
}

static Dataset *fake_dataset(void)
{
    Dataset *ds = calloc(1, sizeof *ds);
    ENGINE_ASSERT(ds != NULL);
    ds->name = "fake";
    ds->length = N_SAMPLES;
    ds->sample_shape = (Shape){.ndim = 3, .d = {1, 28, 28}};
    ds->get = fake_get;
    return ds;
}

static int find_index(const char *const *list, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0) return i;
    return -1;
}

int fuzz_run_init(FuzzRun *r, const char *optimizer_type, const char *scheduler_type)
{
    memset(r, 0, sizeof *r);
    int oi = find_index(fuzz_optimizer_types, fuzz_n_optimizer_types, optimizer_type);
    int si = scheduler_type ? find_index(fuzz_scheduler_types, fuzz_n_scheduler_types, scheduler_type) : -1;
    ENGINE_ASSERT(oi >= 0 && (si >= 0 || !scheduler_type));
    char json[2048], sched[256] = "";
    if (si >= 0)
        snprintf(sched, sizeof sched, "\"lr_scheduler\": {\"type\": \"%s\", \"args\": %s},", scheduler_type,
                 scheduler_args[si]);
    snprintf(json, sizeof json,
             "{\"name\": \"fuzz\", \"n_gpu\": 0, \"seed\": 1,"
             " \"arch\": {\"type\": \"MLP\", \"args\": {\"hidden\": [1], \"num_classes\": 2}},"
             " \"optimizer\": {\"type\": \"%s\", \"args\": %s}, %s"
             " \"loss\": \"nll_loss\", \"metrics\": [\"accuracy\"],"
             " \"trainer\": {\"epochs\": 4, \"save_dir\": \"saved/\", \"monitor\": \"min val_loss\"}}",
             optimizer_type, optimizer_args[oi], sched);
    if (!(r->config = config_parse(json, "fuzz.json"))) return -1;
    if (!(r->model = model_from_config(r->config))) return -1;
    int n = 0;
    Tensor **all = module_parameters(r->model, &n);
    r->params = calloc((size_t)n + 1, sizeof *r->params);
    ENGINE_ASSERT(all && r->params);
    Tensor *first = module_get_parameter(module_get_child(module_get_child(r->model, "layers"), "0"), "weight");
    ENGINE_ASSERT(first != NULL);
    first->requires_grad = false; /* frozen: keeps the optimizer state (and the checkpoints) small */
    for (int i = 0; i < n; i++)
        if (all[i]->requires_grad) r->params[r->n_params++] = all[i];
    free(all);
    if (!(r->optimizer = optimizer_from_config(r->config, r->params, r->n_params))) return -1;
    DataLoaderOptions lo = {.batch_size = BATCH, .shuffle = true, .seed = 5};
    if (!(r->loader = base_data_loader_new(fake_dataset(), lo))) return -1;
    bool absent;
    r->scheduler = scheduler_from_config(r->config, r->optimizer, 4, data_loader_num_batches(r->loader), &absent);
    if (!r->scheduler && !absent) return -1;
    data_loader_begin_epoch(r->loader);
    return 0;
}

int fuzz_run_step(FuzzRun *r)
{
    scope_begin();
    Tensor *x, *y;
    int rc = -1;
    if (!data_loader_next(r->loader, &x, &y)) {
        data_loader_begin_epoch(r->loader);
        if (!data_loader_next(r->loader, &x, &y)) {
            engine_error("fuzz: the loader has no batch after a new epoch");
            goto done;
        }
    }
    Tensor *loss = nll_loss(module_forward(r->model, x), y);
    if (!loss || tensor_backward(loss, NULL) != 0 || optimizer_step(r->optimizer) != 0) goto done;
    optimizer_zero_grad(r->optimizer, true);
    if (r->scheduler) {
        if (scheduler_needs_metric(r->scheduler)) {
            if (scheduler_step_metric(r->scheduler, tensor_item(loss)) != 0) goto done;
        } else if (scheduler_step(r->scheduler) != 0) {
            goto done;
        }
    }
    rc = 0;
done:
    scope_end();
    return rc;
}

void fuzz_run_free(FuzzRun *r)
{
    scheduler_free(r->scheduler);
    optimizer_free(r->optimizer);
    free(r->params);
    module_free(r->model);
    data_loader_free(r->loader);
    config_free(r->config);
    memset(r, 0, sizeof *r);
}
