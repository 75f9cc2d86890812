/* batch_norm (training and eval, running statistics) and layer_norm:
 * forward and backward against PyTorch, running buffers after several
 * calls against nn.BatchNorm's, NaN and +-Inf inputs, finite differences
 * and error messages. */
#include <math.h>

#include "tests/support/check.h"
#include "tests/support/oracle.h"

static Generator gen;

/* A positive tensor (variances) |N(0,1)| + 0.5, not requiring grad. */
static Tensor *positive(Shape s)
{
    return t_add_scalar(t_abs(tensor_randn(s, &gen, CPU)), 0.5);
}

typedef enum { BN_TRAIN_STATS, BN_TRAIN_NO_STATS, BN_EVAL } BnMode;

static void test_batch_norm_against_torch(void **state)
{
    Shape shapes[] = {SHAPE(8, 5), SHAPE(4, 3, 6), SHAPE(2, 3, 4, 5), SHAPE(16, 70), SHAPE(3, 2, 70)};
    const char *mode_names[] = {"train", "train (no running stats)", "eval"};
    const char *affine_names[] = {"", " no affine", " weight only"};
    enum { N_CASES = 5 * 3 };
    scope_begin();
    Oracle *o = oracle_new("batch_norm");
    Tensor *outs[N_CASES], *xs[N_CASES], *ws[N_CASES], *bs[N_CASES], *rms[N_CASES], *rvs[N_CASES];
    int ids[N_CASES], n = 0;
    for (int s = 0; s < 5; s++)
        for (int mode = 0; mode < 3; mode++) {
            int64_t C = shapes[s].d[1];
            int affine = (s + mode) % 3;
            Tensor *x = (s + mode) % 2 ? noncontig_leaf(shapes[s], &gen) : rand_leaf(shapes[s], &gen);
            Tensor *w = affine != 1 ? rand_leaf(SHAPE(C), &gen) : NULL;
            Tensor *b = affine == 0 ? rand_leaf(SHAPE(C), &gen) : NULL;
            Tensor *rm = mode != BN_TRAIN_NO_STATS ? tensor_randn(SHAPE(C), &gen, CPU) : NULL;
            Tensor *rv = mode != BN_TRAIN_NO_STATS ? positive(SHAPE(C)) : NULL;
            /* torch gets the buffers as they were before the call */
            Tensor *rm0 = rm ? t_clone(rm) : NULL, *rv0 = rv ? t_clone(rv) : NULL;
            Tensor *y = f_batch_norm(x, rm, rv, w, b, mode != BN_EVAL, 0.1, 1e-5);
            REQUIRE_OK(y);
            Tensor *gout = tensor_randn(y->shape, &gen, CPU);
            assert_int_equal(tensor_backward(y, gout), 0);
            char args[96];
            snprintf(args, sizeof args, "{\"training\": %s, \"momentum\": 0.1, \"eps\": 1e-5}",
                     mode != BN_EVAL ? "true" : "false");
            ids[n] = oracle_add(o, "batch_norm", args, 5, (Tensor *[]){x, rm0, rv0, w, b}, gout);
            outs[n] = y;
            xs[n] = x;
            ws[n] = w;
            bs[n] = b;
            rms[n] = rm;
            rvs[n] = rv;
            n++;
        }
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n; i++) {
        int s = i / 3, mode = i % 3;
        char label[128];
        snprintf(label, sizeof label, "batch_norm %s %s%s%s", shape_str(xs[i]->shape), mode_names[mode],
                 affine_names[(s + mode) % 3], tensor_is_contiguous(xs[i]) ? "" : " (strided)");
        expect_close(outs[i], oracle_output(o, ids[i], 0), 1e-5, label);
        if (rms[i]) {
            expect_close(rms[i], oracle_output(o, ids[i], 1), 1e-6, "  running_mean");
            expect_close(rvs[i], oracle_output(o, ids[i], 2), 1e-6, "  running_var");
        }
        expect_close(xs[i]->grad, oracle_grad(o, ids[i], 0), 1e-5, "  grad x");
        if (ws[i]) expect_close(ws[i]->grad, oracle_grad(o, ids[i], 3), 1e-5, "  grad weight");
        if (bs[i]) expect_close(bs[i]->grad, oracle_grad(o, ids[i], 4), 1e-5, "  grad bias");
    }
    oracle_free(o);
    scope_end();
}

