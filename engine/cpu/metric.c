/* See metric.h. The rules are t_count_in_top_k's (engine/ops.h): a class
 * ranks above the target when its score is higher, or equal with a lower
 * index; rows holding NaN or +Inf and targets outside [0, C) never count.
 * A batch's metrics are a few thousand comparisons: one thread, one pass,
 * where composing them from ops cost some 20 small ops per metric. */
#include "engine/cpu/metric.h"

#include <math.h>

/* Whether the row's target is among its k highest scores. */
static bool row_in_top_k(const float *row, int64_t c, int64_t t, int k)
{
    if (t < 0 || t >= c) return false;
    float ts = row[t];
    int64_t above = 0;
    for (int64_t j = 0; j < c; j++) {
        float s = row[j];
        if (!(s < INFINITY)) return false; /* NaN or +Inf */
        above += (s > ts) | ((s == ts) & (j < t));
    }
    return above < k;
}

void cpu_count_in_top_k(Tensor *out, const Tensor *scores, const Tensor *target, int k)
{
    int64_t b = scores->shape.d[0], c = scores->shape.d[1], count = 0;
    const float *s = tensor_f32(scores);
    const int64_t *t = tensor_i64(target);
    for (int64_t i = 0; i < b; i++) count += row_in_top_k(s + i * c, c, t[i], k);
    tensor_f32(out)[0] = (float)count;
}
