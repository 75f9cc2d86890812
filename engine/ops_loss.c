/* Losses with mean / sum / none reduction: nll_loss and cross_entropy over
 * class indices (weights, ignore_index, label smoothing as PyTorch defines
 * them), and the pointwise mse, l1, binary_cross_entropy and
 * binary_cross_entropy_with_logits. */
#include "engine/autocast.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

static bool reduction_valid(Reduction r, const char *op)
{
    if ((int)r == REDUCTION_MEAN || (int)r == REDUCTION_SUM || (int)r == REDUCTION_NONE) return true;
    engine_error("%s: %d is not a valid value for reduction", op, (int)r);
    return false;
}

/* ---------------- nll_loss ---------------- */

/* Whether target's shape is input's without the class dim (dim 1; dim 0 for a 1-D input). */
static bool nll_target_shape_ok(Shape input, Shape target)
{
    if (input.ndim == 1) return target.ndim == 0;
    if (target.ndim != input.ndim - 1 || target.d[0] != input.d[0]) return false;
    for (int d = 1; d < target.ndim; d++)
        if (target.d[d] != input.d[d + 1]) return false;
    return true;
}

/* inputs: input (as [N, C, ...]); saved: target, weight, total_weight; ints: ignore_index, reduction */
static int nll_loss_backward(Node *n, Tensor *g, Tensor **gin)
{
    Tensor *x = n->inputs[0];
    Tensor *gc = t_contiguous(g);
    Tensor *gi = gc ? tensor_zeros(x->shape, DT_F32, tensor_device(x)) : NULL;
    if (!gi) return -1;
    NEED_KERNEL_INT(gi, nll_loss_backward);
    backend_of(gi)->nll_loss_backward(gi, gc, n->saved[0], n->saved[1], n->saved[2], n->ints[0], (Reduction)n->ints[1]);
    gin[0] = gi;
    return 0;
}

/* nll_loss, also giving the summed weight of the non-ignored targets (the
 * mean's divisor), which cross_entropy's label smoothing reuses. */
static Tensor *nll_loss_impl(Tensor *input, Tensor *target, Tensor *weight, int64_t ignore_index, Reduction reduction,
                             const char *op, Tensor **total_weight)
{
    if (!input || !target) return NULL;
    if (!reduction_valid(reduction, op)) return NULL;
    CHECK_DTYPE(op, input, DT_F32, "input");
    CHECK_DTYPE(op, target, DT_I64, "target");
    CHECK_SAME_DEVICE(op, input, target);
    ENGINE_CHECK(input->shape.ndim >= 1, "%s: expected an input of shape [C], [N, C] or [N, C, d1, ...], got %s", op,
                 shape_str(input->shape));
    ENGINE_CHECK(nll_target_shape_ok(input->shape, target->shape),
                 "%s: target of shape %s does not match input of shape %s (expected the input's shape without its "
                 "class dim)",
                 op, shape_str(target->shape), shape_str(input->shape));
    int64_t C = input->shape.d[input->shape.ndim == 1 ? 0 : 1];
    Tensor *wc = NULL;
    if (weight) {
        CHECK_DTYPE(op, weight, DT_F32, "weight");
        CHECK_SAME_DEVICE(op, input, weight);
        ENGINE_CHECK(weight->shape.ndim == 1 && weight->shape.d[0] == C,
                     "%s: weight tensor should be defined either for all %lld classes or no classes but got weight "
                     "tensor of shape: %s",
                     op, (long long)C, shape_str(weight->shape));
        if (!(wc = t_contiguous(weight))) return NULL;
    }
    /* a 1-D input is one sample: seen as [1, C] with target [1] */
    Tensor *xc = t_contiguous(input), *tc = t_contiguous(target);
    if (input->shape.ndim == 1) {
        xc = t_reshape(xc, SHAPE(1, C));
        tc = t_reshape(tc, SHAPE(1));
    }
    if (!xc || !tc) return NULL;
    NEED_KERNEL(tc, nll_loss_bad_target);
    NEED_KERNEL(xc, nll_loss);
    int64_t bad;
    ENGINE_CHECK(!backend_of(tc)->nll_loss_bad_target(tc, C, ignore_index, &bad),
                 "%s: target %lld is out of bounds: expected class indices in [0, %lld) for %lld classes "
                 "(or ignore_index %lld)",
                 op, (long long)bad, (long long)C, (long long)C, (long long)ignore_index);
    Device dev = tensor_device(input);
    Tensor *out = tensor_empty(reduction == REDUCTION_NONE ? target->shape : SCALAR_SHAPE, DT_F32, dev);
    Tensor *tw = tensor_empty(SCALAR_SHAPE, DT_F32, dev);
    if (!out || !tw) return NULL;
    backend_of(out)->nll_loss(out, tw, xc, tc, wc, ignore_index, reduction);
    Node *n = autograd_record("NllLossBackward0", nll_loss_backward, out, 1, &xc);
    if (n) {
        n->saved[0] = tc;
        n->saved[1] = wc;
        n->saved[2] = tw;
        n->ints[0] = ignore_index;
        n->ints[1] = reduction;
    }
    if (total_weight) *total_weight = tw;
    return out;
}

