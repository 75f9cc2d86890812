/* Indexing ops (gather, scatter_add, index_select, embedding, pad, one_hot):
 * forward and backward against PyTorch with repeated indices, strided
 * inputs and NaN and +-Inf values, finite differences, deterministic
 * accumulation, and error paths. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "tests/support/check.h"
#include "tests/support/oracle.h"

static Generator gen;

/* One op run checked against the oracle. */
typedef struct {
    Tensor *out;
    Tensor *ins[3];
    int n_in;
    int id;
    double tol; /* forward tolerance: 0 for ops that only move elements */
    char label[112];
} Case;

/* Runs backward with a random output gradient when out requires grad and
 * queues the same case for torch. */
static void add_case(Oracle *o, Case *c, const char *op, const char *args, Tensor *out, int n, Tensor *const *ins,
                     double tol, const char *label)
{
    REQUIRE_OK(out);
    Tensor *gout = NULL;
    if (out->requires_grad) {
        gout = tensor_randn(out->shape, &gen, CPU);
        assert_int_equal(tensor_backward(out, gout), 0);
    }
    c->out = out;
    c->n_in = n;
    for (int i = 0; i < n; i++) c->ins[i] = ins[i];
    c->id = oracle_add(o, op, args, n, ins, gout);
    c->tol = tol;
    snprintf(c->label, sizeof c->label, "%s", label);
}

static void check_cases(Oracle *o, Case *cases, int n)
{
    for (int k = 0; k < n; k++) {
        Case *c = &cases[k];
        if (c->out->dtype == DT_F32) expect_close(c->out, oracle_output(o, c->id, 0), c->tol, c->label);
        else expect_equal(c->out, oracle_output(o, c->id, 0), c->label);
        for (int i = 0; i < c->n_in; i++) {
            if (!c->ins[i]->requires_grad) continue;
            char label[48];
            snprintf(label, sizeof label, "  grad input %d", i);
            /* repeated indices sum several gradients: f32 rounding differs with the order */
            expect_close(c->ins[i]->grad, oracle_grad(o, c->id, i), 1e-5, label);
        }
    }
}

/* Random indices in [0, high); the strided version is a transposed (or
 * every-other-element) view. */
static Tensor *rand_index(Shape shape, int64_t high, bool contiguous)
{
    if (contiguous) return tensor_randint(0, high, shape, &gen, CPU);
    if (shape.ndim == 1) {
        Tensor *base = tensor_randint(0, high, SHAPE(2 * shape.d[0]), &gen, CPU);
        return t_slice(base, 0, 0, 2 * shape.d[0], 2);
    }
    Shape swapped = shape;
    swapped.d[shape.ndim - 1] = shape.d[shape.ndim - 2];
    swapped.d[shape.ndim - 2] = shape.d[shape.ndim - 1];
    Tensor *v = t_transpose(tensor_randint(0, high, swapped, &gen, CPU), -1, -2);
    assert_false(tensor_is_contiguous(v));
    return v;
}

static Tensor *leaf(Shape shape, bool contiguous)
{
    Tensor *t = contiguous ? rand_leaf(shape, &gen) : noncontig_leaf(shape, &gen);
    if (!contiguous) assert_false(tensor_is_contiguous(t));
    return t;
}

static void label_of(char *buf, size_t n, const char *op, Tensor *t, int dim, Tensor *index)
{
    snprintf(buf, n, "%s %s%s dim %d index %s%s", op, shape_str(t->shape), tensor_is_contiguous(t) ? "" : " (strided)",
             dim, shape_str(index->shape), tensor_is_contiguous(index) ? "" : " (strided)");
}

