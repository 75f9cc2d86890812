/* Layers against the same torch modules loaded with our weights: forward
 * output, gradients of the input and of every parameter, and buffers after
 * training steps (BatchNorm running statistics); eval mode; a whole
 * pytorch-template MnistModel. */
#include <math.h>
#include <stdlib.h>

#include "engine/nn/nn.h"
#include "model/model.h"
#include "tests/support/check.h"
#include "tests/support/oracle.h"

static Generator gen;

/* ---- one layer case: our module run here, the torch one in the oracle ---- */

typedef struct {
    const char *label;
    Module *m;
    const char *ctor; /* Python expression building the torch module */
    bool train;
    Shape in_shape;
    int steps;           /* forward passes (training steps); default 1 */
    bool noncontig;      /* input through a transposed view */
    int64_t index_range; /* > 0: i64 indices in [0, index_range) instead of floats */
    /* filled by run_case */
    Tensor *x, *y;
    StateDict state; /* the module's parameters and buffers (buffers as after the steps) */
    int id;
} LayerCase;

/* A JSON list of the state dict's names. */
static void names_json(const StateDict *sd, char *buf, size_t size, bool buffers_only)
{
    size_t len = (size_t)snprintf(buf, size, "[");
    bool first = true;
    for (int i = 0; i < sd->n; i++) {
        if (buffers_only && sd->tensors[i]->requires_grad) continue;
        len += (size_t)snprintf(buf + len, size - len, "%s\"%s\"", first ? "" : ", ", sd->names[i]);
        first = false;
    }
    snprintf(buf + len, size - len, "]");
}

static Tensor *make_input(const LayerCase *c)
{
    if (c->index_range > 0) return tensor_randint(0, c->index_range, c->in_shape, &gen, CPU);
    return c->noncontig ? noncontig_leaf(c->in_shape, &gen) : rand_leaf(c->in_shape, &gen);
}

static void run_case(Oracle *o, LayerCase *c)
{
    REQUIRE_OK(c->m);
    module_train(c->m, c->train);
    int steps = c->steps > 0 ? c->steps : 1;
    assert_int_equal(module_state_dict(c->m, &c->state), 0);
    /* torch starts from the state before our steps change the buffers */
    Tensor *inputs[64];
    int n_in = 0;
    Tensor *xs[8];
    assert_true(steps <= 8 && c->state.n + steps <= 64);
    for (int s = 0; s < steps; s++) inputs[n_in++] = xs[s] = make_input(c);
    for (int i = 0; i < c->state.n; i++) {
        Tensor *t = c->state.tensors[i];
        inputs[n_in++] = t->requires_grad ? t : t_clone(t);
    }
    for (int s = 0; s < steps; s++) {
        c->y = module_forward(c->m, xs[s]);
        REQUIRE_OK(c->y);
    }
    c->x = xs[steps - 1];
    Tensor *gout = tensor_randn(c->y->shape, &gen, CPU);
    assert_int_equal(tensor_backward(c->y, gout), 0);
    char names[1024], buffers[512], args[2048];
    names_json(&c->state, names, sizeof names, false);
    names_json(&c->state, buffers, sizeof buffers, true);
    snprintf(args, sizeof args, "{\"ctor\": \"%s\", \"train\": %s, \"n_data\": %d, \"names\": %s, \"return\": %s}",
             c->ctor, c->train ? "true" : "false", steps, names, buffers);
    c->id = oracle_add(o, "module", args, n_in, inputs, gout);
}

static void check_case(Oracle *o, LayerCase *c)
{
    const double tol = 1e-5;
    char label[160];
    snprintf(label, sizeof label, "%s %s%s", c->label, shape_str(c->in_shape), c->noncontig ? " (strided)" : "");
    expect_close(c->y, oracle_output(o, c->id, 0), tol, label);
    int steps = c->steps > 0 ? c->steps : 1;
    if (c->x->requires_grad) expect_close(c->x->grad, oracle_grad(o, c->id, steps - 1), tol, "  grad input");
    int k = 1;
    for (int i = 0; i < c->state.n; i++) {
        Tensor *t = c->state.tensors[i];
        snprintf(label, sizeof label, "  %s %s", t->requires_grad ? "grad" : "buffer", c->state.names[i]);
        if (t->requires_grad) {
            expect_close(t->grad, oracle_grad(o, c->id, steps + i), tol, label);
        } else if (t->dtype == DT_I64) {
            expect_equal(t, oracle_output(o, c->id, k++), label);
        } else {
            expect_close(t, oracle_output(o, c->id, k++), tol, label);
        }
    }
}

