/* DistributedDataParallel's gradient averaging (see ddp.h). Buckets hold
 * the parameters in reverse registration order, as PyTorch's do: the last
 * layers' gradients are computed first, so their buckets fill first. Every
 * rank runs the same graph, so buckets fill, start and finish in the same
 * order everywhere, which collectives require. */
#include "dist/ddp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/world.h"
#include "engine/autograd.h"
#include "engine/error.h"

typedef struct Bucket Bucket;

typedef struct {
    DDP *owner;
    Tensor *param;
    Bucket *bucket;
    int64_t offset; /* in the bucket's buffer, in elements */
    bool ready;     /* its gradient of this backward is in the buffer */
} Slot;

struct Bucket {
    float *buf;
    int64_t numel;
    int n_slots, n_ready;
    CommRequest *req; /* in flight */
    bool started;
};

struct DDP {
    Slot *slots;
    int n_slots;
    Bucket *buckets;
    int n_buckets;
    bool sync;
    double wait_seconds;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- start: the same model everywhere, rank 0's state ---- */

/* FNV-1a over bytes, continuing from h. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 0x100000001b3ull;
    return h;
}

typedef struct {
    int64_t n_tensors, n_elements;
    uint64_t names_shapes; /* of parameters and buffers, in order */
    uint64_t config;       /* the effective config's JSON */
} Signature;

static int signature(Module *model, const Config *cfg, Signature *s)
{
    memset(s, 0, sizeof *s);
    s->names_shapes = s->config = 0xcbf29ce484222325ull;
    for (int kind = 0; kind < 2; kind++) {
        StateDict sd;
        if ((kind == 0 ? module_named_parameters(model, &sd) : module_named_buffers(model, &sd))) return -1;
        for (int i = 0; i < sd.n; i++) {
            s->n_tensors++;
            s->n_elements += tensor_numel(sd.tensors[i]);
            s->names_shapes = fnv(s->names_shapes, sd.names[i], strlen(sd.names[i]) + 1);
            s->names_shapes = fnv(s->names_shapes, sd.tensors[i]->shape.d, sizeof(int64_t) * (size_t)sd.tensors[i]->shape.ndim);
        }
        state_dict_free(&sd);
    }
    char *text = config_to_string(cfg);
    ENGINE_CHECK_INT(text != NULL, "distributed: out of memory");
    s->config = fnv(s->config, text, strlen(text));
    free(text);
    return 0;
}

/* The host bytes of every tensor of sd broadcast from rank 0. */
static int broadcast_tensors(const StateDict *sd)
{
    for (int i = 0; i < sd->n; i++) {
        Tensor *t = sd->tensors[i];
        ENGINE_CHECK_INT(!tensor_is_cuda(t), "distributed: %s is on %s: CUDA tensors need the NCCL transport, which "
                                             "this build does not have", sd->names[i], device_name(tensor_device(t)));
        ENGINE_CHECK_INT(tensor_is_contiguous(t), "distributed: %s is not contiguous", sd->names[i]);
        if (dist_broadcast(tensor_data(t), tensor_numel(t) * (int64_t)dtype_size(t->dtype), 0)) {
            engine_error_context("broadcasting %s", sd->names[i]);
            return -1;
        }
    }
    return 0;
}

