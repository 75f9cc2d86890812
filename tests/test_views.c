/* View and copy ops: forward and backward against PyTorch (contiguous and
 * strided inputs), finite differences, storage sharing (views share, copies
 * do not, reshape copies only when it must), writes through one view read
 * through another, chunk sizes as PyTorch makes them, dtype conversion, and
 * error messages (view refuses where PyTorch refuses). flip (a copy) and
 * diagonal (a view) are checked with them. */
#include <math.h>

#include "tests/support/check.h"
#include "tests/support/oracle.h"

static Generator gen;

typedef enum {
    V_VIEW,
    V_RESHAPE,
    V_FLATTEN,
    V_TRANSPOSE,
    V_PERMUTE,
    V_SQUEEZE,
    V_SQUEEZE_ALL,
    V_UNSQUEEZE,
    V_EXPAND,
    V_NARROW,
    V_SLICE,
    V_SELECT,
    V_CHUNK,
    V_CONTIGUOUS,
    V_CLONE,
    V_CHAIN1, /* x.t()[1:6:2].select(1, -1) */
    V_CHAIN2, /* x.unsqueeze(0).expand(2, -1, -1).permute(2, 0, 1).reshape(-1, 4): a copy */
    V_CHAIN3, /* x.expand(3, 4).view(3, 2, 2): view splits a broadcast dim */
    V_FLIP,     /* a[0] dims a[1..] (a copy) */
    V_DIAGONAL, /* offset, dim1, dim2 */
} ViewKind;

/* One op applied to one input; a[] holds the op's integer arguments in the
 * order of its C signature (for chunk: chunks, dim, which chunk). */
typedef struct {
    ViewKind kind;
    const char *op, *args; /* the oracle's op and its JSON arguments */
    Shape in;
    bool noncontig;
    int64_t a[4];
    Shape shape; /* view, reshape and expand target */
    bool shares; /* the result must share the input's storage */
} ViewCase;

