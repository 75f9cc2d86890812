/* Losses against PyTorch: nll_loss (raw and log-softmax inputs) and
 * cross_entropy over [C], [N, C] and [N, C, d...] inputs with class weights,
 * ignore_index and label smoothing; mse, l1, binary_cross_entropy (with
 * weights) and binary_cross_entropy_with_logits (weight, pos_weight); every
 * reduction, strided inputs, gradients of input and target, NaN and
 * +-Inf inputs; finite differences and error messages. */
#include <math.h>

#include "tests/support/check.h"
#include "tests/support/oracle.h"

static Generator gen;

static const char *reduction_names[] = {"mean", "sum", "none"};

/* Values in [lo, lo + 1), not requiring grad. */
static Tensor *uniform(Shape s, double lo)
{
    Tensor *t = tensor_empty(s, DT_F32, CPU);
    tensor_uniform_(t, lo, lo + 1.0, &gen);
    return t;
}

/* A leaf of shape s (strided when asked and possible) holding values. */
static Tensor *leaf_with(Shape s, Tensor *values, bool strided)
{
    Tensor *x = strided && s.ndim >= 2 ? noncontig_leaf(s, &gen) : rand_leaf(s, &gen);
    if (values) tensor_copy_(x, values);
    return x;
}

/* The target shape of a class-index loss: the input's without its class dim. */
static Shape target_shape(Shape input)
{
    Shape t = {.ndim = input.ndim - 1};
    for (int d = 0, j = 0; d < input.ndim; d++)
        if (d != (input.ndim == 1 ? 0 : 1)) t.d[j++] = input.d[d];
    return t;
}

/* Class indices in [0, C); every third one (from the second) replaced by
 * ignored when mark_ignored. */
static Tensor *class_targets(Shape s, int64_t C, bool mark_ignored, int64_t ignored)
{
    Tensor *t = tensor_randint(0, C, s, &gen, CPU);
    int64_t *p = tensor_i64(t);
    for (int64_t i = 0; mark_ignored && i < tensor_numel(t); i++)
        if (i % 3 == 1) p[i] = ignored;
    return t;
}

/* ---------------- nll_loss and cross_entropy ---------------- */

typedef enum { NLL_RAW, NLL_LOG_SOFTMAX, CE, CE_SMOOTHED, N_CLASS_KINDS } ClassKind;

static const char *class_kind_names[] = {"nll_loss", "nll_loss(log_softmax)", "cross_entropy",
                                         "cross_entropy ls=0.1"};

static Tensor *class_loss(ClassKind kind, Tensor *x, Tensor *target, Tensor *weight, int64_t ignore, Reduction r)
{
    int class_dim = x->shape.ndim == 1 ? 0 : 1;
    switch (kind) {
    case NLL_RAW: return f_nll_loss(x, target, weight, ignore, r);
    case NLL_LOG_SOFTMAX: return f_nll_loss(f_log_softmax(x, class_dim), target, weight, ignore, r);
    case CE: return f_cross_entropy(x, target, weight, ignore, r, 0.0);
    default: return f_cross_entropy(x, target, weight, ignore, r, 0.1);
    }
}

