/* Gradient clipping (torch.nn.utils.clip_grad_norm_ / clip_grad_value_).
 * Parameters without a .grad are ignored; gradients are changed in place. */
#ifndef ENGINE_OPTIM_CLIP_GRAD_H
#define ENGINE_OPTIM_CLIP_GRAD_H

#include "engine/tensor.h"

/* Scales the gradients so that their total norm (as if concatenated into
 * one vector) is at most max_norm: each is multiplied by
 * min(max_norm / (total_norm + 1e-6), 1). norm_type is the p of the p-norm
 * (> 0; INFINITY for the largest absolute value). Returns the total norm
 * before clipping (0 when no parameter has a gradient), or NAN with an error
 * for a bad norm_type or gradient. */
double clip_grad_norm_(Tensor **params, int n, double max_norm, double norm_type);

/* Clamps every gradient element into [-clip_value, clip_value]. Returns 0 or
 * -1 with an error. */
int clip_grad_value_(Tensor **params, int n, double clip_value);

#endif