static const ViewCase view_cases[] = {
    {V_VIEW, "view", "{\"shape\": [2, 12]}", SHAPE(4, 6), false, {0}, SHAPE(2, 12), true},
    {V_VIEW, "view", "{\"shape\": [-1]}", SHAPE(4, 6), false, {0}, SHAPE(-1), true},
    /* PyTorch lets view split a dim of a transposed tensor */
    {V_VIEW, "view", "{\"shape\": [2, 3, 4]}", SHAPE(6, 4), true, {0}, SHAPE(2, 3, 4), true},
    {V_VIEW, "view", "{\"shape\": [6, 2, 2]}", SHAPE(6, 4), true, {0}, SHAPE(6, 2, 2), true},
    {V_VIEW, "view", "{\"shape\": [3, 1, 2, 4]}", SHAPE(6, 4), true, {0}, SHAPE(3, 1, 2, 4), true},
    {V_RESHAPE, "reshape", "{\"shape\": [4, -1]}", SHAPE(2, 3, 4), false, {0}, SHAPE(4, -1), true},
    {V_RESHAPE, "reshape", "{\"shape\": [24]}", SHAPE(6, 4), true, {0}, SHAPE(24), false},
    {V_RESHAPE, "reshape", "{\"shape\": [2, 3, 4]}", SHAPE(6, 4), true, {0}, SHAPE(2, 3, 4), true},
    {V_FLATTEN, "flatten", "{\"start\": 1, \"end\": 2}", SHAPE(2, 3, 4, 5), false, {1, 2}, {0}, true},
    {V_FLATTEN, "flatten", "{\"start\": 0, \"end\": -1}", SHAPE(2, 3, 4, 5), true, {0, -1}, {0}, false},
    {V_FLATTEN, "flatten", "{\"start\": 0, \"end\": 1}", SHAPE(2, 3, 4, 5), true, {0, 1}, {0}, true},
    {V_TRANSPOSE, "transpose", "{\"dim0\": 0, \"dim1\": -1}", SHAPE(2, 3, 4), false, {0, -1}, {0}, true},
    {V_TRANSPOSE, "transpose", "{\"dim0\": 1, \"dim1\": 0}", SHAPE(3, 5), true, {1, 0}, {0}, true},
    {V_PERMUTE, "permute", "{\"dims\": [3, 1, 0, 2]}", SHAPE(2, 3, 4, 5), false, {3, 1, 0, 2}, {0}, true},
    {V_PERMUTE, "permute", "{\"dims\": [-1, 0, 1]}", SHAPE(2, 3, 4), true, {-1, 0, 1}, {0}, true},
    {V_SQUEEZE, "squeeze", "{\"dim\": 1}", SHAPE(3, 1, 4), false, {1}, {0}, true},
    {V_SQUEEZE, "squeeze", "{\"dim\": 0}", SHAPE(3, 1, 4), false, {0}, {0}, true}, /* not 1: no-op */
    {V_SQUEEZE, "squeeze", "{\"dim\": -2}", SHAPE(3, 1, 4), true, {-2}, {0}, true},
    {V_SQUEEZE_ALL, "squeeze_all", NULL, SHAPE(1, 3, 1, 4, 1), false, {0}, {0}, true},
    {V_UNSQUEEZE, "unsqueeze", "{\"dim\": -1}", SHAPE(3, 4), false, {-1}, {0}, true},
    {V_UNSQUEEZE, "unsqueeze", "{\"dim\": 0}", SHAPE(3, 4), true, {0}, {0}, true},
    {V_UNSQUEEZE, "unsqueeze", "{\"dim\": 1}", SHAPE(3, 4), false, {1}, {0}, true},
    {V_EXPAND, "expand", "{\"shape\": [2, 3, 5]}", SHAPE(3, 1), false, {0}, SHAPE(2, 3, 5), true},
    {V_EXPAND, "expand", "{\"shape\": [3, -1]}", SHAPE(4), false, {0}, SHAPE(3, -1), true},
    {V_EXPAND, "expand", "{\"shape\": [2, 3, 4]}", SHAPE(1, 4), true, {0}, SHAPE(2, 3, 4), true},
    {V_NARROW, "narrow", "{\"dim\": 1, \"start\": -4, \"length\": 3}", SHAPE(5, 6), false, {1, -4, 3}, {0}, true},
    {V_NARROW, "narrow", "{\"dim\": 0, \"start\": 1, \"length\": 3}", SHAPE(5, 6), true, {0, 1, 3}, {0}, true},
    {V_SLICE, "slice", "{\"dim\": 0, \"start\": 1, \"end\": 7, \"step\": 2}", SHAPE(7, 6), false, {0, 1, 7, 2}, {0},
     true},
    {V_SLICE, "slice", "{\"dim\": -1, \"start\": -100, \"end\": 100, \"step\": 4}", SHAPE(7, 6), false,
     {-1, -100, 100, 4}, {0}, true},
    {V_SLICE, "slice", "{\"dim\": 1, \"start\": 2, \"end\": -1, \"step\": 3}", SHAPE(6, 7), true, {1, 2, -1, 3}, {0},
     true},
    {V_SELECT, "select", "{\"dim\": 1, \"index\": -2}", SHAPE(4, 5, 6), false, {1, -2}, {0}, true},
    {V_SELECT, "select", "{\"dim\": 0, \"index\": 3}", SHAPE(4, 5), true, {0, 3}, {0}, true},
    {V_SELECT, "select", "{\"dim\": -1, \"index\": 0}", SHAPE(4, 5, 6), false, {-1, 0}, {0}, true},
    {V_CHUNK, "chunk", "{\"chunks\": 3, \"dim\": 0, \"k\": 2}", SHAPE(5, 4), false, {3, 0, 2}, {0}, true},
    {V_CHUNK, "chunk", "{\"chunks\": 3, \"dim\": -1, \"k\": 1}", SHAPE(3, 7), false, {3, -1, 1}, {0}, true},
    {V_CHUNK, "chunk", "{\"chunks\": 2, \"dim\": 1, \"k\": 1}", SHAPE(3, 7), true, {2, 1, 1}, {0}, true},
    {V_CONTIGUOUS, "contiguous", NULL, SHAPE(3, 5), true, {0}, {0}, false},
    {V_CLONE, "clone", NULL, SHAPE(3, 5), false, {0}, {0}, false},
    {V_CLONE, "clone", NULL, SHAPE(3, 5), true, {0}, {0}, false},
    {V_CHAIN1, "chain1", NULL, SHAPE(4, 6), false, {0}, {0}, true},
    {V_CHAIN1, "chain1", NULL, SHAPE(4, 6), true, {0}, {0}, true},
    {V_CHAIN2, "chain2", NULL, SHAPE(4, 6), false, {0}, {0}, false},
    {V_CHAIN3, "chain3", NULL, SHAPE(3, 1), false, {0}, {0}, true},
    {V_FLIP, "flip", "{\"dims\": [-1]}", SHAPE(3, 5), false, {1, -1}, {0}, false},
    {V_FLIP, "flip", "{\"dims\": [0, 2]}", SHAPE(2, 3, 4), true, {2, 0, 2}, {0}, false},
    {V_FLIP, "flip", "{\"dims\": [1, 0, 2]}", SHAPE(3, 1, 4), false, {3, 1, 0, 2}, {0}, false},
    {V_FLIP, "flip", "{\"dims\": []}", SHAPE(2, 3), false, {0}, {0}, false},
    {V_DIAGONAL, "diagonal", "{\"offset\": 0, \"dim1\": 0, \"dim2\": 1}", SHAPE(4, 4), false, {0, 0, 1}, {0}, true},
    {V_DIAGONAL, "diagonal", "{\"offset\": 1, \"dim1\": 0, \"dim2\": 1}", SHAPE(3, 5), true, {1, 0, 1}, {0}, true},
    {V_DIAGONAL, "diagonal", "{\"offset\": -2, \"dim1\": -1, \"dim2\": 0}", SHAPE(4, 2, 5), false, {-2, -1, 0}, {0},
     true},
    {V_DIAGONAL, "diagonal", "{\"offset\": 9, \"dim1\": 0, \"dim2\": 1}", SHAPE(3, 4), false, {9, 0, 1}, {0}, true},
};
#define N_VIEW_CASES (int)(sizeof view_cases / sizeof view_cases[0])

