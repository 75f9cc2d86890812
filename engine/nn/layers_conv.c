/* Conv2d and ConvTranspose2d layers (PyTorch's _ConvNd parameters, default
 * initialisation and repr). */
#include <inttypes.h>
#include <stdio.h>

#include "engine/nn/init.h"
#include "engine/nn/layer_util.h"
#include "engine/nn/layers.h"
#include "engine/nn/strbuf.h"

typedef struct {
    int64_t in_channels, out_channels;
    int kernel[2];
    ConvParams p;
    bool transposed, has_bias; /* has_bias is set before bias exists, for the repr of a failed constructor */
    Tensor *weight, *bias;
} ConvImpl;

static Tensor *conv2d_forward(Module *self, Tensor *x)
{
    ConvImpl *c = self->impl;
    return f_conv2d(x, c->weight, c->bias, c->p);
}

static Tensor *conv_transpose2d_forward(Module *self, Tensor *x)
{
    ConvImpl *c = self->impl;
    return f_conv_transpose2d(x, c->weight, c->bias, c->p);
}

static Tensor *conv2d_max_pool2d_forward(Module *self, Tensor *x, const void *pool)
{
    ConvImpl *c = self->impl;
    return f_conv2d_max_pool2d(x, c->weight, c->bias, c->p, *(const PoolParams *)pool);
}

Tensor *nn_conv2d_max_pool2d(Module *conv, Tensor *x, PoolParams pool)
{
    if (!conv || conv->forward != conv2d_forward || conv->pre_hooks.n || conv->hooks.n)
        return f_max_pool2d(module_forward(conv, x), pool);
    return module_forward_fused(conv, x, conv2d_max_pool2d_forward, &pool);
}

/* _ConvNd.extra_repr: settings that differ from the defaults are listed. */
static void conv_repr(const Module *self, char *buf, size_t size)
{
    const ConvImpl *c = self->impl;
    char t[32];
    StrBuf b = {0};
    strbuf_printf(&b, "%" PRId64 ", %" PRId64 ", kernel_size=%s", c->in_channels, c->out_channels,
                  py_tuple2(c->kernel, t, sizeof t));
    strbuf_printf(&b, ", stride=%s", py_tuple2(c->p.stride, t, sizeof t));
    if (c->p.padding[0] || c->p.padding[1]) strbuf_printf(&b, ", padding=%s", py_tuple2(c->p.padding, t, sizeof t));
    if (c->p.dilation[0] != 1 || c->p.dilation[1] != 1)
        strbuf_printf(&b, ", dilation=%s", py_tuple2(c->p.dilation, t, sizeof t));
    if (c->p.output_padding[0] || c->p.output_padding[1])
        strbuf_printf(&b, ", output_padding=%s", py_tuple2(c->p.output_padding, t, sizeof t));
    if (c->p.groups != 1) strbuf_printf(&b, ", groups=%d", c->p.groups);
    if (!c->has_bias) strbuf_printf(&b, ", bias=False");
    snprintf(buf, size, "%s", strbuf_str(&b));
    strbuf_free(&b);
}

static Module *conv_new(const char *type, int64_t in_channels, int64_t out_channels, int kh, int kw, ConvParams p,
                        bool bias, bool transposed)
{
    ENGINE_CHECK(p.groups > 0, "%s: groups must be a positive integer, got %d", type, p.groups);
    ENGINE_CHECK(in_channels > 0 && out_channels > 0, "%s: channels must be positive, got %" PRId64 " and %" PRId64,
                 type, in_channels, out_channels);
    ENGINE_CHECK(in_channels % p.groups == 0, "%s: in_channels must be divisible by groups (%" PRId64 " and %d)", type,
                 in_channels, p.groups);
    ENGINE_CHECK(out_channels % p.groups == 0, "%s: out_channels must be divisible by groups (%" PRId64 " and %d)",
                 type, out_channels, p.groups);
    ENGINE_CHECK(kh > 0 && kw > 0, "%s: kernel size must be positive, got (%d, %d)", type, kh, kw);
    ENGINE_CHECK(p.stride[0] > 0 && p.stride[1] > 0 && p.dilation[0] > 0 && p.dilation[1] > 0,
                 "%s: stride and dilation must be positive, got stride (%d, %d), dilation (%d, %d)", type, p.stride[0],
                 p.stride[1], p.dilation[0], p.dilation[1]);
    ENGINE_CHECK(p.padding[0] >= 0 && p.padding[1] >= 0, "%s: padding must be non-negative, got (%d, %d)", type,
                 p.padding[0], p.padding[1]);
    ENGINE_CHECK(transposed || (p.output_padding[0] == 0 && p.output_padding[1] == 0),
                 "%s: output_padding is only used by ConvTranspose2d, got (%d, %d)", type, p.output_padding[0],
                 p.output_padding[1]);
    Module *m = layer_new(type, sizeof(ConvImpl), transposed ? conv_transpose2d_forward : conv2d_forward, conv_repr);
    ConvImpl *c = m->impl;
    c->in_channels = in_channels;
    c->out_channels = out_channels;
    c->kernel[0] = kh;
    c->kernel[1] = kw;
    c->p = p;
    c->transposed = transposed;
    c->has_bias = bias;
    Shape w = transposed ? SHAPE(in_channels, out_channels / p.groups, kh, kw)
                         : SHAPE(out_channels, in_channels / p.groups, kh, kw);
    c->weight = module_register_parameter(m, "weight", layer_tensor(w));
    if (!c->weight) return layer_fail(m);
    if (bias && !(c->bias = module_register_parameter(m, "bias", layer_tensor(SHAPE(out_channels)))))
        return layer_fail(m);
    if (nn_init_linear_default_(c->weight, c->bias, NULL) != 0) return layer_fail(m);
    return m;
}

Module *nn_conv2d(int64_t in_channels, int64_t out_channels, int kh, int kw, ConvParams p, bool bias)
{
    return conv_new("Conv2d", in_channels, out_channels, kh, kw, p, bias, false);
}

Module *nn_conv_transpose2d(int64_t in_channels, int64_t out_channels, int kh, int kw, ConvParams p, bool bias)
{
    return conv_new("ConvTranspose2d", in_channels, out_channels, kh, kw, p, bias, true);
}
