/* CPU kernels for the metrics' counts. */
#ifndef ENGINE_CPU_METRIC_H
#define ENGINE_CPU_METRIC_H

#include "engine/tensor.h"

/* out (f32, one element) = the number of rows of scores (contiguous f32
 * [B, C]) whose target (contiguous i64 [B]) is among the k highest scores
 * (see t_count_in_top_k), in one pass. */
void cpu_count_in_top_k(Tensor *out, const Tensor *scores, const Tensor *target, int k);

#endif