static Tensor *apply_view(const ViewCase *c, Tensor *x)
{
    switch (c->kind) {
    case V_VIEW: return t_view(x, c->shape);
    case V_RESHAPE: return t_reshape(x, c->shape);
    case V_FLATTEN: return t_flatten(x, (int)c->a[0], (int)c->a[1]);
    case V_TRANSPOSE: return t_transpose(x, (int)c->a[0], (int)c->a[1]);
    case V_PERMUTE: {
        int dims[MAX_DIMS];
        for (int i = 0; i < x->shape.ndim; i++) dims[i] = (int)c->a[i];
        return t_permute(x, dims);
    }
    case V_SQUEEZE: return t_squeeze(x, (int)c->a[0]);
    case V_SQUEEZE_ALL: return t_squeeze_all(x);
    case V_UNSQUEEZE: return t_unsqueeze(x, (int)c->a[0]);
    case V_EXPAND: return t_expand(x, c->shape);
    case V_NARROW: return t_narrow(x, (int)c->a[0], c->a[1], c->a[2]);
    case V_SLICE: return t_slice(x, (int)c->a[0], c->a[1], c->a[2], c->a[3]);
    case V_SELECT: return t_select(x, (int)c->a[0], c->a[1]);
    case V_CHUNK: {
        Tensor *parts[8];
        int n = t_chunk(x, (int)c->a[0], (int)c->a[1], parts);
        return n > c->a[2] ? parts[c->a[2]] : NULL;
    }
    case V_CONTIGUOUS: return t_contiguous(x);
    case V_CLONE: return t_clone(x);
    case V_CHAIN1: return t_select(t_slice(t_transpose(x, 0, 1), 0, 1, 6, 2), 1, -1);
    case V_CHAIN2: {
        Tensor *e = t_expand(t_unsqueeze(x, 0), SHAPE(2, -1, -1));
        return t_reshape(t_permute(e, (int[]){2, 0, 1}), SHAPE(-1, 4));
    }
    case V_CHAIN3: return t_view(t_expand(x, SHAPE(3, 4)), SHAPE(3, 2, 2));
    case V_FLIP: {
        int dims[3];
        for (int i = 0; i < c->a[0]; i++) dims[i] = (int)c->a[i + 1];
        return t_flip(x, dims, (int)c->a[0]);
    }
    case V_DIAGONAL: return t_diagonal(x, c->a[0], (int)c->a[1], (int)c->a[2]);
    }
    return NULL;
}

static Tensor *case_input(const ViewCase *c)
{
    return c->noncontig ? noncontig_leaf(c->in, &gen) : rand_leaf(c->in, &gen);
}

static void case_label(const ViewCase *c, char *buf, size_t n)
{
    snprintf(buf, n, "%s %s %s%s", c->op, shape_str(c->in), c->args ? c->args : "", c->noncontig ? " (strided)" : "");
}

