/* Elementwise ops: forward and backward against PyTorch (contiguous,
 * non-contiguous and broadcast inputs, and with NaN and +-Inf among the
 * values) and against finite differences. */
#include <math.h>

#include "tests/support/check.h"
#include "tests/support/oracle.h"

static Generator gen;

typedef struct {
    const char *op;
    const char *args;
    Tensor *(*fn)(Tensor *a, double s0, double s1);
    double s0, s1;
    double lo; /* inputs are shifted to stay in the op's smooth domain */
} UnaryCase;

static Tensor *u_neg(Tensor *a, double s0, double s1) { return t_neg(a); }
static Tensor *u_exp(Tensor *a, double s0, double s1) { return t_exp(a); }
static Tensor *u_log(Tensor *a, double s0, double s1) { return t_log(a); }
static Tensor *u_sqrt(Tensor *a, double s0, double s1) { return t_sqrt(a); }
static Tensor *u_abs(Tensor *a, double s0, double s1) { return t_abs(a); }
static Tensor *u_relu(Tensor *a, double s0, double s1) { return t_relu(a); }
static Tensor *u_sigmoid(Tensor *a, double s0, double s1) { return t_sigmoid(a); }
static Tensor *u_tanh(Tensor *a, double s0, double s1) { return t_tanh(a); }
static Tensor *u_add_scalar(Tensor *a, double s0, double s1) { return t_add_scalar(a, s0); }
static Tensor *u_mul_scalar(Tensor *a, double s0, double s1) { return t_mul_scalar(a, s0); }
static Tensor *u_pow(Tensor *a, double s0, double s1) { return t_pow_scalar(a, s0); }
static Tensor *u_clamp(Tensor *a, double s0, double s1) { return t_clamp(a, s0, s1); }
static Tensor *u_leaky(Tensor *a, double s0, double s1) { return t_leaky_relu(a, s0); }
static Tensor *u_gelu(Tensor *a, double s0, double s1) { return t_gelu(a, s0 != 0); }

static const UnaryCase unary_cases[] = {
    {"neg", "{}", u_neg, 0, 0, -INFINITY},
    {"exp", "{}", u_exp, 0, 0, -INFINITY},
    {"log", "{}", u_log, 0, 0, 0.5},
    {"sqrt", "{}", u_sqrt, 0, 0, 0.5},
    {"abs", "{}", u_abs, 0, 0, -INFINITY},
    {"relu", "{}", u_relu, 0, 0, -INFINITY},
    {"sigmoid", "{}", u_sigmoid, 0, 0, -INFINITY},
    {"tanh", "{}", u_tanh, 0, 0, -INFINITY},
    {"add_scalar", "{\"s\": 2.5}", u_add_scalar, 2.5, 0, -INFINITY},
    {"mul_scalar", "{\"s\": -1.5}", u_mul_scalar, -1.5, 0, -INFINITY},
    {"pow", "{\"p\": 3.0}", u_pow, 3.0, 0, -INFINITY},
    {"pow", "{\"p\": 0.5}", u_pow, 0.5, 0, 0.5},
    {"clamp", "{\"min\": -0.5, \"max\": 0.7}", u_clamp, -0.5, 0.7, -INFINITY},
    {"leaky_relu", "{\"slope\": 0.1}", u_leaky, 0.1, 0, -INFINITY},
    {"gelu", "{\"approximate\": \"none\"}", u_gelu, 0, 0, -INFINITY},
    {"gelu", "{\"approximate\": \"tanh\"}", u_gelu, 1, 0, -INFINITY},
};
#define N_UNARY (int)(sizeof unary_cases / sizeof unary_cases[0])

/* A leaf in the op's domain: |x| + lo when lo is finite. */
static Tensor *domain_leaf(Shape s, double lo, bool contiguous)
{
    Tensor *x = contiguous ? rand_leaf(s, &gen) : noncontig_leaf(s, &gen);
    if (isfinite(lo)) {
        bool mode = no_grad_begin();
        Tensor *shifted = t_add_scalar(t_abs(x), lo);
        grad_mode_restore(mode);
        tensor_copy_(x, shifted);
    }
    return x;
}