static void run_cases(const char *name, LayerCase *cases, int n)
{
    Oracle *o = oracle_new(name);
    for (int i = 0; i < n; i++) run_case(o, &cases[i]);
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n; i++) check_case(o, &cases[i]);
    oracle_free(o);
    for (int i = 0; i < n; i++) {
        state_dict_free(&cases[i].state);
        module_free(cases[i].m);
    }
}

/* A case: label, module, torch constructor, training mode, then the input
 * shape and any further designated fields. */
#define LAYER(label_, m_, ctor_, train_, ...)                                                                          \
    {                                                                                                                  \
        .label = label_, .m = m_, .ctor = ctor_, .train = train_, .in_shape = __VA_ARGS__                              \
    }
#define N_CASES(a) (int)(sizeof(a) / sizeof((a)[0]))

static ConvParams conv_params(int stride0, int stride1, int pad0, int pad1, int dil, int groups, int out_pad)
{
    ConvParams p = conv_params_default();
    p.stride[0] = stride0;
    p.stride[1] = stride1;
    p.padding[0] = pad0;
    p.padding[1] = pad1;
    p.dilation[0] = p.dilation[1] = dil;
    p.groups = groups;
    p.output_padding[0] = p.output_padding[1] = out_pad;
    return p;
}

/* ---- tests ---- */

static void test_linear_conv_embedding(void **state)
{
    scope_begin();
    LayerCase cases[] = {
        LAYER("Linear", nn_linear(5, 4, true), "nn.Linear(5, 4)", true, SHAPE(3, 5)),
        LAYER("Linear no bias", nn_linear(5, 4, false), "nn.Linear(5, 4, bias=False)", true, SHAPE(2, 3, 5),
              .noncontig = true),
        LAYER("Conv2d", nn_conv2d(3, 4, 3, 3, conv_params(1, 1, 1, 1, 1, 1, 0), true), "nn.Conv2d(3, 4, 3, padding=1)",
              true, SHAPE(2, 3, 6, 6)),
        LAYER("Conv2d strided", nn_conv2d(4, 6, 3, 2, conv_params(2, 1, 1, 0, 2, 2, 0), false),
              "nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=2, groups=2, bias=False)", true,
              SHAPE(2, 4, 9, 8), .noncontig = true),
        LAYER("ConvTranspose2d", nn_conv_transpose2d(4, 6, 3, 3, conv_params(2, 2, 1, 1, 1, 2, 1), true),
              "nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)", true, SHAPE(2, 4, 4, 5)),
        LAYER("Embedding", nn_embedding(10, 4, 2), "nn.Embedding(10, 4, padding_idx=2)", true, SHAPE(3, 5),
              .index_range = 10),
        LAYER("Embedding", nn_embedding(7, 3, -1), "nn.Embedding(7, 3)", true, SHAPE(12), .index_range = 7),
    };
    run_cases("layers_linear_conv", cases, N_CASES(cases));
    scope_end();
}

static void test_pooling(void **state)
{
    scope_begin();
    PoolParams mp = {.kernel = {3, 2}, .stride = {2, 1}, .padding = {1, 1}, .ceil_mode = true};
    PoolParams ap = pool_params(3, 2, 1);
    ap.ceil_mode = true;
    ap.count_include_pad = false;
    LayerCase cases[] = {
        LAYER("MaxPool2d", nn_max_pool2d(pool_params(2, 0, 0)), "nn.MaxPool2d(2)", true, SHAPE(2, 3, 6, 6)),
        LAYER("MaxPool2d ceil", nn_max_pool2d(mp), "nn.MaxPool2d((3, 2), stride=(2, 1), padding=1, ceil_mode=True)",
              true, SHAPE(2, 3, 7, 6), .noncontig = true),
        LAYER("AvgPool2d", nn_avg_pool2d(pool_params(2, 0, 0)), "nn.AvgPool2d(2)", true, SHAPE(2, 3, 6, 6)),
        LAYER("AvgPool2d ceil", nn_avg_pool2d(ap),
              "nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)", true, SHAPE(2, 3, 7, 6)),
        LAYER("AdaptiveAvgPool2d", nn_adaptive_avg_pool2d(1, 1), "nn.AdaptiveAvgPool2d(1)", true, SHAPE(2, 3, 5, 7)),
        LAYER("AdaptiveAvgPool2d", nn_adaptive_avg_pool2d(3, 2), "nn.AdaptiveAvgPool2d((3, 2))", true,
              SHAPE(2, 3, 5, 7), .noncontig = true),
    };
    run_cases("layers_pool", cases, N_CASES(cases));
    scope_end();
}

