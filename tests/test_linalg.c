/* Linear algebra ops (dot, mm, bmm, matmul in all its cases, linear):
 * forward and backward against PyTorch on contiguous, transposed, strided
 * and broadcast operands, finite differences, and error messages. */
#include <math.h>

#include "tests/support/check.h"
#include "tests/support/oracle.h"

static Generator gen;

/* One oracle case: our output and inputs, compared after the oracle runs. */
typedef struct {
    int id;
    Tensor *out;
    Tensor *in[3];
    char label[96];
} Case;

/* Runs backward with a random output gradient and queues the torch case.
 * inputs are what torch receives (leaves); NULL entries are passed as None. */
static void add_case(Oracle *o, Case *c, const char *op, Tensor *out, int n, Tensor **inputs, const char *label)
{
    REQUIRE_OK(out);
    Tensor *gout = tensor_randn(out->shape, &gen, CPU);
    assert_int_equal(tensor_backward(out, gout), 0);
    c->id = oracle_add(o, op, NULL, n, inputs, gout);
    c->out = out;
    for (int i = 0; i < 3; i++) c->in[i] = i < n ? inputs[i] : NULL;
    snprintf(c->label, sizeof c->label, "%s", label);
}

static void check_cases(Oracle *o, Case *cases, int n, double tol)
{
    static const char *names[3] = {"  grad a", "  grad b", "  grad bias"};
    for (int k = 0; k < n; k++) {
        expect_close(cases[k].out, oracle_output(o, cases[k].id, 0), tol, cases[k].label);
        for (int i = 0; i < 3; i++)
            if (cases[k].in[i] && cases[k].in[i]->requires_grad)
                expect_close(cases[k].in[i]->grad, oracle_grad(o, cases[k].id, i), tol, names[i]);
    }
}

static Tensor *leaf(Shape s, bool contiguous) { return contiguous ? rand_leaf(s, &gen) : noncontig_leaf(s, &gen); }

typedef struct {
    Shape a, b;
    bool contig_a, contig_b;
} MatmulShapes;