static void test_unary_against_torch(void **state)
{
    scope_begin();
    Oracle *o = oracle_new("unary");
    Shape shapes[] = {SHAPE(7), SHAPE(3, 5), SHAPE(2, 3, 4)};
    Tensor *ours[N_UNARY * 6], *ins[N_UNARY * 6];
    int ids[N_UNARY * 6], n = 0;
    for (int c = 0; c < N_UNARY; c++)
        for (int s = 0; s < 3; s++)
            for (int contig = 0; contig < 2; contig++) {
                Tensor *x = domain_leaf(shapes[s], unary_cases[c].lo, contig);
                Tensor *y = unary_cases[c].fn(x, unary_cases[c].s0, unary_cases[c].s1);
                REQUIRE_OK(y);
                Tensor *gout = tensor_randn(y->shape, &gen, CPU);
                assert_int_equal(tensor_backward(y, gout), 0);
                ids[n] = oracle_add(o, unary_cases[c].op, unary_cases[c].args, 1, &x, gout);
                ours[n] = y;
                ins[n] = x;
                n++;
            }
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n; i++) {
        char label[96];
        snprintf(label, sizeof label, "%s %s%s", unary_cases[i / 6].op, shape_str(ins[i]->shape),
                 tensor_is_contiguous(ins[i]) ? "" : " (strided)");
        expect_close(ours[i], oracle_output(o, ids[i], 0), 1e-5, label);
        expect_close(ins[i]->grad, oracle_grad(o, ids[i], 0), 1e-5, "  grad");
    }
    oracle_free(o);
    scope_end();
}

typedef Tensor *(*BinaryFn)(Tensor *, Tensor *);

static void test_binary_against_torch(void **state)
{
    static const struct {
        const char *op;
        BinaryFn fn;
    } ops[] = {{"add", t_add}, {"sub", t_sub}, {"mul", t_mul}, {"div", t_div}};
    /* pairs of shapes: equal, broadcasting both ways, scalar; and rows
     * against one value each (a dropout2d mask: its own loop), small and
     * above the grain where the rows are shared among threads */
    Shape pairs[][2] = {
        {SHAPE(4, 5), SHAPE(4, 5)},       {SHAPE(4, 5), SHAPE(5)},       {SHAPE(3, 1, 5), SHAPE(4, 1)},
        {SHAPE(2, 3, 4), SHAPE(1, 3, 1)}, {SHAPE(6), SCALAR_SHAPE},      {SHAPE(3, 1), SHAPE(2, 1, 4)},
        {SHAPE(4, 3, 2, 5), SHAPE(4, 3, 1, 1)}, {SHAPE(64, 20, 6, 6), SHAPE(64, 20, 1, 1)},
    };
    enum { N_PAIRS = sizeof pairs / sizeof pairs[0] };
    scope_begin();
    Oracle *o = oracle_new("binary");
    int n = 0, ids[64];
    Tensor *outs[64], *as[64], *bs[64];
    for (int k = 0; k < 4; k++)
        for (int p = 0; p < N_PAIRS; p++) {
            Tensor *a = p % 2 && p < 6 ? noncontig_leaf(pairs[p][0], &gen) : rand_leaf(pairs[p][0], &gen);
            Tensor *b = rand_leaf(pairs[p][1], &gen);
            if (ops[k].fn == t_div) { /* keep the divisor away from 0 */
                bool mode = no_grad_begin();
                tensor_copy_(b, t_add_scalar(t_abs(b), 0.5));
                grad_mode_restore(mode);
            }
            Tensor *y = ops[k].fn(a, b);
            REQUIRE_OK(y);
            Tensor *gout = tensor_randn(y->shape, &gen, CPU);
            assert_int_equal(tensor_backward(y, gout), 0);
            ids[n] = oracle_add(o, ops[k].op, NULL, 2, (Tensor *[]){a, b}, gout);
            outs[n] = y;
            as[n] = a;
            bs[n] = b;
            n++;
        }
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n; i++) {
        char label[96];
        snprintf(label, sizeof label, "%s %s %s", ops[i / N_PAIRS].op, shape_str(as[i]->shape), shape_str(bs[i]->shape));
        expect_close(outs[i], oracle_output(o, ids[i], 0), 1e-5, label);
        expect_close(as[i]->grad, oracle_grad(o, ids[i], 0), 1e-5, "  grad a");
        expect_close(bs[i]->grad, oracle_grad(o, ids[i], 1), 1e-5, "  grad b");
    }
    oracle_free(o);
    scope_end();
}

