/* The CUDA kernels on NaN, +Inf and -Inf against the CPU's (which the
 * *_nonfinite tests check against PyTorch): elementwise ops, reductions,
 * max/min along a dim and argmax, pooling, softmax, losses, norms and index
 * ops, forward and backward, with NaN and each infinity required at exactly
 * the CPU's places and the finite values within GPU_TOL. Skipped without a
 * CUDA device. */
#include <math.h>

#include "tests/support/gpu_compare.h"
#include "tests/support/oracle.h"

/* the GPU's expf/tanhf/... and fused multiply-adds round differently */
#define GPU_TOL 1e-4

static Generator gen;

/* Runs fn on the CPU inputs and on GPU copies of them, backward from the
 * same output gradient (holding NaN and +-Inf too when nonfinite_grad),
 * and compares the outputs and the input gradients. */
static void expect_gpu_matches_cpu_nonfinite(DeviceFn fn, void *ctx, Tensor **cpu_inputs, int n, bool nonfinite_grad,
                                             const char *label)
{
    enum { MAX_INPUTS = 8 };
    assert_true(n <= MAX_INPUTS);
    Tensor *gpu_inputs[MAX_INPUTS];
    for (int i = 0; i < n; i++) gpu_inputs[i] = leaf_on(cpu_inputs[i], GPU_DEVICE);
    Tensor *cpu_out = fn(cpu_inputs, ctx), *gpu_out = fn(gpu_inputs, ctx);
    REQUIRE_OK(cpu_out);
    REQUIRE_OK(gpu_out);
    assert_true(tensor_is_cuda(gpu_out));
    char what[160];
    snprintf(what, sizeof what, "%s: forward", label);
    if (cpu_out->dtype == DT_I64) expect_equal(gpu_out, cpu_out, what);
    else expect_close_nonfinite(gpu_out, cpu_out, GPU_TOL, what);
    if (!cpu_out->requires_grad) return;
    Tensor *g = tensor_randn(cpu_out->shape, &gen, CPU);
    if (nonfinite_grad) sprinkle_nonfinite(g, 1, 1, 1, &gen);
    assert_int_equal(tensor_backward(cpu_out, g), 0);
    if (tensor_backward(gpu_out, leaf_on(g, GPU_DEVICE)) != 0) fail_engine("GPU backward");
    for (int i = 0; i < n; i++) {
        if (!cpu_inputs[i] || !cpu_inputs[i]->requires_grad) continue;
        snprintf(what, sizeof what, "%s: grad of input %d", label, i);
        expect_close_nonfinite(gpu_inputs[i]->grad, cpu_inputs[i]->grad, GPU_TOL, what);
    }
}

/* A leaf of shape s holding NaN and +-Inf where pattern says (put_nonfinite). */
static Tensor *leaf_with(Shape s, const char *pattern)
{
    Tensor *x = rand_leaf(s, &gen);
    put_nonfinite(x, pattern);
    return x;
}

/* A leaf of shape s with n_each NaN, +Inf and -Inf at random places. */
static Tensor *leaf_sprinkled(Shape s, int n_each)
{
    Tensor *x = rand_leaf(s, &gen);
    sprinkle_nonfinite(x, n_each, n_each, n_each, &gen);
    return x;
}

/* ---- elementwise ---- */

typedef struct {
    const char *name;
    Tensor *(*fn)(Tensor *x, double a, double b);
    double a, b;
} UnaryCase;

static Tensor *u_relu(Tensor *x, double a, double b) { return t_relu(x); }
static Tensor *u_clamp(Tensor *x, double a, double b) { return t_clamp(x, a, b); }
static Tensor *u_pow(Tensor *x, double a, double b) { return t_pow_scalar(x, a); }
static Tensor *u_leaky(Tensor *x, double a, double b) { return t_leaky_relu(x, a); }
static Tensor *u_sigmoid(Tensor *x, double a, double b) { return t_sigmoid(x); }
static Tensor *u_tanh(Tensor *x, double a, double b) { return t_tanh(x); }
static Tensor *u_gelu(Tensor *x, double a, double b) { return t_gelu(x, a != 0); }
static Tensor *u_exp(Tensor *x, double a, double b) { return t_exp(x); }
static Tensor *u_log(Tensor *x, double a, double b) { return t_log(x); }
static Tensor *u_sqrt(Tensor *x, double a, double b) { return t_sqrt(x); }
static Tensor *u_abs(Tensor *x, double a, double b) { return t_abs(x); }
static Tensor *u_mul(Tensor *x, double a, double b) { return t_mul_scalar(x, a); }