static void test_gather_against_torch(void **state)
{
    /* index sizes beyond the source's along dim force repeated indices */
    static const struct {
        Shape t, index;
        int dim;
        bool t_contig, index_contig;
    } specs[] = {
        {SHAPE(4, 5), SHAPE(4, 7), 1, true, true},
        {SHAPE(4, 5), SHAPE(9, 3), 0, true, true},
        {SHAPE(3, 4, 5), SHAPE(3, 4, 8), -1, false, true},
        {SHAPE(3, 4, 5), SHAPE(2, 6, 5), 1, true, false},
        {SHAPE(3, 4, 5), SHAPE(3, 3, 6), 2, false, false},
        {SHAPE(6), SHAPE(10), 0, true, true},
    };
    enum { N = sizeof specs / sizeof specs[0] };
    scope_begin();
    Oracle *o = oracle_new("gather");
    Case cases[N + 1];
    for (int k = 0; k < N; k++) {
        Tensor *t = leaf(specs[k].t, specs[k].t_contig);
        int d = specs[k].dim < 0 ? specs[k].dim + specs[k].t.ndim : specs[k].dim;
        Tensor *index = rand_index(specs[k].index, specs[k].t.d[d], specs[k].index_contig);
        char args[32], label[112];
        snprintf(args, sizeof args, "{\"dim\": %d}", specs[k].dim);
        label_of(label, sizeof label, "gather", t, specs[k].dim, index);
        add_case(o, &cases[k], "gather", args, t_gather(t, specs[k].dim, index), 2, (Tensor *[]){t, index}, 0, label);
    }
    /* any dtype gathers: i64 values */
    Tensor *ti = tensor_randint(-50, 50, SHAPE(5, 4), &gen, CPU), *ii = rand_index(SHAPE(5, 6), 4, true);
    add_case(o, &cases[N], "gather", "{\"dim\": 1}", t_gather(ti, 1, ii), 2, (Tensor *[]){ti, ii}, 0,
             "gather int64 [5, 4] dim 1 index [5, 6]");
    ORACLE_RUN_OR_SKIP(o);
    check_cases(o, cases, N + 1);
    oracle_free(o);
    scope_end();
}

static void test_scatter_add_against_torch(void **state)
{
    static const struct {
        Shape t, index;
        int dim;
        bool contig;
    } specs[] = {
        {SHAPE(4, 5), SHAPE(4, 3), 1, true},
        {SHAPE(5, 4), SHAPE(12, 4), 0, true},    /* many repeats per column */
        {SHAPE(5, 4), SHAPE(12, 4), 0, false},
        {SHAPE(3, 4, 5), SHAPE(2, 9, 5), 1, false},
        {SHAPE(3, 4, 5), SHAPE(3, 4, 7), -1, true},
        {SHAPE(7), SHAPE(20), 0, true},
    };
    enum { N = sizeof specs / sizeof specs[0] };
    scope_begin();
    Oracle *o = oracle_new("scatter_add");
    Case cases[N];
    for (int k = 0; k < N; k++) {
        Tensor *t = leaf(specs[k].t, specs[k].contig);
        Tensor *src = leaf(specs[k].index, specs[k].contig);
        int d = specs[k].dim < 0 ? specs[k].dim + specs[k].t.ndim : specs[k].dim;
        Tensor *index = rand_index(specs[k].index, specs[k].t.d[d], k % 2 == 0);
        char args[32], label[112];
        snprintf(args, sizeof args, "{\"dim\": %d}", specs[k].dim);
        label_of(label, sizeof label, "scatter_add", t, specs[k].dim, index);
        add_case(o, &cases[k], "scatter_add", args, t_scatter_add(t, specs[k].dim, index, src), 3,
                 (Tensor *[]){t, index, src}, 1e-5, label);
    }
    ORACLE_RUN_OR_SKIP(o);
    check_cases(o, cases, N);
    oracle_free(o);
    scope_end();
}

static void test_index_select_against_torch(void **state)
{
    static const struct {
        Shape t;
        int dim;
        int64_t n; /* 0: a 0-dim index */
        bool t_contig, index_contig;
    } specs[] = {
        {SHAPE(6, 4), 0, 9, true, true},   {SHAPE(6, 4), 1, 7, false, true}, {SHAPE(3, 7, 2), 1, 12, false, false},
        {SHAPE(3, 7, 5), -1, 8, true, false}, {SHAPE(5), 0, 11, true, true}, {SHAPE(3, 4), 1, 0, true, true},
    };
    enum { N = sizeof specs / sizeof specs[0] };
    scope_begin();
    Oracle *o = oracle_new("index_select");
    Case cases[N];
    for (int k = 0; k < N; k++) {
        Tensor *t = leaf(specs[k].t, specs[k].t_contig);
        int d = specs[k].dim < 0 ? specs[k].dim + specs[k].t.ndim : specs[k].dim;
        Tensor *index = specs[k].n ? rand_index(SHAPE(specs[k].n), specs[k].t.d[d], specs[k].index_contig)
                                   : tensor_scalar(2, DT_I64, CPU);
        char args[32], label[112];
        snprintf(args, sizeof args, "{\"dim\": %d}", specs[k].dim);
        label_of(label, sizeof label, "index_select", t, specs[k].dim, index);
        add_case(o, &cases[k], "index_select", args, t_index_select(t, specs[k].dim, index), 2,
                 (Tensor *[]){t, index}, 0, label);
    }
    ORACLE_RUN_OR_SKIP(o);
    check_cases(o, cases, N);
    oracle_free(o);
    scope_end();
}

