/* The CUDA batch-norm and layer-norm kernels against the CPU's: batch norm
 * in training (batch statistics, running statistics updated) and in
 * evaluation (running statistics), image-like and [N, C] inputs (the two
 * summation layouts), with and without weight and bias, a large mean; layer
 * norm over one and two trailing dims, long rows, optional weight and bias;
 * non-contiguous inputs for both;
 * forward and backward (input, weight, bias), relative error <= 1e-4.
 * Skipped without a CUDA device. */
#include "tests/support/gpu_compare.h"

static Generator gen;

typedef struct {
    bool training;
    bool transposed; /* x stored with its last two dims swapped, seen through a transpose */
    /* the running statistics each device's call used, for comparing after */
    Tensor *running_mean[2], *running_var[2];
} BatchNormCtx;

/* shape with its last two dims swapped */
static Shape swap_last_two(Shape s)
{
    int64_t t = s.d[s.ndim - 1];
    s.d[s.ndim - 1] = s.d[s.ndim - 2];
    s.d[s.ndim - 2] = t;
    return s;
}

/* N(offset, 1) values as a leaf that requires grad. */
static Tensor *offset_leaf(Shape shape, double offset)
{
    Tensor *t = t_add_scalar(tensor_randn(shape, &gen, CPU), offset);
    REQUIRE_OK(t);
    return tensor_set_requires_grad(t, true);
}

/* inputs: x, weight, bias, running_mean, running_var */
static Tensor *batch_norm_fn(Tensor **in, void *ctx)
{
    BatchNormCtx *c = ctx;
    int dev = tensor_is_cuda(in[0]);
    c->running_mean[dev] = in[3];
    c->running_var[dev] = in[4];
    Tensor *x = c->transposed ? t_transpose(in[0], -1, -2) : in[0];
    return f_batch_norm(x, in[3], in[4], in[1], in[2], c->training, 0.1, 1e-5);
}

/* xs is the shape batch_norm sees; transposed: a non-contiguous view of it. */
static void check_batch_norm_view(Shape xs, bool transposed, bool training, bool weight, bool bias, bool running,
                                  double mean_offset, const char *label)
{
    scope_begin();
    int64_t c = xs.d[1];
    Tensor *x = offset_leaf(transposed ? swap_last_two(xs) : xs, mean_offset);
    Tensor *in[5] = {x, weight ? rand_leaf(SHAPE(c), &gen) : NULL, bias ? rand_leaf(SHAPE(c), &gen) : NULL, NULL,
                     NULL};
    if (running) {
        in[3] = tensor_randn(SHAPE(c), &gen, CPU);
        in[4] = t_add_scalar(tensor_rand(SHAPE(c), &gen, CPU), 0.5); /* positive variances */
        REQUIRE_OK(in[3]);
        REQUIRE_OK(in[4]);
    }
    BatchNormCtx ctx = {.training = training, .transposed = transposed};
    expect_gpu_matches_cpu(batch_norm_fn, &ctx, in, 5, 1e-4, label);
    if (running) {
        char what[128];
        snprintf(what, sizeof what, "%s: running_mean", label);
        expect_close(ctx.running_mean[1], ctx.running_mean[0], 1e-4, what);
        snprintf(what, sizeof what, "%s: running_var", label);
        expect_close(ctx.running_var[1], ctx.running_var[0], 1e-4, what);
    }
    scope_end();
}

static void check_batch_norm(Shape xs, bool training, bool weight, bool bias, bool running, double mean_offset,
                             const char *label)
{
    check_batch_norm_view(xs, false, training, weight, bias, running, mean_offset, label);
}