Tensor *f_nll_loss(Tensor *input, Tensor *target, Tensor *weight, int64_t ignore_index, Reduction reduction)
{
    AUTOCAST_DISPATCH(AUTOCAST_F32, 3, f_nll_loss(ac_in_[0], ac_in_[1], ac_in_[2], ignore_index, reduction), input, target, weight);
    return nll_loss_impl(input, target, weight, ignore_index, reduction, "nll_loss", NULL);
}

/* ---------------- cross_entropy ---------------- */

/* PyTorch's label smoothing for class-index targets:
 *   (1 - eps) * nll + eps / C * smooth, smooth = -sum_c w_c * log_softmax_c,
 * 0 at ignored targets; reduced by sum, or for the mean divided by the same
 * summed target weight as nll's mean. */
Tensor *f_cross_entropy(Tensor *input, Tensor *target, Tensor *weight, int64_t ignore_index, Reduction reduction,
                        double label_smoothing)
{
    if (!input || !target) return NULL;
    AUTOCAST_DISPATCH(AUTOCAST_F32, 3,
                      f_cross_entropy(ac_in_[0], ac_in_[1], ac_in_[2], ignore_index, reduction, label_smoothing), input,
                      target, weight);
    ENGINE_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0,
                 "cross_entropy: label_smoothing must be between 0.0 and 1.0. Got: %g", label_smoothing);
    ENGINE_CHECK(input->shape.ndim >= 1, "cross_entropy: expected an input of shape [C], [N, C] or [N, C, d1, ...], got %s",
                 shape_str(input->shape));
    int class_dim = input->shape.ndim == 1 ? 0 : 1;
    Tensor *log_probs = f_log_softmax(input, class_dim);
    Tensor *total_weight = NULL;
    Tensor *nll = nll_loss_impl(log_probs, target, weight, ignore_index, reduction, "cross_entropy", &total_weight);
    if (!nll || label_smoothing == 0.0) return nll;
    int64_t C = input->shape.d[class_dim];
    Tensor *weighted = log_probs;
    if (weight) {
        Shape ws = {.ndim = input->shape.ndim};
        for (int d = 0; d < ws.ndim; d++) ws.d[d] = d == class_dim ? C : 1;
        weighted = t_mul(log_probs, t_reshape(weight, ws));
    }
    Tensor *smooth = t_neg(t_sum(weighted, &class_dim, 1, false));
    Tensor *ignored = t_eq(target, tensor_scalar((double)ignore_index, DT_I64, tensor_device(target)));
    smooth = t_masked_fill(smooth, ignored, 0.0);
    if (reduction != REDUCTION_NONE) smooth = t_sum(smooth, NULL, 0, false);
    if (reduction == REDUCTION_MEAN) smooth = t_div(smooth, total_weight);
    return t_add(t_mul_scalar(nll, 1.0 - label_smoothing), t_mul_scalar(smooth, label_smoothing / (double)C));
}

/* ---------------- pointwise losses ---------------- */

/* saved: x, target, weight, pos_weight (the last two expanded or NULL); ints: kind, reduction */
static int pointwise_loss_backward(Node *n, Tensor *g, Tensor **gin)
{
    Tensor *x = n->saved[0];
    Tensor *gc = t_contiguous(g);
    if (!gc) return -1;
    Tensor *gx = n->needs_grad[0] ? tensor_empty(x->shape, DT_F32, tensor_device(x)) : NULL;
    Tensor *gt = n->needs_grad[1] ? tensor_empty(x->shape, DT_F32, tensor_device(x)) : NULL;
    if ((n->needs_grad[0] && !gx) || (n->needs_grad[1] && !gt)) return -1;
    NEED_KERNEL_INT(x, pointwise_loss_backward);
    backend_of(x)->pointwise_loss_backward((PointwiseLoss)n->ints[0], gx, gt, gc, x, n->saved[1], n->saved[2], n->saved[3],
                                       (Reduction)n->ints[1]);
    gin[0] = gx;
    gin[1] = gt;
    return 0;
}

/* t broadcast to shape and made contiguous (outside autograd: these weights
 * get no gradient, as in PyTorch); *ok false with an error when it does not fit. */
