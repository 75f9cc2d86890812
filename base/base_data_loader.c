/* BaseDataLoader (see base_data_loader.h). Workers fill a ring of batch
 * slots in order; the consumer takes slot b % n_slots for batch b. Handing
 * batches out on a device is in data_loader_device.c. */
#include "base/base_data_loader.h"

#include "base/data_loader_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops.h"
#include "engine/scope.h"

SampleContext data_loader_context(const DataLoader *dl)
{
    return (SampleContext){.seed = dl->opts.seed, .epoch = dl->sample_epoch,
                           .training = !dl->opts.evaluation && !dl->parent};
}

/* n elements of dtype at p set to v (a padding value checked to fit it). */
static void fill_value(void *p, DType dtype, int64_t n, double v)
{
    switch (dtype) {
    case DT_F32:
        for (int64_t i = 0; i < n; i++) ((float *)p)[i] = (float)v;
        break;
    case DT_I64:
        for (int64_t i = 0; i < n; i++) ((int64_t *)p)[i] = (int64_t)v;
        break;
    case DT_U8: memset(p, (int)v, (size_t)n); break;
    default: ENGINE_ASSERT(!"dtype");
    }
}

/* Elements per row of dim 0 of a variable field ([L, ...rest]: numel(rest)). */
static int64_t row_elements(const FieldSpec *f)
{
    int64_t n = 1;
    for (int i = 1; i < f->shape.ndim; i++) n *= f->shape.d[i];
    return n;
}

/* A collated batch's variable fields: checks the lengths get() wrote, moves
 * each field's rows together at the batch's longest length (the layout of
 * a contiguous [rows, longest, ...] tensor) and pads their ends; copies the
 * lengths into the padding collate's fields. -1 with an error naming the
 * sample and the field. */
static int finish_variable_fields(DataLoader *dl, Slot *s, int rows, const int64_t *idx)
{
    const Dataset *ds = dl->ds;
    const char *name = ds->name ? ds->name : "dataset";
    for (int k = 0; k < ds->n_fields; k++) {
        const FieldSpec *f = &ds->fields[k];
        if (!f->variable) continue;
        const int64_t *len = s->lengths[k], max = f->shape.d[0];
        int64_t longest = 0;
        for (int i = 0; i < rows; i++) {
            ENGINE_CHECK_INT(len[i] >= 1 && len[i] <= max,
                             "%s: sample %lld: field '%s' has length %lld, expected 1 to %lld (the first dimension "
                             "of its shape %s)",
                             name, (long long)idx[i], f->name, (long long)len[i], (long long)max,
                             shape_str(f->shape));
            ENGINE_CHECK_INT(dl->opts.collate.pad || len[i] == len[0],
                             "%s: samples %lld and %lld have '%s' of lengths %lld and %lld: a batch of samples of "
                             "different lengths needs padding: data_loader.args.collate {\"type\": \"pad\"}",
                             name, (long long)idx[0], (long long)idx[i], f->name, (long long)len[0],
                             (long long)len[i]);
            if (len[i] > longest) longest = len[i];
        }
        size_t es = dtype_size(f->dtype);
        int64_t inner = row_elements(f);
        char *base = tensor_data(s->host[k]);
        for (int i = 0; i < rows; i++) { /* row i moves down (never up): in order, nothing is overwritten unread */
            char *dst = base + (size_t)i * (size_t)(longest * inner) * es;
            const char *src = base + (size_t)i * (size_t)(max * inner) * es;
            if (dst != src) memmove(dst, src, (size_t)(len[i] * inner) * es);
            fill_value(dst + (size_t)(len[i] * inner) * es, f->dtype, (longest - len[i]) * inner, dl->pad_value[k]);
        }
        s->longest[k] = longest;
    }
    for (int k = ds->n_fields; k < dl->n_out; k++)
        memcpy(tensor_i64(s->host[k]), s->lengths[dl->lengths_of[k]], sizeof(int64_t) * (size_t)rows);
    return 0;
}

