/* CPU reduction kernels. */
#ifndef ENGINE_CPU_REDUCE_H
#define ENGINE_CPU_REDUCE_H

#include <stdbool.h>

#include "engine/tensor.h"

/* out (contiguous, keepdim shape: 1 on every reduced dim) = sum of in over
 * the dims where reduce[d] is true; accumulates in double. */
void cpu_sum(Tensor *out, const Tensor *in, const bool *reduce);

#endif
