/* Pooling ops (max_pool2d, avg_pool2d, adaptive_avg_pool2d): forward and
 * backward against PyTorch (padding, ceil_mode, count_include_pad, non-square
 * windows, non-divisible adaptive sizes, non-contiguous inputs, NaN, +-Inf
 * and ties in the windows; max_pool2d without grad), finite differences,
 * output sizes and error messages. */
#include <math.h>

#include "tests/support/check.h"
#include "tests/support/oracle.h"

static Generator gen;

typedef struct {
    Shape x;
    int kernel[2], stride[2], padding[2];
    bool ceil_mode, count_include_pad, contiguous;
} PoolCase;

static PoolParams params_of(const PoolCase *c)
{
    PoolParams p = pool_params(c->kernel[0], 0, 0);
    for (int i = 0; i < 2; i++) {
        p.kernel[i] = c->kernel[i];
        p.stride[i] = c->stride[i];
        p.padding[i] = c->padding[i];
    }
    p.ceil_mode = c->ceil_mode;
    p.count_include_pad = c->count_include_pad;
    return p;
}

/* stride 0 asks for the default (the kernel) on both sides */
static const PoolCase max_cases[] = {
    {SHAPE(2, 3, 8, 8), {2, 2}, {0, 0}, {0, 0}, false, true, true},
    {SHAPE(1, 2, 7, 9), {3, 3}, {2, 2}, {1, 1}, false, true, true},
    {SHAPE(2, 2, 7, 7), {3, 3}, {2, 2}, {1, 1}, true, true, true},
    {SHAPE(1, 3, 6, 5), {2, 3}, {2, 1}, {1, 1}, true, true, false},
    {SHAPE(2, 1, 5, 5), {2, 2}, {1, 1}, {0, 0}, false, true, false},
    {SHAPE(2, 2, 6, 6), {3, 3}, {3, 3}, {0, 0}, true, true, true}, /* ceil_mode without a partial window */
    {SHAPE(16, 10, 24, 24), {2, 2}, {0, 0}, {0, 0}, false, true, true}, /* MnistModel, parallel */
    /* 8 wide: 4 rows of windows per vector, then 2 rows and a row no window covers */
    {SHAPE(2, 2, 13, 8), {2, 2}, {0, 0}, {0, 0}, false, true, true},
    /* 2x2 on a wide plane; an input row and column no window covers */
    {SHAPE(2, 3, 37, 71), {2, 2}, {0, 0}, {0, 0}, false, true, true},
    /* halves the size as 2x2 does, but windows overlap (gradients add up) */
    {SHAPE(1, 2, 8, 8), {3, 3}, {2, 2}, {1, 1}, false, true, true},
    /* windows of more than 256 cells: plane indices instead of u8 window codes */
    {SHAPE(1, 2, 21, 19), {17, 16}, {2, 3}, {0, 0}, false, true, true},
};

static const PoolCase avg_cases[] = {
    {SHAPE(2, 3, 8, 8), {2, 2}, {0, 0}, {0, 0}, false, true, true},
    {SHAPE(1, 2, 7, 9), {3, 3}, {2, 2}, {1, 1}, false, true, true},
    {SHAPE(1, 2, 7, 9), {3, 3}, {2, 2}, {1, 1}, false, false, true},
    {SHAPE(2, 2, 7, 6), {3, 3}, {2, 2}, {1, 1}, true, false, true},
    {SHAPE(2, 2, 7, 6), {3, 3}, {2, 2}, {1, 1}, true, true, false},
    {SHAPE(1, 3, 6, 5), {3, 2}, {1, 2}, {1, 0}, false, true, false},
    {SHAPE(16, 10, 24, 24), {2, 2}, {0, 0}, {0, 0}, false, true, true},
};