void data_loader_fill_slot(DataLoader *dl, Slot *s, int64_t b)
{
    /* a staged slot's last copy may still be reading the buffers */
    for (int k = 0; k < dl->n_out; k++)
        if (s->copy[k]) transfer_wait(s->copy[k]);
    int64_t rows = data_loader_batch_rows(dl, b);
    SampleContext ctx = data_loader_context(dl);
    Batch batch = {.n = (int)rows};
    for (int k = 0; k < dl->ds->n_fields; k++) {
        batch.data[k] = tensor_data(s->host[k]);
        batch.length[k] = s->lengths[k];
    }
    free(s->error);
    s->error = NULL;
    const int64_t *idx = dl->local + b * dl->opts.batch_size;
    if (dataset_collate(dl->ds, idx, (int)rows, &ctx, &batch) || finish_variable_fields(dl, s, (int)rows, idx)) {
        /* the error slot is per thread: the message travels with the batch to the consumer */
        s->error = strdup(engine_has_error() ? engine_last_error() : "the dataset failed without a message");
        ENGINE_ASSERT(s->error != NULL);
        engine_clear_error();
    }
    s->rows = (int)rows;
}

static void *worker_main(void *arg)
{
    DataLoader *dl = arg;
    pthread_mutex_lock(&dl->mu);
    while (!dl->stop) {
        int64_t b = dl->next_fill;
        Slot *s = b < dl->n_batches ? &dl->slots[b % dl->n_slots] : NULL;
        if (s && b < dl->next_take + dl->n_slots && s->state == SLOT_EMPTY) {
            dl->next_fill++;
            s->state = SLOT_FILLING;
            s->batch = b;
            s->copy_started = false;
            pthread_mutex_unlock(&dl->mu);
            data_loader_fill_slot(dl, s, b);
            pthread_mutex_lock(&dl->mu);
            s->state = SLOT_READY;
            pthread_cond_signal(&dl->done);
        } else {
            pthread_cond_wait(&dl->work, &dl->mu);
        }
    }
    pthread_mutex_unlock(&dl->mu);
    return NULL;
}

static DataLoader *base_data_loader_checked(Dataset *ds, DataLoaderOptions opts);

/* The padding value for variable field k: the one named after it, else
 * the common one; -1 when it does not fit the field's dtype. */
static int padding_value(DataLoader *dl, int k)
{
    const CollateOptions *c = &dl->opts.collate;
    const FieldSpec *f = &dl->ds->fields[k];
    double v = c->padding_value;
    for (int j = 0; j < c->n_named; j++)
        if (strcmp(c->names[j], f->name) == 0) v = c->values[j];
    bool fits = f->dtype == DT_F32 ? isfinite(v)
                : f->dtype == DT_I64 ? v == floor(v) && fabs(v) <= 9007199254740992.0
                                     : v == floor(v) && v >= 0 && v <= 255;
    ENGINE_CHECK_INT(fits, "collate: padding_value %g does not fit field '%s' (%s)", v, f->name,
                     dtype_name(f->dtype));
    dl->pad_value[k] = v;
    return 0;
}

/* The batch's fields (dl->out): the dataset's, then, when padding, an
 * int64 [B] lengths field per variable one. */
static int plan_fields(DataLoader *dl)
{
    const Dataset *ds = dl->ds;
    const CollateOptions *c = &dl->opts.collate;
    int n_variable = 0;
    for (int k = 0; k < ds->n_fields; k++) n_variable += ds->fields[k].variable;
    for (int j = 0; j < c->n_named; j++) {
        int k = dataset_field(ds, c->names[j]);
        ENGINE_CHECK_INT(k >= 0 && ds->fields[k].variable,
                         "collate: padding_value names '%s', which is not a field of variable length of %s", c->names[j],
                         ds->name ? ds->name : "the dataset");
    }
    dl->n_out = ds->n_fields;
    for (int k = 0; k < ds->n_fields; k++) {
        dl->out[k] = ds->fields[k];
        dl->lengths_of[k] = -1;
        if (!ds->fields[k].variable || !c->pad) continue;
        if (padding_value(dl, k)) return -1;
        int o = dl->n_out++;
        snprintf(dl->length_names[k], sizeof dl->length_names[k], n_variable == 1 ? "lengths" : "%s_lengths",
                 ds->fields[k].name);
        ENGINE_CHECK_INT(dataset_field(ds, dl->length_names[k]) < 0,
                         "collate: the padding collate adds a field '%s', which %s already has", dl->length_names[k],
                         ds->name ? ds->name : "the dataset");
        dl->out[o] = (FieldSpec){.name = dl->length_names[k], .dtype = DT_I64, .shape = {.ndim = 0}};
        dl->lengths_of[o] = k;
    }
    return 0;
}

