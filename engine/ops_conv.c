/* conv2d and conv_transpose2d with their backward functions. Each is the
 * other's adjoint, so three kernels (convolution, its transpose and the
 * weight gradient) serve both ops in both directions. */
#include <stdio.h>
#include <string.h>

#include "engine/autocast.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/pool_shape.h"

ConvParams conv_params_default(void)
{
    return (ConvParams){.stride = {1, 1}, .padding = {0, 0}, .dilation = {1, 1}, .groups = 1, .output_padding = {0, 0}};
}

/* ---- parameters kept on a node (output_padding is implied by the shapes) ---- */

static void save_params(Node *n, ConvParams p)
{
    int64_t v[7] = {p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], p.groups};
    for (int i = 0; i < 7; i++) n->ints[i] = v[i];
}

static ConvParams load_params(const Node *n)
{
    ConvParams p = conv_params_default();
    for (int i = 0; i < 2; i++) {
        p.stride[i] = (int)n->ints[i];
        p.padding[i] = (int)n->ints[2 + i];
        p.dilation[i] = (int)n->ints[4 + i];
    }
    p.groups = (int)n->ints[6];
    return p;
}

/* ---- the three kernels on freshly allocated outputs, outside autograd ---- */

static Tensor *conv_raw(Tensor *x, Tensor *w, Tensor *bias, ConvParams p, Shape y_shape)
{
    NEED_KERNEL(x, conv2d);
    Tensor *y = tensor_empty(y_shape, DT_F32, tensor_device(x));
    if (y) backend_of(y)->conv2d(y, x, w, bias, p);
    return y;
}

static Tensor *conv_transpose_raw(Tensor *y, Tensor *w, Tensor *bias, ConvParams p, Shape x_shape)
{
    NEED_KERNEL(y, conv2d_transpose);
    Tensor *x = tensor_empty(x_shape, DT_F32, tensor_device(y));
    if (x) backend_of(x)->conv2d_transpose(x, y, w, bias, p);
    return x;
}

static Tensor *weight_grad_raw(Tensor *x, Tensor *gy, ConvParams p, Shape w_shape)
{
    NEED_KERNEL(x, conv2d_weight_grad);
    Tensor *gw = tensor_empty(w_shape, DT_F32, tensor_device(x));
    if (gw) backend_of(gw)->conv2d_weight_grad(gw, x, gy, p);
    return gw;
}

/* ---- checks ---- */

/* Arguments shared by both ops; the message names op. Returns false with an
 * error recorded. */