static const struct {
    Shape x;
    int64_t oh, ow;
    bool contiguous;
} adaptive_cases[] = {
    {SHAPE(2, 3, 7, 9), 3, 4, true},  {SHAPE(1, 2, 8, 8), 4, 4, true},  {SHAPE(2, 2, 5, 7), 1, 1, true},
    {SHAPE(1, 1, 3, 4), 5, 6, true},  {SHAPE(2, 3, 10, 6), 3, 5, false}, {SHAPE(1, 2, 9, 9), 7, 2, false},
};

static void pool_json(const PoolCase *c, char *buf, size_t size)
{
    int s0 = c->stride[0] ? c->stride[0] : c->kernel[0], s1 = c->stride[1] ? c->stride[1] : c->kernel[1];
    snprintf(buf, size,
             "{\"kernel\": [%d, %d], \"stride\": [%d, %d], \"padding\": [%d, %d], \"ceil_mode\": %s, "
             "\"count_include_pad\": %s}",
             c->kernel[0], c->kernel[1], s0, s1, c->padding[0], c->padding[1], c->ceil_mode ? "true" : "false",
             c->count_include_pad ? "true" : "false");
}

typedef struct {
    int id;
    Tensor *out, *x;
    char label[128];
} Result;

static Tensor *input(Shape s, bool contiguous) { return contiguous ? rand_leaf(s, &gen) : noncontig_leaf(s, &gen); }

/* Queues one case: backward with a random output gradient, then the torch op. */
static void add_result(Oracle *o, Result *r, const char *op, const char *args, Tensor *x, Tensor *y)
{
    REQUIRE_OK(y);
    Tensor *gout = tensor_randn(y->shape, &gen, CPU);
    assert_int_equal(tensor_backward(y, gout), 0);
    r->id = oracle_add(o, op, args, 1, &x, gout);
    r->out = y;
    r->x = x;
}

static void check_results(Oracle *o, Result *r, int n, bool nonfinite)
{
    for (int i = 0; i < n; i++) {
        if (nonfinite) {
            expect_close_nonfinite(r[i].out, oracle_output(o, r[i].id, 0), 1e-5, r[i].label);
            expect_close_nonfinite(r[i].x->grad, oracle_grad(o, r[i].id, 0), 1e-5, "  grad input");
        } else {
            expect_close(r[i].out, oracle_output(o, r[i].id, 0), 1e-5, r[i].label);
            expect_close(r[i].x->grad, oracle_grad(o, r[i].id, 0), 1e-5, "  grad input");
        }
    }
}

/* An input of shape s; with nonfinite, about one element in 16 each is
 * NaN, +Inf and -Inf, so windows meet none, one or several of them, and the
 * finite values are 8 multiples of 0.5, so windows often hold ties (the
 * first maximum in the window takes the gradient). */
static Tensor *case_input(Shape s, bool contiguous, bool nonfinite)
{
    Tensor *x = input(s, contiguous);
    if (!nonfinite) return x;
    bool mode = no_grad_begin();
    Tensor *halves = t_mul_scalar(tensor_to_dtype(tensor_randint(-4, 4, s, &gen, CPU), DT_F32), 0.5);
    tensor_copy_(x, halves);
    grad_mode_restore(mode);
    int k = (int)(shape_numel(s) / 16 + 1);
    sprinkle_nonfinite(x, k, k, k, &gen);
    return x;
}

/* Without grad max_pool2d computes no indices: the values must not change. */
static void expect_same_without_grad(Tensor *x, const PoolCase *c, Tensor *y, const char *label)
{
    bool mode = no_grad_begin();
    Tensor *y_eval = f_max_pool2d(x, params_of(c));
    grad_mode_restore(mode);
    REQUIRE_OK(y_eval);
    expect_close_nonfinite(y_eval, y, 0, label);
}

/* Every case; with nonfinite, on inputs holding NaN and +-Inf: a max
 * window with NaN gives NaN (its last NaN takes the gradient, as in
 * PyTorch's kernels), averages propagate NaN and Inf. */
