/* Matrix products (dot, mm, bmm, matmul) and linear, with their backward
 * functions. Every product runs through one kernel (matmul over broadcast
 * batch dims); transposed operands are passed as views, never copied. */
#include "engine/autocast.h"
#include "engine/dispatch.h"
#include "engine/matrix_layout.h"
#include "engine/ops.h"

/* t when its matrices (last two dims) suit BLAS, otherwise a contiguous copy
 * made outside autograd (the caller records its own node on t). */
static Tensor *blas_operand(Tensor *t)
{
    if (matrix_blas_ok(t)) return t;
    bool mode = no_grad_begin();
    Tensor *c = t_contiguous(t);
    grad_mode_restore(mode);
    return c;
}

/* A view of t with its batch dims broadcast to out_shape's (stride 0 where
 * broadcast) and its own last two dims; NULL with an error naming op when
 * that view would have more elements than an int64 counts. */
static Tensor *batch_broadcast_view(Tensor *t, Shape out_shape, const char *op)
{
    int nd = out_shape.ndim;
    Shape shape = out_shape;
    int64_t strides[MAX_DIMS] = {0};
    for (int i = 0; i < nd - 2; i++) {
        int j = t->shape.ndim - nd + i;
        strides[i] = (j < 0 || t->shape.d[j] == 1) ? 0 : t->strides[j];
    }
    for (int i = nd - 2; i < nd; i++) {
        shape.d[i] = t->shape.d[t->shape.ndim - nd + i];
        strides[i] = t->strides[t->shape.ndim - nd + i];
    }
    if (!shape_check(shape, dtype_size(t->dtype), op, NULL)) return NULL;
    return tensor_make_view(t->storage, t->offset, t->dtype, shape, strides);
}

static int64_t batch_numel(const Tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->shape.ndim - 2; d++) n *= t->shape.d[d];
    return n;
}

static int matmul_backward(Node *n, Tensor *g, Tensor **gin);

/* out (f32) (+)= a @ b on the backend's kernel for a's dtype: bf16 or f16
 * operands (the native path, autocast_native_lowp) or f32. */
static int product_kernel(Tensor *out, const Tensor *a, const Tensor *b, bool accumulate)
{
    if (dtype_is_lowp(a->dtype)) {
        NEED_KERNEL_INT(out, matmul_lowp);
        backend_of(out)->matmul_lowp(out, a, b, accumulate);
    } else {
        NEED_KERNEL_INT(out, matmul);
        backend_of(out)->matmul(out, a, b, accumulate);
    }
    return 0;
}

/* a [..., M, K] @ b [..., K, N], both at least 2-D, batch dims broadcast.
 * The caller has checked dtypes, devices and that the K sizes agree. */
static Tensor *matmul_nd(Tensor *a, Tensor *b, const char *op)
{
    int na = a->shape.ndim, nb = b->shape.ndim;
    Shape batch_a = a->shape, batch_b = b->shape, out_shape;
    batch_a.ndim -= 2;
    batch_b.ndim -= 2;
    ENGINE_CHECK(shape_broadcast(batch_a, batch_b, &out_shape),
                 "%s: the batch dimensions of %s and %s do not broadcast", op, shape_str(a->shape),
                 shape_str(b->shape));
    out_shape.d[out_shape.ndim++] = a->shape.d[na - 2];
    out_shape.d[out_shape.ndim++] = b->shape.d[nb - 1];
    Tensor *ca = blas_operand(a), *cb = blas_operand(b);
    Tensor *out = tensor_empty(out_shape, DT_F32, tensor_device(a));
    if (!ca || !cb || !out) return NULL;
    Tensor *va = batch_broadcast_view(ca, out_shape, op), *vb = va ? batch_broadcast_view(cb, out_shape, op) : NULL;
    if (!va || !vb) return NULL;
    DType dt = a->dtype; /* bf16/f16: native low-precision products (2-D only, see t_mm) */
    if (product_kernel(out, va, vb, false)) return NULL;
    Node *n = autograd_record(out_shape.ndim == 2 ? "MmBackward0" : "BmmBackward0", matmul_backward, out, 2,
                              (Tensor *[]){a, b});
    if (n) {
        n->saved[0] = ca;
        n->saved[1] = cb;
    }
    return tensor_to_dtype(out, dt);
}