/* Gives the running stats values a fresh BatchNorm would not have. */
static Module *with_random_stats(Module *bn)
{
    if (!bn) return NULL;
    bool mode = no_grad_begin();
    Tensor *mean = module_get_buffer(bn, "running_mean"), *var = module_get_buffer(bn, "running_var");
    tensor_copy_(mean, tensor_randn(mean->shape, &gen, CPU));
    tensor_copy_(var, t_add_scalar(tensor_rand(var->shape, &gen, CPU), 0.5));
    tensor_fill_(module_get_buffer(bn, "num_batches_tracked"), 5);
    grad_mode_restore(mode);
    return bn;
}

static void test_normalisation(void **state)
{
    scope_begin();
    LayerCase cases[] = {
        LAYER("BatchNorm1d train x3", nn_batch_norm1d(4), "nn.BatchNorm1d(4)", true, SHAPE(8, 4), .steps = 3),
        LAYER("BatchNorm1d 3D", nn_batch_norm1d(3), "nn.BatchNorm1d(3)", true, SHAPE(4, 3, 5), .steps = 2),
        LAYER("BatchNorm1d eval", with_random_stats(nn_batch_norm1d(4)), "nn.BatchNorm1d(4)", false, SHAPE(6, 4)),
        LAYER("BatchNorm2d train x3", nn_batch_norm2d(3), "nn.BatchNorm2d(3)", true, SHAPE(4, 3, 5, 5), .steps = 3,
              .noncontig = true),
        LAYER("BatchNorm2d momentum None x3", nn_batch_norm2d_ex(3, 1e-3, NAN, true, true),
              "nn.BatchNorm2d(3, eps=1e-3, momentum=None)", true, SHAPE(2, 3, 4, 4), .steps = 3),
        LAYER("BatchNorm2d momentum 0.3", nn_batch_norm2d_ex(3, 1e-5, 0.3, true, true),
              "nn.BatchNorm2d(3, momentum=0.3)", true, SHAPE(2, 3, 4, 4), .steps = 2),
        LAYER("BatchNorm2d eval", with_random_stats(nn_batch_norm2d(3)), "nn.BatchNorm2d(3)", false, SHAPE(2, 3, 4, 4)),
        LAYER("BatchNorm2d no affine, no stats", nn_batch_norm2d_ex(3, 1e-5, 0.1, false, false),
              "nn.BatchNorm2d(3, affine=False, track_running_stats=False)", true, SHAPE(2, 3, 4, 4)),
        LAYER("BatchNorm2d no stats, eval", nn_batch_norm2d_ex(3, 1e-5, 0.1, true, false),
              "nn.BatchNorm2d(3, track_running_stats=False)", false, SHAPE(2, 3, 4, 4)),
        LAYER("LayerNorm", nn_layer_norm(SHAPE(5), 1e-5, true), "nn.LayerNorm(5)", true, SHAPE(3, 4, 5),
              .noncontig = true),
        LAYER("LayerNorm 2D no affine", nn_layer_norm(SHAPE(4, 5), 1e-3, false),
              "nn.LayerNorm((4, 5), eps=1e-3, elementwise_affine=False)", true, SHAPE(3, 4, 5)),
    };
    /* the affine parameters start at ones/zeros: move them so their use shows */
    for (int i = 0; i < N_CASES(cases); i++) {
        if (!cases[i].m) continue;
        Tensor *w = module_get_parameter(cases[i].m, "weight"), *b = module_get_parameter(cases[i].m, "bias");
        if (w) nn_init_uniform_(w, 0.5, 1.5, &gen);
        if (b) nn_init_uniform_(b, -0.5, 0.5, &gen);
    }
    run_cases("layers_norm", cases, N_CASES(cases));
    scope_end();
}