static Tensor *run_unary(Tensor **in, void *ctx)
{
    const UnaryCase *c = ctx;
    return c->fn(in[0], c->a, c->b);
}

typedef Tensor *(*BinaryFn)(Tensor *, Tensor *);

static Tensor *run_binary(Tensor **in, void *ctx) { return (*(const BinaryFn *)ctx)(in[0], in[1]); }

static Tensor *run_where(Tensor **in, void *ctx) { return t_where(in[0], in[1], in[2]); }

static void test_elementwise(void **state)
{
    REQUIRE_GPU();
    static const UnaryCase cases[] = {
        {"relu", u_relu, 0, 0},          {"clamp", u_clamp, -0.5, 0.7}, {"clamp min", u_clamp, -0.3, INFINITY},
        {"pow 0.5", u_pow, 0.5, 0},      {"pow 1.5", u_pow, 1.5, 0},    {"pow -0.5", u_pow, -0.5, 0},
        {"pow 2", u_pow, 2, 0},          {"pow 3", u_pow, 3, 0},        {"leaky_relu", u_leaky, 0.1, 0},
        {"sigmoid", u_sigmoid, 0, 0},    {"tanh", u_tanh, 0, 0},        {"gelu", u_gelu, 0, 0},
        {"gelu tanh", u_gelu, 1, 0},     {"exp", u_exp, 0, 0},          {"log", u_log, 0, 0},
        {"sqrt", u_sqrt, 0, 0},          {"abs", u_abs, 0, 0},          {"mul 0", u_mul, 0, 0},
    };
    scope_begin();
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        Tensor *x = leaf_with(SHAPE(4, 9), "n+-0..+.-n..");
        expect_gpu_matches_cpu_nonfinite(run_unary, (void *)&cases[c], &x, 1, false, cases[c].name);
    }
    static const BinaryFn binary[] = {t_add, t_sub, t_mul, t_div, t_eq, t_ne, t_gt, t_lt, t_ge, t_le};
    static const char *names[] = {"add", "sub", "mul", "div", "eq", "ne", "gt", "lt", "ge", "le"};
    for (int k = 0; k < 10; k++) {
        Tensor *in[2] = {leaf_with(SHAPE(9, 8), "n+-0..+.-"), leaf_with(SHAPE(8), "+-n0.-.+")};
        if (k >= 4) {
            tensor_set_requires_grad(in[0], false);
            tensor_set_requires_grad(in[1], false);
        }
        char label[32];
        snprintf(label, sizeof label, "%s [9, 8] [8]", names[k]);
        if (k < 4) expect_gpu_matches_cpu_nonfinite(run_binary, (void *)&binary[k], in, 2, true, label);
        else expect_equal(tensor_to(binary[k](leaf_on(in[0], GPU_DEVICE), leaf_on(in[1], GPU_DEVICE)), CPU),
                          binary[k](in[0], in[1]), label);
    }
    Tensor *cond = t_gt(tensor_randn(SHAPE(4, 1), &gen, CPU), tensor_zeros(SCALAR_SHAPE, DT_F32, CPU));
    Tensor *w[3] = {cond, leaf_with(SHAPE(4, 6), "n.+.-.."), leaf_with(SHAPE(6), ".-n+..")};
    expect_gpu_matches_cpu_nonfinite(run_where, NULL, w, 3, true, "where");
    scope_end();
}

/* ---- reductions ---- */

typedef struct {
    int op; /* sum, mean, var, std, amax, amin */
    int dim; /* 2: all dims */
} ReduceCtx;