int ddp_check_and_broadcast(Module *model, const Config *cfg)
{
    int size = dist_size();
    Signature mine, *all = calloc((size_t)size, sizeof *all);
    ENGINE_ASSERT(all != NULL);
    int rc = signature(model, cfg, &mine);
    if (rc == 0) rc = dist_allgather(&mine, all, sizeof mine);
    for (int r = 1; rc == 0 && r < size; r++) {
        if (all[r].n_tensors != all[0].n_tensors || all[r].n_elements != all[0].n_elements ||
            all[r].names_shapes != all[0].names_shapes) {
            engine_error("distributed: rank %d built another model than rank 0 (%lld tensors of %lld elements against "
                         "%lld of %lld, or other names or shapes): every rank must run the same build and config",
                         r, (long long)all[r].n_tensors, (long long)all[r].n_elements, (long long)all[0].n_tensors,
                         (long long)all[0].n_elements);
            rc = -1;
        } else if (all[r].config != all[0].config) {
            engine_error("distributed: rank %d's config differs from rank 0's: every rank must run with the same "
                         "config and options", r);
            rc = -1;
        }
    }
    free(all);
    if (rc) return -1;
    StateDict params, buffers;
    if (module_named_parameters(model, &params)) return -1;
    rc = broadcast_tensors(&params);
    state_dict_free(&params);
    if (rc || module_named_buffers(model, &buffers)) return -1;
    rc = broadcast_tensors(&buffers);
    state_dict_free(&buffers);
    return rc;
}

int ddp_broadcast_buffers(Module *model)
{
    if (dist_size() == 1) return 0;
    StateDict buffers;
    if (module_named_buffers(model, &buffers)) return -1;
    int rc = broadcast_tensors(&buffers);
    state_dict_free(&buffers);
    return rc;
}

/* ---- gradients ---- */

static int start_bucket(Bucket *b)
{
    const CommOps *ops = dist_ops();
    b->started = true;
    if (ops->iallreduce_sum_f32(b->buf, b->numel, &b->req)) {
        engine_error("rank %d: %s", dist_rank(), ops->error());
        return -1;
    }
    return 0;
}

/* Lets the buckets in flight progress (MPI moves data inside its calls). */
static int progress(DDP *d)
{
    const CommOps *ops = dist_ops();
    for (int i = 0; i < d->n_buckets; i++) {
        Bucket *b = &d->buckets[i];
        bool done = false;
        if (b->req && ops->test(b->req, &done)) {
            engine_error("rank %d: %s", dist_rank(), ops->error());
            return -1;
        }
        if (done) b->req = NULL;
    }
    return 0;
}

/* The slot's gradient (with what .grad already accumulated) into the bucket. */
static int fill_slot(Slot *s, Tensor *grad)
{
    float *dst = s->bucket->buf + s->offset;
    int64_t n = tensor_numel(s->param);
    if (grad) {
        if (tensor_copy_to_buffer(grad, dst)) return -1;
    } else {
        memset(dst, 0, sizeof(float) * (size_t)n);
    }
    if (s->param->grad) { /* accumulated micro-batches (no_sync) before this one */
        float *acc = malloc(sizeof(float) * (size_t)n);
        ENGINE_ASSERT(acc != NULL);
        int rc = tensor_copy_to_buffer(s->param->grad, acc);
        for (int64_t i = 0; rc == 0 && i < n; i++) dst[i] += acc[i];
        free(acc);
        if (rc) return -1;
    }
    s->ready = true;
    if (++s->bucket->n_ready == s->bucket->n_slots) return start_bucket(s->bucket);
    return 0;
}

/* The hook: a parameter's gradient of this backward is complete. */
static Tensor *grad_ready(Tensor *grad, void *ctx)
{
    Slot *s = ctx;
    if (!s->owner->sync || s->ready) return NULL;
    if (fill_slot(s, grad) || progress(s->owner)) return NULL; /* the error waits for ddp_finish_backward */
    return NULL;
}

