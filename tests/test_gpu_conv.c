/* The CUDA convolutions (cuDNN) against the CPU's: conv2d and
 * conv_transpose2d forward and backward (input, weight, bias) over strides,
 * padding, dilation, groups (depthwise included), 1x1 and non-square
 * kernels, output_padding (also past the stride, where the kernels stage
 * the output side), non-contiguous inputs, batch 1, a larger layer, with
 * deterministic algorithms and with TF32. TF32 off: relative error <= 1e-4.
 * Skipped without a CUDA device. */
#include <string.h>

#include "tests/support/gpu_compare.h"

static Generator gen;

typedef struct {
    int64_t n, c, h, w, o, kh, kw;
    int stride[2], padding[2], dilation[2], groups, output_padding[2];
    bool bias, transposed, noncontig;
} ConvCase;

static ConvParams params_of(const ConvCase *c)
{
    ConvParams p = conv_params_default();
    for (int i = 0; i < 2; i++) {
        p.stride[i] = c->stride[i];
        p.padding[i] = c->padding[i];
        p.dilation[i] = c->dilation[i];
        p.output_padding[i] = c->output_padding[i];
    }
    p.groups = c->groups;
    return p;
}

static Tensor *conv_fn(Tensor **in, void *ctx)
{
    const ConvCase *c = ctx;
    /* a non-contiguous input is stored [N, C, W, H] and seen through a transpose */
    Tensor *x = c->noncontig ? t_transpose(in[0], 2, 3) : in[0];
    return c->transposed ? f_conv_transpose2d(x, in[1], in[2], params_of(c)) : f_conv2d(x, in[1], in[2], params_of(c));
}

static void check_conv(ConvCase c, double tol)
{
    scope_begin();
    Shape xs = c.noncontig ? SHAPE(c.n, c.c, c.w, c.h) : SHAPE(c.n, c.c, c.h, c.w);
    Shape ws = c.transposed ? SHAPE(c.c, c.o / c.groups, c.kh, c.kw) : SHAPE(c.o, c.c / c.groups, c.kh, c.kw);
    Tensor *in[3] = {rand_leaf(xs, &gen), rand_leaf(ws, &gen), c.bias ? rand_leaf(SHAPE(c.o), &gen) : NULL};
    char label[160];
    snprintf(label, sizeof label, "%s x[%lld,%lld,%lld,%lld]%s k%lldx%lld s%d,%d p%d,%d d%d,%d g%d op%d,%d%s",
             c.transposed ? "convT" : "conv", (long long)c.n, (long long)c.c, (long long)c.h, (long long)c.w,
             c.noncontig ? "T" : "", (long long)c.kh, (long long)c.kw, c.stride[0], c.stride[1], c.padding[0],
             c.padding[1], c.dilation[0], c.dilation[1], c.groups, c.output_padding[0], c.output_padding[1],
             c.bias ? " +b" : "");
    expect_gpu_matches_cpu(conv_fn, &c, in, 3, tol, label);
    scope_end();
}

/* Shorthand: square stride/padding/dilation, no output padding. */
static ConvCase conv_case(int64_t n, int64_t c, int64_t hw, int64_t o, int64_t k, int s, int p, int d, int g, bool bias)
{
    return (ConvCase){.n = n, .c = c, .h = hw, .w = hw, .o = o, .kh = k, .kw = k, .stride = {s, s}, .padding = {p, p},
                      .dilation = {d, d}, .groups = g, .bias = bias};
}

static void run_conv_cases(bool transposed)
{
    ConvCase cases[] = {
        conv_case(2, 3, 8, 4, 3, 1, 1, 1, 1, true),
        conv_case(2, 3, 9, 5, 3, 2, 1, 1, 1, true),
        conv_case(1, 4, 10, 6, 3, 1, 2, 2, 1, false), /* dilation, batch 1 */
        conv_case(2, 4, 7, 6, 3, 1, 0, 1, 2, true),   /* groups */
        conv_case(3, 6, 8, 6, 3, 2, 1, 1, 6, true),   /* depthwise */
        conv_case(2, 5, 6, 7, 1, 1, 0, 1, 1, true),   /* 1x1 */
        conv_case(2, 3, 12, 4, 5, 3, 2, 2, 1, false),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cases[i].transposed = transposed;
        if (transposed) { /* conv_transpose2d's weight is [C, O/g, kh, kw]: swap the channel counts */
            int64_t t = cases[i].c;
            cases[i].c = cases[i].o;
            cases[i].o = t;
        }
        check_conv(cases[i], 1e-4);
    }
    /* non-square kernel, per-axis stride and padding, non-contiguous input */
    ConvCase rect = {.n = 2, .c = 3, .h = 9, .w = 7, .o = 4, .kh = 3, .kw = 2, .stride = {2, 1}, .padding = {1, 0},
                     .dilation = {1, 2}, .groups = 1, .bias = true, .transposed = transposed, .noncontig = true};
    check_conv(rect, 1e-4);
}

