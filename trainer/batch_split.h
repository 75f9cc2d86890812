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
} BatchSplit;

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

/* The loss of the whole batch's output, on the calling thread: returns the
 * tensor to differentiate (the loss, scaled as the step needs). */
typedef Tensor *(*BatchSplitLossFn)(void *ctx, Tensor *output);

/* One step on batch b (already on the model's device). With loss_fn: the
 * shards' forward passes in parallel, loss_fn on their outputs joined
 * (*output), its backward, the shards' backward passes in parallel, and the
 * replicas' gradients added into the model's. Without (under no_grad): the
 * forward passes only. amp: forward under autocast to amp_dtype. 0 or -1
 * with an error. */
int batch_split_step(BatchSplit *bs, const TensorBatch *b, bool amp, DType amp_dtype, BatchSplitLossFn loss_fn,
                     void *ctx, Tensor **output);

#endif