static void test_embedding_against_torch(void **state)
{
    /* index 2 repeats (accumulation) and is the padding row in some cases */
    static const int64_t idx15[15] = {2, 0, 9, 2, 5, 5, 1, 2, 7, 3, 9, 2, 0, 4, 8};
    scope_begin();
    Oracle *o = oracle_new("embedding");
    Case cases[6];
    int n = 0;
    for (int padding = 0; padding < 2; padding++)
        for (int layout = 0; layout < 3; layout++) {
            Tensor *weight = layout == 1 ? noncontig_leaf(SHAPE(10, 4), &gen) : rand_leaf(SHAPE(10, 6), &gen);
            Tensor *indices = tensor_from_data(idx15, SHAPE(3, 5), DT_I64, CPU);
            if (layout == 1) indices = t_transpose(indices, 0, 1);            /* [5, 3], strided */
            if (layout == 2) indices = t_reshape(tensor_randint(0, 10, SHAPE(24), &gen, CPU), SHAPE(2, 3, 4));
            int64_t padding_idx = padding ? 2 : -1;
            char args[48], label[112];
            snprintf(args, sizeof args, padding ? "{\"padding_idx\": 2}" : "{}");
            snprintf(label, sizeof label, "embedding %s%s weight %s%s%s", shape_str(indices->shape),
                     tensor_is_contiguous(indices) ? "" : " (strided)", shape_str(weight->shape),
                     tensor_is_contiguous(weight) ? "" : " (strided)", padding ? " padding_idx 2" : "");
            add_case(o, &cases[n++], "embedding", args, f_embedding(indices, weight, padding_idx), 2,
                     (Tensor *[]){indices, weight}, 0, label);
        }
    ORACLE_RUN_OR_SKIP(o);
    check_cases(o, cases, n);
    oracle_free(o);
    scope_end();
}

static void test_embedding_padding_row_and_accumulation(void **state)
{
    scope_begin();
    static const int64_t idx[6] = {1, 3, 1, 0, 3, 1};
    Tensor *weight = rand_leaf(SHAPE(4, 3), &gen);
    Tensor *indices = tensor_from_data(idx, SHAPE(6), DT_I64, CPU);
    Tensor *out = f_embedding(indices, weight, 3);
    REQUIRE_OK(out);
    assert_int_equal(tensor_backward(t_sum(out, NULL, 0, false), NULL), 0);
    float g[12];
    assert_int_equal(tensor_copy_to_buffer(weight->grad, g), 0);
    /* rows: 0 used once, 1 three times, 2 never, 3 is padding (used twice) */
    const float expected[4] = {1, 3, 0, 0};
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 3; c++) assert_true(g[r * 3 + c] == expected[r]);
    /* the padding row is still looked up in the forward pass */
    float w[12], o[18];
    tensor_copy_to_buffer(weight, w);
    tensor_copy_to_buffer(out, o);
    for (int c = 0; c < 3; c++) assert_true(o[1 * 3 + c] == w[3 * 3 + c]);
    scope_end();
}