/* Three training steps through one set of buffers, as a BatchNorm module
 * runs them, against nn.BatchNorm1d/2d's own buffers. */
static void test_batch_norm_running_stats_match_module(void **state)
{
    Shape shapes[] = {SHAPE(6, 4), SHAPE(5, 3, 7), SHAPE(3, 4, 5, 5)};
    enum { CALLS = 3 };
    scope_begin();
    Oracle *o = oracle_new("batch_norm_module");
    Tensor *outs[3], *rms[3], *rvs[3];
    int ids[3];
    for (int s = 0; s < 3; s++) {
        int64_t C = shapes[s].d[1];
        Tensor *rm = tensor_zeros(SHAPE(C), DT_F32, CPU), *rv = tensor_ones(SHAPE(C), DT_F32, CPU);
        Tensor *w = tensor_randn(SHAPE(C), &gen, CPU), *b = tensor_randn(SHAPE(C), &gen, CPU);
        Tensor *inputs[CALLS + 2];
        for (int k = 0; k < CALLS; k++) {
            /* shifted and scaled batches so the running stats move visibly */
            inputs[k] = t_add_scalar(t_mul_scalar(tensor_randn(shapes[s], &gen, CPU), 1.0 + k), 0.5 * k);
            outs[s] = f_batch_norm(inputs[k], rm, rv, w, b, true, 0.1, 1e-5);
            REQUIRE_OK(outs[s]);
        }
        inputs[CALLS] = w;
        inputs[CALLS + 1] = b;
        ids[s] = oracle_add(o, "batch_norm_module", "{\"calls\": 3, \"momentum\": 0.1, \"eps\": 1e-5}", CALLS + 2,
                            inputs, NULL);
        rms[s] = rm;
        rvs[s] = rv;
    }
    ORACLE_RUN_OR_SKIP(o);
    for (int s = 0; s < 3; s++) {
        char label[96];
        snprintf(label, sizeof label, "BatchNorm %s: output of call 3", shape_str(shapes[s]));
        expect_close(outs[s], oracle_output(o, ids[s], 0), 1e-5, label);
        expect_close(rms[s], oracle_output(o, ids[s], 1), 1e-6, "  module running_mean after 3 calls");
        expect_close(rvs[s], oracle_output(o, ids[s], 2), 1e-6, "  module running_var after 3 calls");
    }
    oracle_free(o);
    scope_end();
}