static void test_where_and_compare_against_torch(void **state)
{
    scope_begin();
    Oracle *o = oracle_new("where");
    Tensor *a = rand_leaf(SHAPE(3, 4), &gen), *b = rand_leaf(SHAPE(4), &gen);
    Tensor *cond = t_gt(tensor_randn(SHAPE(3, 1), &gen, CPU), tensor_zeros(SCALAR_SHAPE, DT_F32, CPU));
    Tensor *w = t_where(cond, a, b);
    REQUIRE_OK(w);
    Tensor *gout = tensor_randn(w->shape, &gen, CPU);
    assert_int_equal(tensor_backward(w, gout), 0);
    int cw = oracle_add(o, "where", NULL, 3, (Tensor *[]){cond, a, b}, gout);

    Tensor *x = rand_leaf(SHAPE(2, 5), &gen);
    Tensor *mask = t_gt(tensor_randn(SHAPE(5), &gen, CPU), tensor_zeros(SCALAR_SHAPE, DT_F32, CPU));
    Tensor *m = t_masked_fill(x, mask, -3.0);
    REQUIRE_OK(m);
    Tensor *gm = tensor_randn(m->shape, &gen, CPU);
    assert_int_equal(tensor_backward(m, gm), 0);
    int cm = oracle_add(o, "masked_fill", "{\"value\": -3.0}", 2, (Tensor *[]){x, mask}, gm);

    Tensor *p = tensor_randn(SHAPE(4, 3), &gen, CPU), *q = tensor_randn(SHAPE(3), &gen, CPU);
    Tensor *gt = t_gt(p, q);
    int cg = oracle_add(o, "gt", NULL, 2, (Tensor *[]){p, q}, NULL);
    Tensor *eq = t_eq(p, t_clone(p));
    int ce = oracle_add(o, "eq", NULL, 2, (Tensor *[]){p, p}, NULL);
    ORACLE_RUN_OR_SKIP(o);
    expect_close(w, oracle_output(o, cw, 0), 0, "where");
    expect_close(a->grad, oracle_grad(o, cw, 1), 0, "  grad a");
    expect_close(b->grad, oracle_grad(o, cw, 2), 1e-6, "  grad b");
    expect_close(m, oracle_output(o, cm, 0), 0, "masked_fill");
    expect_close(x->grad, oracle_grad(o, cm, 0), 0, "  grad");
    expect_equal(gt, oracle_output(o, cg, 0), "gt [4, 3] [3]");
    expect_equal(eq, oracle_output(o, ce, 0), "eq");
    oracle_free(o);
    scope_end();
}

/* Every unary op on NaN, +Inf, -Inf and 0 among ordinary values, forward
 * and backward (contiguous and strided), against PyTorch: NaN must stay
 * NaN (relu and clamp once turned it into a number) and the gradients at
 * the special values must be PyTorch's. */
static void test_unary_nonfinite_against_torch(void **state)
{
    static const UnaryCase extra[] = {
        {"clamp", "{\"min\": -0.3}", u_clamp, -0.3, INFINITY, -INFINITY},
        {"clamp", "{\"max\": 0.2}", u_clamp, -INFINITY, 0.2, -INFINITY},
        {"pow", "{\"p\": 2.0}", u_pow, 2.0, 0, -INFINITY},
        {"pow", "{\"p\": 1.5}", u_pow, 1.5, 0, -INFINITY},
        {"pow", "{\"p\": -0.5}", u_pow, -0.5, 0, -INFINITY},
        {"pow", "{\"p\": -1.0}", u_pow, -1.0, 0, -INFINITY},
        {"pow", "{\"p\": -2.0}", u_pow, -2.0, 0, -INFINITY},
        {"pow", "{\"p\": 0.0}", u_pow, 0.0, 0, -INFINITY},
        {"pow", "{\"p\": 1.0}", u_pow, 1.0, 0, -INFINITY},
        {"mul_scalar", "{\"s\": 0.0}", u_mul_scalar, 0.0, 0, -INFINITY},
    };
    enum { N_EXTRA = sizeof extra / sizeof extra[0], N_ALL = N_UNARY + N_EXTRA };
    scope_begin();
    Oracle *o = oracle_new("unary_nonfinite");
    Tensor *ours[2 * N_ALL], *ins[2 * N_ALL];
    const UnaryCase *cases[2 * N_ALL];
    int ids[2 * N_ALL], n = 0;
    for (int c = 0; c < N_ALL; c++)
        for (int contig = 0; contig < 2; contig++) {
            const UnaryCase *uc = c < N_UNARY ? &unary_cases[c] : &extra[c - N_UNARY];
            /* ordinary values of both signs (the domain shift would hide the negative ones) */
            Tensor *x = contig ? rand_leaf(SHAPE(3, 9), &gen) : noncontig_leaf(SHAPE(3, 9), &gen);
            put_nonfinite(x, "n+-0..+.-n..");
            Tensor *y = uc->fn(x, uc->s0, uc->s1);
            REQUIRE_OK(y);
            Tensor *gout = tensor_randn(y->shape, &gen, CPU);
            assert_int_equal(tensor_backward(y, gout), 0);
            ids[n] = oracle_add(o, uc->op, uc->args, 1, &x, gout);
            ours[n] = y;
            ins[n] = x;
            cases[n] = uc;
            n++;
        }
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n; i++) {
        char label[96];
        snprintf(label, sizeof label, "%s %s non-finite%s", cases[i]->op, cases[i]->args,
                 tensor_is_contiguous(ins[i]) ? "" : " (strided)");
        expect_close_nonfinite(ours[i], oracle_output(o, ids[i], 0), 1e-5, label);
        expect_close_nonfinite(ins[i]->grad, oracle_grad(o, ids[i], 0), 1e-5, "  grad");
    }
    oracle_free(o);
    scope_end();
}