static void test_views_against_torch(void **state)
{
    scope_begin();
    Oracle *o = oracle_new("views");
    Tensor *outs[N_VIEW_CASES], *ins[N_VIEW_CASES];
    int ids[N_VIEW_CASES];
    for (int k = 0; k < N_VIEW_CASES; k++) {
        const ViewCase *c = &view_cases[k];
        Tensor *x = case_input(c);
        Tensor *y = apply_view(c, x);
        REQUIRE_OK(y);
        char label[160];
        case_label(c, label, sizeof label);
        if ((y->storage == x->storage) != c->shares)
            fail_msg("%s: expected the result %s the input's storage", label, c->shares ? "to share" : "not to share");
        Tensor *gout = tensor_randn(y->shape, &gen, CPU);
        assert_int_equal(tensor_backward(y, gout), 0);
        ids[k] = oracle_add(o, c->op, c->args, 1, &x, gout);
        outs[k] = y;
        ins[k] = x;
    }
    ORACLE_RUN_OR_SKIP(o);
    for (int k = 0; k < N_VIEW_CASES; k++) {
        char label[160];
        case_label(&view_cases[k], label, sizeof label);
        expect_close(outs[k], oracle_output(o, ids[k], 0), 0, label);
        /* expand's backward sums in another order than PyTorch's */
        expect_close(ins[k]->grad, oracle_grad(o, ids[k], 0), 1e-6, "  grad");
    }
    oracle_free(o);
    scope_end();
}

static Tensor *fd_view(Tensor **in, void *ctx) { return apply_view(ctx, in[0]); }

static void test_views_finite_differences(void **state)
{
    for (int k = 0; k < N_VIEW_CASES; k++) {
        scope_begin();
        const ViewCase *c = &view_cases[k];
        Tensor *x = case_input(c);
        char label[160];
        snprintf(label, sizeof label, "fd ");
        case_label(c, label + 3, sizeof label - 3);
        double err = fd_gradcheck(fd_view, (void *)c, &x, 1, 1e-3, 64, label);
        assert_true(err < 1e-2);
        scope_end();
    }
}

typedef struct {
    bool stack;
    int dim;
} CatCtx;

static Tensor *fd_cat(Tensor **in, void *ctx)
{
    const CatCtx *c = ctx;
    return c->stack ? t_stack(in, 3, c->dim) : t_cat(in, 3, c->dim);
}

static void test_cat_and_stack(void **state)
{
    static const struct {
        CatCtx ctx;
        Shape shapes[3];
        bool noncontig[3], grad[3];
    } cases[] = {
        {{false, 0}, {SHAPE(2, 3), SHAPE(4, 3), SHAPE(1, 3)}, {false, true, false}, {true, true, true}},
        {{false, -1}, {SHAPE(2, 3), SHAPE(2, 1), SHAPE(2, 4)}, {false, false, true}, {true, false, true}},
        {{false, 1}, {SHAPE(2, 2, 3), SHAPE(2, 5, 3), SHAPE(2, 1, 3)}, {true, false, false}, {true, true, false}},
        {{true, 0}, {SHAPE(3, 4), SHAPE(3, 4), SHAPE(3, 4)}, {false, false, false}, {true, true, true}},
        {{true, 1}, {SHAPE(3, 4), SHAPE(3, 4), SHAPE(3, 4)}, {false, true, false}, {true, false, true}},
        {{true, -1}, {SHAPE(2, 3), SHAPE(2, 3), SHAPE(2, 3)}, {true, true, false}, {true, true, true}},
    };
    enum { N = sizeof cases / sizeof cases[0] };
    scope_begin();
    Oracle *o = oracle_new("cat");
    Tensor *outs[N], *ins[N][3];
    int ids[N];
    for (int k = 0; k < N; k++) {
        for (int i = 0; i < 3; i++) {
            Tensor *x = cases[k].noncontig[i] ? noncontig_leaf(cases[k].shapes[i], &gen)
                                              : rand_leaf(cases[k].shapes[i], &gen);
            ins[k][i] = tensor_set_requires_grad(x, cases[k].grad[i]);
        }
        outs[k] = fd_cat(ins[k], (void *)&cases[k].ctx);
        REQUIRE_OK(outs[k]);
        Tensor *gout = tensor_randn(outs[k]->shape, &gen, CPU);
        assert_int_equal(tensor_backward(outs[k], gout), 0);
        char args[32];
        snprintf(args, sizeof args, "{\"dim\": %d}", cases[k].ctx.dim);
        ids[k] = oracle_add(o, cases[k].ctx.stack ? "stack" : "cat", args, 3, ins[k], gout);
    }
    ORACLE_RUN_OR_SKIP(o);
    for (int k = 0; k < N; k++) {
        char label[96];
        snprintf(label, sizeof label, "%s dim %d %s %s %s", cases[k].ctx.stack ? "stack" : "cat", cases[k].ctx.dim,
                 shape_str(cases[k].shapes[0]), shape_str(cases[k].shapes[1]), shape_str(cases[k].shapes[2]));
        expect_close(outs[k], oracle_output(o, ids[k], 0), 0, label);
        for (int i = 0; i < 3; i++) {
            if (!cases[k].grad[i]) {
                assert_null(ins[k][i]->grad);
                continue;
            }
            expect_close(ins[k][i]->grad, oracle_grad(o, ids[k], i), 0, "  grad");
        }
    }
    oracle_free(o);
    for (int k = 0; k < N; k++) {
        char label[32];
        snprintf(label, sizeof label, "fd %s dim %d", cases[k].ctx.stack ? "stack" : "cat", cases[k].ctx.dim);
        double err = fd_gradcheck(fd_cat, (void *)&cases[k].ctx, ins[k], 3, 1e-3, 64, label);
        assert_true(err < 1e-2);
    }
    scope_end();
}

