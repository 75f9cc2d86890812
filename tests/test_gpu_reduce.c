/* The CUDA reduction kernels against the CPU's: sum, mean, var, std, amax
 * and amin over all or some dims (both GPU layouts, the block-per-output and
 * chunked paths, strided and broadcast inputs, NaN, empty reductions),
 * max/min along a dim with indices (ties, NaN, long rows cut into chunks,
 * strided and broadcast inputs) and argmax/argmin;
 * forward and backward, relative error <= 1e-4, indices exact. Skipped
 * without a CUDA device. */
#include <math.h>

#include "tests/support/gpu_compare.h"

static Generator gen;

/* Sums accumulate in double on both devices; 1e-4 leaves room for the GPU's
 * different (but fixed) order of additions and its expf/sqrt in backward. */
#define TOL 1e-4

typedef enum { R_SUM, R_MEAN, R_VAR, R_STD, R_AMAX, R_AMIN, N_REDOPS } RedOp;

static const char *redop_name[] = {"sum", "mean", "var", "std", "amax", "amin"};

typedef struct {
    Shape shape;     /* the shape reduced */
    bool transposed; /* reduce a view with the first and last dims swapped */
    int dims[4];
    int nd; /* 0: all dims */
    bool keepdim;
    bool expanded; /* reduce a broadcast view: the leaf has size 1 at dim 1, expanded (stride 0) to shape */
} ReduceCase;

static const ReduceCase reduce_cases[] = {
    {SHAPE(7), false, {0}, 0, false, false},
    {SHAPE(5, 6), false, {1}, 1, false, false},               /* rows: a warp per output */
    {SHAPE(5, 6), false, {0}, 1, true, false},                /* columns */
    {SHAPE(5, 6), true, {-1}, 1, false, false},               /* strided */
    {SHAPE(5, 6), true, {0}, 1, true, false},
    {SHAPE(2, 3, 4, 5), false, {0, 2, 3}, 3, true, false},    /* two reduced groups */
    {SHAPE(2, 3, 4, 5), false, {1, 2}, 2, false, false},      /* columns with an outer kept dim */
    {SHAPE(2, 3, 4, 5), true, {0, -1}, 2, true, false},
    {SHAPE(2, 3, 4, 5), true, {0}, 0, false, false},
    {SHAPE(600000), false, {0}, 0, false, false},             /* one output: a block per chunk */
    {SHAPE(4, 20000), false, {-1}, 1, false, false},          /* a block per output, chunked */
    {SHAPE(2000, 50), false, {0}, 1, false, false},           /* columns side by side */
    {SHAPE(200000, 3), false, {0}, 1, false, false},          /* few long columns, chunked */
    {SHAPE(1000, 7), false, {1}, 1, false, false},            /* short reductions: a thread per output */
    {SHAPE(300, 40), true, {0}, 1, true, false},
    /* a stride-0 reduced dim (with dim 2, so that var and std are not exactly 0) */
    {SHAPE(4, 5, 6), false, {1, 2}, 2, false, true},
    {SHAPE(4, 5, 6), false, {0, 2}, 2, true, true},     /* a stride-0 kept dim */
    {SHAPE(3, 3000), false, {0}, 0, false, true},       /* all of a broadcast view, chunked */
};
#define N_REDUCE_CASES (int)(sizeof reduce_cases / sizeof reduce_cases[0])

typedef struct {
    RedOp op;
    const ReduceCase *c;
    int correction;
} ReduceCtx;

static Shape swap_first_last(Shape s)
{
    if (s.ndim > 1) {
        int64_t t = s.d[0];
        s.d[0] = s.d[s.ndim - 1];
        s.d[s.ndim - 1] = t;
    }
    return s;
}

static Tensor *apply_reduce(RedOp op, Tensor *x, const int *dims, int nd, bool keepdim, int correction)
{
    switch (op) {
    case R_SUM: return t_sum(x, dims, nd, keepdim);
    case R_MEAN: return t_mean(x, dims, nd, keepdim);
    case R_VAR: return t_var(x, dims, nd, correction, keepdim);
    case R_STD: return t_std(x, dims, nd, correction, keepdim);
    case R_AMAX: return t_amax(x, dims, nd, keepdim);
    case R_AMIN: return t_amin(x, dims, nd, keepdim);
    default: return NULL;
    }
}

static Tensor *reduce_fn(Tensor **in, void *ctx)
{
    const ReduceCtx *r = ctx;
    Tensor *x = r->c->transposed ? t_transpose(in[0], 0, -1) : in[0];
    if (r->c->expanded) x = t_expand(x, r->c->shape);
    return apply_reduce(r->op, x, r->c->nd ? r->c->dims : NULL, r->c->nd, r->c->keepdim, r->correction);
}