static Tensor *run_reduce(Tensor **in, void *ctx)
{
    const ReduceCtx *c = ctx;
    const int *dims = c->dim < 2 ? &c->dim : NULL;
    int nd = c->dim < 2 ? 1 : 0;
    switch (c->op) {
    case 0: return t_sum(in[0], dims, nd, false);
    case 1: return t_mean(in[0], dims, nd, false);
    case 2: return t_var(in[0], dims, nd, 1, false);
    case 3: return t_std(in[0], dims, nd, 1, false);
    case 4: return t_amax(in[0], dims, nd, false);
    default: return t_amin(in[0], dims, nd, false);
    }
}

typedef struct {
    int dim;
    bool is_max, want_indices;
} MaxDimCtx;

static Tensor *run_max_dim(Tensor **in, void *ctx)
{
    const MaxDimCtx *c = ctx;
    Tensor *idx = NULL;
    Tensor *v = c->is_max ? t_max_dim(in[0], c->dim, false, &idx) : t_min_dim(in[0], c->dim, false, &idx);
    return c->want_indices ? idx : v;
}

static void test_reductions(void **state)
{
    REQUIRE_GPU();
    static const char *ops[] = {"sum", "mean", "var", "std", "amax", "amin"};
    /* small rows and columns, and the GPU's block-per-output and chunked layouts */
    const Shape shapes[] = {SHAPE(6, 7), SHAPE(4, 20000), SHAPE(200000, 3)};
    scope_begin();
    for (int s = 0; s < 3; s++)
        for (int op = 0; op < 6; op++)
            for (int dim = 0; dim < 3; dim++) {
                ReduceCtx ctx = {op, dim};
                Tensor *x = leaf_sprinkled(shapes[s], 2);
                char label[96];
                snprintf(label, sizeof label, "%s %s dim %s", ops[op], shape_str(shapes[s]),
                         dim == 2 ? "all" : dim ? "1" : "0");
                expect_gpu_matches_cpu_nonfinite(run_reduce, &ctx, &x, 1, false, label);
            }
    for (int s = 0; s < 3; s++)
        for (int k = 0; k < 8; k++) {
            MaxDimCtx ctx = {k % 2, k / 2 % 2, k / 4};
            Tensor *x = leaf_sprinkled(shapes[s], 3);
            if (ctx.want_indices) tensor_set_requires_grad(x, false);
            char label[96];
            snprintf(label, sizeof label, "%s %s dim %d%s", ctx.is_max ? "max" : "min", shape_str(shapes[s]),
                     ctx.dim, ctx.want_indices ? " indices" : "");
            expect_gpu_matches_cpu_nonfinite(run_max_dim, &ctx, &x, 1, false, label);
        }
    scope_end();
}

/* ---- pooling and softmax ---- */

static Tensor *run_max_pool(Tensor **in, void *ctx) { return f_max_pool2d(in[0], *(const PoolParams *)ctx); }
static Tensor *run_avg_pool(Tensor **in, void *ctx) { return f_avg_pool2d(in[0], *(const PoolParams *)ctx); }
static Tensor *run_softmax(Tensor **in, void *ctx) { return f_softmax(in[0], *(const int *)ctx); }
static Tensor *run_log_softmax(Tensor **in, void *ctx) { return f_log_softmax(in[0], *(const int *)ctx); }

