/* ResNet-18 for 32x32 inputs (the CIFAR-10 variant): a 3x3 stem without
 * max-pool, four stages of two BasicBlocks (64, 128, 256, 512 channels,
 * stride 2 at the first block of stages 2-4, 1x1 conv + BatchNorm shortcut
 * where the shape changes), global average pool, fc, log_softmax.
 * Children carry torchvision's attribute names (conv1, bn1, layer1.0.conv1,
 * layer2.0.downsample.0, fc), so the state dict loads into torchvision-style
 * PyTorch code, and its initialisation is torchvision's ResNet one. */
#include "model/model.h"

#include "engine/ops.h"

static Tensor *call(Module *m, const char *name, Tensor *x) { return module_forward(module_get_child(m, name), x); }

/* Registers child under name and returns m; on any failure frees what it
 * holds and returns NULL, so a constructor can chain calls and check once.
 * A child whose constructor failed puts its name in front of the message. */
static Module *add(Module *m, const char *name, Module *child)
{
    if (!m) {
        module_free(child);
        return NULL;
    }
    if (!child) engine_error_context("%s", name);
    if (!module_register_module(m, name, child)) {
        module_free(m);
        return NULL;
    }
    return m;
}

/* torchvision's conv3x3 / conv1x1: no bias (a BatchNorm follows), weights
 * kaiming_normal_(mode="fan_out", nonlinearity="relu") as ResNet.__init__. */
static Module *resnet_conv(int64_t in, int64_t out, int k, int stride)
{
    ConvParams p = conv_params_default();
    p.stride[0] = p.stride[1] = stride;
    p.padding[0] = p.padding[1] = k / 2;
    Module *c = nn_conv2d(in, out, k, k, p, false);
    if (c && nn_init_kaiming_normal_(module_get_parameter(c, "weight"), 0.0, FAN_OUT, "relu", NULL) != 0) {
        module_free(c);
        return NULL;
    }
    return c;
}

/* ---- BasicBlock ---- */

static Tensor *basic_block_forward(Module *m, Tensor *x)
{
    Tensor *out = call(m, "relu", call(m, "bn1", call(m, "conv1", x)));
    out = call(m, "bn2", call(m, "conv2", out));
    Module *down = module_get_child(m, "downsample");
    Tensor *identity = down ? module_forward(down, x) : x;
    return call(m, "relu", t_add(out, identity));
}

static Module *basic_block(int64_t in, int64_t out, int stride)
{
    Module *b = module_new("BasicBlock");
    b->forward = basic_block_forward;
    b = add(b, "conv1", resnet_conv(in, out, 3, stride));
    b = add(b, "bn1", nn_batch_norm2d(out));
    b = add(b, "relu", nn_relu());
    b = add(b, "conv2", resnet_conv(out, out, 3, 1));
    b = add(b, "bn2", nn_batch_norm2d(out));
    if (stride != 1 || in != out)
        b = add(b, "downsample", NN_SEQUENTIAL(resnet_conv(in, out, 1, stride), nn_batch_norm2d(out)));
    return b;
}

/* torchvision's _make_layer with two blocks. */
static Module *stage(int64_t in, int64_t out, int stride)
{
    return NN_SEQUENTIAL(basic_block(in, out, stride), basic_block(out, out, 1));
}

/* ---- ResNet ---- */

static Tensor *resnet_forward(Module *m, Tensor *x)
{
    x = call(m, "relu", call(m, "bn1", call(m, "conv1", x)));
    x = call(m, "layer4", call(m, "layer3", call(m, "layer2", call(m, "layer1", x))));
    x = t_flatten(call(m, "avgpool", x), 1, -1);
    return f_log_softmax(call(m, "fc", x), 1);
}

Module *resnet18(int64_t num_classes, int64_t in_channels)
{
    ENGINE_CHECK(num_classes > 0, "ResNet18: num_classes must be positive, got %lld", (long long)num_classes);
    ENGINE_CHECK(in_channels > 0, "ResNet18: in_channels must be positive, got %lld", (long long)in_channels);
    Module *m = module_new("ResNet18");
    m->forward = resnet_forward;
    m = add(m, "conv1", resnet_conv(in_channels, 64, 3, 1));
    m = add(m, "bn1", nn_batch_norm2d(64));
    m = add(m, "relu", nn_relu());
    m = add(m, "layer1", stage(64, 64, 1));
    m = add(m, "layer2", stage(64, 128, 2));
    m = add(m, "layer3", stage(128, 256, 2));
    m = add(m, "layer4", stage(256, 512, 2));
    m = add(m, "avgpool", nn_adaptive_avg_pool2d(1, 1));
    return add(m, "fc", nn_linear(512, num_classes, true));
}
