/* CPU softmax and log-softmax kernels over one dim of a contiguous tensor. */
#ifndef ENGINE_CPU_SOFTMAX_H
#define ENGINE_CPU_SOFTMAX_H

#include <stdbool.h>

#include "engine/tensor.h"

/* out = softmax(x) (log_softmax when log_out) along dim; x and out contiguous, of
 * one shape; dim already wrapped (any value for a 0-dim tensor). */
void cpu_softmax(Tensor *out, const Tensor *x, int dim, bool log_out);
/* grad_in from the output gradient g and the forward output y, all
 * contiguous: softmax y * (g - sum(g * y)), log_softmax g - exp(y) * sum(g). */
void cpu_softmax_backward(Tensor *grad_in, const Tensor *g, const Tensor *y, int dim, bool log_out);

#endif
