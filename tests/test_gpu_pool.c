/* The CUDA pooling kernels against the CPU's: max_pool2d (values, the
 * recorded indices exactly, NaN, overlapping windows, ceil_mode, padding,
 * deterministic backward), avg_pool2d (padding counted or not, ceil_mode)
 * and adaptive_avg_pool2d (shrinking, growing, global), forward and
 * backward, relative error <= 1e-4. Skipped without a CUDA device. */
#include <math.h>

#include "tests/support/gpu_compare.h"

static Generator gen;

typedef enum { POOL_MAX, POOL_AVG, POOL_ADAPTIVE } PoolKind;

typedef struct {
    PoolKind kind;
    PoolParams p;
    int64_t out_h, out_w; /* adaptive */
    bool noncontig;
} PoolCase;

static Tensor *pool_fn(Tensor **in, void *ctx)
{
    const PoolCase *c = ctx;
    Tensor *x = c->noncontig ? t_transpose(in[0], 2, 3) : in[0];
    switch (c->kind) {
    case POOL_MAX: return f_max_pool2d(x, c->p);
    case POOL_AVG: return f_avg_pool2d(x, c->p);
    default: return f_adaptive_avg_pool2d(x, c->out_h, c->out_w);
    }
}

static PoolParams pool(int kh, int kw, int sh, int sw, int ph, int pw, bool ceil_mode, bool count_include_pad)
{
    return (PoolParams){.kernel = {kh, kw}, .stride = {sh, sw}, .padding = {ph, pw}, .ceil_mode = ceil_mode,
                        .count_include_pad = count_include_pad};
}

static void check_pool(PoolCase c, Tensor *x_cpu, const char *label)
{
    Tensor *in[1] = {x_cpu};
    expect_gpu_matches_cpu(pool_fn, &c, in, 1, 1e-4, label);
}

/* max_pool2d's indices (kept on the autograd node) must be the CPU's
 * exactly: the op layer shares them between forward and backward. */
static void expect_same_indices(Tensor *x_cpu, PoolParams p, const char *label)
{
    Tensor *x_gpu = leaf_on(x_cpu, GPU_DEVICE);
    Tensor *y_cpu = f_max_pool2d(x_cpu, p), *y_gpu = f_max_pool2d(x_gpu, p);
    REQUIRE_OK(y_cpu);
    REQUIRE_OK(y_gpu);
    assert_non_null(y_cpu->grad_fn);
    assert_non_null(y_gpu->grad_fn);
    expect_equal(y_gpu, y_cpu, label);
    expect_equal(y_gpu->grad_fn->saved[0], y_cpu->grad_fn->saved[0], label);
}

static const struct {
    PoolParams p;
    const char *label;
} max_cases[] = {
    {{{2, 2}, {2, 2}, {0, 0}, false, true}, "max k2 s2"},
    {{{3, 3}, {2, 2}, {1, 1}, false, true}, "max k3 s2 p1"},
    {{{3, 3}, {1, 1}, {1, 1}, false, true}, "max k3 s1 p1 (overlapping)"},
    {{{3, 2}, {2, 1}, {1, 0}, true, true}, "max k3x2 s2x1 p1x0 ceil"},
    {{{2, 2}, {2, 2}, {0, 0}, true, true}, "max k2 s2 ceil (partial windows)"},
};

static void test_max_pool(void **state)
{
    REQUIRE_GPU();
    gpu_set_modes(false, false);
    for (size_t i = 0; i < sizeof max_cases / sizeof max_cases[0]; i++) {
        scope_begin();
        Tensor *x = rand_leaf(SHAPE(2, 3, 9, 7), &gen);
        check_pool((PoolCase){.kind = POOL_MAX, .p = max_cases[i].p}, x, max_cases[i].label);
        expect_same_indices(rand_leaf(SHAPE(2, 3, 9, 7), &gen), max_cases[i].p, max_cases[i].label);
        check_pool((PoolCase){.kind = POOL_MAX, .p = max_cases[i].p, .noncontig = true},
                   rand_leaf(SHAPE(2, 3, 7, 9), &gen), "  ... non-contiguous input");
        scope_end();
    }
}

/* Ties and NaN: a constant plane picks the first element of each window,
 * a NaN wins its windows (the last NaN when there are several). */