static bool check_args(const char *op, Tensor *x, Tensor *w, Tensor *bias, ConvParams p, bool transposed,
                       DType dtype)
{
    const char *bad = NULL;
    for (int i = 0; i < 2 && !bad; i++) {
        if (p.stride[i] <= 0) bad = "non-positive stride is not supported";
        else if (p.padding[i] < 0) bad = "negative padding is not supported";
        else if (p.dilation[i] <= 0) bad = "dilation should be greater than zero";
        else if (transposed && p.output_padding[i] < 0) bad = "negative output_padding is not supported";
    }
    if (!bad && p.groups <= 0) bad = "non-positive groups is not supported";
    if (bad) return engine_error("%s: %s", op, bad), false;
    Tensor *ts[3] = {x, w, bias};
    const char *what[3] = {"input", "weight", "bias"};
    for (int i = 0; i < 3; i++) {
        if (!ts[i]) continue;
        if (ts[i]->dtype != dtype)
            return engine_error("%s: expected %s to be %s, got %s", op, what[i], dtype_name(dtype),
                                dtype_name(ts[i]->dtype)),
                   false;
        if (!device_equal(tensor_device(ts[i]), tensor_device(x)))
            return engine_error("%s: expected all tensors to be on the same device, but found %s and %s", op,
                                device_name(tensor_device(x)), device_name(tensor_device(ts[i]))),
                   false;
    }
    if (w->shape.ndim != 4)
        return engine_error("%s: expected a 4-D weight, got weight of size %s", op, shape_str(w->shape)), false;
    if (x->shape.ndim != 4)
        return engine_error("%s: expected 4-D input [N, C, H, W] for 4-D weight %s, but got %d-D input of size %s "
                            "instead",
                            op, shape_str(w->shape), x->shape.ndim, shape_str(x->shape)),
               false;
    /* conv2d weight [O, C/g, kh, kw], conv_transpose2d weight [C, O/g, kh, kw]:
     * dim 0 splits into the groups either way */
    if (w->shape.d[0] % p.groups != 0)
        return engine_error("%s: Given groups=%d, expected weight to be divisible by %d at dimension 0, but got "
                            "weight of size %s instead",
                            op, p.groups, p.groups, shape_str(w->shape)),
               false;
    int64_t grouped; /* weight dim 1 times groups: the input (conv2d) or output (transposed) channels */
    if (__builtin_mul_overflow(w->shape.d[1], (int64_t)p.groups, &grouped)) /* possible when dim 0 is 0 */
        return engine_error("%s: Given groups=%d, weight of size %s has more channels than an int64 counts", op,
                            p.groups, shape_str(w->shape)),
               false;
    int64_t expected_c = transposed ? w->shape.d[0] : grouped;
    if (x->shape.d[1] != expected_c)
        return engine_error("%s: Given groups=%d, weight of size %s, expected input%s to have %lld channels, but got "
                            "%lld channels instead",
                            op, p.groups, shape_str(w->shape), shape_str(x->shape), (long long)expected_c,
                            (long long)x->shape.d[1]),
               false;
    int64_t out_channels = transposed ? grouped : w->shape.d[0];
    if (bias && (bias->shape.ndim != 1 || bias->shape.d[0] != out_channels))
        return engine_error("%s: Given weight of size %s, expected bias to be 1-dimensional with %lld elements, but "
                            "got bias of size %s instead",
                            op, shape_str(w->shape), (long long)out_channels, shape_str(bias->shape)),
               false;
    if (transposed)
        for (int i = 0; i < 2; i++)
            if (p.output_padding[i] >= p.stride[i] && p.output_padding[i] >= p.dilation[i])
                return engine_error("%s: output padding must be smaller than either stride or dilation, but got "
                                    "output_padding (%d, %d), stride (%d, %d), dilation (%d, %d)",
                                    op, p.output_padding[0], p.output_padding[1], p.stride[0], p.stride[1],
                                    p.dilation[0], p.dilation[1]),
                       false;
    return true;
}

/* a * b + c in *out, false on overflow: size arithmetic on user numbers. */
static bool mul_add(int64_t a, int64_t b, int64_t c, int64_t *out)
{
    return !__builtin_mul_overflow(a, b, out) && !__builtin_add_overflow(*out, c, out);
}

/* One spatial output size; false when the arithmetic overflows. */
static bool output_size(int64_t in, int64_t k, ConvParams p, int i, bool transposed, int64_t *size)
{
    int64_t span, padded; /* the dilated kernel; the padded input */
    if (!mul_add(p.dilation[i], k - 1, 1, &span)) return false;
    if (transposed) /* (in - 1) * stride - 2 * padding + span + output_padding */
        return mul_add(in - 1, p.stride[i], span, size) && mul_add(-2, p.padding[i], *size, size) &&
               !__builtin_add_overflow(*size, p.output_padding[i], size);
    if (!mul_add(2, p.padding[i], in, &padded)) return false;
    *size = padded >= span ? (padded - span) / p.stride[i] + 1 : 0;
    return true;
}

/* The output shape, or false with an error naming the input size, kernel
 * and padding when it would be empty or its size overflows. */
static bool output_shape(const char *op, Tensor *x, Tensor *w, ConvParams p, bool transposed, Shape *out)
{
    int64_t size[2] = {0, 0};
    bool fits = true;
    for (int i = 0; i < 2 && fits; i++) fits = output_size(x->shape.d[2 + i], w->shape.d[2 + i], p, i, transposed, &size[i]);
    if (!fits || size[0] <= 0 || size[1] <= 0) {
        char what[64];
        if (fits) snprintf(what, sizeof what, "(%lld x %lld) is too small", (long long)size[0], (long long)size[1]);
        else snprintf(what, sizeof what, "overflows 64-bit size");
        return engine_error("%s: calculated output size %s: input %s, kernel size (%lld x %lld), padding (%d, %d), "
                            "stride (%d, %d), dilation (%d, %d)",
                            op, what, shape_str(x->shape), (long long)w->shape.d[2], (long long)w->shape.d[3],
                            p.padding[0], p.padding[1], p.stride[0], p.stride[1], p.dilation[0], p.dilation[1]),
               false;
    }
    int64_t channels = transposed ? w->shape.d[1] * p.groups : w->shape.d[0]; /* fits: check_args */
    *out = SHAPE(x->shape.d[0], channels, size[0], size[1]);
    return shape_check(*out, sizeof(float), op, NULL);
}