static void check_reduce(RedOp op, const ReduceCase *c, int correction)
{
    scope_begin();
    Shape leaf = c->transposed ? swap_first_last(c->shape) : c->shape;
    if (c->expanded) leaf.d[1] = 1;
    Tensor *x = rand_leaf(leaf, &gen);
    ReduceCtx ctx = {op, c, correction};
    char label[160];
    snprintf(label, sizeof label, "%s %s%s%s dims %d%s corr %d", redop_name[op], shape_str(c->shape),
             c->transposed ? " (strided)" : "", c->expanded ? " (broadcast)" : "", c->nd ? c->dims[0] : -99, c->keepdim ? " keepdim" : "", correction);
    expect_gpu_matches_cpu(reduce_fn, &ctx, &x, 1, TOL, label);
    scope_end();
}

static void test_reductions(void **state)
{
    REQUIRE_GPU();
    gpu_set_modes(false, true);
    for (int k = 0; k < N_REDUCE_CASES; k++)
        for (int op = 0; op < N_REDOPS; op++) check_reduce((RedOp)op, &reduce_cases[k], 1);
    /* population variance */
    check_reduce(R_VAR, &reduce_cases[5], 0);
    check_reduce(R_STD, &reduce_cases[11], 0);
}

/* A [4, 50] tensor with NaN at a few places: NaN propagates through every
 * reduction on both devices. */
static void test_reductions_nan(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    Tensor *x = tensor_randn(SHAPE(4, 50), &gen, CPU);
    REQUIRE_OK(x);
    float *p = tensor_f32(x);
    p[3] = NAN;
    p[2 * 50 + 49] = NAN;
    Tensor *xg = leaf_on(x, GPU_DEVICE);
    int dim1 = 1, dim0 = 0;
    for (int op = 0; op < N_REDOPS; op++) {
        char label[96];
        snprintf(label, sizeof label, "%s with NaN, dim 1", redop_name[op]);
        expect_close(apply_reduce((RedOp)op, xg, &dim1, 1, false, 1), apply_reduce((RedOp)op, x, &dim1, 1, false, 1),
                     TOL, label);
        snprintf(label, sizeof label, "%s with NaN, dim 0", redop_name[op]);
        expect_close(apply_reduce((RedOp)op, xg, &dim0, 1, false, 1), apply_reduce((RedOp)op, x, &dim0, 1, false, 1),
                     TOL, label);
        snprintf(label, sizeof label, "%s with NaN, all dims", redop_name[op]);
        expect_close(apply_reduce((RedOp)op, xg, NULL, 0, false, 1), apply_reduce((RedOp)op, x, NULL, 0, false, 1), TOL,
                     label);
    }
    scope_end();
}

/* Reducing an empty dim: sum 0, mean and var NaN, as on the CPU. */
static void test_reductions_empty(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    Tensor *x = tensor_zeros(SHAPE(0, 4), DT_F32, CPU);
    Tensor *xg = leaf_on(x, GPU_DEVICE);
    int dim0 = 0;
    for (int op = R_SUM; op <= R_STD; op++) {
        char label[64];
        snprintf(label, sizeof label, "%s over an empty dim", redop_name[op]);
        expect_close(apply_reduce((RedOp)op, xg, &dim0, 1, false, 1), apply_reduce((RedOp)op, x, &dim0, 1, false, 1),
                     TOL, label);
    }
    scope_end();
}

/* ---- max/min along a dim ---- */

typedef struct {
    int dim;
    bool keepdim, is_max;
    bool transposed; /* on a view with the first and last dims swapped (copied by the op) */
} DimCtx;

static Tensor *max_dim_fn(Tensor **in, void *ctx)
{
    const DimCtx *c = ctx;
    Tensor *idx;
    Tensor *x = c->transposed ? t_transpose(in[0], 0, -1) : in[0];
    return c->is_max ? t_max_dim(x, c->dim, c->keepdim, &idx) : t_min_dim(x, c->dim, c->keepdim, &idx);
}

/* Values and gradients through expect_gpu_matches_cpu, then the indices of
 * max/min and argmax/argmin exactly. */
static void check_max_dim(Tensor *x, int dim, bool keepdim, const char *what)
{
    Tensor *xg = leaf_on(x, GPU_DEVICE);
    for (int is_max = 0; is_max < 2; is_max++) {
        DimCtx ctx = {dim, keepdim, is_max != 0, false};
        tensor_free(x->grad); /* the CPU leaf is reused: start each comparison from no gradient */
        x->grad = NULL;
        char label[160];
        snprintf(label, sizeof label, "%s %s dim %d%s", is_max ? "max" : "min", what, dim, keepdim ? " keepdim" : "");
        expect_gpu_matches_cpu(max_dim_fn, &ctx, &x, 1, TOL, label);
        bool mode = no_grad_begin();
        Tensor *ci = NULL, *gi = NULL;
        Tensor *cv = is_max ? t_max_dim(x, dim, keepdim, &ci) : t_min_dim(x, dim, keepdim, &ci);
        Tensor *gv = is_max ? t_max_dim(xg, dim, keepdim, &gi) : t_min_dim(xg, dim, keepdim, &gi);
        REQUIRE_OK(cv);
        REQUIRE_OK(gv);
        strncat(label, ": indices", sizeof label - strlen(label) - 1);
        expect_equal(tensor_to(gi, CPU), ci, label);
        Tensor *ca = is_max ? t_argmax(x, dim, keepdim) : t_argmin(x, dim, keepdim);
        Tensor *ga = is_max ? t_argmax(xg, dim, keepdim) : t_argmin(xg, dim, keepdim);
        REQUIRE_OK(ga);
        snprintf(label, sizeof label, "%s %s dim %d", is_max ? "argmax" : "argmin", what, dim);
        expect_equal(tensor_to(ga, CPU), ca, label);
        grad_mode_restore(mode);
    }
}

