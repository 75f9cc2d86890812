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
        /* pinned host buffers, so that the copies can be asynchronous */
        if (replace_persistent(&s->x, tensor_empty_pinned(s->x->shape, DT_F32)) ||
            replace_persistent(&s->y, tensor_empty_pinned(s->y->shape, DT_I64)))
            return -1;
        s->x_dev = tensor_persist(tensor_empty(s->x->shape, DT_F32, device));
        s->y_dev = tensor_persist(tensor_empty(s->y->shape, DT_I64, device));
        if (!s->x_dev || !s->y_dev) return -1;
        if (!(s->x_copy = transfer_new()) || !(s->y_copy = transfer_new())) return -1;
    }
    dl->device = device;
    dl->staged = true;
    return 0;
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
    double mb = (double)ds->length * (double)shape_numel(ds->sample_shape) * 4.0 / 1e6;
    Tensor *x = tensor_persist(tensor_empty(data_loader_batch_shape(ds, ds->length), DT_F32, device));
    Tensor *y = tensor_persist(tensor_empty(SHAPE(ds->length), DT_I64, device));
    Tensor *hx = tensor_persist(tensor_empty(data_loader_batch_shape(ds, RESIDENT_CHUNK), DT_F32, CPU));
    Tensor *hy = tensor_persist(tensor_empty(SHAPE(RESIDENT_CHUNK), DT_I64, CPU));
    int64_t idx[RESIDENT_CHUNK];
    int rc = x && y && hx && hy ? 0 : -1;
    bool data_failed = false;
    for (int64_t start = 0; rc == 0 && start < ds->length; start += RESIDENT_CHUNK) {
        int64_t rows = ds->length - start < RESIDENT_CHUNK ? ds->length - start : RESIDENT_CHUNK;
        for (int64_t i = 0; i < rows; i++) idx[i] = start + i;
        Batch batch = {.n = (int)rows, .input = tensor_f32(hx), .target = tensor_i64(hy)};
        if (dataset_collate(ds, idx, (int)rows, &ctx, &batch)) {
            rc = -1;
            data_failed = true;
            break;
        }
        scope_begin();
        if (tensor_copy_from_buffer(t_narrow(x, 0, start, rows), tensor_f32(hx)) ||
            tensor_copy_from_buffer(t_narrow(y, 0, start, rows), tensor_i64(hy)))
            rc = -1;
        scope_end();
    }
    tensor_free(hx);
    tensor_free(hy);
    if (rc) {
        tensor_free(x);
        tensor_free(y);
        if (data_failed) engine_error_context("on_device: transforming the dataset");
        else
            engine_error_context("on_device: the dataset (%lld samples, %.1f MB as f32) does not fit on %s",
                                 (long long)ds->length, mb, device_name(device));
        return -1;
    }
    dl->resident_x = x;
    dl->resident_y = y;
    dl->owns_resident = true;
    return 0;
}

int data_loader_to(DataLoader *dl, Device device)
{
    ENGINE_CHECK_INT(!dl->started, "data loader: the device must be chosen before the first epoch");
    if (dl->opts.on_device) {
        DataLoader *p = dl->parent;
        if (p && p->resident_x && device_equal(tensor_device(p->resident_x), device) && !dl->ds->eval_differs) {
            /* the validation loader shares the training loader's copy, transformed alike */
            dl->resident_x = p->resident_x;
            dl->resident_y = p->resident_y;
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

static void start_copies(Slot *s)
{
    /* the tensors were checked when staged: same shapes, dtypes, contiguous */
    ENGINE_ASSERT(transfer_start(s->x_copy, s->x_dev, s->x) == 0);
    ENGINE_ASSERT(transfer_start(s->y_copy, s->y_dev, s->y) == 0);
}

void data_loader_hand_out_staged(Slot *copy, Slot *use, Slot *prefetch)
{
    if (copy) start_copies(copy);
    transfer_use(use->x_copy);
    transfer_use(use->y_copy);
    if (prefetch) start_copies(prefetch);
}

void data_loader_slot_views(DataLoader *dl, Slot *s, Tensor **x, Tensor **y)
{
    Tensor *bx = dl->staged ? s->x_dev : s->x, *by = dl->staged ? s->y_dev : s->y;
    bool full = s->rows == bx->shape.d[0];
    *x = full ? tensor_detach(bx) : t_narrow(bx, 0, 0, s->rows);
    *y = full ? tensor_detach(by) : t_narrow(by, 0, 0, s->rows);
}

void data_loader_resident_batch(DataLoader *dl, int64_t b, Tensor **x, Tensor **y)
{
    if (!dl->epoch_x) {
        /* once per epoch: the samples in this epoch's order, gathered on the
         * device; batches are then views of it, with no work (and no index
         * bounds check, which waits for the device) per batch */
        scope_begin();
        Tensor *order = tensor_from_data(dl->order, SHAPE(dl->n), DT_I64, dl->device);
        dl->epoch_x = tensor_persist(t_index_select(dl->resident_x, 0, order));
        dl->epoch_y = tensor_persist(t_index_select(dl->resident_y, 0, order));
        scope_end();
        ENGINE_ASSERT(dl->epoch_x && dl->epoch_y); /* the order holds the loader's own indices */
    }
    int64_t start = b * dl->opts.batch_size, rows = data_loader_batch_rows(dl, b);
    *x = t_narrow(dl->epoch_x, 0, start, rows);
    *y = t_narrow(dl->epoch_y, 0, start, rows);
}

void data_loader_drop_epoch(DataLoader *dl)
{
    tensor_free(dl->epoch_x);
    tensor_free(dl->epoch_y);
    dl->epoch_x = dl->epoch_y = NULL;
}

void data_loader_free_device(DataLoader *dl)
{
    for (int i = 0; i < dl->n_slots; i++) {
        Slot *s = &dl->slots[i];
        transfer_free(s->x_copy); /* waits for a copy in flight */
        transfer_free(s->y_copy);
        tensor_free(s->x_dev);
        tensor_free(s->y_dev);
        s->x_copy = s->y_copy = NULL;
        s->x_dev = s->y_dev = NULL;
    }
    data_loader_drop_epoch(dl);
    if (dl->owns_resident) {
        tensor_free(dl->resident_x);
        tensor_free(dl->resident_y);
    }
    dl->resident_x = dl->resident_y = NULL;
}
