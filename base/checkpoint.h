/* Checkpoints: one safetensors file holding the model's weights under
 * PyTorch's state_dict names ("conv1.weight"), the optimizer's state tensors
 * under "optimizer.state.<i>.<name>", and in the metadata: the arch, epoch,
 * monitor_best, the early-stop counter, optimizer and LR-scheduler state,
 * the RNG states, the training loader's position and the run's config.
 * ./test and resume need nothing else.
 * Written atomically: a crash leaves the old file or the new one.
 *
 * In PyTorch: w = safetensors.torch.load_file(path);
 *   model.load_state_dict({k: v for k, v in w.items() if not k.startswith("optimizer.")}) */
#ifndef UTILS_CHECKPOINT_H
#define UTILS_CHECKPOINT_H

#include "base/base_data_loader.h"
#include "engine/nn/nn.h"
#include "engine/optim/optim.h"
#include "engine/random.h"
#include "engine/serialize/safetensors.h"
#include "utils/config.h"

#define CHECKPOINT_FORMAT "ctorch-template checkpoint v1"

typedef struct {
    const Module *model;
    Optimizer *optimizer;     /* may be NULL */
    const LRScheduler *scheduler; /* may be NULL */
    int64_t epoch;
    double monitor_best;
    int64_t not_improved_count;
    const Generator *rng_default;     /* may be NULL */
    const DataLoaderPosition *loader; /* the training loader's; may be NULL */
    const Config *config;
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
} Checkpoint;

/* NULL with an error naming the file: missing, truncated, not safetensors,
 * or not one of our checkpoints. */
Checkpoint *checkpoint_load(const char *path);
/* Strict: an architecture mismatch lists the missing/unexpected keys. */
int checkpoint_restore_model(const Checkpoint *ck, Module *model);
int checkpoint_restore_optimizer(const Checkpoint *ck, Optimizer *opt);
void checkpoint_free(Checkpoint *ck);

#endif
