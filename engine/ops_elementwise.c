/* Elementwise ops with broadcasting, and their backward functions. */
#include <math.h>

#include "engine/autocast.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/scope.h"

/* A view of t broadcast to shape (stride 0 on broadcast dims), outside autograd. */
static Tensor *broadcast_view(Tensor *t, Shape shape)
{
    int64_t strides[MAX_DIMS] = {0};
    for (int i = 0; i < shape.ndim; i++) {
        int j = t->shape.ndim - shape.ndim + i;
        strides[i] = (j < 0 || t->shape.d[j] == 1) ? 0 : t->strides[j];
    }
    return tensor_make_view(t->storage, t->offset, t->dtype, shape, strides);
}

static const char *binary_name(BinaryOp op)
{
    static const char *names[] = {"add", "sub", "mul", "div", "eq", "ne", "gt", "lt", "ge", "le"};
    return names[op];
}

/* Broadcasts a and b, checks dtypes and devices, allocates and runs the kernel. */
static Tensor *binary_forward(BinaryOp op, Tensor *a, Tensor *b)
{
    if (!a || !b) return NULL;
    const char *name = binary_name(op);
    if (op >= BIN_EQ && (dtype_is_lowp(a->dtype) || dtype_is_lowp(b->dtype))) { /* exact in f32 */
        a = tensor_to_dtype(a, DT_F32);
        b = tensor_to_dtype(b, DT_F32);
        if (!a || !b) return NULL;
    }
    CHECK_SAME_DEVICE(name, a, b);
    ENGINE_CHECK(a->dtype == b->dtype, "%s: expected both operands to have the same dtype, got %s and %s", name,
                 dtype_name(a->dtype), dtype_name(b->dtype));
    bool compare = op >= BIN_EQ;
    ENGINE_CHECK(a->dtype == DT_F32 || (compare && a->dtype == DT_I64),
                 "%s: not implemented for dtype %s", name, dtype_name(a->dtype));
    Shape shape;
    ENGINE_CHECK(shape_broadcast(a->shape, b->shape, &shape),
                 "%s: the size of tensor a %s must match the size of tensor b %s at a non-singleton dimension", name,
                 shape_str(a->shape), shape_str(b->shape));
    Tensor *out = tensor_empty(shape, compare ? DT_U8 : DT_F32, tensor_device(a));
    Tensor *va = out ? broadcast_view(a, shape) : NULL;
    Tensor *vb = out ? broadcast_view(b, shape) : NULL;
    if (!va || !vb) return NULL;
    NEED_KERNEL(out, binary);
    backend_of(out)->binary(op, out, va, vb);
    return out;
}

static int add_backward(Node *n, Tensor *g, Tensor **gin)
{
    if (n->needs_grad[0] && !(gin[0] = t_sum_to_shape(g, n->inputs[0]->shape))) return -1;
    if (n->needs_grad[1] && !(gin[1] = t_sum_to_shape(g, n->inputs[1]->shape))) return -1;
    return 0;
}

static int sub_backward(Node *n, Tensor *g, Tensor **gin)
{
    if (n->needs_grad[0] && !(gin[0] = t_sum_to_shape(g, n->inputs[0]->shape))) return -1;
    if (n->needs_grad[1] && !(gin[1] = t_sum_to_shape(t_neg(g), n->inputs[1]->shape))) return -1;
    return 0;
}

static int mul_backward(Node *n, Tensor *g, Tensor **gin)
{
    Tensor *a = n->saved[0], *b = n->saved[1];
    if (n->needs_grad[0] && !(gin[0] = t_sum_to_shape(t_mul(g, b), a->shape))) return -1;
    if (n->needs_grad[1] && !(gin[1] = t_sum_to_shape(t_mul(g, a), b->shape))) return -1;
    return 0;
}

static int div_backward(Node *n, Tensor *g, Tensor **gin)
{
    Tensor *a = n->saved[0], *b = n->saved[1];
    Tensor *g_over_b = t_div(g, b);
    if (n->needs_grad[0] && !(gin[0] = t_sum_to_shape(g_over_b, a->shape))) return -1;
    /* d(a/b)/db = -a / b^2 = -(g/b) * (a/b) */
    if (n->needs_grad[1] && !(gin[1] = t_sum_to_shape(t_neg(t_mul(g_over_b, t_div(a, b))), b->shape))) return -1;
    return 0;
}