/* Element [i, j] of a 2-D f32 tensor, read straight from its storage. */
static float at(Tensor *t, int64_t i, int64_t j) { return tensor_f32(t)[i * t->strides[0] + j * t->strides[1]]; }

/* Views write through to their base and back; copies do not. */
static void test_views_share_storage(void **state)
{
    scope_begin();
    Tensor *x = t_reshape(tensor_arange(0, 24, 1, DT_F32, CPU), SHAPE(4, 6));
    REQUIRE_OK(x);
    /* a row, written through select */
    Tensor *row = t_select(x, 0, -2);
    assert_ptr_equal(row->storage, x->storage);
    assert_int_equal(tensor_fill_(row, -1.0), 0);
    for (int j = 0; j < 6; j++) assert_float_equal(at(x, 2, j), -1.0, 0);
    assert_float_equal(at(x, 1, 0), 6.0, 0);
    /* every other column, written through a stepped slice */
    Tensor *cols = t_slice(x, 1, 1, 6, 2);
    assert_int_equal(tensor_fill_(cols, 5.0), 0);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 6; j++)
            if (j % 2 == 1) assert_float_equal(at(x, i, j), 5.0, 0);
    assert_float_equal(at(x, 0, 0), 0.0, 0);
    assert_float_equal(at(x, 3, 4), 22.0, 0);
    /* the base written, read through a transpose and a view of it */
    tensor_f32(x)[1 * 6 + 4] = 100.0f;
    Tensor *xt = t_transpose(x, 0, 1);
    assert_float_equal(tensor_item(t_select(t_select(xt, 0, 4), 0, 1)), 100.0, 0);
    Tensor *v = t_view(xt, SHAPE(2, 3, 4)); /* v[a, b, c] = x[c, 3a + b] */
    REQUIRE_OK(v);
    assert_ptr_equal(v->storage, x->storage);
    assert_float_equal(tensor_item(t_select(t_select(t_select(v, 0, 1), 0, 1), 0, 1)), 100.0, 0);
    assert_int_equal(tensor_fill_(t_select(v, 0, 0), 7.0), 0); /* columns 0..2 of x */
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) assert_float_equal(at(x, i, j), 7.0, 0);
    /* chunks, narrow, squeeze, unsqueeze, expand, flatten, permute are views */
    Tensor *parts[4];
    assert_int_equal(t_chunk(x, 3, 1, parts), 3);
    assert_int_equal(tensor_fill_(parts[2], 9.0), 0);
    assert_float_equal(at(x, 3, 5), 9.0, 0);
    Tensor *views[] = {t_narrow(x, 0, 1, 2),  t_unsqueeze(x, 1),          t_squeeze(t_unsqueeze(x, 0), 0),
                       t_expand(t_select(x, 0, 0), SHAPE(3, 6)), t_flatten(x, 0, 1), t_permute(x, (int[]){1, 0})};
    for (int k = 0; k < 6; k++) {
        REQUIRE_OK(views[k]);
        assert_ptr_equal(views[k]->storage, x->storage);
    }
    tensor_f32(x)[3] = -50.0f;
    assert_float_equal(tensor_item(t_select(t_select(views[3], 0, 2), 0, 3)), -50.0, 0);
    /* contiguous is the tensor itself when already contiguous, a copy otherwise */
    assert_ptr_equal(t_contiguous(x), x);
    Tensor *c = t_contiguous(xt);
    assert_ptr_not_equal(c->storage, x->storage);
    assert_true(tensor_is_contiguous(c));
    /* copies do not write back */
    Tensor *copies[] = {t_clone(x), c, t_reshape(xt, SHAPE(24))};
    for (int k = 0; k < 3; k++) {
        REQUIRE_OK(copies[k]);
        assert_ptr_not_equal(copies[k]->storage, x->storage);
        assert_int_equal(tensor_fill_(copies[k], 1234.0), 0);
    }
    for (int64_t i = 0; i < 24; i++) assert_true(tensor_f32(x)[i] != 1234.0f);
    scope_end();
}

