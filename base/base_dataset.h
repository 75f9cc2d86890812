/* The abstract Dataset, as torch.utils.data.Dataset: a length (len) and one
 * sample by index (get), plus optionally a collate that assembles a whole
 * batch at once. BaseDataLoader (base_data_loader.h) batches, shuffles and
 * splits any Dataset; the concrete ones (MNIST, ImageFolder...) live in
 * data_loader/.
 *
 * A custom dataset fills in the struct (or embeds it first in its own):
 *
 *   static int my_get(const Dataset *ds, int64_t i, const SampleContext *ctx, Sample *s)
 *   {
 *       for (int64_t k = 0; k < 28 * 28; k++) s->input[k] = ...;  // numel(sample_shape) floats
 *       s->target = ...;                                           // class index
 *       return 0;                                                  // or -1 after engine_error()
 *   }
 *   Dataset *ds = calloc(1, sizeof *ds);
 *   ds->length = n; ds->sample_shape = SHAPE(1, 28, 28); ds->get = my_get;
 *
 * get() is called from the loader's worker threads, several at once, so it
 * must only read the dataset. Random augmentation draws from
 * sample_rng(ctx, i): the numbers depend on the run's seed, the epoch and
 * the sample index alone, so a run is reproducible and a resumed run draws
 * what the uninterrupted one drew, whatever num_workers is.
 *
 * Today a sample is one f32 input of a fixed shape and one int64 class
 * index; Sample and Batch are structs so that more named fields (lengths,
 * masks, other targets) can join them without changing get() or collate(). */
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

/* One sample, written by get(). */
typedef struct {
    float *input;   /* numel(sample_shape) floats, provided by the caller */
    int64_t target; /* the class index */
} Sample;

/* n samples, row after row. */
typedef struct {
    int n;
    float *input;   /* [n, ...sample_shape] */
    int64_t *target; /* [n] */
} Batch;

typedef struct Dataset Dataset;
struct Dataset {
    const char *name;
    int64_t length;     /* len(dataset) */
    Shape sample_shape; /* one input as get() writes it, e.g. [1, 28, 28] */
    /* Sample `index` (0 <= index < length). 0, or -1 with an error naming
     * what failed (the file, the sample). */
    int (*get)(const Dataset *ds, int64_t index, const SampleContext *ctx, Sample *out);
    /* Optional: assembles the samples idx[0..n) into out at once (out->n ==
     * n); NULL: get() for each, stacked (PyTorch's default collate). */
    int (*collate)(const Dataset *ds, const int64_t *idx, int n, const SampleContext *ctx, Batch *out);
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