static Tensor *binary_op(BinaryOp op, Tensor *a, Tensor *b, const char *node_name, BackwardFn backward)
{
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 2, binary_op(op, ac_in_[0], ac_in_[1], node_name, backward), a, b);
    Tensor *out = binary_forward(op, a, b);
    Node *n = autograd_record(node_name, backward, out, 2, (Tensor *[]){a, b});
    if (n) {
        n->saved[0] = a;
        n->saved[1] = b;
    }
    return out;
}

Tensor *t_add(Tensor *a, Tensor *b) { return binary_op(BIN_ADD, a, b, "AddBackward0", add_backward); }
Tensor *t_sub(Tensor *a, Tensor *b) { return binary_op(BIN_SUB, a, b, "SubBackward0", sub_backward); }
Tensor *t_mul(Tensor *a, Tensor *b) { return binary_op(BIN_MUL, a, b, "MulBackward0", mul_backward); }
Tensor *t_div(Tensor *a, Tensor *b) { return binary_op(BIN_DIV, a, b, "DivBackward0", div_backward); }
Tensor *t_eq(Tensor *a, Tensor *b) { return binary_forward(BIN_EQ, a, b); }
Tensor *t_ne(Tensor *a, Tensor *b) { return binary_forward(BIN_NE, a, b); }
Tensor *t_gt(Tensor *a, Tensor *b) { return binary_forward(BIN_GT, a, b); }
Tensor *t_lt(Tensor *a, Tensor *b) { return binary_forward(BIN_LT, a, b); }
Tensor *t_ge(Tensor *a, Tensor *b) { return binary_forward(BIN_GE, a, b); }
Tensor *t_le(Tensor *a, Tensor *b) { return binary_forward(BIN_LE, a, b); }

/* ---- unary ---- */

static int unary_backward(Node *n, Tensor *g, Tensor **gin)
{
    Tensor *x = n->inputs[0];
    Tensor *gi = tensor_empty(x->shape, DT_F32, tensor_device(x));
    if (!gi) return -1;
    NEED_KERNEL_INT(gi, unary_backward);
    /* the output is saved for ops whose derivative is cheapest through it */
    Tensor *y = n->saved[0] ? n->saved[0] : x;
    backend_of(gi)->unary_backward((UnaryOp)n->ints[0], gi, g, x, y, n->scalars[0], n->scalars[1]);
    gin[0] = gi;
    return 0;
}

static Tensor *unary_op(UnaryOp op, Tensor *a, double alpha, double beta, const char *node_name)
{
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 1, unary_op(op, ac_in_[0], alpha, beta, node_name), a);
    if (!a) return NULL;
    ENGINE_CHECK(a->dtype == DT_F32, "%s: not implemented for dtype %s", node_name, dtype_name(a->dtype));
    NEED_KERNEL(a, unary);
    Tensor *out = tensor_empty(a->shape, DT_F32, tensor_device(a));
    if (!out) return NULL;
    backend_of(out)->unary(op, out, a, alpha, beta);
    Node *n = autograd_record(node_name, unary_backward, out, 1, &a);
    if (n) {
        n->ints[0] = op;
        n->scalars[0] = alpha;
        n->scalars[1] = beta;
        if (op == UN_EXP || op == UN_SQRT || op == UN_RELU || op == UN_SIGMOID || op == UN_TANH) n->saved[0] = out;
    }
    return out;
}

