/* Metrics (see metric.h), computed on the host: a [B, C] score matrix is
 * small, and copying it out is cheaper than launching ops for it. */
#include "model/metric.h"

#include <stdlib.h>

#include "utils/registry.h"

/* Host copies of scores and targets, checked; false with an error. */
static bool host_batch(Tensor *output, Tensor *target, float **scores, int64_t **labels, int64_t *b, int64_t *c)
{
    if (!output || !target) return false;
    if (output->shape.ndim != 2 || output->dtype != DT_F32 || target->shape.ndim != 1 ||
        target->dtype != DT_I64 || target->shape.d[0] != output->shape.d[0]) {
        engine_error("metric: expected float32 scores [B, C] and int64 targets [B], got %s %s and %s %s",
                     dtype_name(output->dtype), shape_str(output->shape), dtype_name(target->dtype),
                     shape_str(target->shape));
        return false;
    }
    *b = output->shape.d[0];
    *c = output->shape.d[1];
    *scores = malloc(sizeof(float) * (size_t)(*b * *c + 1));
    *labels = malloc(sizeof(int64_t) * (size_t)(*b + 1));
    ENGINE_ASSERT(*scores && *labels);
    if (tensor_copy_to_buffer(output, *scores) != 0 || tensor_copy_to_buffer(target, *labels) != 0) {
        free(*scores);
        free(*labels);
        return false;
    }
    return true;
}

/* Samples whose target is among the k highest scores (ties broken toward
 * the lower index, as torch.topk/argmax do on CPU). */
static double correct_in_top_k(Tensor *output, Tensor *target, int k)
{
    float *s;
    int64_t *y, b, c;
    if (!host_batch(output, target, &s, &y, &b, &c)) return -1;
    int64_t correct = 0;
    for (int64_t i = 0; i < b; i++) {
        const float *row = s + i * c;
        if (y[i] < 0 || y[i] >= c) continue;
        float v = row[y[i]];
        int64_t better = 0; /* classes ranked above the target */
        for (int64_t j = 0; j < c; j++)
            if (row[j] > v || (row[j] == v && j < y[i])) better++;
        if (better < k) correct++;
    }
    free(s);
    free(y);
    return (double)correct;
}

double accuracy(Tensor *output, Tensor *target) { return correct_in_top_k(output, target, 1); }
double top_k_acc(Tensor *output, Tensor *target) { return correct_in_top_k(output, target, 3); }

static const RegistryEntry metrics[] = {
    {"accuracy", (void (*)(void))accuracy},
    {"top_k_acc", (void (*)(void))top_k_acc},
};

MetricFn metric_lookup(const char *name, const char *config_label)
{
    return (MetricFn)registry_find(metrics, sizeof metrics / sizeof metrics[0], name, config_label, "metrics");
}