static void run_pools_against_torch(bool nonfinite)
{
    enum { NMAX = sizeof max_cases / sizeof max_cases[0], NAVG = sizeof avg_cases / sizeof avg_cases[0] };
    enum { NADA = sizeof adaptive_cases / sizeof adaptive_cases[0] };
    scope_begin();
    Oracle *o = oracle_new(nonfinite ? "pool_nonfinite" : "pool");
    Result r[NMAX + NAVG + NADA];
    int n = 0;
    char args[256];
    for (int k = 0; k < NMAX + NAVG; k++, n++) {
        bool is_max = k < NMAX;
        const PoolCase *c = is_max ? &max_cases[k] : &avg_cases[k - NMAX];
        Tensor *x = case_input(c->x, c->contiguous, nonfinite);
        Tensor *y = is_max ? f_max_pool2d(x, params_of(c)) : f_avg_pool2d(x, params_of(c));
        if (is_max) expect_same_without_grad(x, c, y, "max_pool2d without grad");
        pool_json(c, args, sizeof args);
        add_result(o, &r[n], is_max ? "max_pool2d" : "avg_pool2d", args, x, y);
        snprintf(r[n].label, sizeof r[n].label, "%s %s%s k%d,%d s%d,%d p%d,%d%s%s", is_max ? "max" : "avg",
                 shape_str(c->x), c->contiguous ? "" : "T", c->kernel[0], c->kernel[1], c->stride[0], c->stride[1],
                 c->padding[0], c->padding[1], c->ceil_mode ? " ceil" : "",
                 !is_max && !c->count_include_pad ? " excl_pad" : "");
    }
    for (int k = 0; k < NADA; k++, n++) {
        Tensor *x = case_input(adaptive_cases[k].x, adaptive_cases[k].contiguous, nonfinite);
        snprintf(args, sizeof args, "{\"output_size\": [%lld, %lld]}", (long long)adaptive_cases[k].oh,
                 (long long)adaptive_cases[k].ow);
        add_result(o, &r[n], "adaptive_avg_pool2d", args, x,
                   f_adaptive_avg_pool2d(x, adaptive_cases[k].oh, adaptive_cases[k].ow));
        snprintf(r[n].label, sizeof r[n].label, "adaptive %s%s -> %lldx%lld", shape_str(adaptive_cases[k].x),
                 adaptive_cases[k].contiguous ? "" : "T", (long long)adaptive_cases[k].oh,
                 (long long)adaptive_cases[k].ow);
    }
    ORACLE_RUN_OR_SKIP(o);
    check_results(o, r, n, nonfinite);
    oracle_free(o);
    scope_end();
}

static void test_pools_against_torch(void **state) { run_pools_against_torch(false); }
static void test_pools_nonfinite_against_torch(void **state) { run_pools_against_torch(true); }

/* PyTorch's output sizes (checked against torch), ceil_mode's last-window
 * rule included: in 5, k 2, s 2, p 1 would give 4 windows, but the last one
 * would start in the right padding, so there are 3. */
