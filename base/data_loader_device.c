/* Handing batches out on a device (see data_loader_to in
 * base_data_loader.h): staged slots, whose pinned host buffers are copied
 * into device twins on the copy stream, one batch ahead; and resident
 * datasets, transformed once, gathered on the device in each epoch's order,
 * and handed out as views. */
#include <stdio.h>
#include <string.h>

#include "base/data_loader_internal.h"
#include "engine/ops.h"
#include "engine/scope.h"

/* Samples transformed per collate call while a dataset is made resident:
 * bounds the host memory it takes to a few MB per chunk. */
enum { RESIDENT_CHUNK = 4096 };

/* Replaces *t with made, persistent; -1 (*t unchanged) when made is NULL. */
static int replace_persistent(Tensor **t, Tensor *made)
{
    if (!made) return -1;
    tensor_free(*t);
    *t = tensor_persist(made);
    return 0;
}

int data_loader_stage(DataLoader *dl, Device device)
{
    ENGINE_CHECK_INT(!dl->started, "data loader: the device must be chosen before the first epoch");
    ENGINE_CHECK_INT(!dl->staged, "data loader: already staged for %s", device_name(dl->device));
    for (int i = 0; i < dl->n_slots; i++) {
        Slot *s = &dl->slots[i];
        for (int k = 0; k < dl->n_out; k++) {
            /* pinned host buffers, so that the copies can be asynchronous */
            if (replace_persistent(&s->host[k], tensor_empty_pinned(s->host[k]->shape, s->host[k]->dtype)))
                return -1;
            s->dev[k] = tensor_persist(tensor_empty(s->host[k]->shape, s->host[k]->dtype, device));
            if (!s->dev[k] || !(s->copy[k] = transfer_new())) return -1;
        }
    }
    dl->device = device;
    dl->staged = true;
    return 0;
}

/* Frees the resident tensors t[0..n). */
static void free_fields(Tensor **t, int n)
{
    for (int k = 0; k < n; k++) {
        tensor_free(t[k]);
        t[k] = NULL;
    }
}

/* Transforms every sample of the dataset into tensors on device, with the
 * loader's transforms (the training or the evaluation ones). */
static int make_resident(DataLoader *dl, Device device)
{
    const Dataset *ds = dl->ds;
    SampleContext ctx = data_loader_context(dl);
    ENGINE_CHECK_INT(!(ctx.training ? ds->random_train : ds->random_eval),
                     "on_device: the %s transforms of %s are random, and a dataset kept on the device is transformed "
                     "once; turn on_device off to draw them every epoch",
                     ctx.training ? "training" : "validation", ds->name ? ds->name : "the dataset");
    double mb = 0;
    for (int k = 0; k < ds->n_fields; k++) {
        ENGINE_CHECK_INT(!ds->fields[k].variable,
                         "on_device: field '%s' of %s varies in length and is padded per batch; turn on_device off",
                         ds->fields[k].name, ds->name ? ds->name : "the dataset");
        mb += (double)ds->length * (double)shape_numel(ds->fields[k].shape) *
              (double)dtype_size(ds->fields[k].dtype) / 1e6;
    }
    Tensor *all[DATASET_MAX_FIELDS] = {0}, *chunk[DATASET_MAX_FIELDS] = {0};
    int rc = 0;
    for (int k = 0; k < ds->n_fields && rc == 0; k++) {
        const FieldSpec *f = &ds->fields[k];
        all[k] = tensor_persist(tensor_empty(data_loader_rows_shape(f, ds->length), f->dtype, device));
        chunk[k] = tensor_persist(tensor_empty(data_loader_rows_shape(f, RESIDENT_CHUNK), f->dtype, CPU));
        if (!all[k] || !chunk[k]) rc = -1;
    }
    int64_t idx[RESIDENT_CHUNK];
    bool data_failed = false;
    for (int64_t start = 0; rc == 0 && start < ds->length; start += RESIDENT_CHUNK) {
        int64_t rows = ds->length - start < RESIDENT_CHUNK ? ds->length - start : RESIDENT_CHUNK;
        for (int64_t i = 0; i < rows; i++) idx[i] = start + i;
        Batch batch = {.n = (int)rows};
        for (int k = 0; k < ds->n_fields; k++) batch.data[k] = tensor_data(chunk[k]);
        if (dataset_collate(ds, idx, (int)rows, &ctx, &batch)) {
            rc = -1;
            data_failed = true;
            break;
        }
        scope_begin();
        for (int k = 0; k < ds->n_fields && rc == 0; k++)
            if (tensor_copy_from_buffer(t_narrow(all[k], 0, start, rows), tensor_data(chunk[k]))) rc = -1;
        scope_end();
    }
    free_fields(chunk, ds->n_fields);
    if (rc) {
        free_fields(all, ds->n_fields);
        if (data_failed) engine_error_context("on_device: transforming the dataset");
        else
            engine_error_context("on_device: the dataset (%lld samples, %.1f MB) does not fit on %s",
                                 (long long)ds->length, mb, device_name(device));
        return -1;
    }
    memcpy(dl->resident, all, sizeof all);
    dl->owns_resident = true;
    return 0;
}