/* chunk returns as many chunks as PyTorch, of its sizes. */
static void test_chunk_sizes(void **state)
{
    static const struct {
        int64_t size;
        int chunks;
        int n;
        int64_t sizes[4];
    } cases[] = {
        {5, 3, 3, {2, 2, 1}}, {5, 4, 3, {2, 2, 1}}, {6, 4, 3, {2, 2, 2}},
        {7, 3, 3, {3, 3, 1}}, {2, 5, 2, {1, 1}},    {0, 3, 3, {0, 0, 0}}, /* torch.empty(0).chunk(3): three empty */
        {4, 1, 1, {4}},
    };
    scope_begin();
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        Tensor *x = tensor_zeros(SHAPE(3, cases[k].size), DT_F32, CPU);
        Tensor *parts[8];
        int n = t_chunk(x, cases[k].chunks, -1, parts);
        print_message("  chunk size %lld into %d: %d chunks\n", (long long)cases[k].size, cases[k].chunks, n);
        assert_int_equal(n, cases[k].n);
        int64_t offset = 0;
        for (int i = 0; i < n; i++) {
            assert_true(shape_equal(parts[i]->shape, SHAPE(3, cases[k].sizes[i])));
            if (cases[k].sizes[i] > 0) assert_int_equal(parts[i]->offset, offset);
            offset += cases[k].sizes[i];
        }
    }
    scope_end();
}

static void test_to_dtype(void **state)
{
    scope_begin();
    const float f[] = {1.7f, -1.7f, 2.5f, -0.5f, 3.0f, 100.9f};
    const int64_t l[] = {-3, 0, 7, 123456789, -2000000001, 16777217};
    const uint8_t u[] = {0, 1, 128, 255};
    const float fu[] = {0.0f, 1.9f, 254.5f, 255.0f};
    Tensor *xf = tensor_set_requires_grad(tensor_from_data(f, SHAPE(2, 3), DT_F32, CPU), true);
    Tensor *xl = tensor_from_data(l, SHAPE(6), DT_I64, CPU);
    Tensor *xu = tensor_from_data(u, SHAPE(4), DT_U8, CPU);
    Tensor *xfu = tensor_from_data(fu, SHAPE(4), DT_F32, CPU);
    Tensor *ins[] = {xf, xl, xu, xfu, t_transpose(xf, 0, 1)};
    const DType to[] = {DT_I64, DT_F32, DT_F32, DT_U8, DT_I64};
    Tensor *outs[5];
    Oracle *o = oracle_new("to_dtype");
    int ids[5];
    for (int k = 0; k < 5; k++) {
        outs[k] = tensor_to_dtype(ins[k], to[k]);
        REQUIRE_OK(outs[k]);
        assert_int_equal(outs[k]->dtype, to[k]);
        assert_true(shape_equal(outs[k]->shape, ins[k]->shape));
        assert_false(outs[k]->requires_grad); /* integer results are cut from the graph, as in PyTorch */
        char args[48];
        snprintf(args, sizeof args, "{\"dtype\": \"%s\"}", dtype_name(to[k]));
        ids[k] = oracle_add(o, "to_dtype", args, 1, &ins[k], NULL);
    }
    /* converting to its own dtype returns the tensor itself */
    assert_ptr_equal(tensor_to_dtype(xf, DT_F32), xf);
    ORACLE_RUN_OR_SKIP(o);
    for (int k = 0; k < 5; k++) {
        char label[64];
        snprintf(label, sizeof label, "to %s from %s%s", dtype_name(to[k]), dtype_name(ins[k]->dtype),
                 k == 4 ? " (strided)" : "");
        expect_equal(outs[k], oracle_output(o, ids[k], 0), label);
    }
    oracle_free(o);
    scope_end();
}