static void test_class_losses_against_torch(void **state)
{
    Shape shapes[] = {SHAPE(6, 5), SHAPE(3, 4, 5), SHAPE(2, 3, 4, 2), SHAPE(5)};
    /* ignore settings, cycled: some targets ignored (-100); ignore_index a
     * real class (1); nothing ignored */
    const int64_t ignore_values[] = {-100, 1, -100};
    enum { N_CASES = N_CLASS_KINDS * 4 * 2 * 3 };
    scope_begin();
    Oracle *o = oracle_new("class_losses");
    Tensor *outs[N_CASES], *xs[N_CASES];
    int ids[N_CASES], n = 0;
    char labels[N_CASES][128];
    for (int kind = 0; kind < N_CLASS_KINDS; kind++)
        for (int s = 0; s < 4; s++)
            for (int weighted = 0; weighted < 2; weighted++)
                for (int r = 0; r < 3; r++) {
                    int variant = (s + weighted + r + kind) % 3;
                    int64_t ignore = ignore_values[variant];
                    Shape is = shapes[s];
                    int64_t C = is.d[is.ndim == 1 ? 0 : 1];
                    Tensor *x = leaf_with(is, NULL, (s + r) % 2);
                    Tensor *target = class_targets(target_shape(is), C, variant == 0, -100);
                    Tensor *w = weighted ? uniform(SHAPE(C), 0.2) : NULL;
                    Tensor *y = class_loss((ClassKind)kind, x, target, w, ignore, (Reduction)r);
                    REQUIRE_OK(y);
                    Tensor *gout = tensor_randn(y->shape, &gen, CPU);
                    assert_int_equal(tensor_backward(y, gout), 0);
                    const char *op = kind == NLL_RAW ? "nll_loss"
                                     : kind == NLL_LOG_SOFTMAX ? "nll_loss_of_log_softmax"
                                                               : "cross_entropy";
                    char args[160];
                    snprintf(args, sizeof args,
                             "{\"ignore_index\": %lld, \"reduction\": \"%s\", \"label_smoothing\": %g, \"dim\": %d}",
                             (long long)ignore, reduction_names[r], kind == CE_SMOOTHED ? 0.1 : 0.0,
                             is.ndim == 1 ? 0 : 1);
                    ids[n] = oracle_add(o, op, args, 3, (Tensor *[]){x, target, w}, gout);
                    snprintf(labels[n], sizeof labels[n], "%s %s%s %s ignore %lld%s", class_kind_names[kind],
                             shape_str(is), weighted ? " weighted" : "", reduction_names[r], (long long)ignore,
                             tensor_is_contiguous(x) ? "" : " (strided)");
                    outs[n] = y;
                    xs[n] = x;
                    n++;
                }
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n; i++) {
        expect_close(outs[i], oracle_output(o, ids[i], 0), 1e-5, labels[i]);
        expect_close(xs[i]->grad, oracle_grad(o, ids[i], 0), 1e-5, "  grad input");
    }
    oracle_free(o);
    scope_end();
}

/* NaN, +Inf and -Inf among the scores, at targets and elsewhere, in
 * ignored rows too (which must stay 0): nll_loss on raw scores and after
 * log_softmax, cross_entropy with and without label smoothing, every
 * reduction, against PyTorch forward and backward. */
static void test_class_losses_nonfinite_against_torch(void **state)
{
    enum { N_CASES = N_CLASS_KINDS * 2 * 3 };
    scope_begin();
    Oracle *o = oracle_new("class_losses_nonfinite");
    Tensor *outs[N_CASES], *xs[N_CASES];
    int ids[N_CASES], n = 0;
    char labels[N_CASES][128];
    for (int kind = 0; kind < N_CLASS_KINDS; kind++)
        for (int weighted = 0; weighted < 2; weighted++)
            for (int r = 0; r < 3; r++) {
                Shape is = (kind + r) % 2 ? SHAPE(12, 5) : SHAPE(4, 5, 3);
                Tensor *x = leaf_with(is, NULL, r == 1);
                sprinkle_nonfinite(x, 3, 3, 4, &gen);
                Tensor *target = class_targets(target_shape(is), 5, true, -100);
                Tensor *w = weighted ? uniform(SHAPE(5), 0.2) : NULL;
                Tensor *y = class_loss((ClassKind)kind, x, target, w, -100, (Reduction)r);
                REQUIRE_OK(y);
                Tensor *gout = tensor_randn(y->shape, &gen, CPU);
                assert_int_equal(tensor_backward(y, gout), 0);
                const char *op = kind == NLL_RAW ? "nll_loss"
                                 : kind == NLL_LOG_SOFTMAX ? "nll_loss_of_log_softmax"
                                                           : "cross_entropy";
                char args[160];
                snprintf(args, sizeof args,
                         "{\"ignore_index\": -100, \"reduction\": \"%s\", \"label_smoothing\": %g, \"dim\": 1}",
                         reduction_names[r], kind == CE_SMOOTHED ? 0.1 : 0.0);
                ids[n] = oracle_add(o, op, args, 3, (Tensor *[]){x, target, w}, gout);
                snprintf(labels[n], sizeof labels[n], "%s %s%s %s non-finite%s", class_kind_names[kind],
                         shape_str(is), weighted ? " weighted" : "", reduction_names[r],
                         tensor_is_contiguous(x) ? "" : " (strided)");
                outs[n] = y;
                xs[n] = x;
                n++;
            }
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n; i++) {
        expect_close_nonfinite(outs[i], oracle_output(o, ids[i], 0), 1e-5, labels[i]);
        expect_close_nonfinite(xs[i]->grad, oracle_grad(o, ids[i], 0), 1e-5, "  grad input");
    }
    oracle_free(o);
    scope_end();
}

