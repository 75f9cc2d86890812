/* Reductions: sum, mean, var, std, amax, amin (over all or some dims, with
 * keepdim and negative dims), max/min along a dim with indices, argmax and
 * argmin: forward and backward against PyTorch on contiguous and strided
 * inputs, large inputs that take the chunked and row paths, ties, NaN and
 * +-Inf,
 * finite differences, and error messages. */
#include <math.h>

#include "tests/support/check.h"
#include "tests/support/oracle.h"

static Generator gen;

typedef enum { R_SUM, R_MEAN, R_VAR, R_STD, R_AMAX, R_AMIN, N_REDOPS } RedOp;

static const char *redop_name[] = {"sum", "mean", "var", "std", "amax", "amin"};

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

/* PyTorch's node name for op over all dims (dims == NULL) or some. */
static const char *expected_node(RedOp op, bool all_dims)
{
    switch (op) {
    case R_SUM: return all_dims ? "SumBackward0" : "SumBackward1";
    case R_MEAN: return all_dims ? "MeanBackward0" : "MeanBackward1";
    case R_VAR: return "VarBackward0";
    case R_STD: return "StdBackward0";
    case R_AMAX: return "AmaxBackward0";
    case R_AMIN: return "AminBackward0";
    default: return "";
    }
}

typedef struct {
    Shape shape;
    bool noncontig;
    int dims[4];
    int nd; /* 0: all dims (dims == NULL) */
    bool keepdim;
} ReduceCase;

static const ReduceCase reduce_cases[] = {
    {SHAPE(7), false, {0}, 0, false},
    {SHAPE(7), true, {-1}, 1, true},
    {SHAPE(5, 6), false, {1}, 1, false},        /* last dim, contiguous */
    {SHAPE(5, 6), false, {0}, 1, true},         /* dim 0: the row path */
    {SHAPE(5, 6), true, {-1}, 1, false},        /* strided */
    {SHAPE(5, 6), true, {0}, 1, true},
    {SHAPE(5, 6), false, {0}, 0, true},         /* all dims, keepdim */
    {SHAPE(2, 3, 4, 5), false, {0, 2, 3}, 3, true}, /* batch-norm statistics */
    {SHAPE(2, 3, 4, 5), false, {-1, 1}, 2, false},
    {SHAPE(2, 3, 4, 5), false, {1, 2}, 2, true}, /* rows with an outer kept dim */
    {SHAPE(2, 3, 4, 5), true, {0}, 0, false},
    {SHAPE(2, 3, 4, 5), true, {0, -1}, 2, true},
    {SHAPE(600000), false, {0}, 0, false},      /* one output over many elements: chunked */
    {SHAPE(2000, 50), false, {0}, 1, false},    /* narrow rows side by side */
    {SHAPE(1001, 7), false, {0}, 1, true},      /* narrow rows with a remainder */
    {SHAPE(200000, 3), false, {0}, 1, false},   /* narrow rows, chunked */
    {SHAPE(3000, 200), false, {0}, 1, false},   /* row path, chunked */
    {SHAPE(50, 2000), false, {-1}, 1, true},
    {SHAPE(9, 37), true, {0}, 1, true},         /* strided runs */
};
#define N_REDUCE_CASES (int)(sizeof reduce_cases / sizeof reduce_cases[0])

static void dims_json(const ReduceCase *c, char *buf, size_t n)
{
    if (c->nd == 0) {
        snprintf(buf, n, "null");
        return;
    }
    int pos = snprintf(buf, n, "[");
    for (int i = 0; i < c->nd; i++) pos += snprintf(buf + pos, n - (size_t)pos, i ? ", %d" : "%d", c->dims[i]);
    snprintf(buf + pos, n - (size_t)pos, "]");
}

static Tensor *case_input(const ReduceCase *c)
{
    return c->noncontig ? noncontig_leaf(c->shape, &gen) : rand_leaf(c->shape, &gen);
}

