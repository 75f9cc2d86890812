/* softmax / log_softmax against PyTorch (every dim, strided inputs, large
 * logits, NaN and +-Inf) and finite differences; dropout and dropout2d:
 * drop rate, scaling, reproducibility from the generator state, identity
 * in eval, gradient equal to the mask, NaN and +-Inf inputs. */
#include <math.h>
#include <stdlib.h>

#include "tests/support/check.h"
#include "tests/support/oracle.h"

static Generator gen;

typedef Tensor *(*SoftmaxFn)(Tensor *, int);

static void test_softmax_against_torch(void **state)
{
    static const struct {
        const char *op;
        SoftmaxFn fn;
    } ops[] = {{"softmax", f_softmax}, {"log_softmax", f_log_softmax}};
    Shape shapes[] = {SHAPE(7), SHAPE(3, 5), SHAPE(2, 3, 4), SHAPE(2, 3, 4, 5), SHAPE(2, 300)};
    enum { MAX_CASES = 128 };
    scope_begin();
    Oracle *o = oracle_new("softmax");
    Tensor *outs[MAX_CASES], *ins[MAX_CASES];
    int ids[MAX_CASES], dims[MAX_CASES], which[MAX_CASES], n = 0;
    for (int k = 0; k < 2; k++)
        for (int s = 0; s < 5; s++)
            for (int dim = -1; dim < shapes[s].ndim; dim++)
                for (int strided = 0; strided < 2; strided++) {
                    if (strided && shapes[s].ndim < 2) continue;
                    Tensor *x = strided ? noncontig_leaf(shapes[s], &gen) : rand_leaf(shapes[s], &gen);
                    if (s == 4) { /* logits around 100: exp would overflow without the max shift */
                        bool mode = no_grad_begin();
                        tensor_copy_(x, t_add_scalar(t_mul_scalar(x, 5.0), 100.0));
                        grad_mode_restore(mode);
                    }
                    Tensor *y = ops[k].fn(x, dim);
                    REQUIRE_OK(y);
                    Tensor *gout = tensor_randn(y->shape, &gen, CPU);
                    assert_int_equal(tensor_backward(y, gout), 0);
                    char args[32];
                    snprintf(args, sizeof args, "{\"dim\": %d}", dim);
                    assert_true(n < MAX_CASES);
                    ids[n] = oracle_add(o, ops[k].op, args, 1, &x, gout);
                    outs[n] = y;
                    ins[n] = x;
                    dims[n] = dim;
                    which[n] = k;
                    n++;
                }
    /* a 0-dim input: softmax of one value */
    Tensor *x0 = tensor_set_requires_grad(tensor_scalar(0.3, DT_F32, CPU), true);
    Tensor *y0 = f_softmax(x0, 0);
    REQUIRE_OK(y0);
    int id0 = oracle_add(o, "softmax", "{\"dim\": 0}", 1, &x0, NULL);
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n; i++) {
        char label[96];
        snprintf(label, sizeof label, "%s %s dim %d%s", ops[which[i]].op, shape_str(ins[i]->shape), dims[i],
                 tensor_is_contiguous(ins[i]) ? "" : " (strided)");
        expect_close(outs[i], oracle_output(o, ids[i], 0), 1e-5, label);
        expect_close(ins[i]->grad, oracle_grad(o, ids[i], 0), 1e-5, "  grad");
    }
    expect_close(y0, oracle_output(o, id0, 0), 0, "softmax of a 0-dim tensor");
    oracle_free(o);
    scope_end();
}

/* softmax and log_softmax of rows holding NaN, +Inf (one or two), -Inf
 * (some or all of the row) and mixtures, along the last dim (rows) and
 * along other dims (blocks), forward and backward against PyTorch: a NaN
 * or +Inf makes its whole slice NaN, -Inf gives probability 0, a slice of
 * only -Inf is NaN. */