static void test_pad_against_torch(void **state)
{
    static const struct {
        Shape x;
        int n_pads;
        int64_t pads[6];
        double value;
        bool contig;
    } specs[] = {
        {SHAPE(5), 2, {2, 3}, 0, true},
        {SHAPE(5), 2, {-5, 2}, 1.5, true}, /* everything cropped, then padded */
        {SHAPE(3, 4), 2, {1, -2}, -1, false},
        {SHAPE(3, 4), 4, {1, 2, 3, 0}, 0.25, true},
        {SHAPE(3, 4), 4, {-1, 2, 2, -2}, 0, false},
        {SHAPE(2, 3, 4), 6, {1, 1, 0, 2, 2, 1}, 0, true},
        {SHAPE(2, 3, 4, 5), 6, {-1, 2, 1, -1, 0, 1}, 3, false},
        {SHAPE(2, 3, 4, 5), 4, {0, 0, -1, -2}, 0, true},
    };
    enum { N = sizeof specs / sizeof specs[0] };
    scope_begin();
    Oracle *o = oracle_new("pad");
    Case cases[N + 1];
    for (int k = 0; k < N; k++) {
        Tensor *x = leaf(specs[k].x, specs[k].contig);
        char args[256], label[256], list[96] = "";
        for (int i = 0; i < specs[k].n_pads; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%lld", i ? ", " : "",
                     (long long)specs[k].pads[i]);
        snprintf(args, sizeof args, "{\"pads\": [%s], \"value\": %g}", list, specs[k].value);
        snprintf(label, sizeof label, "pad %s%s (%s) value %g", shape_str(x->shape), specs[k].contig ? "" : " (strided)",
                 list, specs[k].value);
        add_case(o, &cases[k], "pad", args, f_pad(x, specs[k].pads, specs[k].n_pads, specs[k].value), 1,
                 (Tensor *[]){x}, 0, label);
    }
    Tensor *xi = tensor_randint(0, 9, SHAPE(3, 4), &gen, CPU);
    add_case(o, &cases[N], "pad", "{\"pads\": [1, -1, 2, 1], \"value\": 7}", f_pad(xi, (int64_t[]){1, -1, 2, 1}, 4, 7),
             1, (Tensor *[]){xi}, 0, "pad int64 [3, 4] (1, -1, 2, 1) value 7");
    ORACLE_RUN_OR_SKIP(o);
    check_cases(o, cases, N + 1);
    oracle_free(o);
    scope_end();
}

/* Queues case c like add_case, but with NaN, +Inf and -Inf in the output
 * gradient too, and checks nothing yet. */
static void add_nonfinite_case(Oracle *o, Case *c, const char *op, const char *args, Tensor *out, int n,
                               Tensor *const *ins, const char *label)
{
    REQUIRE_OK(out);
    Tensor *gout = tensor_randn(out->shape, &gen, CPU);
    sprinkle_nonfinite(gout, 1, 1, 1, &gen);
    assert_int_equal(tensor_backward(out, gout), 0);
    c->out = out;
    c->n_in = n;
    for (int i = 0; i < n; i++) c->ins[i] = ins[i];
    c->id = oracle_add(o, op, args, n, ins, gout);
    snprintf(c->label, sizeof c->label, "%s non-finite", label);
}

/* The index ops move NaN and +-Inf like any value, and their backward adds
 * them (+Inf and -Inf meeting at one place give NaN): gather, scatter_add,
 * index_select, embedding (a padding row of NaN gets no gradient) and pad
 * (NaN and Inf inputs, NaN and Inf pad values), against PyTorch. */
