/* See batch_split.h. A step with k shards: the batch's fields narrowed to
 * the shards (views), the k forward passes in parallel (each shard's graph
 * in a scope of its own, since the backward may run on another thread), the
 * outputs detached and joined for the loss, its backward giving each
 * shard's output gradient, the k backward passes in parallel into the
 * replicas' own .grad, and those added into the model's. */
#include "trainer/batch_split.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "engine/autocast.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/scope.h"

enum { MIN_SHARD_SAMPLES = 16, MAX_SHARDS = 1024 };

/* trainer.batch_split: "auto" (also when absent) or a number of shards. */
static int read_setting(const Config *cfg, bool *automatic, int64_t *shards)
{
    const cJSON *node = config_find(cfg, "trainer.batch_split");
    *automatic = true;
    *shards = 1;
    if (!node || (cJSON_IsString(node) && strcmp(node->valuestring, "auto") == 0)) return 0;
    double v = cJSON_IsNumber(node) ? node->valuedouble : 0;
    if (!cJSON_IsNumber(node) || !(v >= 1 && v <= MAX_SHARDS) || v != (double)(int64_t)v) {
        engine_error("%s: trainer.batch_split: expected \"auto\" or a whole number of shards from 1 to %d, got %s",
                     cfg->label, MAX_SHARDS, config_describe(node));
        return -1;
    }
    *automatic = false;
    *shards = (int64_t)v;
    return 0;
}

/* Why batches cannot be split here, or NULL. */
static const char *obstacle(const Module *model, Device device, char *buf, size_t size)
{
    if (device.type != DEVICE_CPU) return "it runs on the CPU only (a GPU already runs each op on all its cores)";
    const char *bn = module_find_type(model, "BatchNorm");
    if (!bn) bn = module_find_type(model, "SyncBatchNorm");
    if (bn) {
        snprintf(buf, size, "the model has %s, whose batch statistics couple the samples of a batch", bn);
        return buf;
    }
    return NULL;
}

int batch_split_init(BatchSplit *bs, const Config *cfg, Module *model, Module *(*make_replica)(const Config *),
                     Device device, int64_t batch_size)
{
    memset(bs, 0, sizeof *bs);
    bs->shards = 1;
    bs->model = model;
    int64_t shards;
    if (read_setting(cfg, &bs->automatic, &shards)) return -1;
    char why_buf[256];
    const char *why = obstacle(model, device, why_buf, sizeof why_buf);
    if (bs->automatic) {
        /* Only convolutions pay for a split: their CPU kernels run sample by
         * sample in many short parallel regions. A model of matrix products
         * alone (an MLP) runs each product as one sgemm over the whole batch
         * that all threads share; a split would halve its rows and add a
         * gather over every weight (measured: 784-1024-1024-10 at batch 128
         * on 2 threads, 7.6 ms a step whole, 8.8 ms split). */
        if (!module_find_type(model, "Conv")) return 0;
        int64_t by_samples = batch_size / MIN_SHARD_SAMPLES;
        shards = engine_num_threads() < by_samples ? engine_num_threads() : by_samples;
        if (why || shards < 2) return 0;
    } else if (shards > 1 && why) {
        engine_error("%s: trainer.batch_split: %lld shards asked for, but %s; set it to \"auto\" or 1", cfg->label,
                     (long long)shards, why);
        return -1;
    } else if (shards > batch_size) {
        engine_error("%s: trainer.batch_split: %lld shards for batches of %lld samples; at most one shard per sample",
                     cfg->label, (long long)shards, (long long)batch_size);
        return -1;
    }
    if (shards < 2) return 0;
    bs->replicas = calloc((size_t)shards, sizeof *bs->replicas);
    bs->generators = calloc((size_t)shards, sizeof *bs->generators);
    ENGINE_CHECK_INT(bs->replicas && bs->generators, "out of memory for %lld batch shards", (long long)shards);
    bs->shards = (int)shards;
    bs->replicas[0] = model;
    /* building a model draws its initial weights: the replicas must not move the run's random stream */
    uint64_t rng[2];
    generator_get_state(generator_default(), rng);
    int rc = 0;
    for (int s = 1; s < bs->shards && rc == 0; s++)
        if (!(bs->replicas[s] = make_replica(cfg)) || module_replica_sync(bs->replicas[s], model)) rc = -1;
    generator_set_state(generator_default(), rng);
    if (rc) batch_split_free(bs);
    return rc;
}