static void test_errors(void **state)
{
    scope_begin();
    engine_clear_error();
    Tensor *x = tensor_zeros(SHAPE(4, 6), DT_F32, CPU);
    Tensor *xt = t_transpose(x, 0, 1);
    /* view refuses where PyTorch's does: merging dims of a transposed tensor */
    expect_error(t_view(xt, SHAPE(-1)), "view size [24] is not compatible with input tensor's size [6, 4]",
                 "Use reshape instead");
    expect_error(t_view(xt, SHAPE(4, 6)), "spans across two contiguous subspaces", "[6, 4]");
    expect_error(t_view(x, SHAPE(5, -1)), "shape '[5, -1]' is invalid for input of size 24", NULL);
    expect_error(t_view(x, SHAPE(-1, -1)), "only one dimension can be inferred", NULL);
    expect_error(t_reshape(x, SHAPE(7)), "shape '[7]' is invalid for input of size 24", NULL);
    expect_error(t_expand(x, SHAPE(3, 4)), "[3, 4]", "[4, 6]");
    expect_error(t_expand(x, SHAPE(6)), "must be greater or equal to the number of dimensions", NULL);
    expect_error(t_permute(x, (int[]){0, 0}), "permute", "repeated dim");
    expect_error(t_transpose(x, 0, 2), "out of range", "[-2, 1]");
    expect_error(t_unsqueeze(x, 3), "out of range", "[-3, 2]");
    expect_error(t_squeeze(x, -3), "out of range", NULL);
    expect_error(t_narrow(x, 1, 5, 2), "start (5) + length (2) exceeds dimension size (6)", NULL);
    expect_error(t_select(x, 1, 6), "index 6 out of range", "[4, 6]");
    expect_error(t_select(x, 0, -5), "index -5 out of range", "[4, 6]");
    expect_error(t_slice(x, 0, 0, 4, 0), "step must be positive", NULL);
    expect_error(t_flatten(x, 1, 0), "start_dim (1) cannot come after end_dim (0)", NULL);
    expect_error(t_flip(x, (int[]){1, -1}, 2), "flip: dim 1 appears multiple times", NULL);
    expect_error(t_flip(x, (int[]){2}, 1), "flip", "out of range");
    expect_error(t_diagonal(x, 0, 1, -1), "diagonal dimensions cannot be identical 1, -1", NULL);
    expect_error(t_diagonal(tensor_zeros(SHAPE(4), DT_F32, CPU), 0, 0, 1), "diagonal", "at least 2 dims");
    Tensor *parts[2];
    assert_int_equal(t_chunk(x, 0, 0, parts), -1);
    assert_non_null(strstr(engine_last_error(), "greater than 0"));
    engine_clear_error();
    expect_error(t_cat((Tensor *[]){x, tensor_zeros(SHAPE(3, 5), DT_F32, CPU)}, 2, 0),
                 "sizes of tensors must match except in dimension 0", "expected size 6 but got size 5");
    expect_error(t_cat((Tensor *[]){x, tensor_zeros(SHAPE(4, 6), DT_I64, CPU)}, 2, 0), "int64", "float32");
    expect_error(t_stack((Tensor *[]){x, tensor_zeros(SHAPE(3, 5), DT_F32, CPU)}, 2, 0), "[4, 6] at entry 0",
                 "[3, 5] at entry 1");
    /* a NULL input gives NULL without a message */
    assert_null(t_view(NULL, SHAPE(2)));
    assert_null(t_cat((Tensor *[]){x, NULL}, 2, 0));
    assert_false(engine_has_error());
    scope_end();
}

int main(void)
{
    generator_seed(&gen, 11);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_views_against_torch),    cmocka_unit_test(test_views_finite_differences),
        cmocka_unit_test(test_cat_and_stack),          cmocka_unit_test(test_views_share_storage),
        cmocka_unit_test(test_chunk_sizes),            cmocka_unit_test(test_to_dtype),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