/* Whether the work of the convolution whose output planes are out (the
 * output of conv2d, the input of conv_transpose2d) can be counted in int64:
 * the multiply-adds, N * O * OH * OW * C/g * kh * kw, and the unfolded input
 * one group's kernel reads, C/g * kw * (OH * stride + (kh - 1) * dilation) * OW.
 * Every tensor fitting does not make these fit. The message names input. */
static bool check_work_size(const char *op, Shape input, Shape out, Shape w, ConvParams p)
{
    int64_t cg = w.d[1], macs, rows, unfolded; /* as a convolution, either op's weight is [O, C/g, kh, kw] */
    bool fits = shape_numel_checked(out, &macs) && mul_add(macs, cg, 0, &macs) && mul_add(macs, w.d[2], 0, &macs) &&
                mul_add(macs, w.d[3], 0, &macs);
    fits = fits && mul_add(out.d[2], p.stride[0], 0, &rows) && mul_add(w.d[2] - 1, p.dilation[0], rows, &rows) &&
           mul_add(cg, w.d[3], 0, &unfolded) && mul_add(unfolded, rows, 0, &unfolded) &&
           mul_add(unfolded, out.d[3], 0, &unfolded);
    if (!fits)
        engine_error("%s: input %s and weight %s are too large to convolve (the work size overflows 64-bit size)", op,
                     shape_str(input), shape_str(w));
    return fits;
}

/* Contiguous copies for the kernels, made outside autograd (the op records
 * its own node on the originals). */
static Tensor *contiguous_nograd(Tensor *t)
{
    if (!t) return NULL;
    bool mode = no_grad_begin();
    Tensor *c = t_contiguous(t);
    grad_mode_restore(mode);
    return c;
}

static const int bias_dims[3] = {0, 2, 3};

/* ---- conv2d ---- */

/* With bf16/f16 operands (the native path) the gradient of the
 * low-precision result is exact in that dtype, the kernels take it so, and
 * each gradient is rounded once to its input's dtype, as the f32 emulation
 * does. */
static int conv2d_backward(Node *n, Tensor *g, Tensor **gin)
{
    ConvParams p = load_params(n);
    Tensor *x = n->saved[0], *w = n->saved[1];
    DType dt = x->dtype;
    Tensor *gc = t_contiguous(g), *gk = tensor_to_dtype(gc, dt);
    if (!gk) return -1;
    if (n->needs_grad[0] && !(gin[0] = tensor_to_dtype(conv_transpose_raw(gk, w, NULL, p, x->shape), dt))) return -1;
    if (n->needs_grad[1] && !(gin[1] = tensor_to_dtype(weight_grad_raw(x, gk, p, w->shape), dt))) return -1;
    if (n->needs_grad[2] && !(gin[2] = tensor_to_dtype(t_sum(gc, bias_dims, 3, false), dt))) return -1;
    return 0;
}

typedef struct {
    const Tensor *x, *w;
    ConvParams p;
} ConvLayer;

/* Whether the backend of the layer's input runs its convolutions natively
 * in dt (autocast_native_lowp). */
static bool conv_native(DType dt, const void *ctx)
{
    const ConvLayer *l = ctx;
    const Backend *be = backend_of(l->x);
    return be->conv2d_lowp_native && be->conv2d_lowp_native(l->x, l->w, l->p, dt);
}