Tensor *t_add_scalar(Tensor *a, double s) { return unary_op(UN_ADD_SCALAR, a, s, 0, "AddBackward1"); }
Tensor *t_mul_scalar(Tensor *a, double s) { return unary_op(UN_MUL_SCALAR, a, s, 0, "MulBackward1"); }
Tensor *t_neg(Tensor *a) { return unary_op(UN_NEG, a, 0, 0, "NegBackward0"); }
Tensor *t_pow_scalar(Tensor *a, double e) { return unary_op(UN_POW, a, e, 0, "PowBackward0"); }
Tensor *t_exp(Tensor *a) { return unary_op(UN_EXP, a, 0, 0, "ExpBackward0"); }
Tensor *t_log(Tensor *a) { return unary_op(UN_LOG, a, 0, 0, "LogBackward0"); }
Tensor *t_sqrt(Tensor *a) { return unary_op(UN_SQRT, a, 0, 0, "SqrtBackward0"); }
Tensor *t_abs(Tensor *a) { return unary_op(UN_ABS, a, 0, 0, "AbsBackward0"); }
Tensor *t_clamp(Tensor *a, double min, double max)
{
    return unary_op(UN_CLAMP, a, min, max, "ClampBackward1");
}
Tensor *t_relu(Tensor *a) { return unary_op(UN_RELU, a, 0, 0, "ReluBackward0"); }
Tensor *t_leaky_relu(Tensor *a, double slope) { return unary_op(UN_LEAKY_RELU, a, slope, 0, "LeakyReluBackward0"); }
Tensor *t_sigmoid(Tensor *a) { return unary_op(UN_SIGMOID, a, 0, 0, "SigmoidBackward0"); }
Tensor *t_tanh(Tensor *a) { return unary_op(UN_TANH, a, 0, 0, "TanhBackward0"); }
Tensor *t_gelu(Tensor *a, bool approximate) { return unary_op(UN_GELU, a, approximate ? 1 : 0, 0, "GeluBackward0"); }

/* ---- where / masked_fill ---- */

static int where_backward(Node *n, Tensor *g, Tensor **gin)
{
    Tensor *cond = n->saved[0];
    Tensor *zero = tensor_zeros(SCALAR_SHAPE, DT_F32, tensor_device(g));
    if (n->needs_grad[1] && !(gin[1] = t_sum_to_shape(t_where(cond, g, zero), n->inputs[1]->shape))) return -1;
    if (n->needs_grad[2] && !(gin[2] = t_sum_to_shape(t_where(cond, zero, g), n->inputs[2]->shape))) return -1;
    return 0;
}

Tensor *t_where(Tensor *cond, Tensor *a, Tensor *b)
{
    if (!cond || !a || !b) return NULL;
    /* bf16/f16: through f32, which the kernel takes (exact: values only move);
     * a bf16/f16 operand with an f32 one promotes to f32, as in PyTorch */
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 2, t_where(cond, ac_in_[0], ac_in_[1]), a, b);
    CHECK_DTYPE("where", cond, DT_U8, "condition");
    CHECK_DTYPE("where", a, DT_F32, "input");
    CHECK_DTYPE("where", b, DT_F32, "other");
    CHECK_SAME_DEVICE("where", cond, a);
    CHECK_SAME_DEVICE("where", a, b);
    Shape s1, shape;
    ENGINE_CHECK(shape_broadcast(cond->shape, a->shape, &s1) && shape_broadcast(s1, b->shape, &shape),
                 "where: shapes %s, %s and %s do not broadcast", shape_str(cond->shape), shape_str(a->shape),
                 shape_str(b->shape));
    NEED_KERNEL(a, where);
    Tensor *out = tensor_empty(shape, DT_F32, tensor_device(a));
    if (!out) return NULL;
    backend_of(out)->where(out, broadcast_view(cond, shape), broadcast_view(a, shape), broadcast_view(b, shape));
    Node *n = autograd_record("WhereBackward0", where_backward, out, 3, (Tensor *[]){cond, a, b});
    if (n) n->saved[0] = cond;
    return out;
}

Tensor *t_masked_fill(Tensor *a, Tensor *mask, double value)
{
    if (!a || !mask) return NULL;
    /* before the f32 fill value meets a: the result keeps a's dtype */
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 1, t_masked_fill(ac_in_[0], mask, value), a);
    Shape shape;
    ENGINE_CHECK(shape_broadcast(a->shape, mask->shape, &shape) && shape_equal(shape, a->shape),
                 "masked_fill: mask of shape %s cannot be broadcast to input of shape %s", shape_str(mask->shape),
                 shape_str(a->shape));
    return t_where(mask, tensor_full(SCALAR_SHAPE, value, DT_F32, tensor_device(a)), a);
}