static void test_reductions_against_torch(void **state)
{
    enum { MAX_RUNS = N_REDOPS * N_REDUCE_CASES * 2 };
    scope_begin();
    Oracle *o = oracle_new("reduce");
    Tensor *outs[MAX_RUNS], *ins[MAX_RUNS];
    int ids[MAX_RUNS], n = 0;
    char labels[MAX_RUNS][96];
    for (int op = 0; op < N_REDOPS; op++)
        for (int k = 0; k < N_REDUCE_CASES; k++)
            for (int correction = 0; correction < ((op == R_VAR || op == R_STD) ? 2 : 1); correction++) {
                const ReduceCase *c = &reduce_cases[k];
                Tensor *x = case_input(c);
                const int *dims = c->nd ? c->dims : NULL;
                Tensor *y = apply_reduce((RedOp)op, x, dims, c->nd, c->keepdim, correction);
                REQUIRE_OK(y);
                assert_non_null(y->grad_fn);
                assert_string_equal(y->grad_fn->name, expected_node((RedOp)op, dims == NULL));
                Tensor *gout = tensor_randn(y->shape, &gen, CPU);
                assert_int_equal(tensor_backward(y, gout), 0);
                char dj[64], args[160];
                dims_json(c, dj, sizeof dj);
                snprintf(args, sizeof args, "{\"dims\": %s, \"keepdim\": %s, \"correction\": %d}", dj,
                         c->keepdim ? "true" : "false", correction);
                ids[n] = oracle_add(o, redop_name[op], args, 1, &x, gout);
                snprintf(labels[n], sizeof labels[n], "%s%s %s dims=%s%s%s", redop_name[op],
                         (op == R_VAR || op == R_STD) ? (correction ? "(c=1)" : "(c=0)") : "", shape_str(c->shape),
                         dj, c->keepdim ? " keepdim" : "", c->noncontig ? " (strided)" : "");
                outs[n] = y;
                ins[n] = x;
                n++;
            }
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n; i++) {
        expect_close(outs[i], oracle_output(o, ids[i], 0), 1e-5, labels[i]);
        expect_close(ins[i]->grad, oracle_grad(o, ids[i], 0), 1e-5, "  grad");
    }
    oracle_free(o);
    scope_end();
}

typedef struct {
    Shape shape;
    bool noncontig;
    int dim;
    bool keepdim;
} DimCase;

static const DimCase dim_cases[] = {
    {SHAPE(7), false, 0, false},         {SHAPE(5, 6), false, 1, false},
    {SHAPE(5, 6), false, 0, true},       {SHAPE(5, 6), true, -1, true},
    {SHAPE(5, 6), true, 0, false},       {SHAPE(2, 3, 4, 5), false, 1, true},
    {SHAPE(2, 3, 4, 5), true, -2, false}, {SHAPE(2, 3, 4, 5), false, -1, false},
    {SHAPE(2, 300000), false, 1, false}, /* long rows: chunked scan */
    {SHAPE(200000, 3), false, 0, true}, /* rows compared at once, chunked */
};
#define N_DIM_CASES (int)(sizeof dim_cases / sizeof dim_cases[0])

