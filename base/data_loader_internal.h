/* The DataLoader's insides, shared by base/base_data_loader.c (order,
 * worker threads, slot ring) and base/data_loader_device.c (batches handed
 * out on a device). Not for users of the loader: see base_data_loader.h. */
#ifndef BASE_DATA_LOADER_INTERNAL_H
#define BASE_DATA_LOADER_INTERNAL_H

#include <pthread.h>

#include "base/base_data_loader.h"
#include "engine/transfer.h"

enum { SLOT_EMPTY, SLOT_FILLING, SLOT_READY, SLOT_IN_USE };

/* A batch's fields: the dataset's, then (padding collate) the lengths of
 * its variable ones. */
enum { LOADER_MAX_FIELDS = 2 * DATASET_MAX_FIELDS };

typedef struct {
    /* per batch field, persistent, batch_size rows of the field's largest
     * shape; pinned when staged for a GPU */
    Tensor *host[LOADER_MAX_FIELDS];
    int64_t *lengths[DATASET_MAX_FIELDS]; /* variable fields: the samples' lengths */
    int64_t longest[DATASET_MAX_FIELDS];  /* variable fields: this batch's longest, its rows' stride */
    int64_t batch;
    int rows;
    int state;
    /* staged loaders: the slot's device twins, filled by asynchronous copies */
    Tensor *dev[LOADER_MAX_FIELDS];
    Transfer *copy[LOADER_MAX_FIELDS];
    bool copy_started; /* the copy of this slot's batch is queued */
    char *error;       /* the dataset's error for this batch (malloc'd), NULL when it was assembled */
} Slot;

struct DataLoader {
    Dataset *ds;
    bool owns_dataset;
    int64_t *indices; /* the samples this loader serves */
    int64_t n;
    int64_t *valid_indices; /* held out by the split */
    int64_t n_valid;
    DataLoaderOptions opts;
    Generator gen;
    uint64_t epoch_rng[2]; /* gen before this epoch's order was drawn */
    int64_t epochs;        /* epochs begun */
    int64_t sample_epoch;  /* the epoch the samples being assembled belong to */
    bool failed;           /* the dataset failed in this epoch: no more batches */

    int64_t *order; /* this epoch's order */
    int64_t n_batches;
    /* distributed runs (data_loader_shard): this rank's part of the order,
     * as DistributedSampler takes it; the whole order in a single process */
    int shard_rank, shard_count;
    bool shard_pad;    /* the order is wrapped around to a multiple of shard_count (training) */
    int64_t n_local;   /* samples this rank takes per epoch */
    int64_t *local;    /* this epoch's samples of this rank, in order */

    Slot *slots;
    int n_slots;
    pthread_t *threads;
    pthread_mutex_t mu;
    /* two conditions, so that each change wakes only whom it concerns: work
     * (a slot to fill, or stop) for the workers; done (a slot filled) for
     * the one consumer. One condition for both woke both workers and the
     * consumer for every batch: wake-ups that took a core from the step. */
    pthread_cond_t work, done;
    int64_t next_fill, next_take;
    int in_use;
    bool stop;
    bool started; /* an epoch has begun: the device can no longer change */

    /* the batch's fields: out[k] for k < ds->n_fields is the dataset's
     * field k; after them, padding collate's lengths (of field lengths_of[k]) */
    int n_out;
    FieldSpec out[LOADER_MAX_FIELDS];
    int lengths_of[LOADER_MAX_FIELDS];
    char length_names[DATASET_MAX_FIELDS][80];
    double pad_value[DATASET_MAX_FIELDS]; /* padding collate: per variable field */

    Device device;  /* where batches are handed out */
    bool staged;    /* slots have device twins (data_loader_stage) */
    DataLoader *parent; /* the training loader a split-validation loader came from */
    /* opts.on_device: every sample of the dataset, transformed, on the device;
     * owned by the training loader, borrowed by its validation loader */
    Tensor *resident[DATASET_MAX_FIELDS]; /* per dataset field; resident[0] NULL: not resident */
    bool owns_resident;
    /* resident loaders: this epoch's samples in its order (NULL until the first batch) */
    Tensor *epoch[DATASET_MAX_FIELDS];
};

/* Samples in batch b: batch_size, fewer in a last partial batch. */
static inline int64_t data_loader_batch_rows(const DataLoader *dl, int64_t b)
{
    int64_t left = dl->n_local - b * dl->opts.batch_size;
    return left < dl->opts.batch_size ? left : dl->opts.batch_size;
}

/* The shape of rows samples of field f: [rows, ...f.shape]. */
static inline Shape data_loader_rows_shape(const FieldSpec *f, int64_t rows)
{
    Shape s = {.ndim = f->shape.ndim + 1};
    s.d[0] = rows;
    for (int i = 0; i < f->shape.ndim; i++) s.d[i + 1] = f->shape.d[i];
    return s;
}

/* What the loader tells the dataset about its samples now. */
SampleContext data_loader_context(const DataLoader *dl);
/* Assembles batch b of this epoch's order into slot s (from any thread); a
 * dataset error is kept in s->error. */
void data_loader_fill_slot(DataLoader *dl, Slot *s, int64_t b);
/* The batch of a slot handed out, as the views data_loader_next_batch returns. */
void data_loader_slot_views(DataLoader *dl, Slot *s, TensorBatch *out);
/* Staged loaders: queues the copies of slot `copy` (NULL: already queued),
 * orders the compute after those of slot `use`, then queues the copies of
 * `prefetch` (NULL: none) to run beside the coming step. */
void data_loader_hand_out_staged(DataLoader *dl, Slot *copy, Slot *use, Slot *prefetch);
/* Resident loaders: batch b, a view of the epoch's samples gathered on the device. */
void data_loader_resident_batch(DataLoader *dl, int64_t b, TensorBatch *out);
/* Resident loaders: forgets the gathered epoch (its order changed). */
void data_loader_drop_epoch(DataLoader *dl);
/* Frees what data_loader_to / data_loader_stage added. */
void data_loader_free_device(DataLoader *dl);

#endif