static void test_softmax_nonfinite_against_torch(void **state)
{
    static const struct {
        const char *op;
        SoftmaxFn fn;
    } ops[] = {{"softmax", f_softmax}, {"log_softmax", f_log_softmax}};
    /* rows of 6: clean, NaN, +Inf, two +Inf, -Inf, all -Inf, +Inf and -Inf */
    const char *rows = "........n....+....+...+....-..------+-....";
    static const struct {
        Shape shape;
        int dim;
        bool strided;
    } cases[] = {
        {SHAPE(7, 6), -1, false}, {SHAPE(7, 6), 0, false},   {SHAPE(7, 6), 1, true},
        {SHAPE(2, 7, 6), 1, false}, {SHAPE(3, 700), -1, false}, {SHAPE(300, 4), 0, false},
    };
    enum { N_CASES = sizeof cases / sizeof cases[0] };
    scope_begin();
    Oracle *o = oracle_new("softmax_nonfinite");
    Tensor *outs[2 * N_CASES], *ins[2 * N_CASES];
    int ids[2 * N_CASES], n = 0;
    for (int k = 0; k < 2; k++)
        for (int c = 0; c < N_CASES; c++) {
            Tensor *x = cases[c].strided ? noncontig_leaf(cases[c].shape, &gen) : rand_leaf(cases[c].shape, &gen);
            if (shape_numel(cases[c].shape) <= 84) put_nonfinite(x, rows);
            else sprinkle_nonfinite(x, 1, 2, 40, &gen); /* long slices: most stay finite */
            Tensor *y = ops[k].fn(x, cases[c].dim);
            REQUIRE_OK(y);
            Tensor *gout = tensor_randn(y->shape, &gen, CPU);
            assert_int_equal(tensor_backward(y, gout), 0);
            char args[32];
            snprintf(args, sizeof args, "{\"dim\": %d}", cases[c].dim);
            ids[n] = oracle_add(o, ops[k].op, args, 1, &x, gout);
            outs[n] = y;
            ins[n] = x;
            n++;
        }
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n; i++) {
        char label[96];
        snprintf(label, sizeof label, "%s %s dim %d%s non-finite", ops[i / N_CASES].op, shape_str(ins[i]->shape),
                 cases[i % N_CASES].dim, tensor_is_contiguous(ins[i]) ? "" : " (strided)");
        expect_close_nonfinite(outs[i], oracle_output(o, ids[i], 0), 1e-5, label);
        expect_close_nonfinite(ins[i]->grad, oracle_grad(o, ids[i], 0), 1e-5, "  grad");
    }
    oracle_free(o);
    scope_end();
}

typedef struct {
    SoftmaxFn fn;
    int dim;
} SoftmaxCtx;

static Tensor *fd_softmax(Tensor **in, void *ctx)
{
    const SoftmaxCtx *c = ctx;
    return c->fn(in[0], c->dim);
}

static void test_softmax_finite_differences(void **state)
{
    SoftmaxCtx cases[] = {{f_softmax, -1}, {f_softmax, 1}, {f_log_softmax, -1}, {f_log_softmax, 0}};
    const char *names[] = {"fd softmax dim -1", "fd softmax dim 1", "fd log_softmax dim -1", "fd log_softmax dim 0"};
    for (int k = 0; k < 4; k++) {
        scope_begin();
        Tensor *x = noncontig_leaf(SHAPE(3, 4, 5), &gen);
        double err = fd_gradcheck(fd_softmax, &cases[k], &x, 1, 1e-3, 64, names[k]);
        assert_true(err < 1e-2);
        scope_end();
    }
}

/* ---- dropout ---- */

static int64_t count_value(Tensor *t, float value)
{
    Tensor *c = t_contiguous(t);
    const float *p = tensor_f32(c);
    int64_t n = 0;
    for (int64_t i = 0; i < tensor_numel(c); i++) n += p[i] == value;
    return n;
}