/* ---------------- pointwise losses ---------------- */

typedef enum { PW_MSE, PW_L1, PW_BCE, PW_BCE_LOGITS, N_PW_KINDS } PwKind;

static const char *pw_names[] = {"mse_loss", "l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"};

static Tensor *pw_loss(PwKind kind, Tensor *x, Tensor *t, Tensor *w, Tensor *pw, Reduction r)
{
    switch (kind) {
    case PW_MSE: return f_mse_loss(x, t, r);
    case PW_L1: return f_l1_loss(x, t, r);
    case PW_BCE: return f_binary_cross_entropy(x, t, w, r);
    default: return f_binary_cross_entropy_with_logits(x, t, w, pw, r);
    }
}

/* Inputs in each loss's domain: probabilities in (0.05, 0.95) for BCE. */
static void pw_inputs(PwKind kind, Shape s, bool strided, Tensor **x, Tensor **t)
{
    Tensor *xv = kind == PW_BCE ? t_add_scalar(t_mul_scalar(uniform(s, 0.0), 0.9), 0.05) : tensor_randn(s, &gen, CPU);
    Tensor *tv = kind >= PW_BCE ? uniform(s, 0.0) : tensor_randn(s, &gen, CPU);
    *x = leaf_with(s, xv, strided);
    *t = leaf_with(s, tv, !strided);
}

static void test_pointwise_losses_against_torch(void **state)
{
    Shape shapes[] = {SHAPE(7), SHAPE(3, 4), SHAPE(2, 3, 4)};
    enum { N_CASES = N_PW_KINDS * 3 * 3 * 2 };
    const char *weight_names[] = {"", " weight[last dim]", " weight[full]"};
    scope_begin();
    Oracle *o = oracle_new("pointwise_losses");
    Tensor *outs[N_CASES], *xs[N_CASES], *ts[N_CASES];
    int ids[N_CASES], n = 0;
    char labels[N_CASES][128];
    for (int kind = 0; kind < N_PW_KINDS; kind++)
        for (int s = 0; s < 3; s++)
            for (int r = 0; r < 3; r++)
                for (int variant = 0; variant < 2; variant++) {
                    Shape sh = shapes[s];
                    int64_t last = sh.d[sh.ndim - 1];
                    Tensor *x, *t;
                    pw_inputs((PwKind)kind, sh, variant, &x, &t);
                    /* weights cycle through none, broadcast along the last dim, full shape */
                    int wk = kind >= PW_BCE ? (s + r + variant) % 3 : 0;
                    Tensor *w = wk == 1 ? uniform(SHAPE(last), 0.2) : wk == 2 ? uniform(sh, 0.2) : NULL;
                    Tensor *pw = kind == PW_BCE_LOGITS && (r + variant) % 2 ? uniform(SHAPE(last), 0.5) : NULL;
                    Tensor *y = pw_loss((PwKind)kind, x, t, w, pw, (Reduction)r);
                    REQUIRE_OK(y);
                    Tensor *gout = tensor_randn(y->shape, &gen, CPU);
                    assert_int_equal(tensor_backward(y, gout), 0);
                    char args[64];
                    snprintf(args, sizeof args, "{\"reduction\": \"%s\"}", reduction_names[r]);
                    ids[n] = oracle_add(o, pw_names[kind], args, 4, (Tensor *[]){x, t, w, pw}, gout);
                    snprintf(labels[n], sizeof labels[n], "%s %s %s%s%s%s", pw_names[kind], shape_str(sh),
                             reduction_names[r], weight_names[wk], pw ? " pos_weight" : "",
                             tensor_is_contiguous(x) ? "" : " (strided)");
                    outs[n] = y;
                    xs[n] = x;
                    ts[n] = t;
                    n++;
                }
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n; i++) {
        expect_close(outs[i], oracle_output(o, ids[i], 0), 1e-5, labels[i]);
        expect_close(xs[i]->grad, oracle_grad(o, ids[i], 0), 1e-5, "  grad input");
        expect_close(ts[i]->grad, oracle_grad(o, ids[i], 1), 1e-5, "  grad target");
    }
    oracle_free(o);
    scope_end();
}

