/* The model zoo and its registry (see model.h). A model is a Module whose
 * children are its layers (registered under PyTorch's attribute names) and
 * whose forward composes them, as a PyTorch nn.Module's does. */
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/ops.h"
#include "utils/registry.h"

static Tensor *child(Module *m, const char *name, Tensor *x) { return module_forward(module_get_child(m, name), x); }

/* ---- MnistModel (pytorch-template) ---- */

/* dropout2d multiplies each (sample, channel) plane by 0 or 1 / (1 - p).
 * Max pooling commutes with that bit for bit when the scale is a power of
 * two (p 0.5, the default, or 0.75): no product rounds, so no two values of
 * a window become equal that were not, and each window keeps its maximum;
 * the mask has one draw per plane either way. Not with hooks on the
 * dropout, which would see the pooled planes. */
static bool dropout2d_commutes_with_max_pool(const Module *drop, double p)
{
    if (!drop || drop->pre_hooks.n || drop->hooks.n) return false;
    int exponent;
    return !drop->training || p == 0.0 || p == 1.0 || frexp(1.0 / (1.0 - p), &exponent) == 0.5;
}

static Tensor *mnist_model_forward(Module *m, Tensor *x)
{
    PoolParams pool2 = pool_params(2, 0, 0);
    double p = *(const double *)m->impl; /* the dropout probability */
    /* conv1's output planes are 4.6x conv2's: pooled as they are made */
    x = t_relu(nn_conv2d_max_pool2d(module_get_child(m, "conv1"), x, pool2));
    Module *drop = module_get_child(m, "conv2_drop");
    if (dropout2d_commutes_with_max_pool(drop, p)) /* the same values: conv2 pools its own output too */
        x = t_relu(child(m, "conv2_drop", nn_conv2d_max_pool2d(module_get_child(m, "conv2"), x, pool2)));
    else
        x = t_relu(f_max_pool2d(child(m, "conv2_drop", child(m, "conv2", x)), pool2));
    x = t_view(x, SHAPE(-1, 320));
    x = t_relu(child(m, "fc1", x));
    x = f_dropout(x, p, m->training, NULL);
    x = child(m, "fc2", x);
    return f_log_softmax(x, 1);
}

Module *model_with_children(Module *m, int n, const char *const *names, Module *const *children)
{
    for (int i = 0; i < n; i++) {
        if (!children[i]) engine_error_context("%s", names[i]);
        if (!module_register_module(m, names[i], children[i])) {
            for (int j = i + 1; j < n; j++) module_free(children[j]);
            module_free(m);
            return NULL;
        }
    }
    return m;
}

Module *mnist_model(int64_t num_classes, double dropout)
{
    ConvParams cp = conv_params_default();
    Module *m = module_new("MnistModel");
    m->forward = mnist_model_forward;
    double *p = malloc(sizeof *p);
    ENGINE_ASSERT(p != NULL);
    *p = dropout;
    m->impl = p; /* freed with the module */
    const char *names[] = {"conv1", "conv2", "conv2_drop", "fc1", "fc2"};
    Module *children[] = {nn_conv2d(1, 10, 5, 5, cp, true), nn_conv2d(10, 20, 5, 5, cp, true), nn_dropout2d(dropout),
                          nn_linear(320, 50, true), nn_linear(50, num_classes, true)};
    return model_with_children(m, 5, names, children);
}

/* ---- the PyTorch examples' MNIST net ---- */

static Tensor *mnist_net_forward(Module *m, Tensor *x)
{
    x = t_relu(child(m, "conv1", x));
    x = t_relu(child(m, "conv2", x));
    x = f_max_pool2d(x, pool_params(2, 0, 0));
    x = child(m, "dropout1", x);
    x = t_flatten(x, 1, -1);
    x = t_relu(child(m, "fc1", x));
    x = child(m, "dropout2", x);
    x = child(m, "fc2", x);
    return f_log_softmax(x, 1);
}