static void test_batch_norm_training(void **state)
{
    REQUIRE_GPU();
    check_batch_norm(SHAPE(8, 6, 5, 7), true, true, true, true, 0, "bn train [8, 6, 5, 7] w b running");
    check_batch_norm(SHAPE(16, 10), true, false, false, true, 0, "bn train [16, 10] running");
    check_batch_norm(SHAPE(4, 3, 4), true, true, false, false, 0, "bn train [4, 3, 4] w");
    check_batch_norm(SHAPE(6, 5, 40), true, true, true, false, 100, "bn train [6, 5, 40] mean 100");
    check_batch_norm(SHAPE(10, 4), true, true, true, false, -50, "bn train [10, 4] mean -50");
    /* enough data for several slices per channel in both layouts */
    check_batch_norm(SHAPE(32, 16, 24, 24), true, true, true, true, 0, "bn train [32, 16, 24, 24]");
    check_batch_norm(SHAPE(2048, 64), true, true, true, true, 0, "bn train [2048, 64]");
    /* non-contiguous inputs (the op copies them) */
    check_batch_norm_view(SHAPE(4, 5, 6, 7), true, true, true, true, true, 0, "bn train [4, 5, 6, 7] (transposed)");
    check_batch_norm_view(SHAPE(12, 5), true, true, true, true, true, 0, "bn train [12, 5] (transposed)");
}

static void test_batch_norm_eval(void **state)
{
    REQUIRE_GPU();
    check_batch_norm(SHAPE(8, 6, 5, 7), false, true, true, true, 0, "bn eval [8, 6, 5, 7] w b");
    check_batch_norm(SHAPE(16, 10), false, false, false, true, 0, "bn eval [16, 10]");
    check_batch_norm_view(SHAPE(4, 5, 6, 7), true, false, true, true, true, 0, "bn eval [4, 5, 6, 7] (transposed)");
}

typedef struct {
    Shape normalized;
    bool transposed; /* x stored with its last two dims swapped, seen through a transpose */
} LayerNormCtx;

static Tensor *layer_norm_fn(Tensor **in, void *ctx)
{
    const LayerNormCtx *c = ctx;
    Tensor *x = c->transposed ? t_transpose(in[0], -1, -2) : in[0];
    return f_layer_norm(x, c->normalized, in[1], in[2], 1e-5);
}

static void check_layer_norm_view(Shape xs, bool transposed, Shape normalized, bool weight, bool bias)
{
    scope_begin();
    Tensor *in[3] = {rand_leaf(transposed ? swap_last_two(xs) : xs, &gen), weight ? rand_leaf(normalized, &gen) : NULL,
                     bias ? rand_leaf(normalized, &gen) : NULL};
    LayerNormCtx ctx = {normalized, transposed};
    char label[128];
    snprintf(label, sizeof label, "layer_norm %s%s over %s%s%s", shape_str(xs), transposed ? " (transposed)" : "",
             shape_str(normalized), weight ? " w" : "", bias ? " b" : "");
    expect_gpu_matches_cpu(layer_norm_fn, &ctx, in, 3, 1e-4, label);
    scope_end();
}

static void check_layer_norm(Shape xs, Shape normalized, bool weight, bool bias)
{
    check_layer_norm_view(xs, false, normalized, weight, bias);
}

static void test_layer_norm(void **state)
{
    REQUIRE_GPU();
    check_layer_norm(SHAPE(6, 10), SHAPE(10), true, true);
    check_layer_norm(SHAPE(2, 3, 4, 5), SHAPE(4, 5), true, true);
    check_layer_norm(SHAPE(7, 33), SHAPE(33), true, false);
    check_layer_norm(SHAPE(5, 3000), SHAPE(3000), false, false);
    check_layer_norm(SHAPE(300, 64), SHAPE(64), true, true);
    check_layer_norm(SHAPE(9), SHAPE(9), true, true); /* one row */
    check_layer_norm_view(SHAPE(6, 10), true, SHAPE(10), true, true); /* non-contiguous: the op copies it */
    check_layer_norm_view(SHAPE(3, 4, 5), true, SHAPE(4, 5), true, false);
}

int main(void)
{
    generator_seed(&gen, 5);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_norm_training),
        cmocka_unit_test(test_batch_norm_eval),
        cmocka_unit_test(test_layer_norm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
