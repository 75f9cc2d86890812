/* DistributedDataParallel's gradient averaging (see ddp.h). Buckets hold
 * the parameters in reverse registration order, as PyTorch's do: the last
 * layers' gradients are computed first, so their buckets fill first. They
 * start strictly in that order (as PyTorch's reducer launches them):
 * collectives on one communicator must be issued in the same order on
 * every rank, and a parameter that one rank's graph skips makes the ranks
 * fill their buckets in different orders. CPU parameters travel over
 * MPI from host buffers; CUDA parameters over NCCL from device buffers,
 * queued on the engine's compute stream (that path has never run: there
 * was no GPU where it was written). */
#include "dist/ddp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/tensor_comm.h"
#include "dist/world.h"
#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/ops.h"
#include "engine/error.h"

typedef struct Bucket Bucket;

typedef struct {
    DDP *owner;
    Tensor *param;
    Bucket *bucket;
    char *name;     /* as in the state dict ("fc3.weight"), for the errors */
    int64_t offset; /* in the bucket's buffer, in elements */
    bool ready;     /* its gradient of this backward is in the buffer */
} Slot;

struct Bucket {
    float *buf;  /* CPU parameters: the bucket in host memory */
    Tensor *dev; /* CUDA parameters: the bucket on the device [numel] */
    int64_t numel;
    int n_slots, n_ready;
    CommRequest *req; /* in flight */
};

