/* Checkpoints: one safetensors file holding the model's weights under
 * PyTorch's state_dict names ("conv1.weight"), the optimizer's state tensors
 * under "optimizer.state.<i>.<name>", and in the metadata: the arch, epoch,
 * monitor_best, the early-stop counter, optimizer and LR-scheduler state,
 * the RNG states, the training loader's position, the run's config and,
 * when the dataset names its classes, their names ("class_names").
 * ./test and resume need nothing else. A checkpoint saved inside an epoch
 * (on SIGINT/SIGTERM) also holds the epoch's progress: the batches done and
 * the running totals of the epoch's training metrics.
 * Written atomically: a crash leaves the old file or the new one. Every
 * number read back is range-checked: a damaged or hostile file is an error
 * naming the file and the entry, never a run that counts from a wrapped
 * epoch. Checkpoint save/load is BaseTrainer's side, as in pytorch-template.
 *
 * In PyTorch: w = safetensors.torch.load_file(path);
 *   model.load_state_dict({k: v for k, v in w.items() if not k.startswith("optimizer.")}) */
#ifndef BASE_CHECKPOINT_H
#define BASE_CHECKPOINT_H

#include "base/base_data_loader.h"
#include "engine/nn/nn.h"
#include "engine/optim/grad_scaler.h"
#include "engine/optim/optim.h"
#include "engine/random.h"
#include "engine/serialize/safetensors.h"
#include "utils/config.h"
#include "utils/metric_tracker.h"

#define CHECKPOINT_FORMAT "ctorch-template checkpoint v1"

/* Where an interrupted epoch stood: its number, the training batches done
 * and the running totals of its training metrics (so the epoch's logged
 * averages come out as in an uninterrupted run). */
typedef struct {
    int64_t epoch;
    int64_t batch;
    MetricTracker train;
} EpochProgress;

typedef struct {
    const Module *model;
    Optimizer *optimizer;     /* may be NULL */
    const LRScheduler *scheduler; /* may be NULL */
    int64_t epoch;
    double monitor_best;
    int64_t not_improved_count;
    const Generator *rng_default;     /* may be NULL */
    const DataLoaderPosition *loader; /* the training loader's; may be NULL */
    const EpochProgress *progress;    /* inside an epoch; NULL at an epoch's end */
    const Config *config;
    const char *const *class_names;   /* the dataset's, index -> name; NULL when unnamed */
    int n_classes;
    /* the training's data-parallel layout: ranks x batch_size per rank (a
     * single process: 1 x batch_size); 0: not recorded */
    int64_t ranks, rank_batch_size;
    const GradScaler *grad_scaler; /* fp16 mixed precision's loss scaler; may be NULL */
} CheckpointContent;

int checkpoint_save(const char *path, const CheckpointContent *c);

typedef struct {
    char *path;
    Safetensors *st;
    Config *config; /* the run's config, from the metadata */
    const char *arch;
    int64_t epoch;
    double monitor_best;
    int64_t not_improved_count;
    uint64_t rng_default[2];
    DataLoaderPosition loader;
    bool has_loader;
    const char *optimizer_json; /* NULL when absent */
    const char *scheduler_json;
    const char *grad_scaler_json; /* GradScaler state (fp16 amp runs); NULL when absent */
    int64_t global_batch_size; /* ranks x batch_size of the run that saved it; 0: not recorded */
    bool has_progress; /* saved inside an epoch */
    int64_t progress_epoch, progress_batch;
    int n_totals;
    char total_keys[TRACKER_MAX_KEYS][48];
    double totals[TRACKER_MAX_KEYS];
    int64_t counts[TRACKER_MAX_KEYS];
    char **class_names; /* NULL when the checkpoint names no classes */
    int n_classes;
} Checkpoint;

/* NULL with an error naming the file: missing, truncated, not safetensors,
 * not one of our checkpoints, or metadata out of range. */
Checkpoint *checkpoint_load(const char *path);
/* Strict: an architecture mismatch lists the missing/unexpected keys. */
int checkpoint_restore_model(const Checkpoint *ck, Module *model);
int checkpoint_restore_optimizer(const Checkpoint *ck, Optimizer *opt);
/* The saved totals of an interrupted epoch into t (keys matched by name;
 * a key the checkpoint lacks is an error). */
int checkpoint_restore_progress(const Checkpoint *ck, MetricTracker *t);
void checkpoint_free(Checkpoint *ck);

#endif