static void test_max_min_dim_against_torch(void **state)
{
    enum { MAX_RUNS = N_DIM_CASES * 2 };
    scope_begin();
    Oracle *o = oracle_new("maxdim");
    Tensor *vals[MAX_RUNS], *idxs[MAX_RUNS], *args_[MAX_RUNS], *ins[MAX_RUNS];
    int ids[MAX_RUNS], aids[MAX_RUNS], n = 0;
    char labels[MAX_RUNS][96];
    for (int is_max = 0; is_max < 2; is_max++)
        for (int k = 0; k < N_DIM_CASES; k++) {
            const DimCase *c = &dim_cases[k];
            Tensor *x = c->noncontig ? noncontig_leaf(c->shape, &gen) : rand_leaf(c->shape, &gen);
            Tensor *idx = NULL;
            Tensor *v = is_max ? t_max_dim(x, c->dim, c->keepdim, &idx) : t_min_dim(x, c->dim, c->keepdim, &idx);
            REQUIRE_OK(v);
            REQUIRE_OK(idx);
            assert_int_equal(idx->dtype, DT_I64);
            assert_true(shape_equal(v->shape, idx->shape));
            assert_string_equal(v->grad_fn->name, is_max ? "MaxBackward0" : "MinBackward0");
            assert_false(idx->requires_grad);
            Tensor *a = is_max ? t_argmax(x, c->dim, c->keepdim) : t_argmin(x, c->dim, c->keepdim);
            REQUIRE_OK(a);
            assert_null(a->grad_fn);
            Tensor *gout = tensor_randn(v->shape, &gen, CPU);
            assert_int_equal(tensor_backward(v, gout), 0);
            char args[96];
            snprintf(args, sizeof args, "{\"dim\": %d, \"keepdim\": %s}", c->dim, c->keepdim ? "true" : "false");
            ids[n] = oracle_add(o, is_max ? "max_dim" : "min_dim", args, 1, &x, gout);
            aids[n] = oracle_add(o, is_max ? "argmax" : "argmin", args, 1, &x, NULL);
            snprintf(labels[n], sizeof labels[n], "%s %s dim=%d%s%s", is_max ? "max" : "min", shape_str(c->shape),
                     c->dim, c->keepdim ? " keepdim" : "", c->noncontig ? " (strided)" : "");
            vals[n] = v;
            idxs[n] = idx;
            args_[n] = a;
            ins[n] = x;
            n++;
        }
    /* argmax over the flattened tensor */
    Tensor *flat_in[2] = {rand_leaf(SHAPE(2, 3, 4, 5), &gen), noncontig_leaf(SHAPE(2, 3, 4, 5), &gen)};
    Tensor *flat_out[2];
    int flat_ids[2];
    for (int i = 0; i < 2; i++) {
        flat_out[i] = t_argmax_all(flat_in[i]);
        REQUIRE_OK(flat_out[i]);
        assert_int_equal(flat_out[i]->shape.ndim, 0);
        flat_ids[i] = oracle_add(o, "argmax_all", NULL, 1, &flat_in[i], NULL);
    }
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n; i++) {
        expect_close(vals[i], oracle_output(o, ids[i], 0), 0, labels[i]);
        expect_equal(idxs[i], oracle_output(o, ids[i], 1), "  indices");
        expect_equal(args_[i], oracle_output(o, aids[i], 0), i < N_DIM_CASES ? "  argmin" : "  argmax");
        expect_close(ins[i]->grad, oracle_grad(o, ids[i], 0), 0, "  grad");
    }
    expect_equal(flat_out[0], oracle_output(o, flat_ids[0], 0), "argmax_all [2, 3, 4, 5]");
    expect_equal(flat_out[1], oracle_output(o, flat_ids[1], 0), "argmax_all [2, 3, 4, 5] (strided)");
    oracle_free(o);
    scope_end();
}

/* Ties (amax shares the gradient, max picks the first) and NaN (propagates,
 * and is what max/argmax select), checked against PyTorch. */