/* Batches of n samples. */
static int64_t count_batches(int64_t n, DataLoaderOptions opts)
{
    return opts.drop_last ? n / opts.batch_size : (n == 0 ? 0 : (n - 1) / opts.batch_size + 1);
}

/* This rank's samples of the epoch's order: positions rank, rank + count,
 * ... of the order, wrapped around to a multiple of count when padding
 * (DistributedSampler: every rank takes as many, and global batch b is
 * order positions [b B count, (b + 1) B count), the batch b of one process
 * at batch size B count). */
static void take_shard(DataLoader *dl)
{
    for (int64_t i = 0; i < dl->n_local; i++) {
        int64_t pos = i * dl->shard_count + dl->shard_rank;
        dl->local[i] = dl->order[pos % dl->n];
    }
}

int data_loader_shard(DataLoader *dl, int rank, int count, bool pad)
{
    ENGINE_CHECK_INT(!dl->started, "data loader: shard before the first epoch");
    ENGINE_CHECK_INT(count >= 1 && rank >= 0 && rank < count, "data loader: rank %d of %d", rank, count);
    int64_t n = dl->n, local;
    if (pad && dl->opts.drop_last) local = n / count; /* DistributedSampler(drop_last): the tail is dropped */
    else if (pad) local = (n + count - 1) / count;
    else local = n > rank ? (n - rank + count - 1) / count : 0;
    ENGINE_CHECK_INT(local > 0 || n == 0,
                     "data loader: %lld samples cannot be shared among %d ranks (each rank needs at least one)",
                     (long long)n, count);
    dl->shard_rank = rank;
    dl->shard_count = count;
    dl->shard_pad = pad;
    dl->n_local = local;
    dl->n_batches = count_batches(local, dl->opts);
    dl->next_fill = dl->next_take = dl->n_batches;
    ENGINE_CHECK_INT(dl->n_batches > 0 || n == 0,
                     "data loader: drop_last leaves no batch: %lld samples per rank, batch_size %lld",
                     (long long)local, (long long)dl->opts.batch_size);
    take_shard(dl);
    return 0;
}

/* A loader over the given sample indices (copied). */
static DataLoader *loader_over(Dataset *ds, const int64_t *indices, int64_t n, DataLoaderOptions opts)
{
    DataLoader *dl = calloc(1, sizeof *dl);
    ENGINE_ASSERT(dl != NULL);
    dl->ds = ds;
    dl->n = n;
    dl->opts = opts;
    dl->indices = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    dl->order = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    ENGINE_ASSERT(dl->indices && dl->order);
    memcpy(dl->indices, indices, sizeof(int64_t) * (size_t)n);
    memcpy(dl->order, indices, sizeof(int64_t) * (size_t)n);
    generator_seed(&dl->gen, opts.seed);
    generator_get_state(&dl->gen, dl->epoch_rng);
    dl->local = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    ENGINE_ASSERT(dl->local != NULL);
    memcpy(dl->local, indices, sizeof(int64_t) * (size_t)n);
    dl->shard_count = 1;
    dl->n_local = n;
    dl->n_batches = count_batches(n, opts);
    dl->n_slots = opts.num_workers > 0 ? 2 * opts.num_workers : 1;
    dl->slots = calloc((size_t)dl->n_slots, sizeof(Slot));
    ENGINE_ASSERT(dl->slots != NULL);
    dl->in_use = -1;
    dl->device = CPU;
    dl->next_fill = dl->next_take = dl->n_batches; /* nothing to do before the first epoch */
    pthread_mutex_init(&dl->mu, NULL);
    pthread_cond_init(&dl->work, NULL);
    pthread_cond_init(&dl->done, NULL);
    if (plan_fields(dl)) {
        data_loader_free(dl);
        return NULL;
    }
    /* a batch never holds more than the n samples, however large batch_size is */
    int64_t slot_rows = opts.batch_size < n ? opts.batch_size : (n > 0 ? n : 1);
    for (int i = 0; i < dl->n_slots; i++) {
        Slot *s = &dl->slots[i];
        bool ok = true;
        for (int k = 0; k < dl->n_out; k++)
            ok = ok && (s->host[k] = tensor_persist(
                            tensor_empty(data_loader_rows_shape(&dl->out[k], slot_rows), dl->out[k].dtype, CPU)));
        for (int k = 0; k < ds->n_fields; k++)
            if (ds->fields[k].variable) {
                s->lengths[k] = calloc((size_t)slot_rows, sizeof(int64_t));
                ENGINE_ASSERT(s->lengths[k] != NULL);
            }
        if (!ok) { /* a batch_size too large for memory is bad input */
            engine_error_context("batch buffers for batch_size %lld, num_workers %d", (long long)opts.batch_size,
                                 opts.num_workers);
            data_loader_free(dl);
            return NULL;
        }
    }
    if (opts.num_workers > 0) {
        dl->threads = calloc((size_t)opts.num_workers, sizeof(pthread_t));
        ENGINE_ASSERT(dl->threads != NULL);
        for (int i = 0; i < opts.num_workers; i++)
            ENGINE_ASSERT(pthread_create(&dl->threads[i], NULL, worker_main, dl) == 0);
    }
    return dl;
}