static void test_layer_norm_against_torch(void **state)
{
    static const struct {
        Shape x, normalized;
    } cases[] = {
        {SHAPE(4, 10), SHAPE(10)},         {SHAPE(2, 3, 8), SHAPE(8)},   {SHAPE(2, 3, 4, 5), SHAPE(4, 5)},
        {SHAPE(5), SHAPE(5)},              {SHAPE(3, 200), SHAPE(200)},  {SHAPE(2, 6, 3), SHAPE(6, 3)},
    };
    enum { N_CASES = 6 * 3 };
    const char *affine_names[] = {"", " no affine", " weight only"};
    scope_begin();
    Oracle *o = oracle_new("layer_norm");
    Tensor *outs[N_CASES], *xs[N_CASES], *ws[N_CASES], *bs[N_CASES];
    int ids[N_CASES], n = 0;
    for (int c = 0; c < 6; c++)
        for (int affine = 0; affine < 3; affine++) {
            Shape ns = cases[c].normalized;
            bool strided = (c + affine) % 2 && cases[c].x.ndim >= 2;
            Tensor *x = strided ? noncontig_leaf(cases[c].x, &gen) : rand_leaf(cases[c].x, &gen);
            Tensor *w = affine != 1 ? rand_leaf(ns, &gen) : NULL;
            Tensor *b = affine == 0 ? rand_leaf(ns, &gen) : NULL;
            Tensor *y = f_layer_norm(x, ns, w, b, 1e-5);
            REQUIRE_OK(y);
            Tensor *gout = tensor_randn(y->shape, &gen, CPU);
            assert_int_equal(tensor_backward(y, gout), 0);
            char args[96];
            int len = snprintf(args, sizeof args, "{\"eps\": 1e-5, \"shape\": [");
            for (int d = 0; d < ns.ndim; d++)
                len += snprintf(args + len, sizeof args - (size_t)len, "%s%lld", d ? ", " : "", (long long)ns.d[d]);
            snprintf(args + len, sizeof args - (size_t)len, "]}");
            ids[n] = oracle_add(o, "layer_norm", args, 3, (Tensor *[]){x, w, b}, gout);
            outs[n] = y;
            xs[n] = x;
            ws[n] = w;
            bs[n] = b;
            n++;
        }
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n; i++) {
        char label[128];
        snprintf(label, sizeof label, "layer_norm %s over %s%s%s", shape_str(xs[i]->shape),
                 shape_str(cases[i / 3].normalized), affine_names[i % 3],
                 tensor_is_contiguous(xs[i]) ? "" : " (strided)");
        expect_close(outs[i], oracle_output(o, ids[i], 0), 1e-5, label);
        expect_close(xs[i]->grad, oracle_grad(o, ids[i], 0), 1e-5, "  grad x");
        if (ws[i]) expect_close(ws[i]->grad, oracle_grad(o, ids[i], 1), 1e-5, "  grad weight");
        if (bs[i]) expect_close(bs[i]->grad, oracle_grad(o, ids[i], 2), 1e-5, "  grad bias");
    }
    oracle_free(o);
    scope_end();
}

/* batch_norm (training with and without running stats, eval) and
 * layer_norm with a NaN, a +Inf and a -Inf in the input: the channels or
 * samples holding one become NaN (and the running stats of those
 * channels), the others stay exact; forward, backward and running stats
 * against PyTorch. */