static void test_ties_and_nan_against_torch(void **state)
{
    scope_begin();
    const float tied[] = {1, 3, 3, 0, 2, 2, 2, 2, -1, 5, -1, 5, 0, -2, 7, 7};
    const float nans[] = {1, NAN, 2, NAN, 0, NAN, -1, 4, 4};
    Oracle *o = oracle_new("ties");
    Tensor *outs[16], *ins[16];
    int ids[16], outk[16], n = 0;
    const char *labels[16];
    bool with_grad[16];
#define ADD_CASE(label_, y_, x_, op_, args_, grad_, k_)                                                   \
    do {                                                                                                  \
        REQUIRE_OK(y_);                                                                                   \
        Tensor *gout_ = NULL;                                                                             \
        if (grad_) {                                                                                      \
            gout_ = tensor_randn((y_)->shape, &gen, CPU);                                                 \
            assert_int_equal(tensor_backward(y_, gout_), 0);                                              \
        }                                                                                                 \
        ids[n] = oracle_add(o, op_, args_, 1, &(x_), gout_);                                              \
        outs[n] = y_;                                                                                     \
        ins[n] = x_;                                                                                      \
        outk[n] = k_;                                                                                     \
        with_grad[n] = grad_;                                                                             \
        labels[n++] = label_;                                                                             \
    } while (0)
    for (int is_max = 0; is_max < 2; is_max++) {
        Tensor *x = tensor_set_requires_grad(tensor_from_data(tied, SHAPE(4, 4), DT_F32, CPU), true);
        Tensor *y = is_max ? t_amax(x, (int[]){1}, 1, false) : t_amin(x, (int[]){-1}, 1, true);
        ADD_CASE(is_max ? "amax ties dim 1" : "amin ties dim -1 keepdim", y, x, is_max ? "amax" : "amin",
                 is_max ? "{\"dims\": [1], \"keepdim\": false}" : "{\"dims\": [-1], \"keepdim\": true}", true, 0);
        Tensor *xa = tensor_set_requires_grad(tensor_from_data(tied, SHAPE(4, 4), DT_F32, CPU), true);
        Tensor *ya = is_max ? t_amax(xa, NULL, 0, false) : t_amin(xa, NULL, 0, false);
        ADD_CASE(is_max ? "amax ties all dims" : "amin ties all dims", ya, xa, is_max ? "amax" : "amin",
                 "{\"keepdim\": false}", true, 0);
        Tensor *xm = tensor_set_requires_grad(tensor_from_data(tied, SHAPE(4, 4), DT_F32, CPU), true);
        Tensor *idx;
        Tensor *ym = is_max ? t_max_dim(xm, 1, false, &idx) : t_min_dim(xm, 1, false, &idx);
        ADD_CASE(is_max ? "max ties dim 1" : "min ties dim 1", ym, xm, is_max ? "max_dim" : "min_dim",
                 "{\"dim\": 1, \"keepdim\": false}", true, 0);
        ADD_CASE("  indices (first occurrence)", idx, xm, is_max ? "max_dim" : "min_dim",
                 "{\"dim\": 1, \"keepdim\": false}", false, 1);
        Tensor *xn = tensor_from_data(nans, SHAPE(3, 3), DT_F32, CPU);
        Tensor *yn = is_max ? t_amax(xn, (int[]){1}, 1, false) : t_amin(xn, (int[]){0}, 1, false);
        ADD_CASE(is_max ? "amax NaN dim 1" : "amin NaN dim 0", yn, xn, is_max ? "amax" : "amin",
                 is_max ? "{\"dims\": [1], \"keepdim\": false}" : "{\"dims\": [0], \"keepdim\": false}", false, 0);
        Tensor *an = is_max ? t_argmax(xn, 1, false) : t_argmin(xn, 0, false);
        ADD_CASE(is_max ? "argmax NaN dim 1" : "argmin NaN dim 0", an, xn, is_max ? "argmax" : "argmin",
                 is_max ? "{\"dim\": 1, \"keepdim\": false}" : "{\"dim\": 0, \"keepdim\": false}", false, 0);
    }
#undef ADD_CASE
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n; i++) {
        if (outs[i]->dtype == DT_I64) expect_equal(outs[i], oracle_output(o, ids[i], outk[i]), labels[i]);
        else expect_close(outs[i], oracle_output(o, ids[i], outk[i]), 0, labels[i]);
        if (with_grad[i]) expect_close(ins[i]->grad, oracle_grad(o, ids[i], 0), 1e-7, "  grad");
    }
    oracle_free(o);
    scope_end();
}

/* NaN and ties reaching every vectorised loop: narrow rows, wide rows,
 * contiguous runs, the argmax scans; compared with PyTorch. Ties come from
 * rounding: values in {-3, ..., 3} repeat many times in every row. */