void batch_split_free(BatchSplit *bs)
{
    if (bs->replicas)
        for (int s = 1; s < bs->shards; s++) module_free(bs->replicas[s]);
    free(bs->replicas);
    free(bs->generators);
    memset(bs, 0, sizeof *bs);
    bs->shards = 1;
}

/* ---- one step ---- */

typedef struct {
    BatchSplit *bs;
    int k;                  /* shards in this batch */
    TensorBatch *parts;     /* [k]: views of the batch */
    Scope **scopes;         /* [k]: each shard's tensors and graph */
    Tensor **outputs;       /* [k]: the shards' outputs (in their graphs) */
    Tensor **output_grads;  /* [k]: d loss / d output of each shard */
} Step;

static int forward_shard(int s, void *ctx)
{
    Step *w = ctx;
    scope_push(w->scopes[s]);
    Generator *previous = generator_use_on_thread(&w->bs->generators[s]);
    w->outputs[s] = module_forward_batch(w->bs->replicas[s], &w->parts[s]);
    generator_use_on_thread(previous);
    scope_pop(w->scopes[s]);
    return w->outputs[s] ? 0 : -1;
}

static int backward_shard(int s, void *ctx)
{
    Step *w = ctx;
    scope_push(w->scopes[s]);
    int rc = tensor_backward(w->outputs[s], w->output_grads[s]);
    scope_pop(w->scopes[s]);
    /* the shard's graph and activations are freed here, in parallel and
     * on the thread that made them (the allocator keeps a CPU's freed
     * blocks for that CPU), rather than on the calling thread after the
     * join (25 us of a 1.5 ms MnistModel step on 2 threads) */
    scope_destroy(w->scopes[s]);
    w->scopes[s] = NULL;
    w->outputs[s] = NULL;
    return rc;
}

/* A 64-bit mix (splitmix64's finaliser): shard s's dropout stream. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Shard 0 draws from the run's stream where it stands, shard s from a
 * stream of its own at the same offset; afterwards the run's stream moves
 * past the furthest any shard went, so that no step repeats a draw and
 * the draws do not depend on which thread ran which shard. */
static void seed_shards(BatchSplit *bs, int k)
{
    Generator *run = generator_default();
    for (int s = 0; s < k; s++)
        bs->generators[s] = (Generator){.seed = s ? mix64(run->seed ^ mix64((uint64_t)s)) : run->seed,
                                        .offset = run->offset};
}

static void advance_run_stream(const BatchSplit *bs, int k)
{
    Generator *run = generator_default();
    for (int s = 0; s < k; s++)
        if (bs->generators[s].offset > run->offset) run->offset = bs->generators[s].offset;
}

/* The batch's samples: its first field's first dimension (0 for none). */
static int64_t batch_rows(const TensorBatch *b)
{
    return b->n > 0 && tensor_dim(b->tensors[0]) > 0 ? b->tensors[0]->shape.d[0] : 0;
}

/* The batch's n samples' fields narrowed to k shards along dim 0; false
 * when a field has no common first dimension (then the batch runs whole). */
static bool cut_batch(const TensorBatch *b, int64_t n, int k, TensorBatch *parts)
{
    for (int f = 0; f < b->n; f++)
        if (tensor_dim(b->tensors[f]) == 0 || b->tensors[f]->shape.d[0] != n) return false;
    for (int s = 0; s < k; s++) {
        int64_t lo = n * s / k, hi = n * (s + 1) / k;
        parts[s] = *b;
        for (int f = 0; f < b->n; f++)
            if (!(parts[s].tensors[f] = t_narrow(b->tensors[f], 0, lo, hi - lo))) return false;
    }
    return true;
}

/* Adds each replica's gradients into the model's, replicas in order, and
 * leaves the replicas without gradients. */
static int gather_grads(BatchSplit *bs, int k)
{
    int n = 0, rc = 0;
    Tensor **mine = module_parameters(bs->model, &n);
    for (int s = 1; s < k && rc == 0; s++) {
        int m = 0;
        Tensor **theirs = module_parameters(bs->replicas[s], &m);
        for (int i = 0; i < n && i < m && rc == 0; i++) {
            Tensor *g = theirs[i]->grad;
            if (!g) continue;
            theirs[i]->grad = NULL;
            if (!mine[i]->grad) {
                mine[i]->grad = g; /* persistent already */
                continue;
            }
            if (t_add_(mine[i]->grad, g, 1.0)) rc = -1;
            tensor_free(g);
        }
        free(theirs);
    }
    free(mine);
    return rc;
}

