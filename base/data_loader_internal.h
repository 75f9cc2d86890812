/* The DataLoader's insides, shared by base/base_data_loader.c (order,
 * worker threads, slot ring) and base/data_loader_device.c (batches handed
 * out on a device). Not for users of the loader: see base_data_loader.h. */
#ifndef BASE_DATA_LOADER_INTERNAL_H
#define BASE_DATA_LOADER_INTERNAL_H

#include <pthread.h>

#include "base/base_data_loader.h"
#include "engine/transfer.h"

enum { SLOT_EMPTY, SLOT_FILLING, SLOT_READY, SLOT_IN_USE };

typedef struct {
    Tensor *x, *y; /* persistent, batch_size rows; pinned when staged for a GPU */
    int64_t batch;
    int rows;
    int state;
    /* staged loaders: the slot's device twins, filled by asynchronous copies */
    Tensor *x_dev, *y_dev;
    Transfer *x_copy, *y_copy;
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

    Slot *slots;
    int n_slots;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t next_fill, next_take;
    int in_use;
    bool stop;
    bool started; /* an epoch has begun: the device can no longer change */

    Device device;  /* where batches are handed out */
    bool staged;    /* slots have device twins (data_loader_stage) */
    DataLoader *parent; /* the training loader a split-validation loader came from */
    /* opts.on_device: every sample of the dataset, transformed, on the device;
     * owned by the training loader, borrowed by its validation loader */
    Tensor *resident_x, *resident_y;
    bool owns_resident;
    /* resident loaders: this epoch's samples in its order (NULL until the first batch) */
    Tensor *epoch_x, *epoch_y;
};

/* Samples in batch b: batch_size, fewer in a last partial batch. */
static inline int64_t data_loader_batch_rows(const DataLoader *dl, int64_t b)
{
    int64_t left = dl->n - b * dl->opts.batch_size;
    return left < dl->opts.batch_size ? left : dl->opts.batch_size;
}

/* The shape of a batch of rows samples: [rows, ...sample_shape]. */
static inline Shape data_loader_batch_shape(const Dataset *ds, int64_t rows)
{
    Shape s = {.ndim = ds->sample_shape.ndim + 1};
    s.d[0] = rows;
    for (int i = 0; i < ds->sample_shape.ndim; i++) s.d[i + 1] = ds->sample_shape.d[i];
    return s;
}

/* What the loader tells the dataset about its samples now. */
SampleContext data_loader_context(const DataLoader *dl);
/* Assembles batch b of this epoch's order into slot s (from any thread); a
 * dataset error is kept in s->error. */
void data_loader_fill_slot(DataLoader *dl, Slot *s, int64_t b);
/* The batch of a slot handed out, as the views data_loader_next returns. */
void data_loader_slot_views(DataLoader *dl, Slot *s, Tensor **x, Tensor **y);
/* Staged loaders: queues the copies of slot `copy` (NULL: already queued),
 * orders the compute after those of slot `use`, then queues the copies of
 * `prefetch` (NULL: none) to run beside the coming step. */
void data_loader_hand_out_staged(Slot *copy, Slot *use, Slot *prefetch);
/* Resident loaders: batch b, a view of the epoch's samples gathered on the device. */
void data_loader_resident_batch(DataLoader *dl, int64_t b, Tensor **x, Tensor **y);
/* Resident loaders: forgets the gathered epoch (its order changed). */
void data_loader_drop_epoch(DataLoader *dl);
/* Frees what data_loader_to / data_loader_stage added. */
void data_loader_free_device(DataLoader *dl);

#endif
