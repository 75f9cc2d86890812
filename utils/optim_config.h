/* Optimizers and LR schedulers from config.json's "optimizer" and
 * "lr_scheduler" blocks ({"type": "Adam", "args": {...}}), with PyTorch's
 * argument names. Unknown types list the known ones; unknown arguments list
 * the accepted ones (as PyTorch refuses unexpected keyword arguments). */
#ifndef UTILS_OPTIM_CONFIG_H
#define UTILS_OPTIM_CONFIG_H

#include "engine/optim/optim.h"
#include "utils/config.h"

/* params: the trainable parameters. NULL with an error. */
Optimizer *optimizer_from_config(const Config *cfg, Tensor **params, int n);
/* NULL with *absent = true when the config has no "lr_scheduler" block;
 * NULL with an error otherwise. steps_per_epoch is for OneCycleLR. */
LRScheduler *scheduler_from_config(const Config *cfg, Optimizer *opt, int64_t epochs, int64_t steps_per_epoch,
                                   bool *absent);

#endif
