/* Trainer, as in pytorch-template's trainer/trainer.py: train_epoch runs
 * zero_grad, forward, loss, backward and step over the training loader
 * (epoch-based, or iteration-based with len_epoch), logs progress every
 * log_step batches, then runs valid_epoch and steps the LR scheduler
 * (ReduceLROnPlateau with the monitored metric; OneCycleLR every batch).
 * With trainer.accumulate_grad_batches = K the optimizer steps every K
 * batches on the sum of their gradients (each loss scaled by 1/K, as
 * Lightning does). Under mpirun every rank trains on its shard and the
 * gradients are averaged (dist/ddp.h); the logged losses and metrics are
 * the global batch's, the same on every rank, so decisions (divergence,
 * early stop, interrupts) are taken once for all. */
#ifndef TRAINER_TRAINER_H
#define TRAINER_TRAINER_H

#include "base/base_trainer.h"
#include "trainer/batch_split.h"

typedef struct {
    BaseTrainer base;
    Device device;
    DataLoader *data_loader;
    DataLoader *valid_data_loader; /* may be NULL */
    int64_t len_epoch;             /* batches per epoch */
    bool iteration_based;
    int64_t log_step;
    bool scheduler_per_batch;
    const char *tracker_keys[TRAINER_MAX_METRICS + 1];
    MetricTracker train_metrics, valid_metrics;
    int64_t accumulate;   /* trainer.accumulate_grad_batches: batches per optimizer step */
    double bucket_mb;     /* distributed.bucket_mb */
    bool find_unused;     /* distributed.find_unused_parameters */
    struct DDP *ddp;      /* distributed runs: the gradient averaging; NULL in a single process */
    int ddp_params;       /* the trainable parameters it averages */
    bool zero_enabled;    /* distributed.zero = 1 */
    struct Zero *zero;    /* the optimizer state's owners (ZeRO-1); NULL otherwise */
    /* mixed precision ("amp": {"enabled", "dtype"}): forward and loss under
     * autocast; fp16 scales the loss with the GradScaler */
    bool amp;
    DType amp_dtype;
    GradScaler scaler;
    BatchSplit split; /* trainer.batch_split: shards of each batch on the threads */
} Trainer;

/* len_epoch 0 = epoch-based. 0 or -1 with an error. */
int trainer_init(Trainer *t, ConfigParser *cp, Module *model, LossFn criterion, int n_metrics,
                 const char *const *metric_names, const MetricFn *metric_fns, Optimizer *optimizer, Device device,
                 DataLoader *data_loader, DataLoader *valid_data_loader, LRScheduler *lr_scheduler, int64_t len_epoch);
void trainer_free(Trainer *t);

#endif