static void test_activations_and_shapes(void **state)
{
    scope_begin();
    LayerCase cases[] = {
        LAYER("ReLU", nn_relu(), "nn.ReLU()", true, SHAPE(4, 5)),
        LAYER("LeakyReLU", nn_leaky_relu(0.2), "nn.LeakyReLU(0.2)", true, SHAPE(4, 5), .noncontig = true),
        LAYER("GELU", nn_gelu(false), "nn.GELU()", true, SHAPE(4, 5)),
        LAYER("GELU tanh", nn_gelu(true), "nn.GELU('tanh')", true, SHAPE(4, 5)),
        LAYER("Sigmoid", nn_sigmoid(), "nn.Sigmoid()", true, SHAPE(4, 5)),
        LAYER("Tanh", nn_tanh(), "nn.Tanh()", true, SHAPE(4, 5)),
        LAYER("Flatten", nn_flatten(1, -1), "nn.Flatten()", true, SHAPE(2, 3, 4), .noncontig = true),
        LAYER("Flatten(0, 1)", nn_flatten(0, 1), "nn.Flatten(0, 1)", true, SHAPE(2, 3, 4)),
        LAYER("Identity", nn_identity(), "nn.Identity()", true, SHAPE(3, 2)),
        LAYER("Dropout eval", nn_dropout(0.4), "nn.Dropout(0.4)", false, SHAPE(4, 5)),
        LAYER("Dropout2d eval", nn_dropout2d(0.4), "nn.Dropout2d(0.4)", false, SHAPE(2, 3, 4, 4)),
        /* (a conv bias before BatchNorm would get an analytically zero
         * gradient: rounding noise has no meaningful relative error) */
        LAYER("Sequential",
              NN_SEQUENTIAL(nn_conv2d(2, 4, 3, 3, conv_params_default(), false), nn_batch_norm2d(4), nn_relu(),
                            nn_max_pool2d(pool_params(2, 0, 0)), nn_flatten(1, -1), nn_linear(16, 3, true)),
              "nn.Sequential(nn.Conv2d(2, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), "
              "nn.Flatten(), nn.Linear(16, 3))",
              true, SHAPE(3, 2, 6, 6), .steps = 2),
    };
    run_cases("layers_act", cases, N_CASES(cases));
    scope_end();
}

/* ---- pytorch-template's MnistModel, end to end ---- */

static void test_mnist_model_against_torch(void **state)
{
    scope_begin();
    /* eval: the dropouts are off, so torch and we compute the same function */
    LayerCase cases[] = {
        LAYER("MnistModel eval", mnist_model(10, 0.5), "MnistModel()", false, SHAPE(4, 1, 28, 28)),
    };
    run_cases("layers_mnist", cases, N_CASES(cases));
    scope_end();
}

/* ---- absurd sizes ---- */

/* Layer sizes whose parameters would overflow 64-bit sizes are errors that
 * name the layer with its arguments, never a small buffer written past. */
static void test_absurd_layer_sizes(void **state)
{
    (void)state;
    scope_begin();
    ConvParams pad1 = conv_params_default();
    pad1.padding[0] = pad1.padding[1] = 1;
    expect_error(nn_conv2d(8006399337547549, 64, 3, 3, pad1, false),
                 "Conv2d(8006399337547549, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False): empty: "
                 "shape [64, 8006399337547549, 3, 3] has too many elements (overflows 64-bit size)",
                 NULL);
    expect_error(nn_linear(1LL << 40, 1LL << 40, true),
                 "Linear(in_features=1099511627776, out_features=1099511627776, bias=True)",
                 "has too many elements (overflows 64-bit size)");
    expect_error(nn_embedding(1LL << 40, 1LL << 40, -1), "Embedding(1099511627776, 1099511627776)",
                 "overflows 64-bit size");
    expect_error(nn_batch_norm2d(1LL << 62), "BatchNorm2d(4611686018427387904, eps=", "overflows 64-bit size");
    expect_error(nn_layer_norm(SHAPE(1LL << 40, 1LL << 40), 1e-5, true),
                 "LayerNorm((1099511627776, 1099511627776), eps=1e-05, elementwise_affine=True)",
                 "overflows 64-bit size");
    PoolParams pool = pool_params(3, 0, 0);
    pool.padding[0] = 2147483647;
    expect_error(nn_max_pool2d(pool), "pad should be at most half of kernel size", NULL);
    scope_end();
}