/* ---- in place (no autograd) ----
 * float32 tensors compute in float as before; int64 tensors compute in exact
 * integer arithmetic (wrapping on overflow, as PyTorch's int64 does), so
 * counters such as num_batches_tracked stay exact beyond 2^24 and 2^53. The
 * operand takes dst's dtype where PyTorch's type promotion allows writing
 * the result into dst (float32 += int64, int64 += uint8); the rest is
 * PyTorch's error. */

static const char *torch_type_name(DType dt)
{
    return dt == DT_F32 ? "Float" : dt == DT_I64 ? "Long" : "Byte";
}

/* A written-to tensor must not have two elements at one address (an
 * expanded view): PyTorch refuses, and the result would depend on the order
 * of the loop. */
static int check_writable(const char *name, const Tensor *dst)
{
    for (int i = 0; i < dst->shape.ndim; i++)
        ENGINE_CHECK_INT(dst->shape.d[i] <= 1 || dst->strides[i] != 0,
                         "%s: unsupported operation: more than one element of the written-to tensor refers to a "
                         "single memory location (an expanded view of shape %s); clone() it first",
                         name, shape_str(dst->shape));
    return 0;
}

/* A double as an int64 operand. C has one number type for scalars, so a
 * whole number is taken as an integer (PyTorch refuses the Python float 2.0
 * but takes 2); a fraction gets PyTorch's error. */
static int i64_scalar(const char *name, double v, bool is_alpha, int64_t *out)
{
    if (!isfinite(v) || v != floor(v)) {
        if (is_alpha)
            engine_error("%s: for integral input tensors, argument alpha must not be a floating point number (got %g)",
                         name, v);
        else
            engine_error("%s: result type Float can't be cast to the desired output type Long (the scalar %g is not a "
                         "whole number)",
                         name, v);
        return -1;
    }
    /* 2^63 is exact in a double; every whole double below it fits */
    ENGINE_CHECK_INT(v >= -9223372036854775808.0 && v < 9223372036854775808.0,
                     "%s: the scalar %.17g does not fit in int64", name, v);
    *out = (int64_t)v;
    return 0;
}

/* dst = dst op (src * alpha) for add/sub, dst * src for mul; src NULL: the
 * operand is the scalar alpha (integral for int64 dst, as i64 when exact). */
static int inplace_binary(BinaryOp op, const char *name, Tensor *dst, Tensor *src, double alpha, const int64_t *alpha_i64);

/* bf16 and f16 destinations: the op in f32 (PyTorch's "opmath" type) on a
 * widened copy, rounded once into dst. */
static int inplace_low_precision(BinaryOp op, const char *name, Tensor *dst, Tensor *src, double alpha)
{
    scope_begin();
    bool mode = no_grad_begin();
    Tensor *wide = tensor_to_dtype(dst, DT_F32);
    grad_mode_restore(mode);
    int rc = wide ? inplace_binary(op, name, wide, src, alpha, NULL) : -1;
    if (rc == 0) rc = tensor_copy_(dst, wide);
    scope_end();
    return rc;
}