static void test_output_sizes(void **state)
{
    static const struct {
        int64_t in;
        int k, s, p;
        bool ceil;
        int64_t expected;
    } cases[] = {
        {7, 3, 2, 1, false, 4}, {7, 3, 2, 1, true, 4}, {6, 3, 2, 1, true, 4}, {6, 3, 2, 0, true, 3},
        {5, 2, 2, 0, true, 3},  {5, 2, 2, 1, true, 3}, {4, 2, 3, 1, true, 2}, {28, 2, 2, 0, false, 14},
        {2, 2, 2, 1, true, 2},  {3, 3, 2, 1, true, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        scope_begin();
        PoolParams p = pool_params(cases[i].k, cases[i].s, cases[i].p);
        p.ceil_mode = cases[i].ceil;
        Tensor *y = f_max_pool2d(tensor_zeros(SHAPE(1, 1, cases[i].in, cases[i].k), DT_F32, CPU), p);
        REQUIRE_OK(y);
        if (y->shape.d[2] != cases[i].expected)
            fail_msg("in %lld k %d s %d p %d ceil %d: got %lld, expected %lld", (long long)cases[i].in, cases[i].k,
                     cases[i].s, cases[i].p, cases[i].ceil, (long long)y->shape.d[2], (long long)cases[i].expected);
        scope_end();
    }
}

/* ---- finite differences ---- */

typedef enum { FD_MAX, FD_AVG, FD_ADAPTIVE } FdKind;
typedef struct {
    FdKind kind;
    PoolParams p;
} FdCtx;

static Tensor *fd_pool(Tensor **in, void *ctx)
{
    const FdCtx *c = ctx;
    if (c->kind == FD_MAX) return f_max_pool2d(in[0], c->p);
    if (c->kind == FD_AVG) return f_avg_pool2d(in[0], c->p);
    return f_adaptive_avg_pool2d(in[0], 3, 2);
}

static void test_finite_differences(void **state)
{
    static const char *labels[] = {"fd max_pool2d k3 s2 p1 ceil", "fd avg_pool2d k3 s2 p1 ceil excl_pad",
                                   "fd adaptive_avg_pool2d 5x7 -> 3x2"};
    for (int kind = 0; kind < 3; kind++) {
        scope_begin();
        PoolParams p = pool_params(3, 2, 1);
        p.ceil_mode = true;
        p.count_include_pad = false;
        FdCtx ctx = {(FdKind)kind, p};
        Tensor *x = noncontig_leaf(SHAPE(2, 2, 5, 7), &gen);
        if (kind == FD_MAX) {
            /* distinct values 0.05 apart, shuffled: no near-ties for eps to flip */
            Tensor *perm = tensor_randperm(tensor_numel(x), &gen);
            Tensor *vals = t_mul_scalar(tensor_to_dtype(perm, DT_F32), 0.05);
            bool mode = no_grad_begin();
            tensor_copy_(x, t_reshape(vals, x->shape));
            grad_mode_restore(mode);
        }
        assert_true(fd_gradcheck(fd_pool, &ctx, &x, 1, 1e-3, 70, labels[kind]) < 1e-2);
        scope_end();
    }
}

/* ---- errors ---- */

static void test_errors_name_the_shapes(void **state)
{
    scope_begin();
    engine_clear_error();
    Tensor *x = tensor_zeros(SHAPE(2, 3, 4, 4), DT_F32, CPU);
    expect_error(f_max_pool2d(tensor_zeros(SHAPE(3, 4, 4), DT_F32, CPU), pool_params(2, 0, 0)), "4-D", "[3, 4, 4]");
    expect_error(f_avg_pool2d(tensor_zeros(SHAPE(3, 4, 4), DT_F32, CPU), pool_params(2, 0, 0)), "4-D", "[3, 4, 4]");
    expect_error(f_max_pool2d(x, pool_params(2, 0, 2)), "pad", "(2, 2)");
    expect_error(f_max_pool2d(x, pool_params(5, 0, 0)), "[2, 3, 4, 4]", "too small");
    expect_error(f_avg_pool2d(x, pool_params(0, 0, 0)), "kernel size", NULL);
    expect_error(f_adaptive_avg_pool2d(x, -1, 2), "output_size", NULL);
    expect_error(f_adaptive_avg_pool2d(tensor_zeros(SHAPE(4, 4), DT_F32, CPU), 2, 2), "4-D", "[4, 4]");
    assert_null(f_max_pool2d(NULL, pool_params(2, 0, 0)));
    assert_false(engine_has_error());
    scope_end();
}

int main(void)
{
    generator_seed(&gen, 5);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pools_against_torch),
        cmocka_unit_test(test_pools_nonfinite_against_torch),
        cmocka_unit_test(test_output_sizes),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_errors_name_the_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
