/* Optimizers and LR schedulers from config.json's "optimizer" and
 * "lr_scheduler" blocks ({"type": "Adam", "args": {...}}), with PyTorch's
 * argument names. Unknown types list the known ones; unknown arguments list
 * the accepted ones (as PyTorch refuses unexpected keyword arguments). */
#ifndef UTILS_OPTIM_CONFIG_H
#define UTILS_OPTIM_CONFIG_H

#include "engine/optim/optim.h"
#include "utils/config.h"

/* params: the trainable parameters, all in one group. NULL with an error.
 * (utils/param_groups.h builds the groups optimizer.param_groups asks for.) */
Optimizer *optimizer_from_config(const Config *cfg, Tensor **params, int n);
/* The constructor arguments of optimizer type ("SGD": lr, momentum, ...),
 * which are also the keys a parameter group may set; NULL (*n = 0) for an
 * unknown type. */
const ArgSpec *optimizer_arg_specs(const char *type, int *n);
/* built, or NULL with the pending error prefixed by "<config>: <args_path>: "
 * unless it names the config already (errors of the engine's constructors). */
void *optim_config_in_context(void *built, const Config *cfg, const char *args_path);
/* NULL with *absent = true when the config has no "lr_scheduler" block;
 * NULL with an error otherwise. steps_per_epoch is for OneCycleLR. */
LRScheduler *scheduler_from_config(const Config *cfg, Optimizer *opt, int64_t epochs, int64_t steps_per_epoch,
                                   bool *absent);

#endif
