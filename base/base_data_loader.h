/* BaseDataLoader: batches from a Dataset (base_dataset.h), with
 * pytorch-template's options: batch_size, shuffle, validation_split (a
 * fraction, or a count of samples, held out with a split seeded
 * independently of training), num_workers (threads that assemble the next
 * batches while the current one trains), drop_last, and split_validation()
 * for the held-out loader, whose samples get the dataset's validation
 * transforms. The loader counts its epochs and tells the dataset the epoch
 * of every sample it asks for, which seeds the random transforms. */
#ifndef BASE_BASE_DATA_LOADER_H
#define BASE_BASE_DATA_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base_dataset.h"
#include "engine/nn/tensor_batch.h"
#include "engine/random.h"

/* How samples become a batch (data_loader.args.collate): stacked, which
 * needs equal shapes (PyTorch's default_collate), or padded to the batch's
 * longest sample (as pad_sequence(batch_first=True)) with the lengths added. */
typedef struct {
    bool pad;
    double padding_value; /* every variable field's, unless named below */
    int n_named;
    char names[DATASET_MAX_FIELDS][64];
    double values[DATASET_MAX_FIELDS];
} CollateOptions;

typedef struct {
    int64_t batch_size;
    bool shuffle;
    double validation_split; /* 0: none; in (0, 1): a fraction; an integer >= 1: a count */
    int num_workers;         /* 0: batches are assembled on the calling thread */
    bool drop_last;
    uint64_t seed;           /* shuffling order */
    bool on_device;          /* keep the whole dataset, transformed, on the loader's device (data_loader_to) */
    bool evaluation;         /* validation/test samples (./test's loader): the dataset's evaluation transforms */
    CollateOptions collate;
} DataLoaderOptions;

typedef struct DataLoader DataLoader;

/* Takes ownership of ds (freed on failure too). NULL with an error naming
 * the bad option. */
DataLoader *base_data_loader_new(Dataset *ds, DataLoaderOptions opts);
/* The loader over the held-out samples (sequential order), or NULL when
 * validation_split is 0. The returned loader shares the dataset; free it
 * before the training loader. */
DataLoader *data_loader_split_validation(DataLoader *dl);
void data_loader_free(DataLoader *dl);

/* This rank's share of the samples (data_loader_shard) from now on:
 * DistributedSampler's, the same order on every rank (the seed and the
 * epoch), positions rank, rank + count, ... of it; pad: wrapped around to a
 * multiple of count so that every rank takes as many batches (training),
 * else each position once (validation, test: sums over ranks are exact).
 * Before the first epoch. -1 with an error when a rank would get nothing. */
int data_loader_shard(DataLoader *dl, int rank, int count, bool pad);

int64_t data_loader_num_samples(const DataLoader *dl);
/* The samples this rank takes per epoch (all of them in a single process). */
int64_t data_loader_num_local_samples(const DataLoader *dl);
int64_t data_loader_num_batches(const DataLoader *dl);
int64_t data_loader_batch_size(const DataLoader *dl);
bool data_loader_drops_last(const DataLoader *dl);
const Dataset *data_loader_dataset(const DataLoader *dl);

/* Hands the batches out on device from now on; call before the first
 * epoch. On a GPU the batch buffers become pinned host memory and each
 * batch is copied on a copy stream while the previous step computes (the
 * next batch's copy starts when the current one is handed out), so the
 * step never waits for the host. With opts.on_device, the whole dataset is
 * transformed once and kept on the device instead, gathered there in each
 * epoch's order and handed out as views (no copies or work per step; the
 * device then holds the dataset twice; its transform must be
 * deterministic); a split-validation loader shares the training loader's
 * copy when that was moved first. CPU without on_device: nothing to do.
 * -1 with an error, e.g. when the dataset does not fit. */
int data_loader_to(DataLoader *dl, Device device);
/* What data_loader_to does for a GPU without on_device, on any device: on
 * the CPU it only adds a copy per batch, which lets tests check the staging
 * without a GPU. */
int data_loader_stage(DataLoader *dl, Device device);

/* Starts an epoch: draws the sample order (when shuffling) and lets the
 * workers start assembling. */
void data_loader_begin_epoch(DataLoader *dl);
/* The next batch on the loader's device, its fields by name (the
 * dataset's, e.g. "input" [B, ...] and "target" [B], and the padding
 * collate's "lengths"), valid until the next call (they live in the
 * loader's buffers; the headers belong to the current scope). false at the
 * end of the epoch, and when the dataset failed to give a sample: then
 * data_loader_failed() is true and the dataset's error is recorded
 * (engine_last_error). */
bool data_loader_next_batch(DataLoader *dl, TensorBatch *batch);
/* Hands the current batch's buffers back to the workers before the next
 * data_loader_next_batch, so that they assemble a later batch while the
 * caller finishes its step (the optimizer's update, the logs) instead of at
 * the start of the next one, where they would take a core from its
 * forward. The batch's tensors must not be read after. A no-op for a
 * loader whose batches are copied to a device (the copy of a later batch
 * goes into the same buffers) and when no batch is out. */
void data_loader_release_batch(DataLoader *dl);
/* The same for the classic datasets: x, the "input" field, and y, the
 * "target" field. */
bool data_loader_next(DataLoader *dl, Tensor **x, Tensor **y);
/* The fields of the batches: count, and field k's spec (a variable field's
 * shape gives its longest length). */
int data_loader_num_fields(const DataLoader *dl);
const FieldSpec *data_loader_field(const DataLoader *dl, int k);
/* The last data_loader_next ended the epoch on a dataset error (until the
 * next epoch begins). */
bool data_loader_failed(const DataLoader *dl);
/* The epoch the samples handed out now belong to, from 0 (the number that
 * seeds their random transforms; a split-validation loader takes its
 * training loader's). */
int64_t data_loader_epoch(const DataLoader *dl);

/* Where the loader stands, for checkpoints. Iteration-based training ends
 * its epochs in the middle of the loader's, so a resume must draw the same
 * order again and go on from the same batch. */
typedef struct {
    uint64_t rng[2];       /* the shuffling generator now */
    uint64_t epoch_rng[2]; /* the same, before this epoch's order was drawn */
    int64_t taken;         /* batches of this epoch handed out; n_batches (or more) once it is over */
    int64_t epochs;        /* epochs begun (the current one included) */
} DataLoaderPosition;

void data_loader_get_position(DataLoader *dl, DataLoaderPosition *pos);
/* Continues from pos: inside an epoch, the same order from the next batch;
 * after one, the next epoch draws what it would have drawn. */
void data_loader_set_position(DataLoader *dl, const DataLoaderPosition *pos);

#endif
