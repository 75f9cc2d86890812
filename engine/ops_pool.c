/* 2-D pooling ops (max, average, adaptive average) with their backward
 * functions; output sizes and argument checks follow PyTorch's. */
#include "engine/autocast.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/pool_shape.h"

PoolParams pool_params(int kernel, int stride, int padding)
{
    int s = stride ? stride : kernel;
    return (PoolParams){.kernel = {kernel, kernel}, .stride = {s, s}, .padding = {padding, padding},
                        .ceil_mode = false, .count_include_pad = true};
}

/* PyTorch's pooling_output_shape: with ceil_mode the last window must
 * start inside the input or its left padding. */
static int64_t pool_output_size(int64_t in, int k, int stride, int pad, bool ceil_mode)
{
    int64_t num = in + 2 * (int64_t)pad - (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
    int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1; /* floor division */
    if (ceil_mode && (out - 1) * stride >= in + pad) out--;
    return out;
}

static bool check_input(const char *op, Tensor *x)
{
    if (x->dtype != DT_F32)
        return engine_error("%s: expected a float32 input, got %s", op, dtype_name(x->dtype)), false;
    if (x->shape.ndim != 4)
        return engine_error("%s: expected a 4-D input [N, C, H, W], but got input of size %s", op,
                            shape_str(x->shape)),
               false;
    return true;
}

bool pool_output_shape(const char *op, Shape in, PoolParams *p, Shape *out)
{
    for (int i = 0; i < 2; i++) {
        if (p->stride[i] == 0) p->stride[i] = p->kernel[i];
        if (p->kernel[i] <= 0)
            return engine_error("%s: kernel size should be greater than zero, but got (%d, %d)", op, p->kernel[0],
                                p->kernel[1]),
                   false;
        if (p->stride[i] < 0)
            return engine_error("%s: stride should be greater than zero, but got (%d, %d)", op, p->stride[0],
                                p->stride[1]),
                   false;
        if (p->padding[i] < 0 || p->padding[i] > p->kernel[i] / 2)
            return engine_error("%s: pad should be at most half of kernel size, but got pad (%d, %d) and kernel size "
                                "(%d, %d)",
                                op, p->padding[0], p->padding[1], p->kernel[0], p->kernel[1]),
                   false;
    }
    int64_t oh = pool_output_size(in.d[2], p->kernel[0], p->stride[0], p->padding[0], p->ceil_mode);
    int64_t ow = pool_output_size(in.d[3], p->kernel[1], p->stride[1], p->padding[1], p->ceil_mode);
    if (oh <= 0 || ow <= 0)
        return engine_error("%s: given input of size %s, calculated output size (%lld x %lld) is too small "
                            "(kernel size (%d, %d), stride (%d, %d), padding (%d, %d))",
                            op, shape_str(in), (long long)oh, (long long)ow, p->kernel[0], p->kernel[1],
                            p->stride[0], p->stride[1], p->padding[0], p->padding[1]),
               false;
    *out = SHAPE(in.d[0], in.d[1], oh, ow);
    return true;
}

/* The input checks, then pool_output_shape. */
static bool pool_setup(const char *op, Tensor *x, PoolParams *p, Shape *out)
{
    return check_input(op, x) && pool_output_shape(op, x->shape, p, out);
}

static Tensor *contiguous_nograd(Tensor *t)
{
    bool mode = no_grad_begin();
    Tensor *c = t_contiguous(t);
    grad_mode_restore(mode);
    return c;
}

static void save_pool_params(Node *n, PoolParams p)
{
    int64_t v[8] = {p.kernel[0], p.kernel[1], p.stride[0], p.stride[1],
                    p.padding[0], p.padding[1], p.ceil_mode, p.count_include_pad};
    for (int i = 0; i < 8; i++) n->ints[i] = v[i];
}

static PoolParams load_pool_params(const Node *n)
{
    PoolParams p;
    for (int i = 0; i < 2; i++) {
        p.kernel[i] = (int)n->ints[i];
        p.stride[i] = (int)n->ints[2 + i];
        p.padding[i] = (int)n->ints[4 + i];
    }
    p.ceil_mode = n->ints[6] != 0;
    p.count_include_pad = n->ints[7] != 0;
    return p;
}

/* ---- max ---- */

static int max_pool2d_backward(Node *n, Tensor *g, Tensor **gin)
{
    Tensor *gc = t_contiguous(g);
    Tensor *gx = gc ? tensor_empty(n->shape, DT_F32, tensor_device(g)) : NULL;
    if (!gx) return -1;
    NEED_KERNEL_INT(gx, max_pool2d_backward);
    backend_of(gx)->max_pool2d_backward(gx, gc, n->saved[0], load_pool_params(n));
    gin[0] = gx;
    return 0;
}

Tensor *f_max_pool2d(Tensor *x, PoolParams p)
{
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 1, f_max_pool2d(ac_in_[0], p), x);
    if (!x) return NULL;
    Shape out_shape;
    if (!pool_setup("max_pool2d", x, &p, &out_shape)) return NULL;
    Tensor *xc = contiguous_nograd(x);
    Tensor *out = tensor_empty(out_shape, DT_F32, tensor_device(x));
    /* the indices serve only the backward: none without one (evaluation);
     * window codes where the backend records them (1 byte, not 8) */
    bool backward = autograd_would_record(1, &x);
    DType index_dtype = backend_of(x)->max_pool2d_window_codes && (int64_t)p.kernel[0] * p.kernel[1] <= 256
                            ? DT_U8
                            : DT_I64;
    Tensor *indices = backward ? tensor_empty(out_shape, index_dtype, tensor_device(x)) : NULL;
    if (!xc || !out || (backward && !indices)) return NULL;
    NEED_KERNEL(out, max_pool2d);
    backend_of(out)->max_pool2d(out, indices, xc, p);
    Node *n = autograd_record("MaxPool2DWithIndicesBackward0", max_pool2d_backward, out, 1, &x);
    if (n) {
        n->saved[0] = indices;
        n->shape = x->shape;
        save_pool_params(n, p);
    }
    return out;
}