int data_loader_to(DataLoader *dl, Device device)
{
    ENGINE_CHECK_INT(!dl->started, "data loader: the device must be chosen before the first epoch");
    if (dl->opts.on_device) {
        DataLoader *p = dl->parent;
        if (p && p->resident[0] && device_equal(tensor_device(p->resident[0]), device) && !dl->ds->eval_differs) {
            /* the validation loader shares the training loader's copy, transformed alike */
            memcpy(dl->resident, p->resident, sizeof dl->resident);
        } else if (make_resident(dl, device)) {
            return -1;
        }
        dl->device = device;
        return 0;
    }
    /* batches assembled on the CPU are already where a CPU step wants them */
    if (device.type == DEVICE_CPU) return 0;
    return data_loader_stage(dl, device);
}

static void start_copies(DataLoader *dl, Slot *s)
{
    /* the tensors were checked when staged: same shapes, dtypes, contiguous */
    for (int k = 0; k < dl->n_out; k++) ENGINE_ASSERT(transfer_start(s->copy[k], s->dev[k], s->host[k]) == 0);
}

void data_loader_hand_out_staged(DataLoader *dl, Slot *copy, Slot *use, Slot *prefetch)
{
    if (copy) start_copies(dl, copy);
    for (int k = 0; k < dl->n_out; k++) transfer_use(use->copy[k]);
    if (prefetch) start_copies(dl, prefetch);
}

void data_loader_slot_views(DataLoader *dl, Slot *s, TensorBatch *out)
{
    for (int k = 0; k < dl->n_out; k++) {
        Tensor *buf = dl->staged ? s->dev[k] : s->host[k];
        const FieldSpec *f = &dl->out[k];
        Tensor *v;
        if (f->variable) { /* rows were moved together at the batch's longest length */
            Shape shape = data_loader_rows_shape(f, s->rows);
            shape.d[1] = s->longest[k];
            v = t_view(t_narrow(t_view(buf, SHAPE(-1)), 0, 0, shape_numel(shape)), shape);
        } else {
            v = s->rows == buf->shape.d[0] ? tensor_detach(buf) : t_narrow(buf, 0, 0, s->rows);
        }
        ENGINE_ASSERT(v != NULL && tensor_batch_add(out, f->name, v) == 0);
    }
}

void data_loader_resident_batch(DataLoader *dl, int64_t b, TensorBatch *out)
{
    int n = dl->ds->n_fields;
    if (!dl->epoch[0]) {
        /* once per epoch: the samples in this epoch's order, gathered on the
         * device; batches are then views of it, with no work (and no index
         * bounds check, which waits for the device) per batch */
        scope_begin();
        Tensor *order = tensor_from_data(dl->local, SHAPE(dl->n_local), DT_I64, dl->device);
        for (int k = 0; k < n; k++) {
            dl->epoch[k] = tensor_persist(t_index_select(dl->resident[k], 0, order));
            ENGINE_ASSERT(dl->epoch[k] != NULL); /* the order holds the loader's own indices */
        }
        scope_end();
    }
    int64_t start = b * dl->opts.batch_size, rows = data_loader_batch_rows(dl, b);
    for (int k = 0; k < n; k++)
        ENGINE_ASSERT(tensor_batch_add(out, dl->out[k].name, t_narrow(dl->epoch[k], 0, start, rows)) == 0);
}

void data_loader_drop_epoch(DataLoader *dl) { free_fields(dl->epoch, DATASET_MAX_FIELDS); }

void data_loader_free_device(DataLoader *dl)
{
    for (int i = 0; i < dl->n_slots; i++) {
        Slot *s = &dl->slots[i];
        for (int k = 0; k < LOADER_MAX_FIELDS; k++) {
            transfer_free(s->copy[k]); /* waits for a copy in flight */
            tensor_free(s->dev[k]);
            s->copy[k] = NULL;
            s->dev[k] = NULL;
        }
    }
    data_loader_drop_epoch(dl);
    if (dl->owns_resident) free_fields(dl->resident, DATASET_MAX_FIELDS);
    memset(dl->resident, 0, sizeof dl->resident);
}