/* mse, l1 and binary_cross_entropy_with_logits (with and without
 * pos_weight) with NaN and +-Inf in input and target, binary_cross_entropy
 * with them in the target; every reduction, forward and both gradients
 * against PyTorch. A NaN probability is refused by binary_cross_entropy,
 * as PyTorch refuses it. */
static void test_pointwise_losses_nonfinite_against_torch(void **state)
{
    enum { N_CASES = (N_PW_KINDS + 1) * 3 };
    scope_begin();
    Oracle *o = oracle_new("pointwise_losses_nonfinite");
    Tensor *outs[N_CASES], *xs[N_CASES], *ts[N_CASES];
    int ids[N_CASES], n = 0;
    char labels[N_CASES][128];
    for (int k = 0; k <= N_PW_KINDS; k++) /* the last one: with logits and pos_weight */
        for (int r = 0; r < 3; r++) {
            PwKind kind = k < N_PW_KINDS ? (PwKind)k : PW_BCE_LOGITS;
            Shape sh = SHAPE(6, 7);
            Tensor *x, *t;
            pw_inputs(kind, sh, r == 1, &x, &t);
            if (kind != PW_BCE) put_nonfinite(x, "n..+.-...+..-.");
            put_nonfinite(t, ".+.n..-.-.+..");
            Tensor *pw = k == N_PW_KINDS ? uniform(SHAPE(7), 0.5) : NULL;
            Tensor *y = pw_loss(kind, x, t, NULL, pw, (Reduction)r);
            REQUIRE_OK(y);
            Tensor *gout = tensor_randn(y->shape, &gen, CPU);
            assert_int_equal(tensor_backward(y, gout), 0);
            char args[64];
            snprintf(args, sizeof args, "{\"reduction\": \"%s\"}", reduction_names[r]);
            ids[n] = oracle_add(o, pw_names[kind], args, 4, (Tensor *[]){x, t, NULL, pw}, gout);
            snprintf(labels[n], sizeof labels[n], "%s %s%s non-finite%s", pw_names[kind], reduction_names[r],
                     pw ? " pos_weight" : "", tensor_is_contiguous(x) ? "" : " (strided)");
            outs[n] = y;
            xs[n] = x;
            ts[n] = t;
            n++;
        }
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n; i++) {
        expect_close_nonfinite(outs[i], oracle_output(o, ids[i], 0), 1e-5, labels[i]);
        expect_close_nonfinite(xs[i]->grad, oracle_grad(o, ids[i], 0), 1e-5, "  grad input");
        expect_close_nonfinite(ts[i]->grad, oracle_grad(o, ids[i], 1), 1e-5, "  grad target");
    }
    Tensor *p = uniform(SHAPE(4), 0.0);
    put_nonfinite(p, "..n.");
    expect_error(f_binary_cross_entropy(p, uniform(SHAPE(4), 0.0), NULL, REDUCTION_MEAN), "between 0 and 1", NULL);
    oracle_free(o);
    scope_end();
}