static void test_nan_and_ties_in_fast_paths(void **state)
{
    static const struct {
        Shape shape;
        int64_t nan_at[2];
        int dim;
    } cases[] = {
        {SHAPE(100, 3), {151, 299}, 0},  /* narrow rows side by side, and their remainder */
        {SHAPE(100, 70), {37 * 70 + 5, 99 * 70}, 0}, /* wide rows */
        {SHAPE(3, 40), {60, 119}, 1},    /* contiguous runs */
        {SHAPE(2, 3000), {2999, 4000}, 1},
        {SHAPE(9, 5), {7, 13}, 1},        /* short rows, four at a time */
        {SHAPE(2, 300000), {299999, 400000}, 1}, /* chunked long rows */
        {SHAPE(200000, 3), {450001, 599999}, 0}, /* chunked rows compared at once */
    };
    enum { N_CASES = sizeof cases / sizeof cases[0], MAX_RUNS = N_CASES * 2 * 4 };
    scope_begin();
    Oracle *o = oracle_new("nan_ties");
    Tensor *outs[MAX_RUNS];
    int ids[MAX_RUNS], n = 0;
    char labels[MAX_RUNS][64];
    for (int c = 0; c < N_CASES; c++)
        for (int ties = 0; ties < 2; ties++) {
            Tensor *x = tensor_randn(cases[c].shape, &gen, CPU);
            for (int64_t i = 0; i < tensor_numel(x); i++) {
                float *v = &tensor_f32(x)[i];
                if (ties) *v = fminf(fmaxf(roundf(*v * 2), -3), 3);
            }
            if (!ties)
                for (int k = 0; k < 2; k++) tensor_f32(x)[cases[c].nan_at[k]] = NAN;
            char args[96], argsd[96];
            snprintf(args, sizeof args, "{\"dims\": [%d], \"keepdim\": false}", cases[c].dim);
            snprintf(argsd, sizeof argsd, "{\"dim\": %d, \"keepdim\": false}", cases[c].dim);
            const char *ops[] = {"amax", "amin", "argmax", "argmin"};
            for (int k = 0; k < 4; k++) {
                const int *d = &cases[c].dim;
                outs[n] = k == 0 ? t_amax(x, d, 1, false)
                        : k == 1 ? t_amin(x, d, 1, false)
                        : k == 2 ? t_argmax(x, *d, false)
                                 : t_argmin(x, *d, false);
                REQUIRE_OK(outs[n]);
                ids[n] = oracle_add(o, ops[k], k < 2 ? args : argsd, 1, &x, NULL);
                snprintf(labels[n], sizeof labels[n], "%s %s %s dim %d", ops[k], ties ? "ties" : "NaN",
                         shape_str(cases[c].shape), *d);
                n++;
            }
        }
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n; i++) {
        if (outs[i]->dtype == DT_I64) expect_equal(outs[i], oracle_output(o, ids[i], 0), labels[i]);
        else expect_close(outs[i], oracle_output(o, ids[i], 0), 0, labels[i]);
    }
    oracle_free(o);
    scope_end();
}

/* NaN, +Inf and -Inf at random places (a few each, so some outputs see
 * none, some one kind, some several): forward and backward of every
 * reduction over the shapes of reduce_cases (the big ones too, which take
 * the chunked and vectorised paths), against PyTorch. The kinds vary with
 * the case: +-Inf only (sum gives NaN where both meet), +Inf only, and NaN
 * with +-Inf. */
static void test_nonfinite_reductions_against_torch(void **state)
{
    enum { MAX_RUNS = 8 * N_REDUCE_CASES };
    static const int kinds[3][3] = {{0, 2, 2}, {0, 3, 0}, {2, 2, 2}}; /* NaN, +Inf, -Inf per input */
    scope_begin();
    Oracle *o = oracle_new("reduce_nonfinite");
    Tensor *outs[MAX_RUNS], *ins[MAX_RUNS];
    int ids[MAX_RUNS], n = 0;
    char labels[MAX_RUNS][112];
    for (int k = 0; k < N_REDUCE_CASES; k++) {
        const ReduceCase *c = &reduce_cases[k];
        const int *kind = kinds[k % 3];
        for (int op = 0; op < N_REDOPS; op++)
            for (int correction = 0; correction < ((op == R_VAR || op == R_STD) ? 2 : 1); correction++) {
                /* the big shapes (sent to PyTorch whole) for one op of each kernel */
                bool big = shape_numel(c->shape) > 100000;
                if (big && !(op == R_SUM || op == R_AMAX || (op == R_VAR && correction == 1))) continue;
                Tensor *x = case_input(c);
                sprinkle_nonfinite(x, kind[0], kind[1], kind[2], &gen);
                const int *dims = c->nd ? c->dims : NULL;
                Tensor *y = apply_reduce((RedOp)op, x, dims, c->nd, c->keepdim, correction);
                REQUIRE_OK(y);
                Tensor *gout = tensor_randn(y->shape, &gen, CPU);
                assert_int_equal(tensor_backward(y, gout), 0);
                char dj[64], args[160];
                dims_json(c, dj, sizeof dj);
                snprintf(args, sizeof args, "{\"dims\": %s, \"keepdim\": %s, \"correction\": %d}", dj,
                         c->keepdim ? "true" : "false", correction);
                ids[n] = oracle_add(o, redop_name[op], args, 1, &x, gout);
                snprintf(labels[n], sizeof labels[n], "%s%s %s dims=%s%s NaN/+Inf/-Inf %d/%d/%d", redop_name[op],
                         (op == R_VAR || op == R_STD) ? (correction ? "(c=1)" : "(c=0)") : "", shape_str(c->shape),
                         dj, c->noncontig ? " (strided)" : "", kind[0], kind[1], kind[2]);
                outs[n] = y;
                ins[n] = x;
                n++;
            }
    }
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n; i++) {
        expect_close_nonfinite(outs[i], oracle_output(o, ids[i], 0), 1e-5, labels[i]);
        expect_close_nonfinite(ins[i]->grad, oracle_grad(o, ids[i], 0), 1e-5, "  grad");
    }
    oracle_free(o);
    scope_end();
}

