/* t_count_in_top_k: the accuracy metrics' count (see engine/ops.h). One
 * kernel where the backend has it; elsewhere the same rules composed from
 * comparisons and sums, so that nothing is copied to the host per batch
 * (index ops check their bounds on the host, which would wait for a GPU,
 * so the target's score is picked by a one-hot mask, not by indexing). */
#include <math.h>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

static Tensor *as_f32(Tensor *mask) { return tensor_to_dtype(mask, DT_F32); }

/* Non-finite scores: a NaN compares false with everything, so without the
 * row rule a NaN target score would have nothing ranked above it, and a row
 * of NaN (a diverged model) would count. */
static Tensor *count_by_ops(Tensor *scores, Tensor *target, int k)
{
    Device device = tensor_device(scores);
    int dim1 = 1;
    Tensor *classes = t_view(tensor_arange(0, (double)scores->shape.d[1], 1, DT_I64, device), SHAPE(1, -1));
    Tensor *y = t_view(target, SHAPE(-1, 1));
    Tensor *is_target = t_eq(classes, y); /* [B, C] one-hot of the targets */
    Tensor *target_score = t_sum(t_where(is_target, scores, tensor_scalar(0, DT_F32, device)), &dim1, 1, true);
    Tensor *above = t_add(as_f32(t_gt(scores, target_score)),
                          t_mul(as_f32(t_eq(scores, target_score)), as_f32(t_lt(classes, y))));
    Tensor *ranked_above = t_sum(above, &dim1, 1, false); /* [B] */
    /* a target outside [0, C) matches no class */
    Tensor *in_range = t_sum(as_f32(is_target), &dim1, 1, false);
    /* below +Inf is false for NaN and +Inf: rows where every score is below it */
    Tensor *below_inf = t_sum(as_f32(t_lt(scores, tensor_scalar(INFINITY, DT_F32, device))), &dim1, 1, false);
    Tensor *row_ok = as_f32(t_eq(below_inf, tensor_scalar((double)scores->shape.d[1], DT_F32, device)));
    Tensor *hit = t_mul(t_mul(as_f32(t_lt(ranked_above, tensor_scalar(k, DT_F32, device))), in_range), row_ok);
    return t_sum(hit, NULL, 0, false);
}

Tensor *t_count_in_top_k(Tensor *scores, Tensor *target, int k)
{
    if (!scores || !target) return NULL;
    ENGINE_CHECK(scores->shape.ndim == 2 && scores->dtype == DT_F32 && target->shape.ndim == 1 &&
                     target->dtype == DT_I64 && target->shape.d[0] == scores->shape.d[0],
                 "count_in_top_k: expected float32 scores [B, C] and int64 targets [B], got %s %s and %s %s",
                 dtype_name(scores->dtype), shape_str(scores->shape), dtype_name(target->dtype),
                 shape_str(target->shape));
    ENGINE_CHECK(k >= 1 && k <= scores->shape.d[1], "count_in_top_k: k = %d is outside [1, %lld], the classes of %s",
                 k, (long long)scores->shape.d[1], shape_str(scores->shape));
    CHECK_SAME_DEVICE("count_in_top_k", scores, target);
    bool mode = no_grad_begin(); /* a count: no graph */
    Tensor *count;
    if (backend_of(scores)->count_in_top_k) {
        Tensor *s = t_contiguous(scores), *t = t_contiguous(target);
        count = s && t ? tensor_empty(SCALAR_SHAPE, DT_F32, tensor_device(scores)) : NULL;
        if (count) backend_of(count)->count_in_top_k(count, s, t, k);
    } else {
        count = count_by_ops(scores, target, k);
    }
    grad_mode_restore(mode);
    return count;
}