static void test_index_ops_nonfinite_against_torch(void **state)
{
    enum { N = 8 };
    static const int64_t idx[8] = {2, 0, 1, 2, 2, 4, 1, 2};
    scope_begin();
    Oracle *o = oracle_new("index_nonfinite");
    Case cases[N];
    Tensor *t = leaf(SHAPE(4, 5), true), *tg = leaf(SHAPE(3, 4, 5), false), *src = leaf(SHAPE(12, 5), true);
    Tensor *ts = leaf(SHAPE(5, 5), true), *w = leaf(SHAPE(6, 3), true), *xp = leaf(SHAPE(3, 4), false);
    Tensor *ti = leaf(SHAPE(6, 4), false), *xq = leaf(SHAPE(2, 3), true), *xr = leaf(SHAPE(2, 3), true);
    put_nonfinite(t, "n..+.-.");
    put_nonfinite(tg, "..n+..-");
    put_nonfinite(src, ".+.-n.++-");
    put_nonfinite(ts, "+...n");
    put_nonfinite(w, ".....n+..-."); /* row 1 holds NaN and +Inf and is the padding row */
    put_nonfinite(xp, "n+.-");
    put_nonfinite(ti, "-.+.n");
    put_nonfinite(xr, "..+");
    Tensor *gi = rand_index(SHAPE(4, 7), 5, true), *gi3 = rand_index(SHAPE(3, 3, 6), 5, false);
    Tensor *si = rand_index(SHAPE(12, 5), 5, true); /* many repeats: +Inf and -Inf may meet */
    Tensor *ii = tensor_from_data(idx, SHAPE(8), DT_I64, CPU);
    Tensor *ei = t_reshape(tensor_from_data(idx, SHAPE(8), DT_I64, CPU), SHAPE(2, 4));
    add_nonfinite_case(o, &cases[0], "gather", "{\"dim\": 1}", t_gather(t, 1, gi), 2, (Tensor *[]){t, gi},
                       "gather [4, 5] dim 1");
    add_nonfinite_case(o, &cases[1], "gather", "{\"dim\": 2}", t_gather(tg, 2, gi3), 2, (Tensor *[]){tg, gi3},
                       "gather [3, 4, 5] (strided) dim 2");
    add_nonfinite_case(o, &cases[2], "scatter_add", "{\"dim\": 0}", t_scatter_add(ts, 0, si, src), 3,
                       (Tensor *[]){ts, si, src}, "scatter_add [5, 5] dim 0");
    add_nonfinite_case(o, &cases[3], "index_select", "{\"dim\": 0}", t_index_select(ti, 0, ii), 2,
                       (Tensor *[]){ti, ii}, "index_select [6, 4] (strided) dim 0");
    add_nonfinite_case(o, &cases[4], "embedding", "{\"padding_idx\": 1}", f_embedding(ei, w, 1), 2,
                       (Tensor *[]){ei, w}, "embedding [2, 4] weight [6, 3] padding_idx 1");
    add_nonfinite_case(o, &cases[5], "pad", "{\"pads\": [1, -1, 2, 1], \"value\": 0.5}",
                       f_pad(xp, (int64_t[]){1, -1, 2, 1}, 4, 0.5), 1, (Tensor *[]){xp}, "pad [3, 4] (strided)");
    add_nonfinite_case(o, &cases[6], "pad", "{\"pads\": [2, 1], \"value\": \"nan\"}",
                       f_pad(xq, (int64_t[]){2, 1}, 2, NAN), 1, (Tensor *[]){xq}, "pad [2, 3] value NaN");
    add_nonfinite_case(o, &cases[7], "pad", "{\"pads\": [0, 1, 1, 0], \"value\": \"-inf\"}",
                       f_pad(xr, (int64_t[]){0, 1, 1, 0}, 4, -INFINITY), 1, (Tensor *[]){xr}, "pad [2, 3] value -Inf");
    ORACLE_RUN_OR_SKIP(o);
    for (int k = 0; k < N; k++) {
        Case *c = &cases[k];
        expect_close_nonfinite(c->out, oracle_output(o, c->id, 0), 0, c->label);
        for (int i = 0; i < c->n_in; i++) {
            if (!c->ins[i]->requires_grad) continue;
            char label[48];
            snprintf(label, sizeof label, "  grad input %d", i);
            expect_close_nonfinite(c->ins[i]->grad, oracle_grad(o, c->id, i), 1e-5, label);
        }
    }
    oracle_free(o);
    scope_end();
}

static void test_one_hot_against_torch(void **state)
{
    scope_begin();
    Oracle *o = oracle_new("one_hot");
    Case cases[3];
    Tensor *a = tensor_randint(0, 5, SHAPE(9), &gen, CPU);
    Tensor *b = rand_index(SHAPE(3, 4), 6, false);
    add_case(o, &cases[0], "one_hot", "{\"num_classes\": -1}", f_one_hot(a, -1), 1, &a, 0, "one_hot [9] inferred");
    add_case(o, &cases[1], "one_hot", "{\"num_classes\": 8}", f_one_hot(a, 8), 1, &a, 0, "one_hot [9] 8 classes");
    add_case(o, &cases[2], "one_hot", "{\"num_classes\": 6}", f_one_hot(b, 6), 1, &b, 0, "one_hot [3, 4] (strided)");
    assert_int_equal(cases[1].out->dtype, DT_I64);
    ORACLE_RUN_OR_SKIP(o);
    check_cases(o, cases, 3);
    oracle_free(o);
    scope_end();
}

/* ---- finite differences ---- */

typedef struct {
    int dim;
    Tensor *index;
    int64_t padding_idx;
    const int64_t *pads;
    int n_pads;
} FdCtx;