Tensor *f_conv2d(Tensor *x, Tensor *weight, Tensor *bias, ConvParams p)
{
    if (!x || !weight) return NULL;
    ConvLayer layer = {x, weight, p};
    int native = autocast_native_lowp((Tensor **[]){&x, &weight, &bias}, 3, conv_native, &layer);
    if (native < 0) return NULL;
    if (!native) AUTOCAST_DISPATCH(AUTOCAST_LOWP, 3, f_conv2d(ac_in_[0], ac_in_[1], ac_in_[2], p), x, weight, bias);
    Shape y_shape;
    DType dtype = native ? x->dtype : DT_F32;
    if (!check_args("conv2d", x, weight, bias, p, false, dtype) ||
        !output_shape("conv2d", x, weight, p, false, &y_shape) ||
        !check_work_size("conv2d", x->shape, y_shape, weight->shape, p))
        return NULL;
    Tensor *xc = contiguous_nograd(x), *wc = contiguous_nograd(weight), *bc = contiguous_nograd(bias);
    if (!xc || !wc || (bias && !bc)) return NULL;
    if (native && bias) { /* the kernels add an f32 bias (the low-precision values, exactly) */
        bool mode = no_grad_begin();
        bc = tensor_to_dtype(bc, DT_F32);
        grad_mode_restore(mode);
        if (!bc) return NULL;
    }
    Tensor *y = conv_raw(xc, wc, bc, p, y_shape);
    Node *n = autograd_record("ConvolutionBackward0", conv2d_backward, y, 3, (Tensor *[]){x, weight, bias});
    if (n) {
        n->saved[0] = xc;
        n->saved[1] = wc;
        save_params(n, p);
    }
    return tensor_to_dtype(y, dtype);
}

/* ---- conv2d fused with max_pool2d ---- */

/* The backward's parameters, both sets, kept bytewise in the node's ints. */
_Static_assert(sizeof(ConvParams) + sizeof(PoolParams) <= sizeof(((Node *)0)->ints), "a node keeps both parameters");

static void save_fused_params(Node *n, ConvParams cp, PoolParams pp)
{
    memcpy(n->ints, &cp, sizeof cp);
    memcpy((char *)n->ints + sizeof cp, &pp, sizeof pp);
}

static void load_fused_params(const Node *n, ConvParams *cp, PoolParams *pp)
{
    memcpy(cp, n->ints, sizeof *cp);
    memcpy(pp, (const char *)n->ints + sizeof *cp, sizeof *pp);
}

/* saved: x, w and the pooling's window codes; shape: the convolution's
 * output. Both gradients come from the pooled gradient, one sample's
 * planes at a time. */
static int conv2d_max_pool2d_backward(Node *n, Tensor *g, Tensor **gin)
{
    ConvParams cp;
    PoolParams pp;
    load_fused_params(n, &cp, &pp);
    Tensor *x = n->saved[0], *w = n->saved[1], *codes = n->saved[2];
    Tensor *gc = t_contiguous(g);
    if (!gc) return -1;
    if (n->needs_grad[0] || n->needs_grad[1]) {
        Tensor *gx = n->needs_grad[0] ? tensor_empty(x->shape, DT_F32, tensor_device(x)) : NULL;
        Tensor *gw = n->needs_grad[1] ? tensor_empty(w->shape, DT_F32, tensor_device(x)) : NULL;
        if ((n->needs_grad[0] && !gx) || (n->needs_grad[1] && !gw)) return -1;
        NEED_KERNEL_INT(gc, conv2d_max_pool2d_backward);
        backend_of(gc)->conv2d_max_pool2d_backward(gx, gw, x, w, gc, codes, n->shape, cp, pp);
        gin[0] = gx;
        gin[1] = gw;
    }
    /* each pooled gradient lands on one output cell: the bias gradient is their sum */
    if (n->needs_grad[2] && !(gin[2] = t_sum(gc, bias_dims, 3, false))) return -1;
    return 0;
}

/* Whether the fused kernels may take the op at all: f32 operands outside
 * autocast on a backend that has them (the layer itself is the backend's
 * question, after the checks). */
static bool may_fuse(Tensor *x, Tensor *w, Tensor *bias)
{
    return backend_of(x)->conv2d_max_pool2d_fused && !autocast_state().enabled && x->dtype == DT_F32 &&
           w->dtype == DT_F32 && (!bias || bias->dtype == DT_F32) && x->shape.ndim == 4 && w->shape.ndim == 4;
}