static void test_conv2d(void **state)
{
    REQUIRE_GPU();
    gpu_set_modes(false, false);
    run_conv_cases(false);
}

static void test_conv_transpose2d(void **state)
{
    REQUIRE_GPU();
    gpu_set_modes(false, false);
    run_conv_cases(true);
    ConvCase op = {.n = 2, .c = 4, .h = 5, .w = 6, .o = 3, .kh = 3, .kw = 3, .stride = {2, 3}, .padding = {1, 1},
                   .dilation = {1, 1}, .groups = 1, .output_padding = {1, 2}, .bias = true, .transposed = true};
    check_conv(op, 1e-4);
    ConvCase grouped = {.n = 2, .c = 4, .h = 5, .w = 5, .o = 6, .kh = 3, .kw = 3, .stride = {2, 2}, .padding = {0, 1},
                        .dilation = {1, 1}, .groups = 2, .output_padding = {1, 0}, .bias = true, .transposed = true};
    check_conv(grouped, 1e-4);
    /* output_padding past the stride (allowed below the dilation): the
     * output side is larger than cuDNN's formula and gets staged */
    ConvCase staged = {.n = 2, .c = 3, .h = 6, .w = 5, .o = 4, .kh = 3, .kw = 2, .stride = {1, 1}, .padding = {1, 0},
                       .dilation = {3, 2}, .groups = 1, .output_padding = {2, 1}, .bias = true, .transposed = true};
    check_conv(staged, 1e-4);
}

/* MnistModel's layers and a wider one, where cuDNN picks algorithms with
 * workspace. */
static void test_larger_layers(void **state)
{
    REQUIRE_GPU();
    gpu_set_modes(false, false);
    check_conv(conv_case(64, 1, 28, 10, 5, 1, 0, 1, 1, true), 1e-4);
    check_conv(conv_case(64, 10, 12, 20, 5, 1, 0, 1, 1, true), 1e-4);
    check_conv(conv_case(8, 32, 28, 64, 3, 1, 1, 1, 1, true), 1e-4);
}

/* Deterministic algorithms: the same bits on a second run, and still the
 * CPU's values; the plan cache keys on the mode, so switching is safe. */
static void test_deterministic_algorithms(void **state)
{
    REQUIRE_GPU();
    gpu_set_modes(false, true);
    ConvCase c = conv_case(4, 8, 14, 16, 3, 1, 1, 1, 1, true);
    check_conv(c, 1e-4);
    scope_begin();
    Tensor *x0 = tensor_randn(SHAPE(4, 8, 14, 14), &gen, GPU_DEVICE);
    Tensor *w0 = tensor_randn(SHAPE(16, 8, 3, 3), &gen, GPU_DEVICE);
    Tensor *gy = tensor_randn(SHAPE(4, 16, 14, 14), &gen, GPU_DEVICE);
    REQUIRE_OK(x0);
    REQUIRE_OK(w0);
    REQUIRE_OK(gy);
    Tensor *grads[2][2];
    for (int run = 0; run < 2; run++) {
        Tensor *x = tensor_set_requires_grad(leaf_on(x0, GPU_DEVICE), true);
        Tensor *w = tensor_set_requires_grad(leaf_on(w0, GPU_DEVICE), true);
        Tensor *y = f_conv2d(x, w, NULL, params_of(&c));
        REQUIRE_OK(y);
        assert_int_equal(tensor_backward(y, gy), 0);
        grads[run][0] = x->grad;
        grads[run][1] = w->grad;
    }
    expect_equal(grads[1][0], grads[0][0], "deterministic conv: input grad, second run");
    expect_equal(grads[1][1], grads[0][1], "deterministic conv: weight grad, second run");
    scope_end();
    gpu_set_modes(false, false);
}

/* TF32 rounds the operands to 10 mantissa bits: about 1e-3 relative. */
static void test_tf32(void **state)
{
    REQUIRE_GPU();
    gpu_set_modes(true, false);
    check_conv(conv_case(8, 16, 14, 32, 3, 1, 1, 1, 1, true), 1e-2);
    gpu_set_modes(false, false);
}

int main(void)
{
    generator_seed(&gen, 77);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d),
        cmocka_unit_test(test_conv_transpose2d),
        cmocka_unit_test(test_larger_layers),
        cmocka_unit_test(test_deterministic_algorithms),
        cmocka_unit_test(test_tf32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
