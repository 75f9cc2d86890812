/* The loss registry (see loss.h). */
#include "model/loss.h"

#include <stdio.h>
#include <string.h>

#include "engine/ops.h"
#include "utils/registry.h"

Tensor *nll_loss(Tensor *output, Tensor *target)
{
    return f_nll_loss(output, target, NULL, -100, REDUCTION_MEAN);
}

Tensor *cross_entropy(Tensor *output, Tensor *target)
{
    return f_cross_entropy(output, target, NULL, -100, REDUCTION_MEAN, 0.0);
}

/* Regression: float targets of the output's shape ([B, 1] for one value). */
Tensor *mse_loss(Tensor *output, Tensor *target) { return f_mse_loss(output, target, REDUCTION_MEAN); }

/* Multi-label: one logit per label and float 0/1 targets of the same shape. */
Tensor *bce_with_logits(Tensor *output, Tensor *target)
{
    return f_binary_cross_entropy_with_logits(output, target, NULL, NULL, REDUCTION_MEAN);
}

static const RegistryEntry losses[] = {
    {"nll_loss", (void (*)(void))nll_loss},
    {"cross_entropy", (void (*)(void))cross_entropy},
    {"mse_loss", (void (*)(void))mse_loss},
    {"bce_with_logits", (void (*)(void))bce_with_logits},
};

LossFn loss_lookup(const char *name, const char *config_label)
{
    return (LossFn)registry_find(losses, sizeof losses / sizeof losses[0], name, config_label, "loss");
}
