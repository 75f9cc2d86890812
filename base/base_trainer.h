/* BaseTrainer, as in pytorch-template: owns the epoch loop, the monitor
 * ("min val_loss", "max val_accuracy" or "off"), early stopping (0 turns it
 * off), checkpointing every save_period epochs plus model_best, and resume.
 * A concrete trainer supplies train_epoch (see trainer/trainer.h). It
 * unfreezes arch.freeze's parameters at trainer.unfreeze_epoch (see
 * base/finetune.h), and a resumed run past that epoch rebuilds the
 * optimizer's groups as they were before loading its state. It also
 * owns what shows the run: the TensorBoard writer (logger/visualization.h),
 * and metrics.csv and curves.png in the run's log folder, written every epoch. */
#ifndef BASE_BASE_TRAINER_H
#define BASE_BASE_TRAINER_H

#include "base/base_data_loader.h"
#include "base/checkpoint.h"
#include "engine/nn/nn.h"
#include "engine/optim/optim.h"
#include "logger/csv_log.h"
#include "logger/logger.h"
#include "logger/visualization.h"
#include "model/loss.h"
#include "model/metric.h"
#include "utils/metric_tracker.h"
#include "parse_config.h"

#define TRAINER_MAX_METRICS 8

typedef enum { MONITOR_OFF, MONITOR_MIN, MONITOR_MAX } MonitorMode;

typedef struct BaseTrainer BaseTrainer;

/* Fills log with the epoch's results ("loss", metrics, "val_..."). 0, -1
 * with an error, or TRAIN_INTERRUPTED when SIGINT/SIGTERM asked the run to
 * stop: the function then stopped after a whole step and filled
 * bt->progress with where the epoch stands. */
typedef int (*TrainEpochFn)(BaseTrainer *bt, int64_t epoch, LogDict *log);
enum { TRAIN_INTERRUPTED = 1 };

struct BaseTrainer {
    TrainEpochFn train_epoch;
    ConfigParser *cp;
    Logger logger;
    Module *model;
    LossFn criterion;
    int n_metrics;
    const char *metric_names[TRAINER_MAX_METRICS];
    MetricFn metric_fns[TRAINER_MAX_METRICS];
    Optimizer *optimizer;
    LRScheduler *lr_scheduler; /* may be NULL */
    const GradScaler *grad_scaler; /* fp16 mixed precision: saved in checkpoints (trainer.c sets it); may be NULL */
    DataLoader *data_loader;   /* the training loader: its position (order, batch) is checkpointed */

    int64_t epochs, save_period, early_stop; /* early_stop <= 0: never */
    MonitorMode mnt_mode;
    char mnt_metric[48];
    double mnt_best;
    int64_t not_improved_count;
    int64_t start_epoch;
    const Checkpoint *resume; /* the checkpoint resumed from (the parser's), or NULL */
    bool resume_in_epoch;     /* resume->has_progress, until train_epoch has taken it */
    EpochProgress progress;   /* where an interrupted epoch stood */
    int64_t epochs_done;      /* by this process */
    int64_t unfreeze_epoch;   /* trainer.unfreeze_epoch; 0: none */
    bool unfrozen;            /* arch.freeze's parameters train again */
    char interrupted_path[4200]; /* the checkpoint an interrupt left, "" otherwise */

    /* Optional, around every checkpoint write, on every rank (collectives
     * may gather what rank 0 saves: a sharded optimizer state). */
    int (*before_save)(BaseTrainer *bt);
    int (*after_save)(BaseTrainer *bt);
    TensorboardWriter writer; /* a no-op writer when "tensorboard" is false */
    MetricsLog metrics_csv;   /* not open when the run has no log folder */
};

/* Reads the trainer settings from cp's config and, when cp resumes, restores
 * the checkpoint (weights, optimizer, scheduler, counters, RNG states,
 * data_loader's position).
 * 0 or -1 with an error. */
int base_trainer_init(BaseTrainer *bt, ConfigParser *cp, Module *model, LossFn criterion, int n_metrics,
                      const char *const *metric_names, const MetricFn *metric_fns, Optimizer *optimizer,
                      LRScheduler *lr_scheduler, DataLoader *data_loader, TrainEpochFn train_epoch);

/* The full training loop. 0, -1 with an error, or TRAIN_INTERRUPTED after
 * saving bt->interrupted_path. */
int base_trainer_train(BaseTrainer *bt);
/* Closes the event file and metrics.csv. */
void base_trainer_free(BaseTrainer *bt);

#endif