/* ---- average ---- */

static int avg_pool2d_backward(Node *n, Tensor *g, Tensor **gin)
{
    Tensor *gc = t_contiguous(g);
    Tensor *gx = gc ? tensor_empty(n->shape, DT_F32, tensor_device(g)) : NULL;
    if (!gx) return -1;
    NEED_KERNEL_INT(gx, avg_pool2d_backward);
    backend_of(gx)->avg_pool2d_backward(gx, gc, load_pool_params(n));
    gin[0] = gx;
    return 0;
}

Tensor *f_avg_pool2d(Tensor *x, PoolParams p)
{
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 1, f_avg_pool2d(ac_in_[0], p), x);
    if (!x) return NULL;
    Shape out_shape;
    if (!pool_setup("avg_pool2d", x, &p, &out_shape)) return NULL;
    Tensor *xc = contiguous_nograd(x);
    Tensor *out = tensor_empty(out_shape, DT_F32, tensor_device(x));
    if (!xc || !out) return NULL;
    NEED_KERNEL(out, avg_pool2d);
    backend_of(out)->avg_pool2d(out, xc, p);
    Node *n = autograd_record("AvgPool2DBackward0", avg_pool2d_backward, out, 1, &x);
    if (n) {
        save_pool_params(n, p);
        n->shape = x->shape;
    }
    return out;
}

/* ---- adaptive average ---- */

static int adaptive_avg_pool2d_backward(Node *n, Tensor *g, Tensor **gin)
{
    Tensor *gc = t_contiguous(g);
    Tensor *gx = gc ? tensor_empty(n->shape, DT_F32, tensor_device(g)) : NULL;
    if (!gx) return -1;
    NEED_KERNEL_INT(gx, adaptive_avg_pool2d_backward);
    backend_of(gx)->adaptive_avg_pool2d_backward(gx, gc);
    gin[0] = gx;
    return 0;
}

Tensor *f_adaptive_avg_pool2d(Tensor *x, int64_t out_h, int64_t out_w)
{
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 1, f_adaptive_avg_pool2d(ac_in_[0], out_h, out_w), x);
    if (!x) return NULL;
    if (!check_input("adaptive_avg_pool2d", x)) return NULL;
    ENGINE_CHECK(out_h >= 0 && out_w >= 0,
                 "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but received (%lld, "
                 "%lld)",
                 (long long)out_h, (long long)out_w);
    ENGINE_CHECK(x->shape.d[2] > 0 && x->shape.d[3] > 0,
                 "adaptive_avg_pool2d: expected input to have non-zero size for non-batch dimensions, but input has "
                 "size %s",
                 shape_str(x->shape));
    Tensor *xc = contiguous_nograd(x);
    Tensor *out = tensor_empty(SHAPE(x->shape.d[0], x->shape.d[1], out_h, out_w), DT_F32, tensor_device(x));
    if (!xc || !out) return NULL;
    NEED_KERNEL(out, adaptive_avg_pool2d);
    backend_of(out)->adaptive_avg_pool2d(out, xc);
    Node *n = autograd_record("AdaptiveAvgPool2DBackward0", adaptive_avg_pool2d_backward, out, 1, &x);
    if (n) n->shape = x->shape;
    return out;
}