/* add/sub/mul/div with NaN and +-Inf in both operands (broadcast), forward
 * and backward, every comparison with NaN and +-Inf (exact 0/1), where and
 * masked_fill. */
static void test_binary_nonfinite_against_torch(void **state)
{
    static const struct {
        const char *op;
        BinaryFn fn;
    } arith[] = {{"add", t_add}, {"sub", t_sub}, {"mul", t_mul}, {"div", t_div}},
      compare[] = {{"eq", t_eq}, {"ne", t_ne}, {"gt", t_gt}, {"lt", t_lt}, {"ge", t_ge}, {"le", t_le}};
    scope_begin();
    Oracle *o = oracle_new("binary_nonfinite");
    Tensor *outs[10], *as[10], *bs[10];
    int ids[10];
    for (int k = 0; k < 10; k++) {
        bool is_arith = k < 4;
        Tensor *a = k % 2 ? noncontig_leaf(SHAPE(9, 8), &gen) : rand_leaf(SHAPE(9, 8), &gen);
        Tensor *b = rand_leaf(SHAPE(8), &gen);
        put_nonfinite(a, "n+-0..+.-"); /* 9 long: each row meets b's specials differently */
        put_nonfinite(b, "+-n0.-.+");
        if (!is_arith) {
            tensor_set_requires_grad(a, false);
            tensor_set_requires_grad(b, false);
        }
        BinaryFn fn = is_arith ? arith[k].fn : compare[k - 4].fn;
        Tensor *y = fn(a, b);
        REQUIRE_OK(y);
        Tensor *gout = NULL;
        if (is_arith) {
            gout = tensor_randn(y->shape, &gen, CPU);
            assert_int_equal(tensor_backward(y, gout), 0);
        }
        ids[k] = oracle_add(o, is_arith ? arith[k].op : compare[k - 4].op, NULL, 2, (Tensor *[]){a, b}, gout);
        outs[k] = y;
        as[k] = a;
        bs[k] = b;
    }
    /* where and masked_fill move NaN and +-Inf like any value; a NaN fill value too */
    Tensor *wa = rand_leaf(SHAPE(4, 6), &gen), *wb = rand_leaf(SHAPE(6), &gen), *mx = rand_leaf(SHAPE(3, 6), &gen);
    put_nonfinite(wa, "n.+.-..");
    put_nonfinite(wb, ".-n+..");
    put_nonfinite(mx, "..+n-");
    Tensor *cond = t_gt(tensor_randn(SHAPE(4, 1), &gen, CPU), tensor_zeros(SCALAR_SHAPE, DT_F32, CPU));
    Tensor *mask = t_gt(tensor_randn(SHAPE(6), &gen, CPU), tensor_zeros(SCALAR_SHAPE, DT_F32, CPU));
    Tensor *w = t_where(cond, wa, wb), *m = t_masked_fill(mx, mask, NAN);
    REQUIRE_OK(w);
    REQUIRE_OK(m);
    Tensor *gw = tensor_randn(w->shape, &gen, CPU), *gm = tensor_randn(m->shape, &gen, CPU);
    assert_int_equal(tensor_backward(w, gw), 0);
    assert_int_equal(tensor_backward(m, gm), 0);
    int cw = oracle_add(o, "where", NULL, 3, (Tensor *[]){cond, wa, wb}, gw);
    int cm = oracle_add(o, "masked_fill", "{\"value\": \"nan\"}", 2, (Tensor *[]){mx, mask}, gm);
    ORACLE_RUN_OR_SKIP(o);
    expect_close_nonfinite(w, oracle_output(o, cw, 0), 0, "where non-finite");
    expect_close_nonfinite(wa->grad, oracle_grad(o, cw, 1), 0, "  grad a");
    expect_close_nonfinite(wb->grad, oracle_grad(o, cw, 2), 1e-6, "  grad b");
    expect_close_nonfinite(m, oracle_output(o, cm, 0), 0, "masked_fill NaN, non-finite input");
    expect_close_nonfinite(mx->grad, oracle_grad(o, cm, 0), 0, "  grad");
    for (int k = 0; k < 10; k++) {
        char label[96];
        snprintf(label, sizeof label, "%s non-finite [9, 8] [8]", k < 4 ? arith[k].op : compare[k - 4].op);
        if (k >= 4) {
            expect_equal(outs[k], oracle_output(o, ids[k], 0), label);
            continue;
        }
        expect_close_nonfinite(outs[k], oracle_output(o, ids[k], 0), 1e-5, label);
        expect_close_nonfinite(as[k]->grad, oracle_grad(o, ids[k], 0), 1e-5, "  grad a");
        expect_close_nonfinite(bs[k]->grad, oracle_grad(o, ids[k], 1), 1e-5, "  grad b");
    }
    oracle_free(o);
    scope_end();
}