static Tensor *fd_gather(Tensor **in, void *ctx)
{
    FdCtx *c = ctx;
    return t_gather(in[0], c->dim, c->index);
}
static Tensor *fd_scatter_add(Tensor **in, void *ctx)
{
    FdCtx *c = ctx;
    return t_scatter_add(in[0], c->dim, c->index, in[1]);
}
static Tensor *fd_index_select(Tensor **in, void *ctx)
{
    FdCtx *c = ctx;
    return t_index_select(in[0], c->dim, c->index);
}
static Tensor *fd_embedding(Tensor **in, void *ctx)
{
    FdCtx *c = ctx;
    return f_embedding(c->index, in[0], c->padding_idx);
}
static Tensor *fd_pad(Tensor **in, void *ctx)
{
    FdCtx *c = ctx;
    return f_pad(in[0], c->pads, c->n_pads, 0.5);
}

static void test_finite_differences(void **state)
{
    scope_begin();
    Tensor *t = leaf(SHAPE(4, 5), false);
    FdCtx c = {.dim = 1, .index = rand_index(SHAPE(3, 8), 5, true)};
    assert_true(fd_gradcheck(fd_gather, &c, &t, 1, 1e-3, 64, "fd gather dim 1 (repeats)") < 1e-2);

    /* src larger than index: its extra elements get zero gradient */
    Tensor *s = leaf(SHAPE(5, 6), true);
    c = (FdCtx){.dim = 0, .index = rand_index(SHAPE(4, 5), 4, true)};
    Tensor *ts = leaf(SHAPE(4, 5), true);
    assert_true(fd_gradcheck(fd_scatter_add, &c, (Tensor *[]){ts, s}, 2, 1e-3, 64, "fd scatter_add (src > index)") <
                1e-2);

    c = (FdCtx){.dim = 0, .index = rand_index(SHAPE(9), 4, false)};
    assert_true(fd_gradcheck(fd_index_select, &c, &ts, 1, 1e-3, 64, "fd index_select dim 0") < 1e-2);

    Tensor *w = leaf(SHAPE(6, 3), true);
    /* without padding_idx: the padding row's output does depend on it, its
     * gradient is zero by definition (checked against torch above) */
    c = (FdCtx){.index = rand_index(SHAPE(2, 7), 6, true), .padding_idx = -1};
    assert_true(fd_gradcheck(fd_embedding, &c, &w, 1, 1e-3, 64, "fd embedding") < 1e-2);

    Tensor *x = leaf(SHAPE(2, 3, 4), false);
    c = (FdCtx){.pads = (int64_t[]){1, -2, -1, 2, 1, 0}, .n_pads = 6};
    assert_true(fd_gradcheck(fd_pad, &c, &x, 1, 1e-3, 64, "fd pad 3 dims with crops") < 1e-2);
    scope_end();
}

/* ---- deterministic accumulation ---- */

/* Gradients of index_select/embedding (index_add) and gather (scatter_add)
 * on inputs large enough to run in parallel must equal a serial sum in index
 * order, bit for bit, with one thread or several. */
static void test_accumulation_is_serial_and_deterministic(void **state)
{
    const int64_t rows = 50, width = 700, n = 3000;
    scope_begin();
    Tensor *indices = tensor_randint(0, rows, SHAPE(n), &gen, CPU);
    Tensor *g = tensor_randn(SHAPE(n, width), &gen, CPU);
    Tensor *gi = tensor_randint(0, rows, SHAPE(n, 40), &gen, CPU);
    Tensor *gg = tensor_randn(SHAPE(n, 40), &gen, CPU);
    int64_t *idx = tensor_i64(indices), *gidx = tensor_i64(gi);
    const float *gv = tensor_f32(g), *ggv = tensor_f32(gg);
    float *expect_sel = calloc((size_t)(rows * width), sizeof(float));
    float *expect_emb = calloc((size_t)(rows * width), sizeof(float));
    float *expect_gather = calloc((size_t)(rows * 40), sizeof(float));
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < width; k++) expect_sel[idx[i] * width + k] += gv[i * width + k];
    memcpy(expect_emb, expect_sel, sizeof(float) * (size_t)(rows * width));
    memset(expect_emb + 7 * width, 0, sizeof(float) * (size_t)width); /* the padding row */
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < 40; k++) expect_gather[gidx[i * 40 + k] * 40 + k] += ggv[i * 40 + k];
    Tensor *want_emb = tensor_from_data(expect_emb, SHAPE(rows, width), DT_F32, CPU);
    Tensor *want_sel = tensor_from_data(expect_sel, SHAPE(rows, width), DT_F32, CPU);
    Tensor *want_gather = tensor_from_data(expect_gather, SHAPE(rows, 40), DT_F32, CPU);
    free(expect_sel);
    free(expect_emb);
    free(expect_gather);
    int max_threads = omp_get_max_threads();
    for (int threads = 1; threads <= 4; threads *= 2) {
        omp_set_num_threads(threads);
        Tensor *w = rand_leaf(SHAPE(rows, width), &gen);
        assert_int_equal(tensor_backward(f_embedding(indices, w, 7), g), 0);
        char label[48];
        snprintf(label, sizeof label, "embedding grad, %d thread(s)", threads);
        expect_equal(w->grad, want_emb, label);
        Tensor *v = rand_leaf(SHAPE(rows, width), &gen);
        assert_int_equal(tensor_backward(t_index_select(v, 0, indices), g), 0);
        expect_equal(v->grad, want_sel, "index_select grad (index_add)");
        Tensor *t = rand_leaf(SHAPE(rows, 40), &gen);
        assert_int_equal(tensor_backward(t_gather(t, 0, gi), gg), 0);
        expect_equal(t->grad, want_gather, "gather grad (scatter_add)");
    }
    omp_set_num_threads(max_threads);
    scope_end();
}

