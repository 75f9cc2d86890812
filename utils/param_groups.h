/* Per-module hyperparameters from config.json, as PyTorch's per-parameter
 * options ("param groups"):
 *   "optimizer": {"type": "SGD", "args": {"lr": 0.1, "momentum": 0.9},
 *                 "param_groups": [{"params": ["fc*"], "lr": 0.01}]}
 * Each entry's "params" are name patterns (utils/name_patterns.h) over the
 * model's parameter names; its other keys are arguments of the optimizer
 * ("lr", "weight_decay", "momentum", "betas", ...) that override "args" for
 * those parameters. The parameters no entry claims form the default group,
 * with "args" alone. A parameter claimed twice is an error, as in PyTorch,
 * and so is a pattern that matches no parameter.
 *
 * Group layout: the default group first, then one group per entry, in
 * config order, each holding its trainable parameters (requires_grad) in
 * state_dict order; a group with none is left out. Parameters unfrozen
 * later are added as new groups the same way (see base/finetune.h), so a
 * resumed run can rebuild the layout from its config alone. */
#ifndef UTILS_PARAM_GROUPS_H
#define UTILS_PARAM_GROUPS_H

#include "engine/nn/nn.h"
#include "engine/optim/optim.h"
#include "utils/config.h"

/* The optimizer for model's trainable parameters. NULL with an error. */
Optimizer *optimizer_from_config_for_model(const Config *cfg, const Module *model);

/* Adds params (parameters of model that were frozen and now train) as new
 * groups, laid out as above. Returns the number of groups added, or -1 with
 * an error (nothing is added then). */
int optimizer_add_params_from_config(const Config *cfg, Optimizer *opt, const Module *model, Tensor *const *params,
                                     int n);

/* Describes group g for the log: "3 tensors (fc1.weight, ...), lr 0.01". */
void param_group_describe(const Optimizer *opt, int g, const Module *model, char *buf, size_t size);

#endif
