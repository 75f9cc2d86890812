/* Inverted dropout: elementwise (dropout) and whole channels (dropout2d).
 * The mask is drawn from a Generator, so it is reproducible from its state,
 * and saved already scaled by 1 / (1 - p) for the backward. */
#include "engine/autocast.h"
#include "engine/ops.h"
#include "engine/random.h"

/* saved: the scaled mask (broadcast against g for dropout2d) */
static int dropout_backward(Node *n, Tensor *g, Tensor **gin)
{
    gin[0] = t_mul(g, n->saved[0]);
    return gin[0] ? 0 : -1;
}

/* x * mask, with mask of mask_shape (broadcast against x) holding 0 or 1 / (1 - p). */
static Tensor *dropout_with_mask(Tensor *x, double p, Generator *gen, Shape mask_shape, const char *node_name)
{
    Tensor *mask = tensor_empty(mask_shape, DT_F32, tensor_device(x));
    if (!mask || tensor_bernoulli_(mask, 1.0 - p, gen) != 0) return NULL;
    /* p == 1 draws an all-zero mask; the scale must not turn it into NaN */
    if (p < 1.0 && t_mul_scalar_(mask, 1.0 / (1.0 - p)) != 0) return NULL;
    bool mode = no_grad_begin();
    Tensor *out = t_mul(x, mask);
    grad_mode_restore(mode);
    Node *n = autograd_record(node_name, dropout_backward, out, 1, &x);
    if (n) n->saved[0] = mask;
    return out;
}

/* Shared checks; returns false (with an error when p is invalid) when the
 * caller must return x unchanged or NULL. */
static bool dropout_args_ok(Tensor *x, double p, const char *op)
{
    if (!x) return false;
    if (x->dtype != DT_F32) {
        engine_error("%s: expected input to be float32, got %s", op, dtype_name(x->dtype));
        return false;
    }
    if (!(p >= 0.0 && p <= 1.0)) {
        engine_error("%s: dropout probability has to be between 0 and 1, but got %g", op, p);
        return false;
    }
    return true;
}

Tensor *f_dropout(Tensor *x, double p, bool training, Generator *gen)
{
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 1, f_dropout(ac_in_[0], p, training, gen), x);
    if (!dropout_args_ok(x, p, "dropout")) return NULL;
    if (!training || p == 0.0) return x;
    return dropout_with_mask(x, p, gen, x->shape, "NativeDropoutBackward0");
}

Tensor *f_dropout2d(Tensor *x, double p, bool training, Generator *gen)
{
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 1, f_dropout2d(ac_in_[0], p, training, gen), x);
    if (!dropout_args_ok(x, p, "dropout2d")) return NULL;
    ENGINE_CHECK(x->shape.ndim == 3 || x->shape.ndim == 4,
                 "dropout2d: expected a 3D [N, C, L] or 4D [N, C, H, W] input, got shape %s", shape_str(x->shape));
    if (!training || p == 0.0) return x;
    /* one draw per (sample, channel), broadcast over the spatial dims */
    Shape mask_shape = x->shape;
    for (int d = 2; d < mask_shape.ndim; d++) mask_shape.d[d] = 1;
    return dropout_with_mask(x, p, gen, mask_shape, "MulBackward0");
}