static void test_pooling_and_softmax(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    PoolParams pools[] = {pool_params(2, 0, 0), pool_params(3, 2, 1)};
    for (int k = 0; k < 2; k++) {
        Tensor *x = leaf_sprinkled(SHAPE(2, 3, 8, 8), 24);
        expect_gpu_matches_cpu_nonfinite(run_max_pool, &pools[k], &x, 1, false,
                                         k ? "max_pool2d k3 s2 p1" : "max_pool2d 2x2");
        Tensor *y = leaf_sprinkled(SHAPE(2, 3, 8, 8), 24);
        expect_gpu_matches_cpu_nonfinite(run_avg_pool, &pools[k], &y, 1, false,
                                         k ? "avg_pool2d k3 s2 p1" : "avg_pool2d 2x2");
    }
    /* rows of 6: clean, NaN, +Inf, two +Inf, -Inf, all -Inf, +Inf and -Inf */
    const char *rows = "........n....+....+...+....-..------+-....";
    const int dims[] = {-1, 0};
    for (int k = 0; k < 2; k++) {
        Tensor *x = leaf_with(SHAPE(7, 6), rows), *y = leaf_with(SHAPE(7, 6), rows);
        expect_gpu_matches_cpu_nonfinite(run_softmax, (void *)&dims[k], &x, 1, false,
                                         k ? "softmax dim 0" : "softmax dim -1");
        expect_gpu_matches_cpu_nonfinite(run_log_softmax, (void *)&dims[k], &y, 1, false,
                                         k ? "log_softmax dim 0" : "log_softmax dim -1");
        Tensor *z = leaf_sprinkled(SHAPE(3, 5000), 1);
        expect_gpu_matches_cpu_nonfinite(run_log_softmax, (void *)&dims[k], &z, 1, false, "log_softmax [3, 5000]");
    }
    scope_end();
}

/* ---- losses ---- */

static Tensor *run_cross_entropy(Tensor **in, void *ctx)
{
    return f_cross_entropy(in[0], in[1], in[2], -100, *(const Reduction *)ctx, 0.1);
}

static Tensor *run_nll(Tensor **in, void *ctx)
{
    return f_nll_loss(in[0], in[1], in[2], -100, *(const Reduction *)ctx);
}

static Tensor *run_bce_logits(Tensor **in, void *ctx)
{
    return f_binary_cross_entropy_with_logits(in[0], in[1], NULL, in[2], *(const Reduction *)ctx);
}

static Tensor *run_mse_l1(Tensor **in, void *ctx)
{
    Reduction r = *(const Reduction *)ctx;
    return t_add(f_mse_loss(in[0], in[1], r), f_l1_loss(in[0], in[1], r));
}

static void test_losses(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    for (int r = 0; r < 3; r++) {
        Reduction red = (Reduction)r;
        Tensor *target = tensor_randint(0, 5, SHAPE(12), &gen, CPU);
        tensor_i64(target)[4] = -100;
        Tensor *weight = t_add_scalar(tensor_rand(SHAPE(5), &gen, CPU), 0.2);
        Tensor *ce[3] = {leaf_sprinkled(SHAPE(12, 5), 3), target, weight};
        expect_gpu_matches_cpu_nonfinite(run_cross_entropy, &red, ce, 3, false, "cross_entropy ls=0.1 weighted");
        Tensor *nll[3] = {leaf_sprinkled(SHAPE(12, 5), 3), target, NULL};
        expect_gpu_matches_cpu_nonfinite(run_nll, &red, nll, 3, false, "nll_loss");
        for (int pw = 0; pw < 2; pw++) {
            Tensor *b[3] = {leaf_with(SHAPE(6, 7), "n..+.-...+..-."), leaf_with(SHAPE(6, 7), ".+.n..-.-.+.."),
                            pw ? t_add_scalar(tensor_rand(SHAPE(7), &gen, CPU), 0.5) : NULL};
            expect_gpu_matches_cpu_nonfinite(run_bce_logits, &red, b, 3, false,
                                             pw ? "bce_with_logits pos_weight" : "bce_with_logits");
        }
        Tensor *m[2] = {leaf_with(SHAPE(6, 7), "n..+.-...+..-."), leaf_with(SHAPE(6, 7), ".+.n..-.-.+..")};
        expect_gpu_matches_cpu_nonfinite(run_mse_l1, &red, m, 2, false, "mse + l1");
    }
    scope_end();
}

/* ---- norms ---- */

typedef struct {
    bool training;
    Tensor *running_mean[2], *running_var[2]; /* per device, for comparing after */
} BatchNormCtx;

/* inputs: x, weight, bias, running_mean, running_var */
static Tensor *run_batch_norm(Tensor **in, void *ctx)
{
    BatchNormCtx *c = ctx;
    int dev = tensor_is_cuda(in[0]);
    c->running_mean[dev] = in[3];
    c->running_var[dev] = in[4];
    return f_batch_norm(in[0], in[3], in[4], in[1], in[2], c->training, 0.1, 1e-5);
}