static void test_norms_nonfinite_against_torch(void **state)
{
    Shape bn_shapes[] = {SHAPE(8, 5), SHAPE(4, 3, 6), SHAPE(2, 4, 3, 5)};
    Shape ln_shapes[][2] = {{SHAPE(4, 10), SHAPE(10)}, {SHAPE(2, 3, 8), SHAPE(8)}, {SHAPE(5, 2, 40), SHAPE(2, 40)}};
    enum { N_BN = 3 * 3, N_LN = 3 };
    scope_begin();
    Oracle *o = oracle_new("norm_nonfinite");
    Tensor *outs[N_BN + N_LN], *xs[N_BN + N_LN], *ws[N_BN + N_LN], *bs[N_BN + N_LN];
    Tensor *rms[N_BN] = {NULL}, *rvs[N_BN] = {NULL};
    int ids[N_BN + N_LN], n = 0;
    for (int s = 0; s < 3; s++)
        for (int mode = 0; mode < 3; mode++, n++) {
            int64_t C = bn_shapes[s].d[1];
            Tensor *x = (s + mode) % 2 ? noncontig_leaf(bn_shapes[s], &gen) : rand_leaf(bn_shapes[s], &gen);
            sprinkle_nonfinite(x, 1, 1, 1, &gen);
            /* +Inf as the first sample of channel 1 (statistics kernels shift by that sample) */
            put_nonfinite_at(x, tensor_numel(x) / (bn_shapes[s].d[0] * C), '+');
            ws[n] = rand_leaf(SHAPE(C), &gen);
            bs[n] = rand_leaf(SHAPE(C), &gen);
            rms[n] = mode != BN_TRAIN_NO_STATS ? tensor_randn(SHAPE(C), &gen, CPU) : NULL;
            rvs[n] = mode != BN_TRAIN_NO_STATS ? positive(SHAPE(C)) : NULL;
            Tensor *rm0 = rms[n] ? t_clone(rms[n]) : NULL, *rv0 = rvs[n] ? t_clone(rvs[n]) : NULL;
            outs[n] = f_batch_norm(x, rms[n], rvs[n], ws[n], bs[n], mode != BN_EVAL, 0.1, 1e-5);
            REQUIRE_OK(outs[n]);
            Tensor *gout = tensor_randn(outs[n]->shape, &gen, CPU);
            assert_int_equal(tensor_backward(outs[n], gout), 0);
            ids[n] = oracle_add(o, "batch_norm",
                                mode != BN_EVAL ? "{\"training\": true, \"momentum\": 0.1, \"eps\": 1e-5}"
                                                : "{\"training\": false, \"momentum\": 0.1, \"eps\": 1e-5}",
                                5, (Tensor *[]){x, rm0, rv0, ws[n], bs[n]}, gout);
            xs[n] = x;
        }
    for (int c = 0; c < N_LN; c++, n++) {
        Shape ns = ln_shapes[c][1];
        Tensor *x = c == 1 ? noncontig_leaf(ln_shapes[c][0], &gen) : rand_leaf(ln_shapes[c][0], &gen);
        sprinkle_nonfinite(x, 1, 1, 1, &gen);
        ws[n] = rand_leaf(ns, &gen);
        bs[n] = rand_leaf(ns, &gen);
        outs[n] = f_layer_norm(x, ns, ws[n], bs[n], 1e-5);
        REQUIRE_OK(outs[n]);
        Tensor *gout = tensor_randn(outs[n]->shape, &gen, CPU);
        assert_int_equal(tensor_backward(outs[n], gout), 0);
        char args[96];
        snprintf(args, sizeof args, "{\"eps\": 1e-5, \"shape\": [%lld%s%lld]}", (long long)ns.d[0],
                 ns.ndim > 1 ? ", " : "", ns.ndim > 1 ? (long long)ns.d[1] : 0LL);
        if (ns.ndim == 1) snprintf(args, sizeof args, "{\"eps\": 1e-5, \"shape\": [%lld]}", (long long)ns.d[0]);
        ids[n] = oracle_add(o, "layer_norm", args, 3, (Tensor *[]){x, ws[n], bs[n]}, gout);
        xs[n] = x;
    }
    ORACLE_RUN_OR_SKIP(o);
    const char *mode_names[] = {"train", "train (no running stats)", "eval"};
    for (int i = 0; i < n; i++) {
        char label[128];
        if (i < N_BN)
            snprintf(label, sizeof label, "batch_norm %s %s non-finite", shape_str(xs[i]->shape), mode_names[i % 3]);
        else
            snprintf(label, sizeof label, "layer_norm %s non-finite", shape_str(xs[i]->shape));
        expect_close_nonfinite(outs[i], oracle_output(o, ids[i], 0), 1e-5, label);
        if (i < N_BN && rms[i]) {
            expect_close_nonfinite(rms[i], oracle_output(o, ids[i], 1), 1e-6, "  running_mean");
            expect_close_nonfinite(rvs[i], oracle_output(o, ids[i], 2), 1e-6, "  running_var");
        }
        int wi = i < N_BN ? 3 : 1;
        expect_close_nonfinite(xs[i]->grad, oracle_grad(o, ids[i], 0), 1e-5, "  grad x");
        expect_close_nonfinite(ws[i]->grad, oracle_grad(o, ids[i], wi), 1e-5, "  grad weight");
        expect_close_nonfinite(bs[i]->grad, oracle_grad(o, ids[i], wi + 1), 1e-5, "  grad bias");
    }
    oracle_free(o);
    scope_end();
}

/* ---- finite differences ---- */

typedef struct {
    bool training;
    Tensor *running_mean, *running_var; /* eval only: not updated, so calls repeat exactly */
} BnCtx;

static Tensor *fd_batch_norm(Tensor **in, void *ctx)
{
    const BnCtx *c = ctx;
    return f_batch_norm(in[0], c->running_mean, c->running_var, in[1], in[2], c->training, 0.1, 1e-5);
}