static Tensor *fd_unary(Tensor **in, void *ctx)
{
    const UnaryCase *c = ctx;
    return c->fn(in[0], c->s0, c->s1);
}

static void test_unary_finite_differences(void **state)
{
    for (int c = 0; c < N_UNARY; c++) {
        scope_begin();
        Tensor *x = domain_leaf(SHAPE(3, 4), unary_cases[c].lo, false);
        if (unary_cases[c].fn == u_abs || unary_cases[c].fn == u_relu || unary_cases[c].fn == u_leaky ||
            unary_cases[c].fn == u_clamp) {
            /* -1.9, -1.6, ..., 1.4: every value 0.1 away from the kinks at 0, -0.5 and 0.7 */
            Tensor *grid = t_reshape(tensor_arange(-1.9, 1.45, 0.3, DT_F32, CPU), SHAPE(3, 4));
            tensor_copy_(x, grid);
        }
        char label[64];
        snprintf(label, sizeof label, "fd %s", unary_cases[c].op);
        double err = fd_gradcheck(fd_unary, (void *)&unary_cases[c], &x, 1, 1e-3, 64, label);
        assert_true(err < 1e-2);
        scope_end();
    }
}

static Tensor *fd_binary(Tensor **in, void *ctx) { return ((BinaryFn)ctx)(in[0], in[1]); }

static void test_binary_finite_differences(void **state)
{
    BinaryFn fns[] = {t_add, t_sub, t_mul, t_div};
    const char *names[] = {"fd add (broadcast)", "fd sub (broadcast)", "fd mul (broadcast)", "fd div (broadcast)"};
    for (int k = 0; k < 4; k++) {
        scope_begin();
        Tensor *a = rand_leaf(SHAPE(3, 4), &gen);
        Tensor *b = rand_leaf(SHAPE(4), &gen);
        bool mode = no_grad_begin();
        tensor_copy_(b, t_add_scalar(t_abs(b), 1.0));
        grad_mode_restore(mode);
        double err = fd_gradcheck(fd_binary, (void *)fns[k], (Tensor *[]){a, b}, 2, 1e-3, 64, names[k]);
        assert_true(err < 1e-2);
        scope_end();
    }
}

static void test_errors_name_the_shapes(void **state)
{
    scope_begin();
    engine_clear_error();
    Tensor *a = tensor_zeros(SHAPE(2, 3), DT_F32, CPU), *b = tensor_zeros(SHAPE(4), DT_F32, CPU);
    assert_null(t_add(a, b));
    print_message("  error: %s\n", engine_last_error());
    assert_non_null(strstr(engine_last_error(), "[2, 3]"));
    assert_non_null(strstr(engine_last_error(), "[4]"));
    /* a NULL input propagates without replacing the first message */
    assert_null(t_relu(t_mul(t_add(a, b), a)));
    assert_non_null(strstr(engine_last_error(), "add"));
    engine_clear_error();
    assert_null(t_add(a, tensor_zeros(SHAPE(3), DT_I64, CPU)));
    assert_non_null(strstr(engine_last_error(), "int64"));
    engine_clear_error();
    scope_end();
}

int main(void)
{
    generator_seed(&gen, 42);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_against_torch),
        cmocka_unit_test(test_binary_against_torch),
        cmocka_unit_test(test_where_and_compare_against_torch),
        cmocka_unit_test(test_unary_nonfinite_against_torch),
        cmocka_unit_test(test_binary_nonfinite_against_torch),
        cmocka_unit_test(test_unary_finite_differences),
        cmocka_unit_test(test_binary_finite_differences),
        cmocka_unit_test(test_errors_name_the_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