static void test_max_dim(void **state)
{
    REQUIRE_GPU();
    gpu_set_modes(false, true);
    static const struct {
        Shape shape;
        int dim;
        bool keepdim;
    } cases[] = {
        {SHAPE(7), 0, false},
        {SHAPE(5, 6), 1, false},          /* rows: a warp per output */
        {SHAPE(5, 6), 0, true},           /* columns */
        {SHAPE(3, 10000), 1, false},      /* a block per row */
        {SHAPE(1, 300000), -1, true},     /* one long row in chunks */
        {SHAPE(6, 7, 8), 1, false},       /* columns with an outer dim */
        {SHAPE(2, 100000, 3), 1, false},  /* few long columns in chunks */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        scope_begin();
        Tensor *x = rand_leaf(cases[k].shape, &gen);
        check_max_dim(x, cases[k].dim, cases[k].keepdim, shape_str(cases[k].shape));
        scope_end();
    }
}

/* Values from {0, 1, 2}: many ties, where the first occurrence must win on
 * both devices, including across warps and chunks. */
static void test_max_dim_ties_and_nan(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    Tensor *ties = tensor_to_dtype(tensor_randint(0, 3, SHAPE(20, 30), &gen, CPU), DT_F32);
    REQUIRE_OK(ties);
    REQUIRE_OK(tensor_set_requires_grad(ties, true));
    check_max_dim(ties, 1, false, "ties [20, 30]");
    check_max_dim(ties, 0, false, "ties [20, 30]");
    Tensor *long_ties = tensor_to_dtype(tensor_randint(0, 3, SHAPE(2, 50000), &gen, CPU), DT_F32);
    REQUIRE_OK(long_ties);
    check_max_dim(long_ties, 1, false, "ties [2, 50000]");
    /* NaN counts as the largest value: max and argmax pick the first NaN */
    Tensor *x = tensor_randn(SHAPE(6, 40), &gen, CPU);
    REQUIRE_OK(x);
    float *p = tensor_f32(x);
    p[5] = NAN;
    p[17] = NAN;
    p[3 * 40 + 39] = NAN;
    p[5 * 40] = NAN;
    check_max_dim(x, 1, false, "NaN [6, 40]");
    check_max_dim(x, 0, true, "NaN [6, 40]");
    scope_end();
}

/* Strided and broadcast inputs (the op copies them to contiguous first). */
static void test_max_dim_strided_and_broadcast(void **state)
{
    REQUIRE_GPU();
    gpu_set_modes(false, true);
    for (int is_max = 0; is_max < 2; is_max++)
        for (int dim = 0; dim < 2; dim++) {
            scope_begin();
            Tensor *x = rand_leaf(SHAPE(9, 6), &gen);
            DimCtx ctx = {dim, dim == 1, is_max != 0, true};
            char label[96];
            snprintf(label, sizeof label, "%s [6, 9] (transposed) dim %d", is_max ? "max" : "min", dim);
            expect_gpu_matches_cpu(max_dim_fn, &ctx, &x, 1, TOL, label);
            scope_end();
        }
    /* a broadcast view: every column ties, the first row wins on both devices */
    scope_begin();
    Tensor *row = tensor_randn(SHAPE(1, 7), &gen, CPU), *ci = NULL, *gi = NULL;
    REQUIRE_OK(row);
    Tensor *cv = t_max_dim(t_expand(row, SHAPE(5, 7)), 0, false, &ci);
    Tensor *gv = t_max_dim(t_expand(leaf_on(row, GPU_DEVICE), SHAPE(5, 7)), 0, false, &gi);
    REQUIRE_OK(cv);
    REQUIRE_OK(gv);
    expect_equal(tensor_to(gv, CPU), cv, "max of a broadcast [5, 7] dim 0");
    expect_equal(tensor_to(gi, CPU), ci, "max of a broadcast [5, 7] dim 0: indices");
    scope_end();
}

static void test_argmax_all(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    Tensor *x = tensor_randn(SHAPE(300, 700), &gen, CPU);
    Tensor *xg = leaf_on(x, GPU_DEVICE);
    expect_equal(tensor_to(t_argmax_all(xg), CPU), t_argmax_all(x), "argmax over all of [300, 700]");
    scope_end();
}

int main(void)
{
    generator_seed(&gen, 11);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_reductions_nan),
        cmocka_unit_test(test_reductions_empty),
        cmocka_unit_test(test_max_dim),
        cmocka_unit_test(test_max_dim_ties_and_nan),
        cmocka_unit_test(test_max_dim_strided_and_broadcast),
        cmocka_unit_test(test_argmax_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
