/* Times full training steps of the template's models with the engine, on the
 * CPU or a CUDA device: optimizer_zero_grad, module_forward, nll_loss,
 * backward and an SGD step (momentum 0.9, lr 0.01), as bench_models.py does
 * with PyTorch. The forward and backward run as ./train runs them: on
 * several CPU threads each batch is split into one shard per thread
 * (trainer.batch_split "auto", trainer/batch_split.h) unless the model has
 * BatchNorm; --batch-split 1 keeps batches whole (each op threaded). Inputs and labels are made on the device once, outside the
 * timed region; the device is synchronised before the clock is read at both
 * ends of each step. Prints one line per model:
 *     <name> median_ms <x> peak_mem_mb <y> shards <k>
 * (peak allocated device memory over the timed steps, MiB; 0 on the CPU;
 * the shards each batch ran in).
 * bench/run_models.sh compares the lines with PyTorch's.
 *
 * Usage: bench_models [--device cpu|cuda] [--iters N] [--models a,b,...] [--tf32] [--cpu-time]
 *                     [--batch-split auto|N] [--amp bf16|bf16-emulated]
 *   --iters    timed steps per model (default: 50 on CUDA; 30 on the CPU,
 *              2 for resnet18_b256, whose CPU step takes seconds)
 *   --models   a comma-separated subset of the models below (default: all)
 *   --tf32     TF32 tensor-core math for matmul and conv on CUDA (off by
 *              default, as in the engine)
 *   --cpu-time the process's CPU time (all threads) instead of wall time: on
 *              a loaded machine it measures the work, not the waiting
 *   --amp      forward and loss under autocast bf16, as ./train's "amp";
 *              bf16-emulated turns the native bf16 products off (every
 *              low-precision op in f32 on rounded values), for an A/B */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_timing.h"
#include "engine/autocast.h"
#include "engine/device.h"
#include "engine/engine.h"
#include "engine/memory.h"
#include "model/model.h"
#include "trainer/batch_split.h"

typedef struct {
    const char *name;
    int64_t batch, channels, size; /* input [batch, channels, size, size] */
    int cpu_iters;                 /* default timed steps on the CPU */
} BenchModel;

static const BenchModel MODELS[] = {
    {"mnist_model_b128", 128, 1, 28, 30},
    {"mnist_net_b128", 128, 1, 28, 30},
    {"resnet18_b256", 256, 3, 32, 2},
    {"mlp_784_1024_1024_10_b128", 128, 1, 28, 30},
};
enum { N_MODELS = sizeof MODELS / sizeof MODELS[0], CUDA_ITERS = 50 };

static Module *build(const char *name)
{
    if (strcmp(name, "mnist_model_b128") == 0) return mnist_model(10, 0.5);
    if (strcmp(name, "mnist_net_b128") == 0) return mnist_net(10);
    if (strcmp(name, "resnet18_b256") == 0) return resnet18(10, 3);
    static const int64_t hidden[] = {1024, 1024};
    return mnist_mlp(hidden, 2, 10, false);
}

static clockid_t step_clock = CLOCK_MONOTONIC;

static double now_ms(void) { return bench_ms(step_clock); }

/* The replicas of a batch split are built like the model being timed. */
static const char *current_model;
static Module *build_current(const Config *cfg) { return build(current_model); }

/* --amp: autocast bf16 in the steps */
static bool amp;

static Tensor *nll(void *target, Tensor *output) { return f_nll_loss(output, target, NULL, -100, REDUCTION_MEAN); }

/* One training step in its own scope; the scope's release is part of the
 * step, as it is in ./train. Returns 0 or -1 with the engine's error. */
static int train_step(BatchSplit *bs, Optimizer *opt, Tensor *x, Tensor *y)
{
    scope_begin();
    optimizer_zero_grad(opt, true);
    TensorBatch b = {0};
    Tensor *out;
    int rc = tensor_batch_add(&b, "input", x) == 0 && tensor_batch_add(&b, "target", y) == 0 &&
                     batch_split_step(bs, &b, amp, DT_BF16, nll, y, &out) == 0 && optimizer_step(opt) == 0
                 ? 0
                 : -1;
    scope_end();
    return rc;
}

/* Warm-up steps (allocator cache, algorithm choices), then iters timed
 * steps; prints the model's line. */