Tensor *f_conv2d_max_pool2d(Tensor *x, Tensor *weight, Tensor *bias, ConvParams cp, PoolParams pp)
{
    if (!x || !weight) return NULL;
    if (!may_fuse(x, weight, bias)) return f_max_pool2d(f_conv2d(x, weight, bias, cp), pp);
    Shape y_shape, out_shape;
    if (!check_args("conv2d", x, weight, bias, cp, false, DT_F32) ||
        !output_shape("conv2d", x, weight, cp, false, &y_shape) ||
        !check_work_size("conv2d", x->shape, y_shape, weight->shape, cp) ||
        !pool_output_shape("max_pool2d", y_shape, &pp, &out_shape))
        return NULL;
    Tensor *xc = contiguous_nograd(x), *wc = contiguous_nograd(weight), *bc = contiguous_nograd(bias);
    if (!xc || !wc || (bias && !bc)) return NULL;
    const Backend *be = backend_of(xc);
    if (!be->conv2d_max_pool2d_fused(xc, wc, y_shape, cp, pp)) return f_max_pool2d(f_conv2d(x, weight, bias, cp), pp);
    /* the codes serve only the backward: none without one */
    bool backward = autograd_would_record(3, (Tensor *[]){x, weight, bias});
    Tensor *out = tensor_empty(out_shape, DT_F32, tensor_device(x));
    Tensor *codes = backward ? tensor_empty(out_shape, DT_U8, tensor_device(x)) : NULL;
    if (!out || (backward && !codes)) return NULL;
    NEED_KERNEL(out, conv2d_max_pool2d);
    be->conv2d_max_pool2d(out, codes, xc, wc, bc, y_shape, cp, pp);
    Node *n = autograd_record("ConvolutionMaxPool2DBackward", conv2d_max_pool2d_backward, out, 3,
                              (Tensor *[]){x, weight, bias});
    if (n) {
        n->saved[0] = xc;
        n->saved[1] = wc;
        n->saved[2] = codes;
        n->shape = y_shape;
        save_fused_params(n, cp, pp);
    }
    return out;
}

/* ---- conv_transpose2d ---- */

static int conv_transpose2d_backward(Node *n, Tensor *g, Tensor **gin)
{
    ConvParams p = load_params(n);
    Tensor *x = n->saved[0], *w = n->saved[1];
    Tensor *gc = t_contiguous(g);
    if (!gc) return -1;
    /* the output gradient plays the convolution's input, x its output */
    if (n->needs_grad[0] && !(gin[0] = conv_raw(gc, w, NULL, p, x->shape))) return -1;
    if (n->needs_grad[1] && !(gin[1] = weight_grad_raw(gc, x, p, w->shape))) return -1;
    if (n->needs_grad[2] && !(gin[2] = t_sum(gc, bias_dims, 3, false))) return -1;
    return 0;
}

Tensor *f_conv_transpose2d(Tensor *x, Tensor *weight, Tensor *bias, ConvParams p)
{
    AUTOCAST_DISPATCH(AUTOCAST_LOWP, 3, f_conv_transpose2d(ac_in_[0], ac_in_[1], ac_in_[2], p), x, weight, bias);
    if (!x || !weight) return NULL;
    Shape y_shape;
    if (!check_args("conv_transpose2d", x, weight, bias, p, true, DT_F32) ||
        !output_shape("conv_transpose2d", x, weight, p, true, &y_shape) ||
        !check_work_size("conv_transpose2d", x->shape, x->shape, weight->shape, p))
        return NULL;
    Tensor *xc = contiguous_nograd(x), *wc = contiguous_nograd(weight), *bc = contiguous_nograd(bias);
    if (!xc || !wc || (bias && !bc)) return NULL;
    Tensor *y = conv_transpose_raw(xc, wc, bc, p, y_shape);
    Node *n = autograd_record("ConvolutionBackward0", conv_transpose2d_backward, y, 3, (Tensor *[]){x, weight, bias});
    if (n) {
        n->saved[0] = xc;
        n->saved[1] = wc;
        save_params(n, p);
    }
    return y;
}