/* conv2d's output size and work are computed with overflow checks (the
 * operands are stride-0 views: no memory behind their sizes). */
static void test_conv_size_arithmetic_overflow(void **state)
{
    (void)state;
    scope_begin();
    Tensor *one = tensor_zeros(SHAPE(1, 1, 1, 1), DT_F32, CPU);
    ConvParams dilated = conv_params_default();
    dilated.dilation[0] = 2147483647;
    expect_error(f_conv2d(one, t_expand(one, SHAPE(1, 1, 1LL << 40, 1)), NULL, dilated),
                 "conv2d: calculated output size overflows 64-bit size", NULL);
    ConvParams wide = conv_params_default();
    wide.stride[0] = 2147483647;
    wide.output_padding[0] = 1;
    expect_error(f_conv_transpose2d(t_expand(one, SHAPE(1, 1, 1LL << 40, 1)), one, NULL, wide),
                 "conv_transpose2d: calculated output size overflows 64-bit size", NULL);
    Tensor *x = t_expand(one, SHAPE(1, 1LL << 21, 1LL << 20, 16));
    Tensor *w = t_expand(one, SHAPE(1LL << 21, 1LL << 21, 1, 1));
    expect_error(f_conv2d(x, w, NULL, conv_params_default()), "conv2d: input [1, 2097152, 1048576, 16] and weight",
                 "too large to convolve");
    ConvParams grouped = conv_params_default();
    grouped.groups = 1 << 30;
    Tensor *no_filters = tensor_empty(SHAPE(0, 1LL << 60, 1, 1), DT_F32, CPU); /* no bytes, huge dim 1 */
    expect_error(f_conv2d(one, no_filters, NULL, grouped), "conv2d: Given groups=1073741824, weight of size",
                 "more channels than an int64 counts");
    scope_end();
}

/* ---- dropout in training mode: masks are ours, so check their statistics ---- */

static void test_dropout_training_statistics(void **state)
{
    scope_begin();
    Module *d = nn_dropout(0.25), *d2 = nn_dropout2d(0.5);
    REQUIRE_OK(d);
    REQUIRE_OK(d2);
    Tensor *x = tensor_ones(SHAPE(200, 100), DT_F32, CPU);
    Tensor *y = module_forward(d, x);
    REQUIRE_OK(y);
    const float *v = tensor_f32(y);
    int zeros = 0;
    for (int i = 0; i < 20000; i++) {
        assert_true(v[i] == 0.0f || fabsf(v[i] - 1.0f / 0.75f) < 1e-6f);
        zeros += v[i] == 0.0f;
    }
    print_message("  Dropout(0.25): %.4f of 20000 zeroed\n", zeros / 20000.0);
    assert_in_range(zeros, 4700, 5300);
    /* Dropout2d zeroes whole channels */
    Tensor *x2 = tensor_ones(SHAPE(8, 50, 3, 3), DT_F32, CPU);
    Tensor *y2 = module_forward(d2, x2);
    REQUIRE_OK(y2);
    const float *v2 = tensor_f32(y2);
    int dropped = 0;
    for (int c = 0; c < 400; c++) {
        for (int k = 1; k < 9; k++) assert_true(v2[c * 9 + k] == v2[c * 9]);
        assert_true(v2[c * 9] == 0.0f || v2[c * 9] == 2.0f);
        dropped += v2[c * 9] == 0.0f;
    }
    print_message("  Dropout2d(0.5): %d of 400 channels zeroed\n", dropped);
    assert_in_range(dropped, 140, 260);
    module_eval(d2);
    expect_close(module_forward(d2, x2), x2, 0, "Dropout2d eval is the identity");
    module_free(d);
    module_free(d2);
    scope_end();
}

int main(void)
{
    generator_seed(&gen, 1234);
    manual_seed(1234);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_conv_embedding),
        cmocka_unit_test(test_pooling),
        cmocka_unit_test(test_normalisation),
        cmocka_unit_test(test_activations_and_shapes),
        cmocka_unit_test(test_mnist_model_against_torch),
        cmocka_unit_test(test_dropout_training_statistics),
        cmocka_unit_test(test_absurd_layer_sizes),
        cmocka_unit_test(test_conv_size_arithmetic_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
