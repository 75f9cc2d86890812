/* batch_norm and layer_norm, with fused backward functions for the input,
 * weight and bias. */
#include <string.h>

#include "engine/autocast.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

/* Checks an optional per-feature tensor (weight, bias, running stats) and
 * returns it contiguous; *ok is false (error recorded) when it does not fit. */
static Tensor *param_contiguous(Tensor *p, Shape expected, const Tensor *x, const char *op, const char *what, bool *ok)
{
    *ok = true;
    if (!p) return NULL;
    *ok = false;
    if (p->dtype != DT_F32) return engine_error("%s: expected %s to be float32, got %s", op, what, dtype_name(p->dtype));
    if (!device_equal(tensor_device(p), tensor_device(x)))
        return engine_error("%s: expected all tensors to be on the same device, but found %s and %s", op,
                            device_name(tensor_device(x)), device_name(tensor_device(p)));
    if (!shape_equal(p->shape, expected))
        return engine_error("%s: expected %s of shape %s, got %s (input shape %s)", op, what, shape_str(expected),
                            shape_str(p->shape), shape_str(x->shape));
    Tensor *c = t_contiguous(p);
    *ok = c != NULL;
    return c;
}

/* ---------------- batch norm ---------------- */

/* inputs: x, weight, bias; saved: x, mean, invstd, weight; ints: batch statistics used */
static int batch_norm_backward(Node *n, Tensor *g, Tensor **gin)
{
    Tensor *x = n->saved[0], *mean = n->saved[1], *invstd = n->saved[2], *weight = n->saved[3];
    bool batch_stats = n->ints[0] != 0;
    Tensor *gc = t_contiguous(g);
    if (!gc) return -1;
    Tensor *sum_g = NULL, *sum_g_xhat = NULL;
    if (n->needs_grad[1] || n->needs_grad[2] || (n->needs_grad[0] && batch_stats)) {
        sum_g = tensor_empty(mean->shape, DT_F32, tensor_device(x));
        sum_g_xhat = tensor_empty(mean->shape, DT_F32, tensor_device(x));
        if (!sum_g || !sum_g_xhat) return -1;
        NEED_KERNEL_INT(x, batch_norm_backward_reduce);
        backend_of(x)->batch_norm_backward_reduce(sum_g, sum_g_xhat, gc, x, mean, invstd);
    }
    if (n->needs_grad[0]) {
        Tensor *gi = tensor_empty(x->shape, DT_F32, tensor_device(x));
        if (!gi) return -1;
        NEED_KERNEL_INT(x, batch_norm_backward_input);
        backend_of(x)->batch_norm_backward_input(gi, gc, x, mean, invstd, weight, batch_stats ? sum_g : NULL,
                                             batch_stats ? sum_g_xhat : NULL);
        gin[0] = gi;
    }
    if (n->needs_grad[1]) gin[1] = sum_g_xhat;
    if (n->needs_grad[2]) gin[2] = sum_g;
    return 0;
}

/* running = (1 - momentum) * running + momentum * scale * batch, in place. */
static int update_running(Tensor *running, Tensor *batch, double momentum, double scale)
{
    if (t_mul_scalar_(running, 1.0 - momentum) != 0) return -1;
    return t_add_(running, batch, momentum * scale);
}

Tensor *f_batch_norm(Tensor *x, Tensor *running_mean, Tensor *running_var, Tensor *weight, Tensor *bias,
                     bool training, double momentum, double eps)
{
    AUTOCAST_DISPATCH(AUTOCAST_F32, 3,
                      f_batch_norm(ac_in_[0], running_mean, running_var, ac_in_[1], ac_in_[2], training, momentum, eps),
                      x, weight, bias);
    if (!x) return NULL;
    CHECK_DTYPE("batch_norm", x, DT_F32, "input");
    ENGINE_CHECK(x->shape.ndim >= 2, "batch_norm: expected an input of shape [N, C] or [N, C, ...], got %s",
                 shape_str(x->shape));
    int64_t C = x->shape.d[1];
    int64_t M = tensor_numel(x) / (C > 0 ? C : 1);
    Shape per_channel = SHAPE(C);
    bool ok_w, ok_b, ok_m, ok_v;
    Tensor *w = param_contiguous(weight, per_channel, x, "batch_norm", "weight", &ok_w);
    Tensor *b = param_contiguous(bias, per_channel, x, "batch_norm", "bias", &ok_b);
    Tensor *rm = param_contiguous(running_mean, per_channel, x, "batch_norm", "running_mean", &ok_m);
    Tensor *rv = param_contiguous(running_var, per_channel, x, "batch_norm", "running_var", &ok_v);
    if (!ok_w || !ok_b || !ok_m || !ok_v) return NULL;
    ENGINE_CHECK((running_mean == NULL) == (running_var == NULL),
                 "batch_norm: running_mean and running_var must both be given or both be NULL");
    Tensor *xc = t_contiguous(x);
    if (!xc) return NULL;
    Device dev = tensor_device(x);
    Tensor *mean, *invstd;
    if (training) {
        ENGINE_CHECK(M > 1, "batch_norm: expected more than 1 value per channel when training, got input size %s",
                     shape_str(x->shape));
        mean = tensor_empty(per_channel, DT_F32, dev);
        invstd = tensor_empty(per_channel, DT_F32, dev);
        Tensor *var = tensor_empty(per_channel, DT_F32, dev);
        if (!mean || !invstd || !var) return NULL;
        NEED_KERNEL(x, batch_norm_stats);
        backend_of(x)->batch_norm_stats(xc, mean, var, invstd, eps);
        /* the buffers themselves are updated (they may be strided views) */
        if (running_mean) {
            if (update_running(running_mean, mean, momentum, 1.0) != 0) return NULL;
            /* running_var tracks the unbiased variance, as PyTorch does */
            if (update_running(running_var, var, momentum, (double)M / (double)(M - 1)) != 0) return NULL;
        }
    } else {
        ENGINE_CHECK(rm && rv, "batch_norm: running_mean and running_var must be defined in evaluation mode");
        /* copies: a later training call updates the buffers in place, and
         * this call's backward must still see the statistics it used */
        bool mode = no_grad_begin();
        mean = t_clone(rm);
        invstd = t_pow_scalar(t_add_scalar(rv, eps), -0.5);
        grad_mode_restore(mode);
        if (!mean || !invstd) return NULL;
    }
    Tensor *out = tensor_empty(x->shape, DT_F32, dev);
    if (!out) return NULL;
    NEED_KERNEL(x, batch_norm_apply);
    backend_of(x)->batch_norm_apply(out, xc, mean, invstd, w, b);
    Node *n = autograd_record("NativeBatchNormBackward0", batch_norm_backward, out, 3, (Tensor *[]){xc, w, b});
    if (n) {
        n->saved[0] = xc;
        n->saved[1] = mean;
        n->saved[2] = invstd;
        n->saved[3] = w;
        n->ints[0] = training;
    }
    return out;
}

