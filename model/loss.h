/* Loss functions selectable by name in config.json ("loss": "nll_loss"),
 * like pytorch-template's model/loss.py. Add yours to the table in loss.c. */
#ifndef MODEL_LOSS_H
#define MODEL_LOSS_H

#include <stdbool.h>

#include "engine/tensor.h"

typedef Tensor *(*LossFn)(Tensor *output, Tensor *target);

/* The loss called name, or NULL with an error listing the known names. */
LossFn loss_lookup(const char *name, const char *config_label);
/* Whether fn's gradient for each output row depends on that row and the
 * targets only: the means over samples above (their divisor comes from the
 * targets and the shape). A batch split then needs one parallel region a
 * step (trainer/batch_split.h). A loss added to the table is taken as not. */
bool loss_rows_separable(LossFn fn);

Tensor *nll_loss(Tensor *output, Tensor *target);
Tensor *cross_entropy(Tensor *output, Tensor *target);
/* Regression (float targets shaped as the output) and multi-label
 * classification (logits and 0/1 float targets [B, labels]). */
Tensor *mse_loss(Tensor *output, Tensor *target);
Tensor *bce_with_logits(Tensor *output, Tensor *target);

#endif