/* max/min along a dim, argmax/argmin and argmax over all elements with
 * NaN (the first NaN is selected and gets the gradient), +Inf and -Inf
 * (rows of only -Inf included), against PyTorch. */
static void test_nonfinite_max_min_dim_against_torch(void **state)
{
    enum { MAX_RUNS = N_DIM_CASES * 2 };
    scope_begin();
    Oracle *o = oracle_new("maxdim_nonfinite");
    Tensor *vals[MAX_RUNS], *idxs[MAX_RUNS], *args_[MAX_RUNS], *ins[MAX_RUNS];
    int ids[MAX_RUNS], aids[MAX_RUNS], n = 0;
    char labels[MAX_RUNS][96];
    for (int is_max = 0; is_max < 2; is_max++)
        for (int k = 0; k < N_DIM_CASES; k++) {
            const DimCase *c = &dim_cases[k];
            Tensor *x = c->noncontig ? noncontig_leaf(c->shape, &gen) : rand_leaf(c->shape, &gen);
            if (k == 1) put_nonfinite(x, "------+.-n.n"); /* [5, 6]: a row of -Inf, NaN after and before +Inf */
            else sprinkle_nonfinite(x, 3, 3, 3, &gen);
            Tensor *idx = NULL;
            Tensor *v = is_max ? t_max_dim(x, c->dim, c->keepdim, &idx) : t_min_dim(x, c->dim, c->keepdim, &idx);
            REQUIRE_OK(v);
            Tensor *a = is_max ? t_argmax(x, c->dim, c->keepdim) : t_argmin(x, c->dim, c->keepdim);
            REQUIRE_OK(a);
            Tensor *gout = tensor_randn(v->shape, &gen, CPU);
            assert_int_equal(tensor_backward(v, gout), 0);
            char args[96];
            snprintf(args, sizeof args, "{\"dim\": %d, \"keepdim\": %s}", c->dim, c->keepdim ? "true" : "false");
            ids[n] = oracle_add(o, is_max ? "max_dim" : "min_dim", args, 1, &x, gout);
            aids[n] = oracle_add(o, is_max ? "argmax" : "argmin", args, 1, &x, NULL);
            snprintf(labels[n], sizeof labels[n], "%s %s dim=%d%s non-finite", is_max ? "max" : "min",
                     shape_str(c->shape), c->dim, c->noncontig ? " (strided)" : "");
            vals[n] = v;
            idxs[n] = idx;
            args_[n] = a;
            ins[n] = x;
            n++;
        }
    Tensor *flat_in[3] = {rand_leaf(SHAPE(4, 6), &gen), noncontig_leaf(SHAPE(4, 6), &gen), rand_leaf(SHAPE(5), &gen)};
    put_nonfinite(flat_in[0], "..+..n...n.");
    put_nonfinite(flat_in[1], "..+....-");
    put_nonfinite(flat_in[2], "-");
    Tensor *flat_out[3];
    int flat_ids[3];
    for (int i = 0; i < 3; i++) {
        flat_out[i] = t_argmax_all(flat_in[i]);
        REQUIRE_OK(flat_out[i]);
        flat_ids[i] = oracle_add(o, "argmax_all", NULL, 1, &flat_in[i], NULL);
    }
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n; i++) {
        expect_close_nonfinite(vals[i], oracle_output(o, ids[i], 0), 0, labels[i]);
        expect_equal(idxs[i], oracle_output(o, ids[i], 1), "  indices");
        expect_equal(args_[i], oracle_output(o, aids[i], 0), i < N_DIM_CASES ? "  argmin" : "  argmax");
        expect_close_nonfinite(ins[i]->grad, oracle_grad(o, ids[i], 0), 0, "  grad");
    }
    expect_equal(flat_out[0], oracle_output(o, flat_ids[0], 0), "argmax_all [4, 6] NaN and +Inf");
    expect_equal(flat_out[1], oracle_output(o, flat_ids[1], 0), "argmax_all [4, 6] +-Inf (strided)");
    expect_equal(flat_out[2], oracle_output(o, flat_ids[2], 0), "argmax_all [5] all -Inf");
    oracle_free(o);
    scope_end();
}

