/* Metrics (see metric.h), written with ops so that they run where the model
 * runs and nothing is copied to the host per batch. */
#include "model/metric.h"

#include <math.h>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "utils/registry.h"

static Tensor *as_f32(Tensor *mask) { return tensor_to_dtype(mask, DT_F32); }

/* Samples whose target is among the k highest scores. A class ranks above
 * the target when its score is higher, or equal with a lower index (ties
 * broken as torch.topk/argmax do on the CPU). No indexing by the targets:
 * index ops check their bounds on the host, which would wait for the GPU.
 *
 * Non-finite scores: a row holding a NaN or a +Inf anywhere never counts
 * as correct. A NaN compares false with everything, so without this rule a
 * NaN target score would have nothing ranked above it and a row of NaN
 * (a diverged model: log_softmax of an infinite logit is NaN throughout)
 * would count as correct. +Inf is no score a trained model gives either (a
 * log-probability is at most 0, a logit overflowed), so a row with one is
 * refused too. -Inf is an ordinary lowest score (log_softmax of a masked
 * or underflowed class) and ranks as such. */
static Tensor *correct_in_top_k(Tensor *output, Tensor *target, int k)
{
    if (!output || !target) return NULL;
    ENGINE_CHECK(output->shape.ndim == 2 && output->dtype == DT_F32 && target->shape.ndim == 1 &&
                     target->dtype == DT_I64 && target->shape.d[0] == output->shape.d[0],
                 "metric: expected float32 scores [B, C] and int64 targets [B], got %s %s and %s %s",
                 dtype_name(output->dtype), shape_str(output->shape), dtype_name(target->dtype),
                 shape_str(target->shape));
    /* torch.topk refuses k above the class count: so do we, rather than count every sample */
    ENGINE_CHECK(k <= output->shape.d[1], "metric: top-%d accuracy needs at least %d classes, got scores %s", k, k,
                 shape_str(output->shape));
    bool mode = no_grad_begin(); /* like the reference's torch.no_grad(): no graph for a metric */
    Device device = tensor_device(output);
    Tensor *classes = t_view(tensor_arange(0, (double)output->shape.d[1], 1, DT_I64, device), SHAPE(1, -1));
    Tensor *y = t_view(target, SHAPE(-1, 1));
    Tensor *is_target = t_eq(classes, y); /* [B, C] one-hot of the targets */
    int dim1 = 1;
    Tensor *target_score = t_sum(t_where(is_target, output, tensor_scalar(0, DT_F32, device)), &dim1, 1, true);
    Tensor *above = t_add(as_f32(t_gt(output, target_score)),
                          t_mul(as_f32(t_eq(output, target_score)), as_f32(t_lt(classes, y))));
    Tensor *ranked_above = t_sum(above, &dim1, 1, false); /* [B] */
    /* a target outside [0, C) matches no class and never counts as correct */
    Tensor *in_range = t_sum(as_f32(is_target), &dim1, 1, false);
    /* below +Inf is false for NaN and +Inf: rows where every score is below it */
    Tensor *below_inf = t_sum(as_f32(t_lt(output, tensor_scalar(INFINITY, DT_F32, device))), &dim1, 1, false);
    Tensor *row_ok = as_f32(t_eq(below_inf, tensor_scalar((double)output->shape.d[1], DT_F32, device)));
    Tensor *hit = t_mul(t_mul(as_f32(t_lt(ranked_above, tensor_scalar(k, DT_F32, device))), in_range), row_ok);
    Tensor *correct = t_sum(hit, NULL, 0, false);
    grad_mode_restore(mode);
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