static void test_dropout_rate_and_scaling(void **state)
{
    scope_begin();
    const double ps[] = {0.1, 0.3, 0.5, 0.8};
    for (int k = 0; k < 4; k++) {
        double p = ps[k];
        Tensor *x = tensor_ones(SHAPE(400, 500), DT_F32, CPU);
        Tensor *y = f_dropout(x, p, true, &gen);
        REQUIRE_OK(y);
        int64_t n = tensor_numel(y), zeros = count_value(y, 0.0f), kept = count_value(y, (float)(1.0 / (1.0 - p)));
        double frac = (double)zeros / (double)n;
        print_message("  dropout p=%.1f: zero fraction %.4f, kept values all 1/(1-p): %s\n", p, frac,
                      zeros + kept == n ? "yes" : "NO");
        /* the sd of the fraction is sqrt(p(1-p)/n) <= 0.0008: 0.005 is > 6 sd */
        assert_true(fabs(frac - p) < 0.005);
        assert_int_equal(zeros + kept, n);
    }
    scope_end();
}

static void test_dropout_reproducible_from_generator_state(void **state)
{
    scope_begin();
    Generator g;
    generator_seed(&g, 2024);
    uint64_t saved[2];
    generator_get_state(&g, saved);
    Tensor *x = tensor_randn(SHAPE(64, 33), &gen, CPU);
    Tensor *a = f_dropout(x, 0.4, true, &g);
    Tensor *b = f_dropout(x, 0.4, true, &g);
    generator_set_state(&g, saved);
    Tensor *c = f_dropout(x, 0.4, true, &g);
    REQUIRE_OK(a);
    REQUIRE_OK(b);
    REQUIRE_OK(c);
    expect_equal(c, a, "dropout after restoring the generator state");
    assert_true(max_rel_error(a, b) > 0); /* the state advanced between a and b */
    /* the default generator is used when none is given, and is reproducible too */
    manual_seed(99);
    Tensor *d1 = f_dropout(x, 0.4, true, NULL);
    manual_seed(99);
    Tensor *d2 = f_dropout(x, 0.4, true, NULL);
    expect_equal(d2, d1, "dropout with the default generator after manual_seed");
    /* dropout2d too */
    generator_set_state(&g, saved);
    Tensor *x4 = tensor_randn(SHAPE(4, 6, 3, 3), &gen, CPU);
    Tensor *e1 = f_dropout2d(x4, 0.5, true, &g);
    generator_set_state(&g, saved);
    Tensor *e2 = f_dropout2d(x4, 0.5, true, &g);
    REQUIRE_OK(e1);
    expect_equal(e2, e1, "dropout2d after restoring the generator state");
    scope_end();
}

static void test_dropout_identity_and_edge_probabilities(void **state)
{
    scope_begin();
    Tensor *x = rand_leaf(SHAPE(5, 6), &gen);
    Generator g;
    generator_seed(&g, 5);
    uint64_t before[2], after[2];
    generator_get_state(&g, before);
    assert_ptr_equal(f_dropout(x, 0.5, false, &g), x);
    assert_ptr_equal(f_dropout(x, 0.0, true, &g), x);
    Tensor *x3 = t_reshape(x, SHAPE(5, 3, 2));
    assert_ptr_equal(f_dropout2d(x3, 0.5, false, &g), x3);
    generator_get_state(&g, after);
    assert_true(before[1] == after[1]); /* identity draws nothing */
    /* p == 1 drops everything, and the gradient is 0 */
    Tensor *y = f_dropout(x, 1.0, true, &g);
    REQUIRE_OK(y);
    assert_int_equal(count_value(y, 0.0f), tensor_numel(x));
    assert_int_equal(tensor_backward(y, tensor_ones(y->shape, DT_F32, CPU)), 0);
    assert_int_equal(count_value(x->grad, 0.0f), tensor_numel(x));
    print_message("  eval and p=0 return the input; p=1 gives zeros and zero gradient\n");
    scope_end();
}