/* ---- small and empty cases ---- */

static void test_zero_dim_and_empty(void **state)
{
    scope_begin();
    Tensor *x = tensor_set_requires_grad(tensor_scalar(4.5, DT_F32, CPU), true);
    Tensor *i0 = tensor_scalar(0, DT_I64, CPU);
    Tensor *gx = t_gather(x, 0, i0);
    REQUIRE_OK(gx);
    assert_int_equal(gx->shape.ndim, 0);
    assert_true(tensor_item(gx) == 4.5);
    Tensor *sx = t_index_select(x, 0, tensor_from_data((int64_t[]){0}, SHAPE(1), DT_I64, CPU));
    REQUIRE_OK(sx);
    assert_int_equal(tensor_backward(t_add(gx, sx), NULL), 0);
    assert_true(tensor_item(x->grad) == 2.0);

    Tensor *empty = tensor_zeros(SHAPE(0), DT_I64, CPU);
    Tensor *w = tensor_ones(SHAPE(3, 2), DT_F32, CPU);
    Tensor *e = f_embedding(empty, w, -1);
    REQUIRE_OK(e);
    assert_true(shape_equal(e->shape, SHAPE(0, 2)));
    Tensor *oh = f_one_hot(empty, 4);
    REQUIRE_OK(oh);
    assert_true(shape_equal(oh->shape, SHAPE(0, 4)));
    Tensor *sel = t_index_select(w, 0, empty);
    REQUIRE_OK(sel);
    assert_true(shape_equal(sel->shape, SHAPE(0, 2)));
    scope_end();
}

/* ---- errors ---- */

/* Asserts the call failed with a message containing every given piece. */
static void expect_error_pieces(Tensor *result, const char *const *pieces, int n)
{
    assert_null(result);
    const char *msg = engine_last_error();
    print_message("  error: %s\n", msg);
    for (int i = 0; i < n; i++)
        if (!strstr(msg, pieces[i])) fail_msg("expected \"%s\" in the message: %s", pieces[i], msg);
    engine_clear_error();
}
#define EXPECT_ERROR(call, ...) \
    expect_error_pieces((call), (const char *[]){__VA_ARGS__}, (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *)))

