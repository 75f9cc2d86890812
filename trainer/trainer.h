/* Trainer, as in pytorch-template's trainer/trainer.py: train_epoch runs
 * zero_grad, forward, loss, backward and step over the training loader
 * (epoch-based, or iteration-based with len_epoch), logs progress every
 * log_step batches, then runs valid_epoch and steps the LR scheduler
 * (ReduceLROnPlateau with the monitored metric; OneCycleLR every batch). */
#ifndef TRAINER_TRAINER_H
#define TRAINER_TRAINER_H

#include "base/base_trainer.h"

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
} Trainer;

/* len_epoch 0 = epoch-based. 0 or -1 with an error. */
int trainer_init(Trainer *t, ConfigParser *cp, Module *model, LossFn criterion, int n_metrics,
                 const char *const *metric_names, const MetricFn *metric_fns, Optimizer *optimizer, Device device,
                 DataLoader *data_loader, DataLoader *valid_data_loader, LRScheduler *lr_scheduler, int64_t len_epoch);

#endif