struct DDP {
    Slot *slots;
    int n_slots;
    Bucket *buckets;
    int n_buckets;
    int next_bucket; /* the first not started in this backward */
    bool sync;
    bool find_unused; /* distributed.find_unused_parameters */
    int64_t *used;    /* per slot: it got a gradient in this step (here, then on any rank) */
    double wait_seconds;
    /* CUDA parameters: NCCL on the engine's compute stream (never run: no GPU where this was written) */
    const DeviceCommOps *device_ops;
    void *stream;
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

/* Every tensor of sd broadcast from rank 0. */
static int broadcast_tensors(const StateDict *sd)
{
    for (int i = 0; i < sd->n; i++)
        if (dist_broadcast_tensor(sd->tensors[i], 0, sd->names[i])) return -1;
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

static int start_bucket(DDP *d, Bucket *b)
{
    const CommOps *ops = dist_ops();
    if (b->dev) {
        if (d->device_ops->allreduce_sum_f32(tensor_f32(b->dev), b->numel, d->stream) == 0) return 0;
        engine_error("rank %d: %s", dist_rank(), d->device_ops->error());
        return -1;
    }
    if (ops->iallreduce_sum_f32(b->buf, b->numel, &b->req)) {
        engine_error("rank %d: %s", dist_rank(), ops->error());
        return -1;
    }
    return 0;
}

/* Starts the buckets that are full, in bucket order (see the top): one
 * filled before an earlier one waits for it. */
static int start_full_buckets(DDP *d)
{
    while (d->next_bucket < d->n_buckets) {
        Bucket *b = &d->buckets[d->next_bucket];
        if (b->n_ready < b->n_slots) return 0;
        d->next_bucket++;
        if (start_bucket(d, b)) return -1;
    }
    return 0;
}

/* Lets the buckets in flight progress (MPI moves data inside its calls). */
static int progress(DDP *d)
{
    const CommOps *ops = dist_ops();
    if (d->device_ops) return 0; /* NCCL runs on the stream by itself */
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

/* fill_slot on the device: engine ops into the bucket's slice. */
static int fill_device_slot(Slot *s, Tensor *grad)
{
    int64_t n = tensor_numel(s->param);
    Tensor *slice = t_narrow(s->bucket->dev, 0, s->offset, n);
    int rc = grad ? tensor_copy_(slice, t_view(t_contiguous(grad), SHAPE(-1))) : tensor_fill_(slice, 0.0);
    if (rc == 0 && s->param->grad) rc = t_add_(slice, t_view(t_contiguous(s->param->grad), SHAPE(-1)), 1.0);
    return rc;
}

/* The slot's gradient (with what .grad already accumulated) into the bucket. */
static int fill_slot(Slot *s, Tensor *grad)
{
    if (s->bucket->dev) {
        if (fill_device_slot(s, grad)) return -1;
        s->ready = true;
        s->bucket->n_ready++;
        return start_full_buckets(s->owner);
    }
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
    s->bucket->n_ready++;
    return start_full_buckets(s->owner);
}

/* The hook: a parameter's gradient of this backward is complete. */
static Tensor *grad_ready(Tensor *grad, void *ctx)
{
    Slot *s = ctx;
    if (!s->owner->sync || s->ready) return NULL;
    if (fill_slot(s, grad) || progress(s->owner)) return NULL; /* the error waits for ddp_finish_backward */
    return NULL;
}

DDP *ddp_new(Module *model, double bucket_mb, bool find_unused)
{
    ENGINE_CHECK(bucket_mb > 0 && bucket_mb <= 4096, "distributed.bucket_mb: expected a size in (0, 4096] MB, got %g",
                 bucket_mb);
    /* module_parameters' order, with the names (it is made from the same walk) */
    StateDict params;
    if (module_named_parameters(model, &params)) return NULL;
    int n_params = params.n;
    DDP *d = calloc(1, sizeof *d);
    ENGINE_ASSERT(d != NULL);
    d->slots = calloc((size_t)(n_params ? n_params : 1), sizeof(Slot));
    d->buckets = calloc((size_t)(n_params ? n_params : 1), sizeof(Bucket));
    d->used = calloc((size_t)(n_params ? n_params : 1), sizeof(int64_t));
    ENGINE_ASSERT(d->slots && d->buckets && d->used);
    d->sync = true;
    d->find_unused = find_unused;
    int64_t cap = (int64_t)(bucket_mb * 1024 * 1024 / sizeof(float));
    if (cap < 1) cap = 1;
    for (int i = n_params - 1; i >= 0; i--) { /* reverse order: the backward's */
        Tensor *p = params.tensors[i];
        if (!p->requires_grad) continue;
        bool cuda = tensor_is_cuda(p);
        if (p->dtype != DT_F32 || (d->n_slots > 0 && cuda != (d->device_ops != NULL))) {
            engine_error("distributed: parameter %s is %s on %s: the gradients averaged are float32, all on the CPU "
                         "(MPI) or all on CUDA devices (NCCL)",
                         params.names[i], dtype_name(p->dtype), device_name(tensor_device(p)));
            state_dict_free(&params);
            ddp_free(d);
            return NULL;
        }
        if (cuda && !d->device_ops) {
            if (!(d->device_ops = dist_device_ops(tensor_device(p).index))) {
                state_dict_free(&params);
                ddp_free(d);
                return NULL;
            }
            d->stream = backend_of(p)->stream();
        }
        Bucket *b = d->n_buckets ? &d->buckets[d->n_buckets - 1] : NULL;
        if (!b || (b->numel > 0 && b->numel + tensor_numel(p) > cap)) b = &d->buckets[d->n_buckets++];
        Slot *s = &d->slots[d->n_slots++];
        *s = (Slot){.owner = d, .param = p, .bucket = b, .name = strdup(params.names[i]), .offset = b->numel};
        ENGINE_ASSERT(s->name != NULL);
        b->numel += tensor_numel(p);
        b->n_slots++;
    }
    state_dict_free(&params);
    for (int i = 0; i < d->n_buckets; i++) {
        Bucket *b = &d->buckets[i];
        if (d->device_ops) {
            Device dev = tensor_device(d->slots[0].param);
            if (!(b->dev = tensor_persist(tensor_empty(SHAPE(b->numel), DT_F32, dev)))) {
                ddp_free(d);
                return NULL;
            }
            continue;
        }
        b->buf = malloc(sizeof(float) * (size_t)(b->numel ? b->numel : 1));
        ENGINE_ASSERT(b->buf != NULL);
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
        tensor_free(d->buckets[i].dev);
    }
    /* the hooks point into this DDP: a parameter's hooks go with it */
    for (int i = 0; i < d->n_slots; i++) {
        tensor_hooks_free(d->slots[i].param);
        free(d->slots[i].name);
    }
    free(d->buckets);
    free(d->slots);
    free(d->used);
    free(d);
}

void ddp_set_sync(DDP *d, bool sync) { d->sync = sync; }

/* The bookkeeping of one backward cleared for the next. */
static void reset_step(DDP *d)
{
    for (int i = 0; i < d->n_slots; i++) d->slots[i].ready = false;
    for (int i = 0; i < d->n_buckets; i++) d->buckets[i].n_ready = 0;
    d->next_bucket = 0;
}

/* find_unused_parameters false: the parameters of this rank that got no
 * gradient (d->used 0) in one line, in registration order, or 0 if none.
 * PyTorch fails here too: such a parameter's bucket would never be ready. */
static int report_unused(const DDP *d)
{
    char names[512] = "";
    int n = 0, pos = 0;
    for (int i = d->n_slots - 1; i >= 0; i--) { /* slots are in reverse registration order */
        if (d->used[i]) continue;
        if (n++ < 4 && pos < (int)sizeof names)
            pos += snprintf(names + pos, sizeof names - (size_t)pos, "%s'%s'", n > 1 ? ", " : "", d->slots[i].name);
    }
    if (n == 0) return 0;
    if (n > 4 && pos < (int)sizeof names) snprintf(names + pos, sizeof names - (size_t)pos, " and %d more", n - 4);
    engine_error("rank %d: distributed: %s %s got no gradient in this step (%s no part in the loss); set "
                 "distributed.find_unused_parameters to true, or freeze %s (arch.freeze)",
                 dist_rank(), n > 1 ? "parameters" : "parameter", names, n > 1 ? "they took" : "it took",
                 n > 1 ? "them" : "it");
    return -1;
}

/* The slot's parameter's .grad, made (persistent, on its device) when it
 * has none. 0 or -1. */
static int ensure_grad(Slot *s)
{
    if (s->param->grad) return 0;
    Tensor *g = tensor_empty(s->param->shape, DT_F32, tensor_device(s->param));
    if (!g) return -1;
    s->param->grad = tensor_persist(g);
    return 0;
}

/* ddp_finish_backward for CUDA parameters: the buckets' sums scaled to
 * means and copied into .grad (not for parameters no rank used), all
 * queued on the stream after NCCL's. Never run: no GPU where it was written. */
static int finish_on_device(DDP *d, int rc)
{
    for (int i = 0; rc == 0 && i < d->n_buckets; i++) rc = t_mul_scalar_(d->buckets[i].dev, 1.0 / dist_size());
    for (int i = 0; rc == 0 && i < d->n_slots; i++) {
        Slot *s = &d->slots[i];
        if (!d->used[i]) continue;
        rc = ensure_grad(s);
        if (rc == 0)
            rc = tensor_copy_(s->param->grad,
                              t_view(t_narrow(s->bucket->dev, 0, s->offset, tensor_numel(s->param)), s->param->shape));
    }
    reset_step(d);
    return rc;
}

/* The averages into .grad on the CPU (not for parameters no rank used). */
static int finish_on_host(DDP *d, int rc)
{
    float scale = 1.0f / (float)dist_size();
    for (int i = 0; rc == 0 && i < d->n_slots; i++) {
        Slot *s = &d->slots[i];
        if (!d->used[i]) continue;
        float *avg = s->bucket->buf + s->offset;
        int64_t n = tensor_numel(s->param);
        for (int64_t k = 0; k < n; k++) avg[k] *= scale;
        rc = ensure_grad(s);
        if (rc == 0 && tensor_copy_from_buffer(s->param->grad, avg)) rc = -1;
    }
    reset_step(d);
    return rc;
}

int ddp_finish_backward(DDP *d)
{
    if (!d->sync) return 0;
    int rc = engine_has_error() ? -1 : 0; /* a hook's failure */
    /* got a gradient in this step: from a hook, or in .grad (earlier
     * micro-batches under no_sync, or the batch split, whose hooks are idle) */
    for (int i = 0; i < d->n_slots; i++) d->used[i] = d->slots[i].ready || d->slots[i].param->grad != NULL;
    /* the others count as zero here, and their buckets start as on the other ranks */
    for (int i = 0; rc == 0 && i < d->n_slots; i++)
        if (!d->slots[i].ready) rc = fill_slot(&d->slots[i], NULL);
    /* which parameters some rank used: after every bucket has started, so
     * that all ranks issue their collectives in the same order */
    if (rc == 0 && d->find_unused) rc = dist_allreduce_max_i64(d->used, d->n_slots);
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
    /* after the collectives, which the other ranks then finish too: the
     * error ends the job through the trainer's fault path, never a hang */
    if (rc == 0 && !d->find_unused) rc = report_unused(d);
    return d->device_ops ? finish_on_device(d, rc) : finish_on_host(d, rc);
}

double ddp_take_wait_seconds(DDP *d)
{
    double s = d->wait_seconds;
    d->wait_seconds = 0;
    return s;
}