/* BCE at exact 0 and 1 probabilities: the clamped logs keep it finite, as in PyTorch. */
static void test_bce_clamps_logs(void **state)
{
    scope_begin();
    float xv[] = {0.0f, 1.0f, 0.0f, 1.0f, 0.5f}, tv[] = {0.0f, 1.0f, 1.0f, 0.0f, 1.0f};
    Tensor *x = tensor_from_data(xv, SHAPE(5), DT_F32, CPU), *t = tensor_from_data(tv, SHAPE(5), DT_F32, CPU);
    Tensor *y = f_binary_cross_entropy(x, t, NULL, REDUCTION_NONE);
    REQUIRE_OK(y);
    float expected[] = {0.0f, 0.0f, 100.0f, 100.0f, (float)log(2.0)};
    expect_close(y, tensor_from_data(expected, SHAPE(5), DT_F32, CPU), 1e-6, "bce at 0 and 1 (logs clamped to -100)");
    scope_end();
}

/* ---------------- finite differences ---------------- */

typedef struct {
    ClassKind kind;
    Tensor *target, *weight;
    int64_t ignore;
    Reduction reduction;
} ClassCtx;

static Tensor *fd_class(Tensor **in, void *ctx)
{
    const ClassCtx *c = ctx;
    return class_loss(c->kind, in[0], c->target, c->weight, c->ignore, c->reduction);
}

typedef struct {
    PwKind kind;
    Tensor *weight, *pos_weight;
    Reduction reduction;
} PwCtx;

static Tensor *fd_pointwise(Tensor **in, void *ctx)
{
    const PwCtx *c = ctx;
    return pw_loss(c->kind, in[0], in[1], c->weight, c->pos_weight, c->reduction);
}

static void test_finite_differences(void **state)
{
    scope_begin();
    Shape s = SHAPE(4, 3, 2);
    Tensor *target = class_targets(SHAPE(4, 2), 3, true, -100);
    Tensor *w = uniform(SHAPE(3), 0.2);
    ClassCtx class_cases[] = {
        {NLL_RAW, target, w, -100, REDUCTION_SUM},
        {NLL_LOG_SOFTMAX, target, NULL, -100, REDUCTION_MEAN},
        {CE, target, w, -100, REDUCTION_MEAN},
        {CE_SMOOTHED, target, w, -100, REDUCTION_MEAN},
        {CE_SMOOTHED, target, NULL, -100, REDUCTION_NONE},
    };
    for (int k = 0; k < 5; k++) {
        char label[96];
        snprintf(label, sizeof label, "fd %s %s%s", class_kind_names[class_cases[k].kind],
                 reduction_names[class_cases[k].reduction], class_cases[k].weight ? " weighted" : "");
        Tensor *x = noncontig_leaf(s, &gen);
        assert_true(fd_gradcheck(fd_class, &class_cases[k], &x, 1, 1e-3, 64, label) < 1e-2);
    }
    for (int kind = 0; kind < N_PW_KINDS; kind++) {
        Shape ps = SHAPE(3, 4);
        Tensor *x, *t;
        pw_inputs((PwKind)kind, ps, true, &x, &t);
        if (kind == PW_L1) { /* keep |x - t| >= 0.2, away from the kink */
            bool mode = no_grad_begin();
            Tensor *d = t_sub(x, t);
            tensor_copy_(x, t_add(t, t_add(d, t_mul_scalar(t_div(d, t_abs(d)), 0.2))));
            grad_mode_restore(mode);
        }
        PwCtx c = {(PwKind)kind, kind >= PW_BCE ? uniform(SHAPE(4), 0.2) : NULL,
                   kind == PW_BCE_LOGITS ? uniform(SHAPE(4), 0.5) : NULL, (Reduction)(kind % 3)};
        char label[96];
        snprintf(label, sizeof label, "fd %s %s (input, target)", pw_names[kind], reduction_names[c.reduction]);
        assert_true(fd_gradcheck(fd_pointwise, &c, (Tensor *[]){x, t}, 2, 1e-3, 64, label) < 1e-2);
    }
    scope_end();
}

