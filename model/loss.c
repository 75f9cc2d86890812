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

static const RegistryEntry losses[] = {
    {"nll_loss", (void (*)(void))nll_loss},
    {"cross_entropy", (void (*)(void))cross_entropy},
};

LossFn loss_lookup(const char *name, const char *config_label)
{
    return (LossFn)registry_find(losses, sizeof losses / sizeof losses[0], name, config_label, "loss");
}
