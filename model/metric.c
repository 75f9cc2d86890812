/* Metrics (see metric.h), written with ops so that they run where the model
 * runs and nothing is copied to the host per batch. */
#include "model/metric.h"

#include "engine/ops.h"
#include "utils/registry.h"

/* Samples whose target is among the k highest scores (t_count_in_top_k:
 * ties broken as torch.topk/argmax do on the CPU; a row holding a NaN or a
 * +Inf never counts, since a NaN target score would have nothing ranked
 * above it and a diverged model's rows of NaN would count as correct; -Inf
 * is an ordinary lowest score). */
static Tensor *correct_in_top_k(Tensor *output, Tensor *target, int k)
{
    if (!output || !target) return NULL;
    /* torch.topk refuses k above the class count: so do we, rather than count every sample */
    ENGINE_CHECK(output->shape.ndim != 2 || k <= output->shape.d[1],
                 "metric: top-%d accuracy needs at least %d classes, got scores %s", k, k, shape_str(output->shape));
    Tensor *correct = t_count_in_top_k(output, target, k);
    if (!correct) engine_error_context("metric"); /* the op's message names the shapes */
    return correct;
}

Tensor *accuracy(Tensor *output, Tensor *target) { return correct_in_top_k(output, target, 1); }
Tensor *top_k_acc(Tensor *output, Tensor *target) { return correct_in_top_k(output, target, 3); }

static const RegistryEntry metrics[] = {
    {"accuracy", (void (*)(void))accuracy},
    {"top_k_acc", (void (*)(void))top_k_acc},
};

MetricFn metric_lookup(const char *name, const char *config_label)
{
    return (MetricFn)registry_find(metrics, sizeof metrics / sizeof metrics[0], name, config_label, "metrics");
}
