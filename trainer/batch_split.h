/* Data parallelism inside one process (trainer.batch_split): each batch is
 * cut into shards along its first dimension and the threads run the
 * shards' forward and backward passes whole, one shard per thread, on
 * replicas of the model that view its weights (engine/nn module_replica);
 * the loss and metrics still see the whole batch's output, and the
 * replicas' gradients are added into the model's in a fixed order.
 *
 * On a small model this is what makes threads pay: one fork and join per
 * pass instead of one per op. Like DistributedDataParallel it treats the
 * samples of a batch as independent, so models with BatchNorm (whose
 * statistics couple the samples) are not split. The result depends on the
 * number of shards (float sums in another order), not on the threads:
 * "auto" takes one shard per thread, a number fixes it for any thread
 * count. */
#ifndef TRAINER_BATCH_SPLIT_H
#define TRAINER_BATCH_SPLIT_H

#include <stdbool.h>

#include "engine/nn/module.h"
#include "engine/random.h"
#include "utils/config.h"

typedef struct {
    int shards;        /* per batch; 1: off, each batch runs whole */
    bool automatic;    /* trainer.batch_split "auto" (the default) */
    Module *model;
    Module **replicas; /* [shards]: [0] is the model itself */
    Generator *generators;
    /* Set by the caller when the loss's gradient for each output row
     * depends on that row and the targets only, as for a mean over samples
     * (nll_loss, cross_entropy, mse_loss, bce_with_logits: its divisor
     * comes from the targets and the shape). Then each shard takes its
     * rows' gradient itself, from the loss of an output of the whole
     * batch's shape holding its rows and zeros elsewhere: the same values
     * as the joined output's backward gives those rows, and one parallel
     * region per step instead of two. */
    bool loss_rows_separable;
    /* ... for batches whose output has at most this many values
     * (BATCH_SPLIT_OWN_ROWS_MAX_VALUES): each shard then makes an output
     * of the batch's shape and its loss, which for a small output
     * (MnistModel's: 1,280 values) costs far less than a second parallel
     * region, and for a large one (a sequence model's logits over a
     * vocabulary) more than the joined loss on one thread. */
    int64_t own_rows_max_values;
} BatchSplit;

enum { BATCH_SPLIT_OWN_ROWS_MAX_VALUES = 16384 };

/* Reads trainer.batch_split ("auto" or a number of shards >= 1) and makes
 * the replicas (make_replica builds a model from cfg, as the model was
 * built; the default generator's state is kept). "auto" splits when there
 * are several threads, the device is the CPU, the model has a convolution
 * and no BatchNorm, and each shard gets at least 16 samples; an explicit number where a
 * split cannot run is an error naming the key. Under mpirun each rank
 * splits its own batch (the gradients reach .grad after the whole
 * backward, so the averaging over ranks starts then: see trainer.c).
 * 0 or -1 with an error. */
int batch_split_init(BatchSplit *bs, const Config *cfg, Module *model, Module *(*make_replica)(const Config *),
                     Device device, int64_t batch_size);
void batch_split_free(BatchSplit *bs);

/* The loss of an output of the whole batch's shape: returns the tensor to
 * differentiate (the loss, scaled as the step needs). whole: the shards'
 * outputs joined, on the calling thread; the loss to report. Otherwise
 * (loss_rows_separable) one shard's rows and zeros, on the shard's thread:
 * it must not write shared state. */
typedef Tensor *(*BatchSplitLossFn)(void *ctx, Tensor *output, bool whole);

/* One step on batch b (already on the model's device). With loss_fn: the
 * shards' forward passes in parallel, loss_fn on their outputs joined
 * (*output), its backward, the shards' backward passes in parallel, and the
 * replicas' gradients added into the model's; with loss_rows_separable the
 * shards run forward, their rows' loss gradient and backward in one
 * parallel region, and loss_fn sees the joined output after it, under
 * no_grad. Without loss_fn (under no_grad): the forward passes only. amp:
 * forward under autocast to amp_dtype. 0 or -1 with an error. */
int batch_split_step(BatchSplit *bs, const TensorBatch *b, bool amp, DType amp_dtype, BatchSplitLossFn loss_fn,
                     void *ctx, Tensor **output);

#endif
