/* CUDA softmax and log-softmax kernels over one dim of a contiguous tensor:
 * the twins of engine/cpu/softmax.h, with the same signatures and contracts. */
#ifndef ENGINE_CUDA_SOFTMAX_H
#define ENGINE_CUDA_SOFTMAX_H

#include <stdbool.h>

#include "engine/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out = softmax(x) (log_softmax when log_out) along dim; both contiguous. */
void cuda_softmax(Tensor *out, const Tensor *x, int dim, bool log_out);
/* softmax: y * (g - sum(g * y)); log_softmax: g - exp(y) * sum(g). */
void cuda_softmax_backward(Tensor *grad_in, const Tensor *g, const Tensor *y, int dim, bool log_out);

#ifdef __cplusplus
}
#endif

#endif