static void test_errors(void **state)
{
    scope_begin();
    engine_clear_error();
    Tensor *t = tensor_zeros(SHAPE(3, 4), DT_F32, CPU);
    Tensor *bad = tensor_from_data((int64_t[]){0, 5, 1, 2}, SHAPE(2, 2), DT_I64, CPU);
    Tensor *neg = tensor_from_data((int64_t[]){0, -1}, SHAPE(1, 2), DT_I64, CPU);
    Tensor *fidx = tensor_zeros(SHAPE(2, 2), DT_F32, CPU);

    EXPECT_ERROR(t_gather(t, 1, bad), "gather", "index 5", "dimension 1", "size 4");
    EXPECT_ERROR(t_gather(t, 0, neg), "gather", "index -1", "dimension 0", "size 3");
    EXPECT_ERROR(t_gather(t, 1, fidx), "gather", "int64", "float32");
    EXPECT_ERROR(t_gather(t, 1, tensor_zeros(SHAPE(2), DT_I64, CPU)), "gather", "number of dimensions", "[2]",
                 "[3, 4]");
    EXPECT_ERROR(t_gather(t, 1, tensor_zeros(SHAPE(5, 2), DT_I64, CPU)), "gather", "[5, 2]", "[3, 4]");
    EXPECT_ERROR(t_gather(t, 2, bad), "gather", "dimension out of range");

    Tensor *src = tensor_ones(SHAPE(2, 2), DT_F32, CPU);
    EXPECT_ERROR(t_scatter_add(t, 1, bad, src), "scatter_add", "index 5", "dimension 1", "size 4");
    EXPECT_ERROR(t_scatter_add(t, 1, fidx, src), "scatter_add", "int64");
    EXPECT_ERROR(t_scatter_add(t, 1, tensor_zeros(SHAPE(2, 3), DT_I64, CPU), src), "scatter_add", "[2, 3]", "[2, 2]");
    EXPECT_ERROR(t_scatter_add(t, 1, tensor_zeros(SHAPE(2), DT_I64, CPU), tensor_ones(SHAPE(2), DT_F32, CPU)),
                 "scatter_add", "number of dimensions");

    Tensor *idx1 = tensor_from_data((int64_t[]){1, 3, 0}, SHAPE(3), DT_I64, CPU);
    EXPECT_ERROR(t_index_select(t, 0, idx1), "index_select", "index 3", "dimension 0", "size 3");
    EXPECT_ERROR(t_index_select(t, 1, bad), "index_select", "vector", "[2, 2]");
    EXPECT_ERROR(t_index_select(t, 1, tensor_zeros(SHAPE(2), DT_U8, CPU)), "index_select", "int64", "uint8");

    Tensor *w = tensor_ones(SHAPE(4, 2), DT_F32, CPU);
    EXPECT_ERROR(f_embedding(bad, w, -1), "embedding", "index 5", "dimension 0", "size 4");
    EXPECT_ERROR(f_embedding(neg, w, -1), "embedding", "index -1");
    EXPECT_ERROR(f_embedding(fidx, w, -1), "embedding", "int64");
    EXPECT_ERROR(f_embedding(idx1, tensor_ones(SHAPE(8), DT_F32, CPU), -1), "embedding", "2-D", "[8]");
    EXPECT_ERROR(f_embedding(idx1, w, 4), "embedding", "padding_idx (4)", "(4)");

    EXPECT_ERROR(f_one_hot(neg, 3), "one_hot", "non-negative", "-1");
    EXPECT_ERROR(f_one_hot(bad, 5), "one_hot", "5", "num_classes 5");
    EXPECT_ERROR(f_one_hot(fidx, 3), "one_hot", "int64", "float32");
    EXPECT_ERROR(f_one_hot(tensor_zeros(SHAPE(0), DT_I64, CPU), -1), "one_hot", "empty");

    EXPECT_ERROR(f_pad(t, (int64_t[]){1, 1, 1}, 3, 0), "pad", "divisible by 2");
    EXPECT_ERROR(f_pad(t, (int64_t[]){1, 1, 1, 1, 1, 1}, 6, 0), "pad", "too large", "[3, 4]");
    EXPECT_ERROR(f_pad(t, (int64_t[]){-3, -2}, 2, 0), "pad", "negative output size", "dimension 1", "[3, 4]");

    /* a NULL input propagates without replacing the first message */
    assert_null(t_gather(t_index_select(t, 0, idx1), 0, bad));
    assert_non_null(strstr(engine_last_error(), "index_select"));
    engine_clear_error();
    scope_end();
}

int main(void)
{
    generator_seed(&gen, 7);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gather_against_torch),
        cmocka_unit_test(test_scatter_add_against_torch),
        cmocka_unit_test(test_index_select_against_torch),
        cmocka_unit_test(test_embedding_against_torch),
        cmocka_unit_test(test_embedding_padding_row_and_accumulation),
        cmocka_unit_test(test_pad_against_torch),
        cmocka_unit_test(test_one_hot_against_torch),
        cmocka_unit_test(test_index_ops_nonfinite_against_torch),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_accumulation_is_serial_and_deterministic),
        cmocka_unit_test(test_zero_dim_and_empty),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