static void test_dropout_gradient_is_the_mask(void **state)
{
    scope_begin();
    /* through ones the output is the scaled mask itself */
    Tensor *x = tensor_set_requires_grad(tensor_ones(SHAPE(30, 40), DT_F32, CPU), true);
    Tensor *mask = f_dropout(x, 0.25, true, &gen);
    REQUIRE_OK(mask);
    Tensor *gout = tensor_randn(mask->shape, &gen, CPU);
    assert_int_equal(tensor_backward(mask, gout), 0);
    expect_close(x->grad, t_mul(gout, mask), 0, "dropout grad == g * scaled mask");

    Tensor *x4 = tensor_set_requires_grad(tensor_ones(SHAPE(3, 8, 4, 5), DT_F32, CPU), true);
    Tensor *mask4 = f_dropout2d(x4, 0.5, true, &gen);
    REQUIRE_OK(mask4);
    Tensor *g4 = tensor_randn(mask4->shape, &gen, CPU);
    assert_int_equal(tensor_backward(mask4, g4), 0);
    expect_close(x4->grad, t_mul(g4, mask4), 0, "dropout2d grad == g * scaled mask");
    scope_end();
}

/* PyTorch's dropout multiplies by the scaled 0/1 mask, so a dropped NaN or
 * +-Inf gives NaN (0 * Inf), not 0, and a kept one stays as it is: with
 * p = 1 too. The gradient is still the mask (finite). */
static void test_dropout_of_nonfinite_values(void **state)
{
    scope_begin();
    const double ps[] = {0.5, 1.0};
    for (int k = 0; k < 2; k++) {
        for (int channels = 0; channels < 2; channels++) {
            Tensor *x = tensor_set_requires_grad(tensor_ones(SHAPE(8, 6, 5), DT_F32, CPU), true);
            put_nonfinite(x, "n+-.");
            Tensor *y = channels ? f_dropout2d(x, ps[k], true, &gen) : f_dropout(x, ps[k], true, &gen);
            REQUIRE_OK(y);
            assert_int_equal(tensor_backward(y, tensor_ones(y->shape, DT_F32, CPU)), 0);
            const float *px = tensor_f32(x), *py = tensor_f32(y), *pg = tensor_f32(x->grad);
            int64_t dropped_nonfinite = 0, kept_nonfinite = 0;
            for (int64_t i = 0; i < tensor_numel(x); i++) {
                assert_true(pg[i] == 0.0f || pg[i] == (float)(1.0 / (1.0 - ps[k])));
                if (isfinite(px[i])) {
                    assert_true(py[i] == px[i] * pg[i]);
                } else if (pg[i] == 0.0f) {
                    assert_true(isnan(py[i]));
                    dropped_nonfinite++;
                } else {
                    assert_true(py[i] == px[i] || (isnan(py[i]) && isnan(px[i])));
                    kept_nonfinite++;
                }
            }
            print_message("  %s p=%.1f: %lld dropped NaN/Inf gave NaN, %lld kept\n", channels ? "dropout2d" : "dropout",
                          ps[k], (long long)dropped_nonfinite, (long long)kept_nonfinite);
            assert_true(dropped_nonfinite > 0);
            if (ps[k] < 1.0) assert_true(kept_nonfinite > 0);
        }
    }
    scope_end();
}