DDP *ddp_new(Module *model, double bucket_mb)
{
    ENGINE_CHECK(bucket_mb > 0 && bucket_mb <= 4096, "distributed.bucket_mb: expected a size in (0, 4096] MB, got %g",
                 bucket_mb);
    int n_params;
    Tensor **params = module_parameters(model, &n_params);
    DDP *d = calloc(1, sizeof *d);
    ENGINE_ASSERT(d != NULL && (params || n_params == 0));
    d->slots = calloc((size_t)(n_params ? n_params : 1), sizeof(Slot));
    d->buckets = calloc((size_t)(n_params ? n_params : 1), sizeof(Bucket));
    ENGINE_ASSERT(d->slots && d->buckets);
    d->sync = true;
    int64_t cap = (int64_t)(bucket_mb * 1024 * 1024 / sizeof(float));
    if (cap < 1) cap = 1;
    for (int i = n_params - 1; i >= 0; i--) { /* reverse order: the backward's */
        Tensor *p = params[i];
        if (!p->requires_grad) continue;
        if (tensor_is_cuda(p) || p->dtype != DT_F32) {
            engine_error("distributed: parameter %d is %s on %s: this build averages float32 CPU gradients over MPI "
                         "(CUDA tensors need NCCL)",
                         i, dtype_name(p->dtype), device_name(tensor_device(p)));
            free(params);
            ddp_free(d);
            return NULL;
        }
        Bucket *b = d->n_buckets ? &d->buckets[d->n_buckets - 1] : NULL;
        if (!b || (b->numel > 0 && b->numel + tensor_numel(p) > cap)) b = &d->buckets[d->n_buckets++];
        Slot *s = &d->slots[d->n_slots++];
        *s = (Slot){.owner = d, .param = p, .bucket = b, .offset = b->numel};
        b->numel += tensor_numel(p);
        b->n_slots++;
    }
    free(params);
    for (int i = 0; i < d->n_buckets; i++) {
        d->buckets[i].buf = malloc(sizeof(float) * (size_t)(d->buckets[i].numel ? d->buckets[i].numel : 1));
        ENGINE_ASSERT(d->buckets[i].buf != NULL);
    }
    for (int i = 0; i < d->n_slots; i++)
        if (tensor_register_hook(d->slots[i].param, grad_ready, &d->slots[i])) {
            ddp_free(d);
            return NULL;
        }
    return d;
}

void ddp_free(DDP *d)
{
    if (!d) return;
    for (int i = 0; i < d->n_buckets; i++) {
        if (d->buckets[i].req) dist_ops()->wait(d->buckets[i].req);
        free(d->buckets[i].buf);
    }
    /* the hooks point into this DDP: a parameter's hooks go with it */
    for (int i = 0; i < d->n_slots; i++) tensor_hooks_free(d->slots[i].param);
    free(d->buckets);
    free(d->slots);
    free(d);
}

void ddp_set_sync(DDP *d, bool sync) { d->sync = sync; }

int ddp_finish_backward(DDP *d)
{
    if (!d->sync) return 0;
    int rc = engine_has_error() ? -1 : 0; /* a hook's failure */
    /* parameters without a gradient in this step (unused) count as zero */
    for (int i = 0; rc == 0 && i < d->n_slots; i++)
        if (!d->slots[i].ready) rc = fill_slot(&d->slots[i], NULL);
    double t0 = now();
    const CommOps *ops = dist_ops();
    for (int i = 0; i < d->n_buckets; i++) {
        Bucket *b = &d->buckets[i];
        if (b->req && ops->wait(b->req) && rc == 0) {
            engine_error("rank %d: %s", dist_rank(), ops->error());
            rc = -1;
        }
        b->req = NULL;
    }
    d->wait_seconds += now() - t0;
    float scale = 1.0f / (float)dist_size();
    for (int i = 0; i < d->n_slots; i++) {
        Slot *s = &d->slots[i];
        float *avg = s->bucket->buf + s->offset;
        int64_t n = tensor_numel(s->param);
        if (rc == 0) {
            for (int64_t k = 0; k < n; k++) avg[k] *= scale;
            if (!s->param->grad) {
                Tensor *g = tensor_empty(s->param->shape, DT_F32, CPU);
                if (!g) rc = -1;
                else s->param->grad = tensor_persist(g);
            }
            if (rc == 0 && tensor_copy_from_buffer(s->param->grad, avg)) rc = -1;
        }
        s->ready = false;
    }
    for (int i = 0; i < d->n_buckets; i++) {
        d->buckets[i].n_ready = 0;
        d->buckets[i].started = false;
    }
    return rc;
}

double ddp_take_wait_seconds(DDP *d)
{
    double s = d->wait_seconds;
    d->wait_seconds = 0;
    return s;
}
