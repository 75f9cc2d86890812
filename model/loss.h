/* Loss functions selectable by name in config.json ("loss": "nll_loss"),
 * like pytorch-template's model/loss.py. Add yours to the table in loss.c. */
#ifndef MODEL_LOSS_H
#define MODEL_LOSS_H

#include "engine/tensor.h"

typedef Tensor *(*LossFn)(Tensor *output, Tensor *target);

/* The loss called name, or NULL with an error listing the known names. */
LossFn loss_lookup(const char *name, const char *config_label);

Tensor *nll_loss(Tensor *output, Tensor *target);
Tensor *cross_entropy(Tensor *output, Tensor *target);
/* Regression (float targets shaped as the output) and multi-label
 * classification (logits and 0/1 float targets [B, labels]). */
Tensor *mse_loss(Tensor *output, Tensor *target);
Tensor *bce_with_logits(Tensor *output, Tensor *target);

#endif