static int matmul_backward(Node *n, Tensor *g_out, Tensor **gin)
{
    Tensor *a = n->saved[0], *b = n->saved[1];
    /* a bf16/f16 product's gradient (that of its low-precision result) is
     * exact in that dtype: its products run in it too, each rounded once */
    Tensor *g = tensor_to_dtype(g_out, a->dtype);
    if (n->needs_grad[0]) {
        gin[0] = t_sum_to_shape(matmul_nd(g, t_transpose(b, -1, -2), "matmul backward"), a->shape);
        if (!gin[0]) return -1;
    }
    if (n->needs_grad[1]) {
        int na = a->shape.ndim;
        if (b->shape.ndim == 2 && na > 2) {
            /* one matrix for the whole batch: its gradient is a single product
             * over all rows, a^T [K, batch*M] @ g [batch*M, N] */
            int64_t rows = batch_numel(a) * a->shape.d[na - 2];
            Tensor *a2 = t_reshape(a, SHAPE(rows, a->shape.d[na - 1]));
            Tensor *g2 = t_reshape(g, SHAPE(rows, g->shape.d[g->shape.ndim - 1]));
            gin[1] = a2 && g2 ? matmul_nd(t_transpose(a2, 0, 1), g2, "matmul backward") : NULL;
        } else {
            gin[1] = t_sum_to_shape(matmul_nd(t_transpose(a, -1, -2), g, "matmul backward"), b->shape);
        }
        if (!gin[1]) return -1;
    }
    return 0;
}

/* Whether the backend of t (a tensor) runs products natively in dt
 * (autocast_native_lowp). */
static bool products_native(DType dt, const void *t)
{
    const Backend *be = backend_of(t);
    return be->matmul_lowp && be->matmul_lowp_native && be->matmul_lowp_native(dt);
}

/* dtype and device checks shared by the products. */
static bool check_operands(Tensor *a, Tensor *b, DType dtype, const char *op)
{
    if (a->dtype != dtype || b->dtype != dtype) {
        engine_error("%s: expected %s tensors, got %s and %s", op, dtype_name(dtype), dtype_name(a->dtype),
                     dtype_name(b->dtype));
        return false;
    }
    if (!device_equal(tensor_device(a), tensor_device(b))) {
        engine_error("%s: expected all tensors to be on the same device, but found %s and %s", op,
                     device_name(tensor_device(a)), device_name(tensor_device(b)));
        return false;
    }
    return true;
}

Tensor *t_mm(Tensor *a, Tensor *b)
{
    if (!a || !b) return NULL;
    int native = autocast_native_lowp((Tensor **[]){&a, &b}, 2, products_native, a);
    if (native < 0) return NULL;
    if (!native) AUTOCAST_DISPATCH(AUTOCAST_LOWP, 2, t_mm(ac_in_[0], ac_in_[1]), a, b);
    if (!check_operands(a, b, native ? a->dtype : DT_F32, "mm")) return NULL;
    ENGINE_CHECK(a->shape.ndim == 2 && b->shape.ndim == 2, "mm: expected 2-D tensors, got %s and %s",
                 shape_str(a->shape), shape_str(b->shape));
    ENGINE_CHECK(a->shape.d[1] == b->shape.d[0], "mm: mat1 and mat2 shapes cannot be multiplied (%s and %s)",
                 shape_str(a->shape), shape_str(b->shape));
    return matmul_nd(a, b, "mm");
}

Tensor *t_bmm(Tensor *a, Tensor *b)
{
    if (!a || !b) return NULL;
    AUTOCAST_DISPATCH(AUTOCAST_LOWP, 2, t_bmm(ac_in_[0], ac_in_[1]), a, b);
    if (!check_operands(a, b, DT_F32, "bmm")) return NULL;
    ENGINE_CHECK(a->shape.ndim == 3 && b->shape.ndim == 3, "bmm: expected 3-D tensors, got %s and %s",
                 shape_str(a->shape), shape_str(b->shape));
    ENGINE_CHECK(a->shape.d[0] == b->shape.d[0] && a->shape.d[2] == b->shape.d[1],
                 "bmm: expected batch2 of shape [%lld, %lld, *] for batch1 of shape %s, but got %s",
                 (long long)a->shape.d[0], (long long)a->shape.d[2], shape_str(a->shape), shape_str(b->shape));
    return matmul_nd(a, b, "bmm");
}

Tensor *t_dot(Tensor *a, Tensor *b)
{
    if (!a || !b) return NULL;
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 2, t_dot(ac_in_[0], ac_in_[1]), a, b); /* not on autocast's lists */
    if (!check_operands(a, b, DT_F32, "dot")) return NULL;
    ENGINE_CHECK(a->shape.ndim == 1 && b->shape.ndim == 1, "dot: 1D tensors expected, but got %s and %s",
                 shape_str(a->shape), shape_str(b->shape));
    ENGINE_CHECK(a->shape.d[0] == b->shape.d[0],
                 "dot: inconsistent tensor size, expected tensor %s and src %s to have the same number of elements",
                 shape_str(a->shape), shape_str(b->shape));
    /* [1, K] @ [K, 1] through the views' own autograd */
    return t_reshape(matmul_nd(t_unsqueeze(a, 0), t_unsqueeze(b, 1), "dot"), SCALAR_SHAPE);
}