/* A leaf whose values are distinct and at least 0.1 apart, so max/min pick
 * the same element when finite differences nudge it by 1e-3. */
static Tensor *distinct_leaf(Shape s, bool noncontig)
{
    Tensor *x = noncontig ? noncontig_leaf(s, &gen) : rand_leaf(s, &gen);
    int64_t n = shape_numel(s);
    Tensor *vals = t_mul_scalar(tensor_to_dtype(tensor_randperm(n, &gen), DT_F32), 0.1);
    assert_int_equal(tensor_copy_(x, t_reshape(t_add_scalar(vals, -0.05 * (double)n), s)), 0);
    return x;
}

typedef struct {
    RedOp op;
    int dims[4];
    int nd;
    bool keepdim;
    int correction;
} FdReduce;

static Tensor *fd_reduce(Tensor **in, void *ctx)
{
    const FdReduce *c = ctx;
    return apply_reduce(c->op, in[0], c->nd ? c->dims : NULL, c->nd, c->keepdim, c->correction);
}

static void test_reductions_finite_differences(void **state)
{
    const FdReduce shapes_dims[] = {
        {0, {1}, 1, false, 1},
        {0, {0, -1}, 2, true, 0},
        {0, {0}, 0, false, 1},
    };
    const Shape shapes[] = {SHAPE(3, 4), SHAPE(2, 3, 4), SHAPE(3, 5)};
    for (int op = 0; op < N_REDOPS; op++)
        for (int k = 0; k < 3; k++) {
            scope_begin();
            FdReduce c = shapes_dims[k];
            c.op = (RedOp)op;
            Tensor *x = (op == R_AMAX || op == R_AMIN) ? distinct_leaf(shapes[k], k == 1) :
                                                          (k == 1 ? noncontig_leaf(shapes[k], &gen) :
                                                                    rand_leaf(shapes[k], &gen));
            char label[64];
            snprintf(label, sizeof label, "fd %s %s nd=%d", redop_name[op], shape_str(shapes[k]), c.nd);
            double err = fd_gradcheck(fd_reduce, &c, &x, 1, 1e-3, 64, label);
            assert_true(err < 1e-2);
            scope_end();
        }
}

typedef struct {
    bool is_max;
    int dim;
    bool keepdim;
} FdDim;

static Tensor *fd_max_dim(Tensor **in, void *ctx)
{
    const FdDim *c = ctx;
    return c->is_max ? t_max_dim(in[0], c->dim, c->keepdim, NULL) : t_min_dim(in[0], c->dim, c->keepdim, NULL);
}

static void test_max_dim_finite_differences(void **state)
{
    const FdDim cases[] = {{true, 1, false}, {true, -3, true}, {false, 0, false}, {false, -1, true}};
    for (int k = 0; k < 4; k++) {
        scope_begin();
        Tensor *x = distinct_leaf(SHAPE(3, 4, 2), k % 2 == 1);
        char label[64];
        snprintf(label, sizeof label, "fd %s dim=%d", cases[k].is_max ? "max" : "min", cases[k].dim);
        double err = fd_gradcheck(fd_max_dim, (void *)&cases[k], &x, 1, 1e-3, 64, label);
        assert_true(err < 1e-2);
        scope_end();
    }
}