static int split_step(Step *w, BatchSplitLossFn loss_fn, void *ctx, bool amp, DType amp_dtype, Tensor **output)
{
    BatchSplit *bs = w->bs;
    int k = w->k;
    for (int s = 0; s < k; s++)
        if (!(w->scopes[s] = scope_create()) || module_replica_sync(bs->replicas[s], bs->model)) return -1;
    seed_shards(bs, k);
    AutocastState before = autocast_state();
    int rc = amp ? autocast_begin(amp_dtype, &before) : 0;
    if (rc == 0) rc = engine_parallel_for(k, forward_shard, w);
    autocast_restore(before);
    advance_run_stream(bs, k);
    if (rc) return -1;
    for (int s = 0; s < k; s++) {
        int64_t samples = w->parts[s].tensors[0]->shape.d[0];
        Tensor *o = w->outputs[s];
        if (tensor_dim(o) == 0 || o->shape.d[0] != samples) {
            engine_error("batch split: the model's output has shape %s for a shard of %lld samples; its first "
                         "dimension must be the batch's to be joined (set trainer.batch_split to 1)",
                         shape_str(o->shape), (long long)samples);
            return -1;
        }
    }
    /* the loss sees the whole batch's output: leaves standing for the shards' outputs */
    Tensor **leaves = calloc((unsigned)k, sizeof *leaves);
    ENGINE_CHECK_INT(leaves != NULL, "out of memory");
    for (int s = 0; s < k && rc == 0; s++) {
        leaves[s] = tensor_detach(w->outputs[s]);
        if (!leaves[s]) rc = -1;
        else if (loss_fn) tensor_set_requires_grad(leaves[s], true);
    }
    if (rc == 0 && !(*output = t_cat(leaves, k, 0))) rc = -1;
    if (rc == 0 && loss_fn) {
        Tensor *loss = loss_fn(ctx, *output);
        rc = loss ? tensor_backward(loss, NULL) : -1;
        for (int s = 0; s < k && rc == 0; s++)
            if (!(w->output_grads[s] = leaves[s]->grad)) {
                engine_error("batch split: the loss does not depend on the output of shard %d", s);
                rc = -1;
            }
        if (rc == 0) rc = engine_parallel_for(k, backward_shard, w);
        for (int s = 0; s < k; s++) {
            tensor_free(leaves[s]->grad);
            leaves[s]->grad = NULL;
        }
        if (rc == 0) rc = gather_grads(bs, k);
    }
    free(leaves);
    return rc;
}

int batch_split_step(BatchSplit *bs, const TensorBatch *b, bool amp, DType amp_dtype, BatchSplitLossFn loss_fn,
                     void *ctx, Tensor **output)
{
    *output = NULL;
    int64_t n = batch_rows(b);
    int k = n < 1 ? 1 : bs->shards < n ? bs->shards : (int)n;
    Step w = {.bs = bs, .k = k};
    w.parts = calloc((size_t)k, sizeof *w.parts);
    w.scopes = calloc((size_t)k, sizeof *w.scopes);
    w.outputs = calloc((size_t)k, sizeof *w.outputs);
    w.output_grads = calloc((size_t)k, sizeof *w.output_grads);
    ENGINE_CHECK_INT(w.parts && w.scopes && w.outputs && w.output_grads, "out of memory for %d batch shards", k);
    int rc;
    if (k < 2 || !cut_batch(b, n, k, w.parts)) {
        engine_clear_error(); /* a batch that cannot be cut runs whole */
        AutocastState before = autocast_state();
        rc = amp ? autocast_begin(amp_dtype, &before) : 0;
        /* autocast covers the forward only: the loss function sets its own */
        if (rc == 0 && !(*output = module_forward_batch(bs->model, b))) rc = -1;
        autocast_restore(before);
        if (rc == 0 && loss_fn) {
            Tensor *loss = loss_fn(ctx, *output);
            rc = loss ? tensor_backward(loss, NULL) : -1;
        }
    } else {
        rc = split_step(&w, loss_fn, ctx, amp, amp_dtype, output);
    }
    for (int s = 0; s < k; s++) scope_destroy(w.scopes[s]);
    free(w.parts);
    free(w.scopes);
    free(w.outputs);
    free(w.output_grads);
    return rc;
}