Module *mnist_net(int64_t num_classes)
{
    ConvParams cp = conv_params_default();
    Module *m = module_new("Net");
    m->forward = mnist_net_forward;
    const char *names[] = {"conv1", "conv2", "dropout1", "dropout2", "fc1", "fc2"};
    Module *children[] = {nn_conv2d(1, 32, 3, 3, cp, true), nn_conv2d(32, 64, 3, 3, cp, true), nn_dropout(0.25),
                          nn_dropout(0.5),   nn_linear(9216, 128, true), nn_linear(128, num_classes, true)};
    return model_with_children(m, 6, names, children);
}

/* ---- LeNet-5 ---- */

static Tensor *lenet5_forward(Module *m, Tensor *x)
{
    PoolParams pool2 = pool_params(2, 0, 0);
    x = f_max_pool2d(t_relu(child(m, "conv1", x)), pool2);
    x = f_max_pool2d(t_relu(child(m, "conv2", x)), pool2);
    x = t_flatten(x, 1, -1);
    x = t_relu(child(m, "fc1", x));
    x = t_relu(child(m, "fc2", x));
    return f_log_softmax(child(m, "fc3", x), 1);
}

Module *lenet5(int64_t num_classes)
{
    ConvParams pad2 = conv_params_default();
    pad2.padding[0] = pad2.padding[1] = 2;
    Module *m = module_new("LeNet5");
    m->forward = lenet5_forward;
    const char *names[] = {"conv1", "conv2", "fc1", "fc2", "fc3"};
    Module *children[] = {nn_conv2d(1, 6, 5, 5, pad2, true), nn_conv2d(6, 16, 5, 5, conv_params_default(), true),
                          nn_linear(400, 120, true), nn_linear(120, 84, true), nn_linear(84, num_classes, true)};
    return model_with_children(m, 5, names, children);
}

/* ---- MLP ---- */

static Tensor *mlp_forward(Module *m, Tensor *x)
{
    return f_log_softmax(child(m, "layers", t_flatten(x, 1, -1)), 1);
}

Module *mnist_mlp(const int64_t *hidden, int n_hidden, int64_t num_classes, bool batch_norm)
{
    Module *layers[3 * 16 + 1];
    ENGINE_CHECK(n_hidden >= 0 && n_hidden <= 16, "MLP: between 0 and 16 hidden layers, got %d", n_hidden);
    int n = 0;
    int64_t in = 28 * 28;
    for (int i = 0; i < n_hidden; i++) {
        ENGINE_CHECK(hidden[i] > 0, "MLP: hidden sizes must be positive, got %lld", (long long)hidden[i]);
        layers[n++] = nn_linear(in, hidden[i], true);
        if (batch_norm) layers[n++] = nn_batch_norm1d(hidden[i]);
        layers[n++] = nn_relu();
        in = hidden[i];
    }
    layers[n++] = nn_linear(in, num_classes, true);
    Module *m = module_new("MLP");
    m->forward = mlp_forward;
    const char *names[] = {"layers"};
    Module *seq = nn_sequential(n, layers);
    return model_with_children(m, 1, names, (Module *[]){seq});
}

/* ---- registry: builders from config "arch.args" ---- */

typedef Module *(*ArchBuilder)(const Config *cfg);

/* m; when the constructor failed (sizes too large for memory or for 64-bit
 * sizes), the message says the arguments came from the config. */
static Module *built(const Config *cfg, Module *m)
{
    if (!m) engine_error_context("%s: arch.args", cfg->label);
    return m;
}

/* Checks arch.args has only the keys the arch takes (a typo is an error, as
 * an unknown keyword argument is in Python), then reads num_classes. */
static int num_classes_arg(const Config *cfg, const char *const *keys, const char *arch, int64_t *out)
{
    if (config_check_keys(cfg, "arch.args", keys, arch) || config_int_or(cfg, "arch.args.num_classes", 10, out) != 0)
        return -1;
    ENGINE_CHECK_INT(*out > 0, "%s: arch.args.num_classes: must be positive, got %lld", cfg->label, (long long)*out);
    return 0;
}

static const char *const num_classes_only[] = {"num_classes", NULL};

static Module *build_mnist_model(const Config *cfg)
{
    static const char *const keys[] = {"num_classes", "dropout", NULL};
    int64_t k;
    double p;
    if (num_classes_arg(cfg, keys, "MnistModel", &k) || config_number_or(cfg, "arch.args.dropout", 0.5, &p))
        return NULL;
    ENGINE_CHECK(p >= 0 && p < 1, "%s: arch.args.dropout: expected a probability in [0, 1), got %g", cfg->label, p);
    return built(cfg, mnist_model(k, p));
}