static Tensor *expanded_weight(Tensor *t, Shape shape, const char *op, const char *what, bool *ok)
{
    *ok = true;
    if (!t) return NULL;
    *ok = false;
    Shape b;
    if (t->dtype != DT_F32) return engine_error("%s: expected %s to be float32, got %s", op, what, dtype_name(t->dtype));
    if (!shape_broadcast(t->shape, shape, &b) || !shape_equal(b, shape))
        return engine_error("%s: %s of shape %s cannot be broadcast to the input shape %s", op, what,
                            shape_str(t->shape), shape_str(shape));
    bool mode = no_grad_begin();
    Tensor *out = t_contiguous(t_expand(t, shape));
    grad_mode_restore(mode);
    *ok = out != NULL;
    return out;
}

static Tensor *pointwise_loss(PointwiseLoss kind, const char *op, const char *node_name, Tensor *x, Tensor *target,
                              Tensor *weight, Tensor *pos_weight, Reduction reduction)
{
    if (!x || !target) return NULL;
    if (!reduction_valid(reduction, op)) return NULL;
    CHECK_DTYPE(op, x, DT_F32, "input");
    CHECK_DTYPE(op, target, DT_F32, "target");
    CHECK_SAME_DEVICE(op, x, target);
    ENGINE_CHECK(shape_equal(x->shape, target->shape), "%s: target shape %s must match input shape %s", op,
                 shape_str(target->shape), shape_str(x->shape));
    if (weight) CHECK_SAME_DEVICE(op, x, weight);
    if (pos_weight) CHECK_SAME_DEVICE(op, x, pos_weight);
    bool ok_w, ok_pw;
    Tensor *w = expanded_weight(weight, x->shape, op, "weight", &ok_w);
    Tensor *pw = expanded_weight(pos_weight, x->shape, op, "pos_weight", &ok_pw);
    if (!ok_w || !ok_pw) return NULL;
    Tensor *xc = t_contiguous(x), *tc = t_contiguous(target);
    Tensor *out = tensor_empty(reduction == REDUCTION_NONE ? x->shape : SCALAR_SHAPE, DT_F32, tensor_device(x));
    if (!xc || !tc || !out) return NULL;
    NEED_KERNEL(out, pointwise_loss);
    ENGINE_CHECK(backend_of(out)->pointwise_loss(kind, out, xc, tc, w, pw, reduction),
                 "%s: all elements of input should be between 0 and 1 (input shape %s)", op, shape_str(x->shape));
    Node *n = autograd_record(node_name, pointwise_loss_backward, out, 2, (Tensor *[]){xc, tc});
    if (n) {
        n->saved[0] = xc;
        n->saved[1] = tc;
        n->saved[2] = w;
        n->saved[3] = pw;
        n->ints[0] = kind;
        n->ints[1] = reduction;
    }
    return out;
}

Tensor *f_mse_loss(Tensor *input, Tensor *target, Reduction reduction)
{
    AUTOCAST_DISPATCH(AUTOCAST_F32, 2, f_mse_loss(ac_in_[0], ac_in_[1], reduction), input, target);
    return pointwise_loss(POINTWISE_MSE, "mse_loss", "MseLossBackward0", input, target, NULL, NULL, reduction);
}

Tensor *f_l1_loss(Tensor *input, Tensor *target, Reduction reduction)
{
    AUTOCAST_DISPATCH(AUTOCAST_F32, 2, f_l1_loss(ac_in_[0], ac_in_[1], reduction), input, target);
    return pointwise_loss(POINTWISE_L1, "l1_loss", "L1LossBackward0", input, target, NULL, NULL, reduction);
}

Tensor *f_binary_cross_entropy(Tensor *input, Tensor *target, Tensor *weight, Reduction reduction)
{
    AUTOCAST_DISPATCH(AUTOCAST_F32, 3, f_binary_cross_entropy(ac_in_[0], ac_in_[1], ac_in_[2], reduction), input, target, weight);
    return pointwise_loss(POINTWISE_BCE, "binary_cross_entropy", "BinaryCrossEntropyBackward0", input, target, weight,
                          NULL, reduction);
}

Tensor *f_binary_cross_entropy_with_logits(Tensor *input, Tensor *target, Tensor *weight, Tensor *pos_weight,
                                           Reduction reduction)
{
    /* PyTorch's CPU kernels take bfloat16 logits but not float16 ones; under
     * autocast the loss runs in f32 (the f32 list), whatever the logits */
    ENGINE_CHECK(!input || input->dtype != DT_F16 || autocast_state().enabled,
                 "binary_cross_entropy_with_logits: not implemented for float16 input (as in PyTorch on the CPU); "
                 "use bfloat16, float32, or autocast, under which the loss computes in float32");
    AUTOCAST_DISPATCH(AUTOCAST_F32, 4,
                      f_binary_cross_entropy_with_logits(ac_in_[0], ac_in_[1], ac_in_[2], ac_in_[3], reduction), input,
                      target, weight, pos_weight);
    return pointwise_loss(POINTWISE_BCE_LOGITS, "binary_cross_entropy_with_logits",
                          "BinaryCrossEntropyWithLogitsBackward0", input, target, weight, pos_weight, reduction);
}