static int inplace_binary(BinaryOp op, const char *name, Tensor *dst, Tensor *src, double alpha, const int64_t *alpha_i64)
{
    if (!dst) return -1;
    bool low_precision = dst->dtype == DT_BF16 || dst->dtype == DT_F16;
    ENGINE_CHECK_INT(dst->dtype == DT_F32 || dst->dtype == DT_I64 || low_precision,
                     "%s: not implemented for dtype %s", name, dtype_name(dst->dtype));
    if (check_writable(name, dst)) return -1;
    if (low_precision) return inplace_low_precision(op, name, dst, src, alpha);
    if (dst->dtype == DT_I64) NEED_KERNEL_INT(dst, inplace_i64);
    else if (!src) NEED_KERNEL_INT(dst, unary);
    else if (op == BIN_MUL) NEED_KERNEL_INT(dst, binary);
    else NEED_KERNEL_INT(dst, axpy);
    int64_t ia = 0;
    if (dst->dtype == DT_I64) {
        if (alpha_i64) ia = *alpha_i64;
        else if (i64_scalar(name, alpha, src != NULL && op != BIN_MUL, &ia)) return -1;
    }
    if (!src) { /* dst op= scalar */
        if (dst->dtype == DT_I64) backend_of(dst)->inplace_i64(op, dst, NULL, ia);
        else if (op == BIN_MUL) backend_of(dst)->unary(UN_MUL_SCALAR, dst, dst, alpha, 0);
        else backend_of(dst)->unary(UN_ADD_SCALAR, dst, dst, op == BIN_SUB ? -alpha : alpha, 0);
        return 0;
    }
    ENGINE_CHECK_INT(device_equal(tensor_device(dst), tensor_device(src)),
                     "%s: expected all tensors to be on the same device, but found %s and %s", name,
                     device_name(tensor_device(dst)), device_name(tensor_device(src)));
    /* the result type of dst op src must be dst's own */
    bool promotes = src->dtype == dst->dtype || dst->dtype == DT_F32 || src->dtype == DT_U8;
    ENGINE_CHECK_INT(promotes, "%s: result type %s can't be cast to the desired output type %s", name,
                     torch_type_name(src->dtype), torch_type_name(dst->dtype));
    Shape shape;
    ENGINE_CHECK_INT(shape_broadcast(dst->shape, src->shape, &shape) && shape_equal(shape, dst->shape),
                     "%s: source of shape %s cannot be broadcast to %s", name, shape_str(src->shape),
                     shape_str(dst->shape));
    /* the converted operand and the broadcast view die with this scope */
    scope_begin();
    bool mode = no_grad_begin();
    Tensor *converted = tensor_to_dtype(src, dst->dtype);
    Tensor *v = converted ? broadcast_view(converted, shape) : NULL;
    grad_mode_restore(mode);
    if (v) {
        if (dst->dtype == DT_I64) backend_of(dst)->inplace_i64(op, dst, v, ia);
        else if (op == BIN_MUL) backend_of(dst)->binary(BIN_MUL, dst, dst, v);
        else backend_of(dst)->axpy(dst, v, op == BIN_SUB ? -alpha : alpha);
    }
    scope_end();
    return v ? 0 : -1;
}

int t_add_(Tensor *dst, Tensor *src, double alpha)
{
    if (!src) return -1;
    return inplace_binary(BIN_ADD, "add_", dst, src, alpha, NULL);
}
int t_sub_(Tensor *dst, Tensor *src, double alpha)
{
    if (!src) return -1;
    return inplace_binary(BIN_SUB, "sub_", dst, src, alpha, NULL);
}
int t_mul_(Tensor *dst, Tensor *src)
{
    if (!src) return -1;
    return inplace_binary(BIN_MUL, "mul_", dst, src, 1.0, NULL);
}
int t_add_scalar_(Tensor *dst, double s) { return inplace_binary(BIN_ADD, "add_", dst, NULL, s, NULL); }
int t_sub_scalar_(Tensor *dst, double s) { return inplace_binary(BIN_SUB, "sub_", dst, NULL, s, NULL); }
int t_mul_scalar_(Tensor *dst, double s) { return inplace_binary(BIN_MUL, "mul_", dst, NULL, s, NULL); }

/* int64 scalars a double cannot hold (beyond 2^53) */
static int int_scalar_(BinaryOp op, const char *name, Tensor *dst, int64_t s)
{
    if (dst && dst->dtype != DT_I64) return inplace_binary(op, name, dst, NULL, (double)s, NULL);
    return inplace_binary(op, name, dst, NULL, 0.0, &s);
}
int t_add_int_(Tensor *dst, int64_t s) { return int_scalar_(BIN_ADD, "add_", dst, s); }
int t_sub_int_(Tensor *dst, int64_t s)
{
    /* dst - s as dst + (-s) modulo 2^64: exact for INT64_MIN too */
    return int_scalar_(BIN_ADD, "sub_", dst, (int64_t)(0u - (uint64_t)s));
}
int t_mul_int_(Tensor *dst, int64_t s) { return int_scalar_(BIN_MUL, "mul_", dst, s); }