static void test_dropout2d_drops_whole_channels(void **state)
{
    scope_begin();
    Shape shapes[] = {SHAPE(50, 400, 2, 3), SHAPE(100, 200, 5)};
    for (int k = 0; k < 2; k++) {
        const double p = 0.3;
        Tensor *y = f_dropout2d(tensor_ones(shapes[k], DT_F32, CPU), p, true, &gen);
        REQUIRE_OK(y);
        int64_t channels = shapes[k].d[0] * shapes[k].d[1], plane = tensor_numel(y) / channels;
        const float *py = tensor_f32(y);
        int64_t dropped = 0, mixed = 0;
        for (int64_t c = 0; c < channels; c++) {
            const float *q = py + c * plane;
            for (int64_t i = 1; i < plane; i++) mixed += q[i] != q[0];
            dropped += q[0] == 0.0f;
            if (q[0] != 0.0f) assert_float_equal(q[0], 1.0 / (1.0 - p), 1e-6);
        }
        double frac = (double)dropped / (double)channels;
        print_message("  dropout2d %s: dropped channel fraction %.4f, mixed channels %lld\n", shape_str(shapes[k]),
                      frac, (long long)mixed);
        assert_int_equal(mixed, 0);
        assert_true(fabs(frac - p) < 0.02); /* 20000 channels: sd 0.0032 */
    }
    scope_end();
}

typedef struct {
    bool channels;
    double p;
} DropoutCtx;

/* the same mask on every call: the generator is reseeded each time */
static Tensor *fd_dropout(Tensor **in, void *ctx)
{
    const DropoutCtx *c = ctx;
    Generator g;
    generator_seed(&g, 77);
    return c->channels ? f_dropout2d(in[0], c->p, true, &g) : f_dropout(in[0], c->p, true, &g);
}

static void test_dropout_finite_differences(void **state)
{
    DropoutCtx cases[] = {{false, 0.3}, {true, 0.5}};
    Shape shapes[] = {SHAPE(4, 6), SHAPE(3, 4, 2, 2)};
    const char *names[] = {"fd dropout", "fd dropout2d"};
    for (int k = 0; k < 2; k++) {
        scope_begin();
        Tensor *x = rand_leaf(shapes[k], &gen);
        double err = fd_gradcheck(fd_dropout, &cases[k], &x, 1, 1e-3, 64, names[k]);
        assert_true(err < 1e-2);
        scope_end();
    }
}

static void test_errors(void **state)
{
    scope_begin();
    engine_clear_error();
    Tensor *x = tensor_zeros(SHAPE(2, 3), DT_F32, CPU);
    assert_null(f_softmax(x, 2));
    print_message("  error: %s\n", engine_last_error());
    assert_non_null(strstr(engine_last_error(), "softmax"));
    engine_clear_error();
    assert_null(f_log_softmax(tensor_zeros(SHAPE(3), DT_I64, CPU), 0));
    assert_non_null(strstr(engine_last_error(), "int64"));
    engine_clear_error();
    const double bad_p[] = {-0.1, 1.5, NAN};
    for (int k = 0; k < 3; k++) {
        assert_null(f_dropout(x, bad_p[k], true, NULL));
        assert_non_null(strstr(engine_last_error(), "between 0 and 1"));
        engine_clear_error();
    }
    assert_null(f_dropout2d(x, 0.5, true, NULL));
    print_message("  error: %s\n", engine_last_error());
    assert_non_null(strstr(engine_last_error(), "[2, 3]"));
    engine_clear_error();
    assert_null(f_dropout(NULL, 0.5, true, NULL));
    assert_false(engine_has_error()); /* NULL in, NULL out, no new message */
    scope_end();
}

int main(void)
{
    generator_seed(&gen, 11);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_against_torch),
        cmocka_unit_test(test_softmax_nonfinite_against_torch),
        cmocka_unit_test(test_softmax_finite_differences),
        cmocka_unit_test(test_dropout_rate_and_scaling),
        cmocka_unit_test(test_dropout_reproducible_from_generator_state),
        cmocka_unit_test(test_dropout_identity_and_edge_probabilities),
        cmocka_unit_test(test_dropout_gradient_is_the_mask),
        cmocka_unit_test(test_dropout_of_nonfinite_values),
        cmocka_unit_test(test_dropout2d_drops_whole_channels),
        cmocka_unit_test(test_dropout_finite_differences),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