static Tensor *run_layer_norm(Tensor **in, void *ctx)
{
    return f_layer_norm(in[0], SHAPE(in[0]->shape.d[in[0]->shape.ndim - 1]), in[1], in[2], 1e-5);
}

static void test_norms(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    /* [N, C] (column sums) and [N, C, L] with long runs (channel sums) */
    const Shape shapes[] = {SHAPE(8, 5), SHAPE(4, 3, 40)};
    for (int s = 0; s < 2; s++)
        for (int training = 0; training < 2; training++) {
            int64_t C = shapes[s].d[1];
            Tensor *x = leaf_sprinkled(shapes[s], 1);
            /* +Inf as channel 1's first sample, which the statistics shift by */
            put_nonfinite_at(x, tensor_numel(x) / (shapes[s].d[0] * C), '+');
            Tensor *in[5] = {x, rand_leaf(SHAPE(C), &gen), rand_leaf(SHAPE(C), &gen),
                             tensor_randn(SHAPE(C), &gen, CPU), t_add_scalar(tensor_rand(SHAPE(C), &gen, CPU), 0.5)};
            BatchNormCtx ctx = {.training = training};
            char label[96];
            snprintf(label, sizeof label, "batch_norm %s %s", shape_str(shapes[s]), training ? "train" : "eval");
            expect_gpu_matches_cpu_nonfinite(run_batch_norm, &ctx, in, 5, false, label);
            expect_close_nonfinite(ctx.running_mean[1], ctx.running_mean[0], GPU_TOL, "  running_mean");
            expect_close_nonfinite(ctx.running_var[1], ctx.running_var[0], GPU_TOL, "  running_var");
        }
    Tensor *ln[3] = {leaf_sprinkled(SHAPE(6, 40), 1), rand_leaf(SHAPE(40), &gen), rand_leaf(SHAPE(40), &gen)};
    expect_gpu_matches_cpu_nonfinite(run_layer_norm, NULL, ln, 3, false, "layer_norm [6, 40]");
    scope_end();
}

/* ---- index ops ---- */

static Tensor *run_gather(Tensor **in, void *ctx) { return t_gather(in[0], 1, in[1]); }
static Tensor *run_scatter_add(Tensor **in, void *ctx) { return t_scatter_add(in[0], 0, in[1], in[2]); }
static Tensor *run_index_select(Tensor **in, void *ctx) { return t_index_select(in[0], 0, in[1]); }
static Tensor *run_embedding(Tensor **in, void *ctx) { return f_embedding(in[0], in[1], 1); }

static void test_index_ops(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    Tensor *g[2] = {leaf_with(SHAPE(4, 5), "n..+.-."), tensor_randint(0, 5, SHAPE(4, 7), &gen, CPU)};
    expect_gpu_matches_cpu_nonfinite(run_gather, NULL, g, 2, true, "gather");
    Tensor *s[3] = {leaf_with(SHAPE(5, 5), "+...n"), tensor_randint(0, 5, SHAPE(12, 5), &gen, CPU),
                    leaf_with(SHAPE(12, 5), ".+.-n.++-")};
    expect_gpu_matches_cpu_nonfinite(run_scatter_add, NULL, s, 3, true, "scatter_add");
    Tensor *i[2] = {leaf_with(SHAPE(6, 4), "-.+.n"), tensor_randint(0, 6, SHAPE(9), &gen, CPU)};
    expect_gpu_matches_cpu_nonfinite(run_index_select, NULL, i, 2, true, "index_select");
    Tensor *e[2] = {tensor_randint(0, 6, SHAPE(2, 5), &gen, CPU), leaf_with(SHAPE(6, 3), ".....n+..-.")};
    expect_gpu_matches_cpu_nonfinite(run_embedding, NULL, e, 2, true, "embedding padding_idx 1");
    scope_end();
}

int main(void)
{
    generator_seed(&gen, 21);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elementwise), cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_pooling_and_softmax), cmocka_unit_test(test_losses),
        cmocka_unit_test(test_norms), cmocka_unit_test(test_index_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