/* Frees ds and records the error: a failed constructor owns nothing. */
static DataLoader *fail_freeing(Dataset *ds) { dataset_free(ds); return NULL; }

DataLoader *base_data_loader_new(Dataset *ds, DataLoaderOptions opts)
{
    ENGINE_CHECK(ds != NULL, "data loader: no dataset");
    if (!ds->get && !ds->collate) {
        engine_error("data loader: dataset %s has neither get nor collate", ds->name ? ds->name : "(unnamed)");
        return fail_freeing(ds);
    }
    if (dataset_check_fields(ds)) return fail_freeing(ds);
    DataLoader *checked = base_data_loader_checked(ds, opts);
    if (!checked) return fail_freeing(ds);
    return checked;
}

static DataLoader *base_data_loader_checked(Dataset *ds, DataLoaderOptions opts)
{
    ENGINE_CHECK(opts.batch_size > 0, "batch_size must be a positive integer, got %lld", (long long)opts.batch_size);
    ENGINE_CHECK(opts.num_workers >= 0 && opts.num_workers <= 64, "num_workers must be in [0, 64], got %d",
                 opts.num_workers);
    double split = opts.validation_split;
    int64_t n_all = ds->length, n_valid = 0;
    if (split >= 1 && split == floor(split)) {
        n_valid = (int64_t)split;
        ENGINE_CHECK(n_valid < n_all,
                     "validation_split: the validation set size (%lld) is configured to be larger than the entire "
                     "dataset (%lld samples)",
                     (long long)n_valid, (long long)n_all);
    } else {
        ENGINE_CHECK(split >= 0 && split < 1,
                     "validation_split must be a fraction in [0, 1) or a sample count, got %g", split);
        n_valid = (int64_t)((double)n_all * split);
    }
    int64_t *all = calloc((size_t)(n_all ? n_all : 1), sizeof(int64_t));
    ENGINE_ASSERT(all != NULL);
    if (n_valid > 0) {
        /* the split has its own fixed seed, as the reference's np.random.seed(0) */
        Generator split_gen;
        generator_seed(&split_gen, 0);
        scope_begin();
        Tensor *perm = tensor_randperm(n_all, &split_gen);
        memcpy(all, tensor_i64(perm), sizeof(int64_t) * (size_t)n_all);
        scope_end();
    } else {
        for (int64_t i = 0; i < n_all; i++) all[i] = i;
    }
    int64_t n_train = n_all - n_valid;
    if (opts.drop_last && n_train > 0 && n_train < opts.batch_size) {
        free(all);
        return engine_error("data loader: drop_last leaves no batch: %lld samples, batch_size %lld",
                            (long long)n_train, (long long)opts.batch_size);
    }
    DataLoader *dl = loader_over(ds, all + n_valid, n_train, opts);
    if (!dl) {
        free(all);
        return NULL;
    }
    dl->owns_dataset = true;
    if (n_valid > 0) {
        dl->opts.shuffle = true; /* SubsetRandomSampler in the reference */
        dl->valid_indices = malloc(sizeof(int64_t) * (size_t)n_valid);
        ENGINE_ASSERT(dl->valid_indices != NULL);
        memcpy(dl->valid_indices, all, sizeof(int64_t) * (size_t)n_valid);
        dl->n_valid = n_valid;
    }
    free(all);
    return dl;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

DataLoader *data_loader_split_validation(DataLoader *dl)
{
    if (!dl->valid_indices) return NULL;
    qsort(dl->valid_indices, (size_t)dl->n_valid, sizeof(int64_t), cmp_i64);
    DataLoaderOptions o = dl->opts;
    o.shuffle = false;
    o.drop_last = false;
    DataLoader *valid = loader_over(dl->ds, dl->valid_indices, dl->n_valid, o);
    ENGINE_ASSERT(valid != NULL); /* its buffers are no larger than the training loader's */
    valid->parent = dl;
    return valid;
}

void data_loader_free(DataLoader *dl)
{
    if (!dl) return;
    if (dl->threads) {
        pthread_mutex_lock(&dl->mu);
        dl->stop = true;
        pthread_cond_broadcast(&dl->work);
        pthread_mutex_unlock(&dl->mu);
        for (int i = 0; i < dl->opts.num_workers; i++) pthread_join(dl->threads[i], NULL);
        free(dl->threads);
    }
    pthread_mutex_destroy(&dl->mu);
    pthread_cond_destroy(&dl->work);
    pthread_cond_destroy(&dl->done);
    data_loader_free_device(dl); /* waits for copies still reading the slots */
    for (int i = 0; i < dl->n_slots; i++) {
        for (int k = 0; k < LOADER_MAX_FIELDS; k++) tensor_free(dl->slots[i].host[k]);
        for (int k = 0; k < DATASET_MAX_FIELDS; k++) free(dl->slots[i].lengths[k]);
        free(dl->slots[i].error);
    }
    free(dl->slots);
    free(dl->indices);
    free(dl->order);
    free(dl->local);
    free(dl->valid_indices);
    if (dl->owns_dataset) dataset_free(dl->ds);
    free(dl);
}

int64_t data_loader_num_samples(const DataLoader *dl) { return dl->n; }
int64_t data_loader_num_local_samples(const DataLoader *dl) { return dl->n_local; }
int64_t data_loader_num_batches(const DataLoader *dl) { return dl->n_batches; }
int64_t data_loader_batch_size(const DataLoader *dl) { return dl->opts.batch_size; }
bool data_loader_drops_last(const DataLoader *dl) { return dl->opts.drop_last; }
const Dataset *data_loader_dataset(const DataLoader *dl) { return dl->ds; }
bool data_loader_failed(const DataLoader *dl) { return dl->failed; }
int64_t data_loader_epoch(const DataLoader *dl) { return dl->sample_epoch; }
int data_loader_num_fields(const DataLoader *dl) { return dl->n_out; }
const FieldSpec *data_loader_field(const DataLoader *dl, int k) { return &dl->out[k]; }

/* Starts an epoch at batch `first` (0, or where a checkpoint left off),
 * drawing a new order when asked to and shuffling; dl->epochs already
 * counts it. */
static void start_epoch(DataLoader *dl, int64_t first, bool draw_order)
{
    pthread_mutex_lock(&dl->mu);
    bool busy = true;
    while (busy) { /* a batch being filled still reads the old order */
        busy = false;
        for (int i = 0; i < dl->n_slots; i++)
            if (dl->slots[i].state == SLOT_FILLING) busy = true;
        if (busy) pthread_cond_wait(&dl->done, &dl->mu);
    }
    generator_get_state(&dl->gen, dl->epoch_rng);
    if (draw_order && dl->opts.shuffle) {
        scope_begin();
        Tensor *perm = tensor_randperm(dl->n, &dl->gen);
        for (int64_t i = 0; i < dl->n; i++) dl->order[i] = dl->indices[tensor_i64(perm)[i]];
        scope_end();
    }
    take_shard(dl);
    for (int i = 0; i < dl->n_slots; i++) dl->slots[i].state = SLOT_EMPTY;
    dl->in_use = -1;
    dl->started = true;
    dl->failed = false;
    /* a split-validation loader validates its training loader's epoch */
    int64_t epochs = dl->parent ? dl->parent->epochs : dl->epochs;
    dl->sample_epoch = epochs > 0 ? epochs - 1 : 0;
    dl->next_take = first;
    /* a resident loader gathers its batches on the device: the workers stay idle */
    dl->next_fill = dl->resident[0] ? dl->n_batches : first;
    if (draw_order && dl->opts.shuffle) data_loader_drop_epoch(dl);
    pthread_cond_broadcast(&dl->work);
    pthread_mutex_unlock(&dl->mu);
}

void data_loader_begin_epoch(DataLoader *dl)
{
    dl->epochs++;
    start_epoch(dl, 0, true);
}

void data_loader_get_position(DataLoader *dl, DataLoaderPosition *pos)
{
    pthread_mutex_lock(&dl->mu);
    generator_get_state(&dl->gen, pos->rng);
    memcpy(pos->epoch_rng, dl->epoch_rng, sizeof pos->epoch_rng);
    pos->taken = dl->next_take;
    pos->epochs = dl->epochs;
    pthread_mutex_unlock(&dl->mu);
}

void data_loader_set_position(DataLoader *dl, const DataLoaderPosition *pos)
{
    bool inside = pos->taken >= 0 && pos->taken < dl->n_batches;
    if (inside) generator_set_state(&dl->gen, pos->epoch_rng); /* to draw that epoch's order again */
    dl->epochs = pos->epochs;
    start_epoch(dl, inside ? pos->taken : dl->n_batches, inside);
    generator_set_state(&dl->gen, pos->rng);
}

bool data_loader_next(DataLoader *dl, Tensor **x, Tensor **y)
{
    TensorBatch b;
    if (!data_loader_next_batch(dl, &b)) return false;
    *x = tensor_batch_get(&b, "input");
    *y = tensor_batch_get(&b, "target");
    ENGINE_ASSERT(*x && *y); /* a loader of the classic two fields */
    return true;
}

/* The slot handed out last goes back to the workers; under dl->mu. */
static void release_in_use(DataLoader *dl)
{
    if (dl->in_use < 0) return;
    dl->slots[dl->in_use].state = SLOT_EMPTY;
    dl->in_use = -1;
    pthread_cond_signal(&dl->work); /* one slot: one worker */
}

void data_loader_release_batch(DataLoader *dl)
{
    if (dl->staged) return; /* the batch is the slot's device buffers, which the next copy would overwrite */
    pthread_mutex_lock(&dl->mu);
    release_in_use(dl);
    pthread_mutex_unlock(&dl->mu);
}

bool data_loader_next_batch(DataLoader *dl, TensorBatch *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&dl->mu);
    release_in_use(dl);
    if (dl->next_take >= dl->n_batches) {
        pthread_mutex_unlock(&dl->mu);
        return false;
    }
    int64_t b = dl->next_take++;
    if (dl->resident[0]) {
        pthread_mutex_unlock(&dl->mu);
        data_loader_resident_batch(dl, b, out);
        return true;
    }
    int k = (int)(b % dl->n_slots);
    Slot *s = &dl->slots[k];
    if (!dl->threads) {
        s->copy_started = false;
        data_loader_fill_slot(dl, s, b);
    } else {
        while (!(s->state == SLOT_READY && s->batch == b)) pthread_cond_wait(&dl->done, &dl->mu);
    }
    if (s->error) { /* the dataset failed: the epoch ends here, with its message */
        engine_error("%s", s->error);
        s->state = SLOT_EMPTY;
        dl->failed = true;
        dl->next_take = dl->next_fill = dl->n_batches;
        pthread_cond_broadcast(&dl->work);
        pthread_mutex_unlock(&dl->mu);
        return false;
    }
    s->state = SLOT_IN_USE;
    dl->in_use = k;
    /* a staged loader also starts copying the next batch if it is ready, so
     * that the copy runs while this batch's step computes */
    Slot *prefetch = NULL;
    bool copy_now = dl->staged && !s->copy_started; /* not already queued as the previous call's prefetch */
    s->copy_started = true;
    Slot *next = dl->n_slots > 1 && b + 1 < dl->n_batches ? &dl->slots[(b + 1) % dl->n_slots] : NULL;
    if (dl->staged && next && next->state == SLOT_READY && next->batch == b + 1 && !next->copy_started) {
        next->copy_started = true;
        prefetch = next;
    }
    pthread_mutex_unlock(&dl->mu);
    if (dl->staged) data_loader_hand_out_staged(dl, copy_now ? s : NULL, s, prefetch);
    data_loader_slot_views(dl, s, out);
    return true;
}
