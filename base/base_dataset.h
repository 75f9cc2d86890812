/* The abstract Dataset, as torch.utils.data.Dataset: a length (len) and one
 * sample by index (get), plus optionally a collate that assembles a whole
 * batch at once. BaseDataLoader (base_data_loader.h) batches, shuffles and
 * splits any Dataset; the concrete ones (MNIST, ImageFolder, sequences...)
 * live in data_loader/.
 *
 * A sample is a few named fields ("input", "lengths", "target"...), each a
 * tensor of a fixed dtype and shape. Most datasets have the classic two:
 * set sample_shape and leave fields empty, and a sample is an f32 "input"
 * of that shape (field 0) and an int64 class index "target" (field 1):
 *
 *   static int my_get(const Dataset *ds, int64_t i, const SampleContext *ctx, Sample *s)
 *   {
 *       float *x = sample_f32(s, 0);
 *       for (int64_t k = 0; k < 28 * 28; k++) x[k] = ...;  // numel(sample_shape) floats
 *       *sample_i64(s, 1) = ...;                            // class index
 *       return 0;                                           // or -1 after engine_error()
 *   }
 *   Dataset *ds = calloc(1, sizeof *ds);
 *   ds->length = n; ds->sample_shape = SHAPE(1, 28, 28); ds->get = my_get;
 *
 * Others declare their fields: a regression target is {"target", DT_F32,
 * [1]}, a multi-label one {"target", DT_F32, [n_labels]}. A field whose first
 * dimension varies by sample (a sequence) is `variable`: its shape gives the
 * longest, and get() writes the sample's length into s->length[k]. The
 * default collate stacks samples of equal shapes (PyTorch's default_collate
 * refuses unequal ones too); the padding collate (data_loader.args.collate
 * {"type": "pad"}) pads each batch to its longest sample and adds the
 * lengths as an int64 field "lengths" (["<field>_lengths" when several
 * fields vary).
 *
 * get() is called from the loader's worker threads, several at once, so it
 * must only read the dataset. Random augmentation draws from
 * sample_rng(ctx, i): the numbers depend on the run's seed, the epoch and
 * the sample index alone, so a run is reproducible and a resumed run draws
 * what the uninterrupted one drew, whatever num_workers is. */
#ifndef BASE_BASE_DATASET_H
#define BASE_BASE_DATASET_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/tensor.h"

/* What the loader tells a dataset about the sample it asks for. */
typedef struct {
    uint64_t seed;  /* the run's seed (config "seed") */
    int64_t epoch;  /* the loader's epoch, from 0 */
    bool training;  /* the training transforms; false: validation and test (no augmentation) */
} SampleContext;

enum { DATASET_MAX_FIELDS = 8 };

/* One field of every sample. */
typedef struct {
    const char *name; /* the batch's name for it: "input", "target", "mask"... */
    DType dtype;
    Shape shape;      /* one sample's; variable: dim 0 is the longest length */
    bool variable;    /* dim 0 varies by sample (sequences) */
} FieldSpec;

/* One sample, written by get(): field k into data[k], numel(fields[k].shape)
 * elements of its dtype (provided by the caller; of a variable field only
 * the first length[k] rows are used). */
typedef struct {
    void *data[DATASET_MAX_FIELDS];
    int64_t length[DATASET_MAX_FIELDS]; /* variable fields: the rows get() wrote */
} Sample;

static inline float *sample_f32(Sample *s, int field) { return (float *)s->data[field]; }
static inline int64_t *sample_i64(Sample *s, int field) { return (int64_t *)s->data[field]; }
static inline uint8_t *sample_u8(Sample *s, int field) { return (uint8_t *)s->data[field]; }

/* n samples, row after row: field k's row i at data[k] + i * numel(shape)
 * elements (a variable field's rows are the longest length apart), and
 * variable fields' lengths in length[k][0..n). */
typedef struct {
    int n;
    void *data[DATASET_MAX_FIELDS];
    int64_t *length[DATASET_MAX_FIELDS];
} Batch;

typedef struct Dataset Dataset;
struct Dataset {
    const char *name;
    int64_t length;     /* len(dataset) */
    /* The fields of a sample; n_fields 0: the classic "input" (f32,
     * sample_shape) and "target" (int64 class index), filled in by
     * dataset_classic_fields when the loader is made. */
    int n_fields;
    FieldSpec fields[DATASET_MAX_FIELDS];
    Shape sample_shape; /* the classic input's shape, e.g. [1, 28, 28] */
    /* Sample `index` (0 <= index < length). 0, or -1 with an error naming
     * what failed (the file, the sample). */
    int (*get)(const Dataset *ds, int64_t index, const SampleContext *ctx, Sample *out);
    /* Optional: assembles the samples idx[0..n) into out at once (out->n ==
     * n); NULL: get() for each, stacked (PyTorch's default collate). */
    int (*collate)(const Dataset *ds, const int64_t *idx, int n, const SampleContext *ctx, Batch *out);
    /* Optional: a hint that get(index) comes soon (the default collate gives
     * it a few samples ahead): start loading its bytes into the cache. */
    void (*prefetch)(const Dataset *ds, int64_t index);
    /* Frees what the dataset owns (not ds itself); may be NULL. */
    void (*destroy)(Dataset *ds);

    /* Optional: the names of the classes, index -> name ("T-shirt/top"),
     * kept in checkpoints and shown by ./test; NULL when unnamed. */
    const char *const *class_names;
    int n_classes;
    /* Whether get() draws random numbers for training (or validation)
     * samples: a loader that keeps the transformed set on the device
     * (on_device) refuses random ones, which must be drawn every epoch. */
    bool random_train, random_eval;
    /* The validation/test samples are transformed unlike the training ones:
     * a split-validation loader on the device keeps its own copy. */
    bool eval_differs;
};

/* Fills in the classic fields when the dataset declares none; then checks
 * the fields (names, shapes, sizes). -1 with an error naming the field. */
int dataset_check_fields(Dataset *ds);
/* The index of the field called name, or -1. */
int dataset_field(const Dataset *ds, const char *name);
/* get() or collate() for the samples idx[0..n) into out, whichever the
 * dataset has. 0 or -1 with the dataset's error. */
int dataset_collate(const Dataset *ds, const int64_t *idx, int n, const SampleContext *ctx, Batch *out);
/* Calls destroy, then frees ds; NULL is fine. */
void dataset_free(Dataset *ds);

/* ---- the random numbers of one sample ---- */

/* A counter-based stream (Philox, see engine/philox.h) keyed by the run's
 * seed and counted from (epoch, sample index): no state is shared between
 * samples or threads. */
typedef struct {
    uint64_t key;
    uint64_t index, epoch;
    uint32_t block;      /* Philox blocks drawn so far */
    uint32_t words[4];
    int used;            /* words of the current block handed out */
} SampleRng;

SampleRng sample_rng(const SampleContext *ctx, int64_t index);
uint32_t sample_rng_u32(SampleRng *r);
/* Uniform in [0, 1), 53 random bits. */
double sample_rng_uniform(SampleRng *r);
/* Uniform in [low, high) (as torch.empty(1).uniform_(low, high)). */
double sample_rng_range(SampleRng *r, double low, double high);
/* Uniform integer in [low, high], both included; high >= low. */
int64_t sample_rng_int(SampleRng *r, int64_t low, int64_t high);

#endif