static Tensor *fd_layer_norm(Tensor **in, void *ctx)
{
    return f_layer_norm(in[0], *(const Shape *)ctx, in[1], in[2], 1e-5);
}

static void test_finite_differences(void **state)
{
    scope_begin();
    Shape s = SHAPE(4, 3, 5);
    BnCtx train = {true, NULL, NULL};
    BnCtx eval = {false, tensor_randn(SHAPE(3), &gen, CPU), positive(SHAPE(3))};
    Tensor *in[3] = {noncontig_leaf(s, &gen), rand_leaf(SHAPE(3), &gen), rand_leaf(SHAPE(3), &gen)};
    assert_true(fd_gradcheck(fd_batch_norm, &train, in, 3, 1e-3, 64, "fd batch_norm train (x, weight, bias)") < 1e-2);
    assert_true(fd_gradcheck(fd_batch_norm, &eval, in, 3, 1e-3, 64, "fd batch_norm eval (x, weight, bias)") < 1e-2);
    Tensor *x2 = rand_leaf(SHAPE(12, 6), &gen);
    Tensor *in2[3] = {x2, rand_leaf(SHAPE(6), &gen), rand_leaf(SHAPE(6), &gen)};
    assert_true(fd_gradcheck(fd_batch_norm, &train, in2, 3, 1e-3, 64, "fd batch_norm [N, C] train") < 1e-2);
    Shape ns = SHAPE(3, 5);
    Tensor *in3[3] = {noncontig_leaf(SHAPE(2, 3, 5), &gen), rand_leaf(ns, &gen), rand_leaf(ns, &gen)};
    assert_true(fd_gradcheck(fd_layer_norm, &ns, in3, 3, 1e-3, 64, "fd layer_norm (x, weight, bias)") < 1e-2);
    scope_end();
}

static void test_errors(void **state)
{
    scope_begin();
    engine_clear_error();
    Tensor *x = tensor_randn(SHAPE(4, 3, 5), &gen, CPU);
    Tensor *rm = tensor_zeros(SHAPE(3), DT_F32, CPU), *rv = tensor_ones(SHAPE(3), DT_F32, CPU);
    Tensor *w4 = tensor_ones(SHAPE(4), DT_F32, CPU);
    expect_error(f_batch_norm(x, rm, rv, w4, NULL, true, 0.1, 1e-5), "[4]", "[3]");
    expect_error(f_batch_norm(x, tensor_zeros(SHAPE(2), DT_F32, CPU), rv, NULL, NULL, true, 0.1, 1e-5),
                 "running_mean", "[2]");
    expect_error(f_batch_norm(tensor_randn(SHAPE(5), &gen, CPU), NULL, NULL, NULL, NULL, true, 0.1, 1e-5), "[5]",
                 NULL);
    expect_error(f_batch_norm(tensor_randn(SHAPE(1, 3), &gen, CPU), NULL, NULL, NULL, NULL, true, 0.1, 1e-5),
                 "more than 1 value per channel", "[1, 3]");
    expect_error(f_batch_norm(x, NULL, NULL, NULL, NULL, false, 0.1, 1e-5), "evaluation mode", NULL);
    expect_error(f_layer_norm(x, SHAPE(3), NULL, NULL, 1e-5), "[3]", "[4, 3, 5]");
    expect_error(f_layer_norm(x, SHAPE(5), w4, NULL, 1e-5), "weight", "[4]");
    /* a NULL input propagates without a new message */
    assert_null(f_layer_norm(NULL, SHAPE(5), NULL, NULL, 1e-5));
    assert_null(f_batch_norm(NULL, rm, rv, NULL, NULL, true, 0.1, 1e-5));
    assert_false(engine_has_error());
    scope_end();
}

int main(void)
{
    generator_seed(&gen, 7);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_norm_against_torch),
        cmocka_unit_test(test_batch_norm_running_stats_match_module),
        cmocka_unit_test(test_layer_norm_against_torch),
        cmocka_unit_test(test_norms_nonfinite_against_torch),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