static void test_matmul_against_torch(void **state)
{
    /* every torch.matmul case: 1-D/2-D mixes, batched with broadcast batch
     * dims on either side, transposed (non-contiguous) operands, and a batch
     * large enough to run the products in parallel */
    static const MatmulShapes shapes[] = {
        {SHAPE(4), SHAPE(4), true, true},
        {SHAPE(3, 4), SHAPE(4), true, true},
        {SHAPE(4), SHAPE(4, 5), true, false},
        {SHAPE(3, 4), SHAPE(4, 5), true, true},
        {SHAPE(3, 4), SHAPE(4, 5), false, false},
        {SHAPE(2, 3, 4), SHAPE(4, 5), true, true},   /* folds into one product */
        {SHAPE(2, 3, 4), SHAPE(4, 5), false, false}, /* transposed: cannot fold */
        {SHAPE(3, 4), SHAPE(2, 4, 5), true, true},
        {SHAPE(2, 1, 3, 4), SHAPE(5, 4, 2), true, false},
        {SHAPE(4), SHAPE(2, 4, 5), true, true},
        {SHAPE(2, 3, 4), SHAPE(4), false, true},
        {SHAPE(2, 3, 4), SHAPE(2, 4, 5), false, false},
        {SHAPE(64, 16, 16), SHAPE(64, 16, 16), true, false},
        {SHAPE(1, 4), SHAPE(4, 1), false, false},
        {SHAPE(3, 0), SHAPE(0, 2), true, true}, /* empty sum: zeros */
        /* large enough to be split across threads: by columns, by rows */
        {SHAPE(8, 96), SHAPE(96, 512), true, false},
        {SHAPE(96, 64), SHAPE(64, 48), false, true},
    };
    enum { N = sizeof shapes / sizeof shapes[0] };
    scope_begin();
    Oracle *o = oracle_new("matmul");
    Case cases[N + 4];
    int n = 0;
    for (int i = 0; i < N; i++) {
        Tensor *a = leaf(shapes[i].a, shapes[i].contig_a), *b = leaf(shapes[i].b, shapes[i].contig_b);
        char label[96];
        snprintf(label, sizeof label, "matmul %s%s %s%s", shape_str(a->shape), shapes[i].contig_a ? "" : "(T)",
                 shape_str(b->shape), shapes[i].contig_b ? "" : "(T)");
        add_case(o, &cases[n++], "matmul", t_matmul(a, b), 2, (Tensor *[]){a, b}, label);
    }
    /* strides BLAS cannot take (every second column): copied first */
    Tensor *wide = rand_leaf(SHAPE(2, 3, 8), &gen), *b = rand_leaf(SHAPE(4, 5), &gen);
    add_case(o, &cases[n++], "matmul_strided_cols", t_matmul(t_slice(wide, 2, 0, 8, 2), b), 2, (Tensor *[]){wide, b},
             "matmul [2, 3, 4](step 2) [4, 5]");
    Tensor *p = rand_leaf(SHAPE(3, 4), &gen), *q = noncontig_leaf(SHAPE(4, 6), &gen);
    add_case(o, &cases[n++], "mm", t_mm(p, q), 2, (Tensor *[]){p, q}, "mm [3, 4] [4, 6](T)");
    Tensor *r = noncontig_leaf(SHAPE(3, 2, 5), &gen), *s = rand_leaf(SHAPE(3, 5, 4), &gen);
    add_case(o, &cases[n++], "bmm", t_bmm(r, s), 2, (Tensor *[]){r, s}, "bmm [3, 2, 5](T) [3, 5, 4]");
    Tensor *u = noncontig_leaf(SHAPE(7), &gen), *v = rand_leaf(SHAPE(7), &gen);
    add_case(o, &cases[n++], "dot", t_dot(u, v), 2, (Tensor *[]){u, v}, "dot [7](strided) [7]");
    ORACLE_RUN_OR_SKIP(o);
    /* torch runs the same OpenBLAS sgemm on this machine; the slack covers
     * a different BLAS or blocking */
    check_cases(o, cases, n, 1e-5);
    oracle_free(o);
    scope_end();
}

static void test_linear_against_torch(void **state)
{
    static const struct {
        Shape x;
        bool contig_x, contig_w, bias;
    } shapes[] = {
        {SHAPE(5, 4), true, true, true},     {SHAPE(5, 4), false, false, true}, {SHAPE(2, 3, 4), true, true, true},
        {SHAPE(2, 3, 4), false, true, false}, {SHAPE(4), true, true, true},     {SHAPE(128, 320), true, true, true},
    };
    enum { N = sizeof shapes / sizeof shapes[0] };
    scope_begin();
    Oracle *o = oracle_new("linear");
    Case cases[N];
    for (int i = 0; i < N; i++) {
        int64_t in = shapes[i].x.d[shapes[i].x.ndim - 1], out = in == 320 ? 50 : 3;
        Tensor *x = leaf(shapes[i].x, shapes[i].contig_x), *w = leaf(SHAPE(out, in), shapes[i].contig_w);
        Tensor *b = shapes[i].bias ? rand_leaf(SHAPE(out), &gen) : NULL;
        char label[96];
        snprintf(label, sizeof label, "linear x %s%s w %s%s%s", shape_str(x->shape), shapes[i].contig_x ? "" : "(T)",
                 shape_str(w->shape), shapes[i].contig_w ? "" : "(T)", b ? " + bias" : "");
        Tensor *y = f_linear(x, w, b);
        REQUIRE_OK(y);
        assert_string_equal(y->grad_fn->name, b ? "AddmmBackward0" : "MmBackward0");
        add_case(o, &cases[i], "linear", y, 3, (Tensor *[]){x, w, b}, label);
    }
    ORACLE_RUN_OR_SKIP(o);
    check_cases(o, cases, N, 1e-5);
    oracle_free(o);
    scope_end();
}

/* ---- finite differences ---- */

