/* MaxPool2d, AvgPool2d and AdaptiveAvgPool2d layers. */
#include <inttypes.h>
#include <stdio.h>

#include "engine/nn/layer_util.h"
#include "engine/nn/layers.h"

typedef struct {
    PoolParams p;
} PoolImpl;

static Tensor *max_pool_forward(Module *self, Tensor *x) { return f_max_pool2d(x, ((PoolImpl *)self->impl)->p); }
static Tensor *avg_pool_forward(Module *self, Tensor *x) { return f_avg_pool2d(x, ((PoolImpl *)self->impl)->p); }

static void max_pool_repr(const Module *self, char *buf, size_t size)
{
    const PoolParams *p = &((const PoolImpl *)self->impl)->p;
    char k[32], s[32], pad[32];
    snprintf(buf, size, "kernel_size=%s, stride=%s, padding=%s, dilation=1, ceil_mode=%s",
             py_int_or_tuple2(p->kernel, k, sizeof k), py_int_or_tuple2(p->stride, s, sizeof s),
             py_int_or_tuple2(p->padding, pad, sizeof pad), py_bool(p->ceil_mode));
}

static void avg_pool_repr(const Module *self, char *buf, size_t size)
{
    const PoolParams *p = &((const PoolImpl *)self->impl)->p;
    char k[32], s[32], pad[32];
    snprintf(buf, size, "kernel_size=%s, stride=%s, padding=%s", py_int_or_tuple2(p->kernel, k, sizeof k),
             py_int_or_tuple2(p->stride, s, sizeof s), py_int_or_tuple2(p->padding, pad, sizeof pad));
}

static Module *pool_new(const char *type, PoolParams p, ModuleForwardFn forward, ModuleExtraReprFn repr)
{
    for (int i = 0; i < 2; i++)
        if (p.stride[i] == 0) p.stride[i] = p.kernel[i]; /* PyTorch: stride defaults to kernel_size */
    ENGINE_CHECK(p.kernel[0] > 0 && p.kernel[1] > 0 && p.stride[0] > 0 && p.stride[1] > 0,
                 "%s: kernel size and stride must be greater than zero, got kernel (%d, %d), stride (%d, %d)", type,
                 p.kernel[0], p.kernel[1], p.stride[0], p.stride[1]);
    ENGINE_CHECK(p.padding[0] >= 0 && p.padding[1] >= 0 && p.padding[0] <= p.kernel[0] / 2 &&
                     p.padding[1] <= p.kernel[1] / 2,
                 "%s: pad should be at most half of kernel size, but got pad=(%d, %d) and kernel_size=(%d, %d)", type,
                 p.padding[0], p.padding[1], p.kernel[0], p.kernel[1]);
    Module *m = layer_new(type, sizeof(PoolImpl), forward, repr);
    ((PoolImpl *)m->impl)->p = p;
    return m;
}

Module *nn_max_pool2d(PoolParams p) { return pool_new("MaxPool2d", p, max_pool_forward, max_pool_repr); }
Module *nn_avg_pool2d(PoolParams p) { return pool_new("AvgPool2d", p, avg_pool_forward, avg_pool_repr); }

typedef struct {
    int64_t out_h, out_w;
} AdaptivePoolImpl;

static Tensor *adaptive_avg_pool_forward(Module *self, Tensor *x)
{
    AdaptivePoolImpl *a = self->impl;
    return f_adaptive_avg_pool2d(x, a->out_h, a->out_w);
}

static void adaptive_avg_pool_repr(const Module *self, char *buf, size_t size)
{
    const AdaptivePoolImpl *a = self->impl;
    if (a->out_h == a->out_w)
        snprintf(buf, size, "output_size=%" PRId64, a->out_h);
    else
        snprintf(buf, size, "output_size=(%" PRId64 ", %" PRId64 ")", a->out_h, a->out_w);
}

Module *nn_adaptive_avg_pool2d(int64_t out_h, int64_t out_w)
{
    ENGINE_CHECK(out_h > 0 && out_w > 0,
                 "AdaptiveAvgPool2d: output size must be positive, got (%" PRId64 ", %" PRId64 ")", out_h, out_w);
    Module *m =
        layer_new("AdaptiveAvgPool2d", sizeof(AdaptivePoolImpl), adaptive_avg_pool_forward, adaptive_avg_pool_repr);
    AdaptivePoolImpl *a = m->impl;
    a->out_h = out_h;
    a->out_w = out_w;
    return m;
}