Tensor *t_matmul(Tensor *a, Tensor *b)
{
    if (!a || !b) return NULL;
    AUTOCAST_DISPATCH(AUTOCAST_LOWP, 2, t_matmul(ac_in_[0], ac_in_[1]), a, b);
    if (!check_operands(a, b, DT_F32, "matmul")) return NULL;
    int na = a->shape.ndim, nb = b->shape.ndim;
    ENGINE_CHECK(na >= 1 && nb >= 1,
                 "matmul: both arguments to matmul need to be at least 1D, but they are %dD and %dD", na, nb);
    int64_t ka = a->shape.d[na - 1], kb = b->shape.d[nb == 1 ? 0 : nb - 2];
    ENGINE_CHECK(ka == kb, "matmul: mat1 and mat2 shapes cannot be multiplied (%s and %s)", shape_str(a->shape),
                 shape_str(b->shape));
    if (na == 1 && nb == 1) return t_dot(a, b);
    /* a vector becomes a one-row (first operand) or one-column (second)
     * matrix, and that dim is removed from the result */
    if (na == 1) return t_squeeze(matmul_nd(t_unsqueeze(a, 0), b, "matmul"), -2);
    if (nb == 1) return t_squeeze(matmul_nd(a, t_unsqueeze(b, 1), "matmul"), -1);
    return matmul_nd(a, b, "matmul");
}

/* ---- linear ---- */

static int linear_backward(Node *n, Tensor *g, Tensor **gin)
{
    Tensor *x2 = n->saved[0], *w = n->saved[1];
    Tensor *g2 = t_reshape(g, SHAPE(x2->shape.d[0], w->shape.d[0]));
    Tensor *gp = tensor_to_dtype(g2, x2->dtype); /* bf16/f16 operands: as matmul_backward */
    if (n->needs_grad[0] && !(gin[0] = t_reshape(t_mm(gp, w), n->inputs[0]->shape))) return -1;
    if (n->needs_grad[1] && !(gin[1] = t_mm(t_transpose(gp, 0, 1), x2))) return -1;
    if (n->needs_grad[2] && !(gin[2] = tensor_to_dtype(t_sum(g2, (int[]){0}, 1, false), x2->dtype))) return -1;
    return 0;
}

Tensor *f_linear(Tensor *x, Tensor *weight, Tensor *bias)
{
    if (!x || !weight) return NULL;
    int native = autocast_native_lowp((Tensor **[]){&x, &weight, &bias}, 3, products_native, x);
    if (native < 0) return NULL;
    if (!native) AUTOCAST_DISPATCH(AUTOCAST_LOWP, 3, f_linear(ac_in_[0], ac_in_[1], ac_in_[2]), x, weight, bias);
    DType dtype = native ? x->dtype : DT_F32;
    if (!check_operands(x, weight, dtype, "linear")) return NULL;
    ENGINE_CHECK(weight->shape.ndim == 2, "linear: expected a 2-D weight [out_features, in_features], got %s",
                 shape_str(weight->shape));
    int64_t in = weight->shape.d[1], out_features = weight->shape.d[0];
    int nx = x->shape.ndim;
    ENGINE_CHECK(nx >= 1 && x->shape.d[nx - 1] == in,
                 "linear: input of shape %s does not match weight of shape %s (expected last dim %lld)",
                 shape_str(x->shape), shape_str(weight->shape), (long long)in);
    if (bias) {
        if (!check_operands(x, bias, dtype, "linear")) return NULL;
        ENGINE_CHECK(bias->shape.ndim == 1 && bias->shape.d[0] == out_features,
                     "linear: expected bias of shape [%lld] for weight of shape %s, got %s", (long long)out_features,
                     shape_str(weight->shape), shape_str(bias->shape));
    }
    int64_t rows = 1;
    for (int d = 0; d < nx - 1; d++) rows *= x->shape.d[d];
    Shape out_shape = x->shape;
    out_shape.d[nx - 1] = out_features;

    bool mode = no_grad_begin();
    Tensor *x2 = blas_operand(t_reshape(x, SHAPE(rows, in)));
    Tensor *wt = blas_operand(t_transpose(weight, 0, 1));
    Tensor *out = tensor_empty(SHAPE(rows, out_features), DT_F32, tensor_device(x));
    /* the bias is the product's starting value: no second pass over out */
    bool with_bias = bias && out && tensor_copy_(out, bias) == 0;
    grad_mode_restore(mode);
    if (!x2 || !wt || !out || (bias && !with_bias)) return NULL;
    if (product_kernel(out, x2, wt, with_bias)) return NULL;
    out->shape = out_shape; /* same contiguous data */
    shape_contiguous_strides(out_shape, out->strides);

    Node *n = autograd_record(bias ? "AddmmBackward0" : "MmBackward0", linear_backward, out, 3,
                              (Tensor *[]){x, weight, bias});
    if (n) {
        n->saved[0] = x2;
        n->saved[1] = weight;
    }
    return tensor_to_dtype(out, dtype);
}