typedef Tensor *(*Binary)(Tensor *, Tensor *);
static Tensor *fd_binary(Tensor **in, void *ctx) { return ((Binary)ctx)(in[0], in[1]); }
static Tensor *fd_linear(Tensor **in, void *ctx) { return f_linear(in[0], in[1], in[2]); }

static void test_finite_differences(void **state)
{
    static const struct {
        Binary fn;
        Shape a, b;
        const char *label;
    } cases[] = {
        {t_mm, SHAPE(3, 4), SHAPE(4, 2), "fd mm"},
        {t_bmm, SHAPE(2, 3, 4), SHAPE(2, 4, 2), "fd bmm"},
        {t_matmul, SHAPE(2, 3, 4), SHAPE(4, 2), "fd matmul (broadcast b)"},
        {t_matmul, SHAPE(3, 4), SHAPE(2, 4, 2), "fd matmul (broadcast a)"},
        {t_matmul, SHAPE(4), SHAPE(2, 4, 3), "fd matmul 1-D x 3-D"},
        {t_dot, SHAPE(5), SHAPE(5), "fd dot"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        scope_begin();
        Tensor *in[2] = {noncontig_leaf(cases[k].a, &gen), rand_leaf(cases[k].b, &gen)};
        assert_true(fd_gradcheck(fd_binary, (void *)cases[k].fn, in, 2, 1e-3, 64, cases[k].label) < 1e-2);
        scope_end();
    }
    scope_begin();
    Tensor *in[3] = {rand_leaf(SHAPE(2, 3, 4), &gen), noncontig_leaf(SHAPE(5, 4), &gen), rand_leaf(SHAPE(5), &gen)};
    assert_true(fd_gradcheck(fd_linear, NULL, in, 3, 1e-3, 64, "fd linear") < 1e-2);
    scope_end();
}

/* ---- errors ---- */

static void test_errors_name_the_shapes(void **state)
{
    scope_begin();
    engine_clear_error();
    Tensor *m34 = tensor_zeros(SHAPE(3, 4), DT_F32, CPU), *m56 = tensor_zeros(SHAPE(5, 6), DT_F32, CPU);
    expect_error(t_mm(m34, m56), "[3, 4]", "[5, 6]");
    expect_error(t_mm(m34, tensor_zeros(SHAPE(4), DT_F32, CPU)), "2-D", "[4]");
    expect_error(t_matmul(m34, m56), "[3, 4]", "[5, 6]");
    expect_error(t_matmul(tensor_zeros(SHAPE(2, 3, 4), DT_F32, CPU), tensor_zeros(SHAPE(3, 4, 5), DT_F32, CPU)),
                 "[2, 3, 4]", "[3, 4, 5]");
    expect_error(t_matmul(tensor_zeros(SCALAR_SHAPE, DT_F32, CPU), m34), "at least 1D", NULL);
    expect_error(t_bmm(tensor_zeros(SHAPE(2, 3, 4), DT_F32, CPU), tensor_zeros(SHAPE(3, 4, 5), DT_F32, CPU)),
                 "[2, 3, 4]", "[3, 4, 5]");
    expect_error(t_dot(tensor_zeros(SHAPE(3), DT_F32, CPU), tensor_zeros(SHAPE(4), DT_F32, CPU)), "[3]", "[4]");
    expect_error(f_linear(tensor_zeros(SHAPE(8, 5), DT_F32, CPU), m34, NULL), "[8, 5]", "[3, 4]");
    expect_error(f_linear(tensor_zeros(SHAPE(8, 4), DT_F32, CPU), m34, tensor_zeros(SHAPE(4), DT_F32, CPU)),
                 "bias", "[4]");
    expect_error(t_mm(m34, tensor_zeros(SHAPE(4, 2), DT_I64, CPU)), "int64", NULL);
    /* a NULL input propagates without a new message */
    assert_null(t_matmul(NULL, m34));
    assert_false(engine_has_error());
    scope_end();
}

int main(void)
{
    generator_seed(&gen, 7);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul_against_torch),
        cmocka_unit_test(test_linear_against_torch),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_errors_name_the_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
