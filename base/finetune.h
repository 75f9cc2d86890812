/* Freezing and unfreezing from config.json, as transfer learning does it:
 *   "arch": {..., "freeze": ["conv1.*", "conv2.*"]},
 *   "trainer": {..., "unfreeze_epoch": 5}
 * arch.freeze (shell globs over the model's parameter names,
 * utils/name_patterns.h) turns requires_grad off for those parameters: they
 * get no optimizer slot (train.c gives the optimizer trainable parameters
 * only) and no backward work (autograd records no node for an op none of
 * whose inputs requires grad, so a frozen backbone below the first trainable
 * layer is not differentiated at all). trainer.unfreeze_epoch (>= 1, only
 * with arch.freeze) turns them on again at the start of that epoch, as
 * PyTorch Lightning's BackboneFinetuning does, adding them to the optimizer
 * as new parameter groups (utils/param_groups.h: the default
 * hyperparameters, or those of the optimizer.param_groups entry that claims
 * them); the LR scheduler takes the groups in (engine/optim/lr_scheduler.h).
 * BatchNorm's running statistics are buffers: freezing leaves them updating
 * in training mode, as in PyTorch. */
#ifndef BASE_FINETUNE_H
#define BASE_FINETUNE_H

#include <stdint.h>

#include "engine/nn/nn.h"
#include "engine/optim/optim.h"
#include "logger/logger.h"
#include "utils/config.h"

/* Freezes what arch.freeze names and checks trainer.unfreeze_epoch; call it
 * before the optimizer is made. 0, or -1 with an error (a pattern that
 * matches no parameter, unfreeze_epoch without freeze...). */
int finetune_freeze_from_config(const Config *cfg, Module *model, const Logger *lg);

/* trainer.unfreeze_epoch, 0 when absent; -1 with an error when it is below 1
 * or comes without arch.freeze. */
int finetune_unfreeze_epoch(const Config *cfg, int64_t *epoch);

/* Unfreezes what arch.freeze froze: requires_grad on, the parameters added
 * to opt as new groups, which sched (may be NULL) takes in. lg NULL: no log.
 * 0, or -1 with an error. */
int finetune_unfreeze(const Config *cfg, Module *model, Optimizer *opt, LRScheduler *sched, const Logger *lg);

#endif