/* ---------------- layer norm ---------------- */

/* inputs: x, weight, bias; saved: x, mean, rstd, weight; ints: cols */
static int layer_norm_backward(Node *n, Tensor *g, Tensor **gin)
{
    Tensor *x = n->saved[0], *mean = n->saved[1], *rstd = n->saved[2], *weight = n->saved[3];
    int64_t cols = n->ints[0];
    Tensor *gc = t_contiguous(g);
    if (!gc) return -1;
    if (n->needs_grad[0]) {
        Tensor *gi = tensor_empty(x->shape, DT_F32, tensor_device(x));
        if (!gi) return -1;
        NEED_KERNEL_INT(x, layer_norm_backward_input);
        backend_of(x)->layer_norm_backward_input(gi, gc, x, mean, rstd, weight, cols);
        gin[0] = gi;
    }
    if (n->needs_grad[1] || n->needs_grad[2]) {
        Tensor *gw = n->needs_grad[1] ? tensor_empty(n->inputs[1]->shape, DT_F32, tensor_device(x)) : NULL;
        Tensor *gb = n->needs_grad[2] ? tensor_empty(n->inputs[2]->shape, DT_F32, tensor_device(x)) : NULL;
        if ((n->needs_grad[1] && !gw) || (n->needs_grad[2] && !gb)) return -1;
        NEED_KERNEL_INT(x, layer_norm_backward_params);
        backend_of(x)->layer_norm_backward_params(gw, gb, gc, x, mean, rstd, cols);
        gin[1] = gw;
        gin[2] = gb;
    }
    return 0;
}

Tensor *f_layer_norm(Tensor *x, Shape normalized_shape, Tensor *weight, Tensor *bias, double eps)
{
    AUTOCAST_DISPATCH(AUTOCAST_F32, 3, f_layer_norm(ac_in_[0], normalized_shape, ac_in_[1], ac_in_[2], eps), x, weight, bias);
    if (!x) return NULL;
    CHECK_DTYPE("layer_norm", x, DT_F32, "input");
    int k = normalized_shape.ndim, lead = x->shape.ndim - k;
    ENGINE_CHECK(k >= 1, "layer_norm: expected normalized_shape to be at least 1-dimensional");
    bool fits = lead >= 0;
    for (int i = 0; fits && i < k; i++) fits = x->shape.d[lead + i] == normalized_shape.d[i];
    const char *ns = shape_str(normalized_shape); /* "[a, b]": the sizes alone are ns + 1, minus 2 chars */
    ENGINE_CHECK(fits,
                 "layer_norm: given normalized_shape=%s, expected input with shape [*, %.*s], but got input of size %s",
                 ns, (int)strlen(ns) - 2, ns + 1, shape_str(x->shape));
    bool ok_w, ok_b;
    Tensor *w = param_contiguous(weight, normalized_shape, x, "layer_norm", "weight", &ok_w);
    Tensor *b = param_contiguous(bias, normalized_shape, x, "layer_norm", "bias", &ok_b);
    if (!ok_w || !ok_b) return NULL;
    Shape stats_shape = {.ndim = lead > 0 ? lead : 1, .d = {1}};
    for (int i = 0; i < lead; i++) stats_shape.d[i] = x->shape.d[i];
    int64_t cols = shape_numel(normalized_shape);
    Device dev = tensor_device(x);
    Tensor *xc = t_contiguous(x);
    Tensor *out = tensor_empty(x->shape, DT_F32, dev);
    Tensor *mean = tensor_empty(stats_shape, DT_F32, dev), *rstd = tensor_empty(stats_shape, DT_F32, dev);
    if (!xc || !out || !mean || !rstd) return NULL;
    NEED_KERNEL(x, layer_norm);
    backend_of(x)->layer_norm(out, mean, rstd, xc, w, b, cols, eps);
    Node *n = autograd_record("NativeLayerNormBackward0", layer_norm_backward, out, 3, (Tensor *[]){xc, w, b});
    if (n) {
        n->saved[0] = xc;
        n->saved[1] = mean;
        n->saved[2] = rstd;
        n->saved[3] = w;
        n->ints[0] = cols;
    }
    return out;
}