static void test_max_pool_ties_and_nan(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    float v[2 * 6 * 6];
    for (int i = 0; i < 36; i++) v[i] = 1.0f;
    for (int i = 36; i < 72; i++) v[i] = (float)(i % 5);
    v[36 + 7] = NAN;
    v[36 + 8] = NAN;
    v[36 + 30] = NAN;
    Tensor *x = tensor_from_data(v, SHAPE(1, 2, 6, 6), DT_F32, CPU);
    REQUIRE_OK(tensor_set_requires_grad(x, true));
    expect_same_indices(x, pool(3, 3, 2, 2, 1, 1, false, true), "max with ties and NaN");
    expect_same_indices(x, pool(3, 3, 1, 1, 0, 0, true, true), "max overlapping with ties and NaN");
    scope_end();
}

/* Overlapping windows add into shared inputs: with deterministic
 * algorithms the GPU adds them in the CPU's order, to the same bits. */
static void test_max_pool_backward_deterministic(void **state)
{
    REQUIRE_GPU();
    gpu_set_modes(false, true);
    scope_begin();
    /* few distinct values: many windows share their maximum */
    static float v[2 * 4 * 11 * 10];
    for (int i = 0; i < 2 * 4 * 11 * 10; i++) v[i] = (float)((i * 37) % 7);
    Tensor *x = tensor_from_data(v, SHAPE(2, 4, 11, 10), DT_F32, CPU);
    REQUIRE_OK(tensor_set_requires_grad(x, true));
    PoolCase c = {.kind = POOL_MAX, .p = pool(3, 3, 1, 1, 1, 1, false, true)};
    check_pool(c, x, "max k3 s1 p1, deterministic backward");
    Tensor *g = tensor_randn(SHAPE(2, 4, 11, 10), &gen, CPU);
    REQUIRE_OK(g);
    Tensor *x_gpu = leaf_on(x, GPU_DEVICE), *x_cpu = leaf_on(x, CPU);
    assert_int_equal(tensor_backward(f_max_pool2d(x_gpu, c.p), leaf_on(g, GPU_DEVICE)), 0);
    assert_int_equal(tensor_backward(f_max_pool2d(x_cpu, c.p), g), 0);
    expect_equal(x_gpu->grad, x_cpu->grad, "max k3 s1 p1: backward bits, deterministic");
    scope_end();
    gpu_set_modes(false, false);
}

static void test_avg_pool(void **state)
{
    REQUIRE_GPU();
    static const struct {
        PoolParams p;
        const char *label;
    } cases[] = {
        {{{2, 2}, {2, 2}, {0, 0}, false, true}, "avg k2 s2"},
        {{{3, 3}, {2, 2}, {1, 1}, false, true}, "avg k3 s2 p1 counting padding"},
        {{{3, 3}, {2, 2}, {1, 1}, false, false}, "avg k3 s2 p1 not counting padding"},
        {{{3, 2}, {1, 2}, {1, 1}, true, true}, "avg k3x2 s1x2 p1 ceil counting padding"},
        {{{3, 3}, {2, 2}, {1, 1}, true, false}, "avg k3 s2 p1 ceil not counting padding"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        scope_begin();
        check_pool((PoolCase){.kind = POOL_AVG, .p = cases[i].p}, rand_leaf(SHAPE(2, 3, 10, 9), &gen),
                   cases[i].label);
        check_pool((PoolCase){.kind = POOL_AVG, .p = cases[i].p, .noncontig = true},
                   rand_leaf(SHAPE(2, 3, 9, 10), &gen), "  ... non-contiguous input");
        scope_end();
    }
}

static void test_adaptive_avg_pool(void **state)
{
    REQUIRE_GPU();
    static const struct {
        int64_t h, w, oh, ow;
    } cases[] = {{7, 7, 3, 3}, {5, 9, 2, 4}, {3, 3, 5, 5}, {6, 4, 1, 1}, {8, 8, 8, 8}, {10, 3, 4, 7}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        scope_begin();
        char label[96];
        snprintf(label, sizeof label, "adaptive %lldx%lld -> %lldx%lld", (long long)cases[i].h, (long long)cases[i].w,
                 (long long)cases[i].oh, (long long)cases[i].ow);
        check_pool((PoolCase){.kind = POOL_ADAPTIVE, .out_h = cases[i].oh, .out_w = cases[i].ow},
                   rand_leaf(SHAPE(2, 3, cases[i].h, cases[i].w), &gen), label);
        scope_end();
    }
}

int main(void)
{
    generator_seed(&gen, 31);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_pool),
        cmocka_unit_test(test_max_pool_ties_and_nan),
        cmocka_unit_test(test_max_pool_backward_deterministic),
        cmocka_unit_test(test_avg_pool),
        cmocka_unit_test(test_adaptive_avg_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