/* 0-dim and empty inputs, where PyTorch's results are known exactly. */
static void test_scalar_and_empty_inputs(void **state)
{
    scope_begin();
    Tensor *s = tensor_scalar(2.5, DT_F32, CPU);
    Tensor *y = t_sum(s, (int[]){0}, 1, true);
    REQUIRE_OK(y);
    assert_int_equal(y->shape.ndim, 0);
    assert_float_equal(tensor_item(y), 2.5, 0);
    Tensor *idx;
    Tensor *m = t_max_dim(s, -1, false, &idx);
    REQUIRE_OK(m);
    assert_int_equal(m->shape.ndim, 0);
    assert_float_equal(tensor_item(m), 2.5, 0);
    assert_float_equal(tensor_item(idx), 0, 0);
    assert_float_equal(tensor_item(t_argmax_all(s)), 0, 0);

    Tensor *e = tensor_zeros(SHAPE(0, 3), DT_F32, CPU);
    Tensor *es = t_sum(e, (int[]){0}, 1, false);
    Tensor *em = t_mean(e, (int[]){0}, 1, false);
    REQUIRE_OK(es);
    REQUIRE_OK(em);
    assert_true(shape_equal(es->shape, SHAPE(3)));
    for (int j = 0; j < 3; j++) {
        assert_float_equal(tensor_f32(es)[j], 0, 0);
        assert_true(isnan(tensor_f32(em)[j])); /* torch.zeros(0, 3).mean(0) is nan */
    }
    Tensor *ek = t_sum(e, (int[]){1}, 1, true);
    REQUIRE_OK(ek);
    assert_true(shape_equal(ek->shape, SHAPE(0, 1)));
    /* variance of one element with the unbiased correction: 0/0 */
    assert_true(isnan(tensor_item(t_var(tensor_ones(SHAPE(1), DT_F32, CPU), NULL, 0, 1, false))));
    scope_end();
}

static void test_errors(void **state)
{
    scope_begin();
    engine_clear_error();
    Tensor *x = tensor_zeros(SHAPE(2, 3), DT_F32, CPU);
    expect_error(t_sum(x, (int[]){2}, 1, false), "out of range", "[2, 3]");
    expect_error(t_mean(x, (int[]){-3}, 1, false), "out of range", "[2, 3]");
    expect_error(t_var(x, (int[]){0, -2}, 2, 1, false), "appears multiple times", "[2, 3]");
    expect_error(t_amax(x, (int[]){1, 1}, 2, true), "appears multiple times", "amax");
    expect_error(t_max_dim(x, 2, false, NULL), "out of range", "[2, 3]");
    expect_error(t_argmin(x, -3, false), "out of range", "argmin");
    Tensor *xi = tensor_zeros(SHAPE(2, 3), DT_I64, CPU);
    expect_error(t_mean(xi, NULL, 0, false), "int64", "[2, 3]");
    expect_error(t_std(xi, NULL, 0, 1, false), "int64", "std");
    expect_error(t_argmax(tensor_zeros(SHAPE(4), DT_U8, CPU), 0, false), "uint8", "argmax");
    Tensor *e = tensor_zeros(SHAPE(2, 0), DT_F32, CPU);
    expect_error(t_amax(e, (int[]){1}, 1, false), "non-zero size", "[2, 0]");
    Tensor *idx = (Tensor *)1;
    expect_error(t_max_dim(e, -1, false, &idx), "non-zero size", "[2, 0]");
    assert_null(idx);
    expect_error(t_argmax_all(e), "numel() == 0", "[2, 0]");
    /* a NULL input gives NULL without a message */
    assert_null(t_sum(NULL, NULL, 0, false));
    assert_null(t_argmax(NULL, 0, false));
    assert_false(engine_has_error());
    scope_end();
}

int main(void)
{
    generator_seed(&gen, 7);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reductions_against_torch),
        cmocka_unit_test(test_max_min_dim_against_torch),
        cmocka_unit_test(test_ties_and_nan_against_torch),
        cmocka_unit_test(test_nan_and_ties_in_fast_paths),
        cmocka_unit_test(test_nonfinite_reductions_against_torch),
        cmocka_unit_test(test_nonfinite_max_min_dim_against_torch),
        cmocka_unit_test(test_reductions_finite_differences),
        cmocka_unit_test(test_max_dim_finite_differences),
        cmocka_unit_test(test_scalar_and_empty_inputs),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