/* ---------------- errors ---------------- */

static void test_errors(void **state)
{
    scope_begin();
    engine_clear_error();
    Tensor *x = tensor_randn(SHAPE(3, 4), &gen, CPU);
    int64_t tv[] = {0, 7, 2};
    Tensor *bad = tensor_from_data(tv, SHAPE(3), DT_I64, CPU);
    expect_error(f_cross_entropy(x, bad, NULL, -100, REDUCTION_MEAN, 0.0), "target 7", "4 classes");
    int64_t tn[] = {0, -1, 2};
    expect_error(f_nll_loss(x, tensor_from_data(tn, SHAPE(3), DT_I64, CPU), NULL, -100, REDUCTION_SUM), "target -1",
                 "4 classes");
    Tensor *good = tensor_zeros(SHAPE(3), DT_I64, CPU);
    expect_error(f_nll_loss(x, tensor_zeros(SHAPE(5), DT_I64, CPU), NULL, -100, REDUCTION_MEAN), "[5]", "[3, 4]");
    expect_error(f_cross_entropy(tensor_randn(SHAPE(2, 3, 4), &gen, CPU), tensor_zeros(SHAPE(2, 3), DT_I64, CPU), NULL,
                                 -100, REDUCTION_MEAN, 0.0),
                 "[2, 3]", "[2, 3, 4]");
    expect_error(f_nll_loss(x, tensor_zeros(SHAPE(3), DT_F32, CPU), NULL, -100, REDUCTION_MEAN), "int64", "float32");
    expect_error(f_nll_loss(x, good, tensor_ones(SHAPE(3), DT_F32, CPU), -100, REDUCTION_MEAN), "4 classes", "[3]");
    expect_error(f_cross_entropy(x, good, NULL, -100, REDUCTION_MEAN, 1.5), "label_smoothing", NULL);
    expect_error(f_nll_loss(x, good, NULL, -100, (Reduction)7), "reduction", NULL);
    Tensor *y = tensor_randn(SHAPE(4, 3), &gen, CPU);
    expect_error(f_mse_loss(x, y, REDUCTION_MEAN), "[4, 3]", "[3, 4]");
    expect_error(f_l1_loss(x, tensor_randn(SHAPE(3), &gen, CPU), REDUCTION_MEAN), "[3]", "[3, 4]");
    Tensor *probs = uniform(SHAPE(3, 4), 0.0);
    expect_error(f_binary_cross_entropy(x, probs, NULL, REDUCTION_MEAN), "between 0 and 1", NULL);
    expect_error(f_binary_cross_entropy(probs, probs, tensor_ones(SHAPE(3), DT_F32, CPU), REDUCTION_MEAN), "[3]",
                 "[3, 4]");
    expect_error(f_binary_cross_entropy_with_logits(x, probs, NULL, tensor_ones(SHAPE(5), DT_F32, CPU),
                                                    REDUCTION_MEAN),
                 "pos_weight", "[5]");
    /* a NULL input propagates without a new message */
    assert_null(f_cross_entropy(NULL, good, NULL, -100, REDUCTION_MEAN, 0.0));
    assert_null(f_mse_loss(x, NULL, REDUCTION_MEAN));
    assert_false(engine_has_error());
    scope_end();
}

int main(void)
{
    generator_seed(&gen, 3);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_class_losses_against_torch),
        cmocka_unit_test(test_pointwise_losses_against_torch),
        cmocka_unit_test(test_class_losses_nonfinite_against_torch),
        cmocka_unit_test(test_pointwise_losses_nonfinite_against_torch),
        cmocka_unit_test(test_bce_clamps_logs),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