static int time_model(const BenchModel *b, Device dev, int iters, const char *split)
{
    manual_seed(0);
    current_model = b->name;
    Module *model = build(b->name);
    BatchSplit bs = {.shards = 1};
    char json[128];
    snprintf(json, sizeof json, "{\"trainer\": {\"batch_split\": %s}}", split);
    Config *cfg = config_parse(json, "--batch-split");
    int n_params = 0;
    Tensor **params = NULL;
    Optimizer *opt = NULL;
    Tensor *x = NULL, *y = NULL;
    double *ms = malloc(sizeof(double) * (size_t)iters);
    int rc = -1;
    if (!model || module_to(model, dev) != 0) goto done;
    module_train(model, true);
    params = module_parameters(model, &n_params);
    SGDOptions so = sgd_defaults();
    so.lr = 0.01;
    so.momentum = 0.9;
    opt = optim_sgd(params, n_params, so);
    x = tensor_persist(tensor_randn(SHAPE(b->batch, b->channels, b->size, b->size), NULL, dev));
    y = tensor_persist(tensor_randint(0, 10, SHAPE(b->batch), NULL, dev));
    if (!opt || !x || !y || !cfg || batch_split_init(&bs, cfg, model, build_current, dev, b->batch)) goto done;
    int warmup = iters >= 10 ? 5 : 1;
    for (int i = 0; i < warmup; i++)
        if (train_step(&bs, opt, x, y) != 0) goto done;
    device_synchronize(dev);
    device_reset_peak(dev);
    for (int i = 0; i < iters; i++) {
        device_synchronize(dev);
        double t0 = now_ms();
        if (train_step(&bs, opt, x, y) != 0) goto done;
        device_synchronize(dev);
        ms[i] = now_ms() - t0;
    }
    MemoryStats stats = {0};
    if (device_memory_stats(dev, &stats) != 0) goto done;
    qsort(ms, (size_t)iters, sizeof(double), bench_cmp_double);
    printf("%s median_ms %.3f peak_mem_mb %.1f shards %d\n", b->name, ms[iters / 2],
           (double)stats.peak_allocated / (1024.0 * 1024.0), bs.shards);
    fflush(stdout);
    rc = 0;
done:
    if (rc != 0) fprintf(stderr, "bench_models: %s on %s: %s\n", b->name, device_name(dev), engine_last_error());
    tensor_free(x);
    tensor_free(y);
    batch_split_free(&bs);
    config_free(cfg);
    optimizer_free(opt);
    free(params);
    module_free(model);
    free(ms);
    return rc;
}

static int usage(const char *msg)
{
    fprintf(stderr,
            "bench_models: %s\nusage: bench_models [--device cpu|cuda] [--iters N] [--models a,b,...] [--tf32] "
            "[--cpu-time] [--batch-split auto|N] [--amp bf16|bf16-emulated]\n"
            "models:",
            msg);
    for (int i = 0; i < N_MODELS; i++) fprintf(stderr, " %s", MODELS[i].name);
    fprintf(stderr, "\n");
    return 2;
}

int main(int argc, char **argv)
{
    Device dev = CPU;
    int iters = 0; /* 0: the device's default */
    const char *models = NULL;
    bool tf32 = false;
    const char *split = "\"auto\"";
    char split_arg[32];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--tf32") == 0) {
            tf32 = true;
        } else if (strcmp(a, "--cpu-time") == 0) {
            step_clock = CLOCK_PROCESS_CPUTIME_ID;
        } else if (i + 1 < argc && strcmp(a, "--device") == 0) {
            const char *d = argv[++i];
            if (strcmp(d, "cpu") == 0) dev = CPU;
            else if (strcmp(d, "cuda") == 0 || strcmp(d, "cuda:0") == 0) dev = CUDA(0);
            else return usage("--device: expected cpu or cuda");
        } else if (i + 1 < argc && strcmp(a, "--iters") == 0) {
            iters = atoi(argv[++i]);
            if (iters < 1) return usage("--iters: expected a positive number");
        } else if (i + 1 < argc && strcmp(a, "--batch-split") == 0) {
            const char *v = argv[++i];
            if (strcmp(v, "auto") != 0 && (atoi(v) < 1 || strspn(v, "0123456789") != strlen(v)))
                return usage("--batch-split: expected auto or a number of shards");
            if (strcmp(v, "auto") != 0) snprintf(split_arg, sizeof split_arg, "%d", atoi(v));
            split = strcmp(v, "auto") == 0 ? split : split_arg;
        } else if (i + 1 < argc && strcmp(a, "--amp") == 0) {
            const char *v = argv[++i];
            if (strcmp(v, "bf16") != 0 && strcmp(v, "bf16-emulated") != 0)
                return usage("--amp: expected bf16 or bf16-emulated");
            amp = true;
            autocast_set_native_lowp(strcmp(v, "bf16") == 0);
        } else if (i + 1 < argc && strcmp(a, "--models") == 0) {
            models = argv[++i];
        } else {
            return usage("unknown or incomplete argument");
        }
    }
    if (dev.type == DEVICE_CUDA && device_cuda_count() == 0)
        return usage("--device cuda: no CUDA device (or a build without CUDA)");
    device_set_tf32(tf32); /* applies when the CUDA backend is (or gets) loaded */
    /* check every requested name before timing anything */
    bool selected[N_MODELS] = {0};
    for (int i = 0; i < N_MODELS; i++) selected[i] = models == NULL;
    for (const char *p = models; p && *p;) {
        size_t len = strcspn(p, ",");
        int found = -1;
        for (int i = 0; i < N_MODELS; i++)
            if (strlen(MODELS[i].name) == len && strncmp(MODELS[i].name, p, len) == 0) found = i;
        if (found < 0) {
            fprintf(stderr, "bench_models: unknown model '%.*s'\n", (int)len, p);
            return usage("--models: unknown name");
        }
        selected[found] = true;
        p += len + (p[len] == ',');
    }
    int failures = 0;
    for (int i = 0; i < N_MODELS; i++) {
        if (!selected[i]) continue;
        int n = iters ? iters : dev.type == DEVICE_CUDA ? CUDA_ITERS : MODELS[i].cpu_iters;
        if (time_model(&MODELS[i], dev, n, split) != 0) failures++;
    }
    return failures ? 1 : 0;
}