static Module *build_mnist_net(const Config *cfg)
{
    int64_t k;
    return num_classes_arg(cfg, num_classes_only, "MnistNet", &k) ? NULL : built(cfg, mnist_net(k));
}

static Module *build_lenet5(const Config *cfg)
{
    int64_t k;
    return num_classes_arg(cfg, num_classes_only, "LeNet5", &k) ? NULL : built(cfg, lenet5(k));
}

static Module *build_mlp(const Config *cfg)
{
    int64_t k, hidden[16] = {512, 256};
    int n = 2;
    static const char *const keys[] = {"num_classes", "hidden", "batch_norm", NULL};
    bool batch_norm;
    if (num_classes_arg(cfg, keys, "MLP", &k) || config_bool_or(cfg, "arch.args.batch_norm", false, &batch_norm))
        return NULL;
    const cJSON *h = config_find(cfg, "arch.args.hidden");
    if (h) {
        ENGINE_CHECK(cJSON_IsArray(h) && cJSON_GetArraySize(h) <= 16,
                     "%s: arch.args.hidden: expected an array of at most 16 layer sizes, got %s", cfg->label,
                     config_describe(h));
        n = cJSON_GetArraySize(h);
        for (int i = 0; i < n; i++) {
            char key[64];
            snprintf(key, sizeof key, "arch.args.hidden.%d", i);
            if (config_int(cfg, key, &hidden[i]) != 0) return NULL;
            ENGINE_CHECK(hidden[i] > 0, "%s: %s: layer sizes must be positive, got %lld", cfg->label, key,
                         (long long)hidden[i]);
        }
    }
    return built(cfg, mnist_mlp(hidden, n, k, batch_norm));
}

static Module *build_resnet18(const Config *cfg)
{
    int64_t k, in_channels;
    static const char *const keys[] = {"num_classes", "in_channels", NULL};
    if (num_classes_arg(cfg, keys, "ResNet18", &k) || config_int_or(cfg, "arch.args.in_channels", 3, &in_channels) != 0)
        return NULL;
    ENGINE_CHECK(in_channels > 0, "%s: arch.args.in_channels: must be positive, got %lld", cfg->label,
                 (long long)in_channels);
    return built(cfg, resnet18(k, in_channels));
}

static Module *build_sequence_classifier(const Config *cfg)
{
    static const char *const keys[] = {"num_classes", "vocab_size", "embedding_dim", "hidden", NULL};
    int64_t k, vocab, dim, hidden;
    if (num_classes_arg(cfg, keys, "SequenceClassifier", &k) || config_int(cfg, "arch.args.vocab_size", &vocab) ||
        config_int_or(cfg, "arch.args.embedding_dim", 32, &dim) || config_int_or(cfg, "arch.args.hidden", 64, &hidden))
        return NULL;
    ENGINE_CHECK(vocab > 0 && dim > 0 && hidden > 0,
                 "%s: arch.args: vocab_size, embedding_dim and hidden must be positive, got %lld, %lld, %lld",
                 cfg->label, (long long)vocab, (long long)dim, (long long)hidden);
    return built(cfg, sequence_classifier(vocab, dim, hidden, k));
}

static const RegistryEntry archs[] = {
    {"SequenceClassifier", (void (*)(void))build_sequence_classifier},
    {"MnistModel", (void (*)(void))build_mnist_model},
    {"MnistNet", (void (*)(void))build_mnist_net},
    {"LeNet5", (void (*)(void))build_lenet5},
    {"MLP", (void (*)(void))build_mlp},
    {"ResNet18", (void (*)(void))build_resnet18},
};

Module *model_from_config(const Config *cfg)
{
    const char *type;
    if (config_string(cfg, "arch.type", &type) != 0) return NULL;
    ArchBuilder b = (ArchBuilder)registry_find(archs, sizeof archs / sizeof archs[0], type, cfg->label, "arch.type");
    return b ? b(cfg) : NULL;
}
