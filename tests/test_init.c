/* torch.nn.init: gains and fans, the distributions each initialiser draws
 * from (mean, std and bounds of large samples against the formulas), the
 * default initialisation of every layer against the formulas and against
 * PyTorch's own samples, generator reproducibility and errors. */
#include <math.h>
#include <stdlib.h>

#include "engine/nn/nn.h"
#include "tests/support/check.h"
#include "tests/support/oracle.h"

static Generator gen;

typedef struct {
    double mean, std, min, max;
    int64_t n;
} Stats;

static Stats stats_of(const Tensor *t)
{
    int64_t n = tensor_numel(t);
    float *v = malloc(sizeof(float) * (size_t)n);
    assert_int_equal(tensor_copy_to_buffer(t, v), 0);
    Stats s = {.min = INFINITY, .max = -INFINITY, .n = n};
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; i++) {
        sum += v[i];
        s.min = fmin(s.min, v[i]);
        s.max = fmax(s.max, v[i]);
    }
    s.mean = sum / (double)n;
    for (int64_t i = 0; i < n; i++) sq += (v[i] - s.mean) * (v[i] - s.mean);
    s.std = sqrt(sq / (double)(n - 1));
    free(v);
    return s;
}

/* Mean within 5 standard errors, std within 3%. */
static void expect_distribution(const Tensor *t, double mean, double std, const char *label)
{
    Stats s = stats_of(t);
    double mean_tol = 5 * std / sqrt((double)s.n);
    print_message("  %-44s mean %+.5f (want %+.5f), std %.5f (want %.5f)\n", label, s.mean, mean, s.std, std);
    assert_true(fabs(s.mean - mean) <= mean_tol);
    assert_true(fabs(s.std - std) <= 0.03 * std);
}

/* U(-bound, bound): inside the bounds, reaching close to both ends, std bound / sqrt(3). */
static void expect_uniform(const Tensor *t, double low, double high, const char *label)
{
    Stats s = stats_of(t);
    assert_true(s.min >= (float)low && s.max <= (float)high);
    assert_true(s.min < low + 0.01 * (high - low) && s.max > high - 0.01 * (high - low));
    expect_distribution(t, (low + high) / 2, (high - low) / sqrt(12.0), label);
}

static Tensor *empty(Shape s) { return tensor_empty(s, DT_F32, CPU); }

static void test_gains_and_fans(void **state)
{
    struct {
        const char *name;
        double param, want;
    } gains[] = {{"linear", NAN, 1},
                 {"conv2d", NAN, 1},
                 {"conv_transpose2d", NAN, 1},
                 {"sigmoid", NAN, 1},
                 {"tanh", NAN, 5.0 / 3},
                 {"relu", NAN, sqrt(2.0)},
                 {"leaky_relu", NAN, sqrt(2.0 / (1 + 0.01 * 0.01))},
                 {"leaky_relu", 0.2, sqrt(2.0 / 1.04)},
                 {"selu", NAN, 0.75}};
    for (size_t i = 0; i < sizeof gains / sizeof gains[0]; i++)
        assert_float_equal(nn_init_calculate_gain(gains[i].name, gains[i].param), gains[i].want, 1e-12);
    engine_clear_error();
    assert_true(isnan(nn_init_calculate_gain("swish", NAN)));
    assert_string_equal(engine_last_error(), "Unsupported nonlinearity swish");
    engine_clear_error();

    scope_begin();
    int64_t fi, fo;
    assert_int_equal(nn_init_calculate_fans(empty(SHAPE(5, 4)), &fi, &fo), 0);
    assert_int_equal(fi, 4);
    assert_int_equal(fo, 5);
    assert_int_equal(nn_init_calculate_fans(empty(SHAPE(8, 3, 5, 5)), &fi, &fo), 0);
    assert_int_equal(fi, 75);
    assert_int_equal(fo, 200);
    assert_int_equal(nn_init_calculate_fans(empty(SHAPE(7)), &fi, &fo), -1);
    assert_non_null(strstr(engine_last_error(), "fewer than 2 dimensions (got shape [7])"));
    engine_clear_error();
    scope_end();
}

static void test_basic_distributions(void **state)
{
    scope_begin();
    Tensor *t = empty(SHAPE(400, 250));
    assert_int_equal(nn_init_uniform_(t, -0.5, 1.5, &gen), 0);
    expect_uniform(t, -0.5, 1.5, "uniform_(-0.5, 1.5)");
    assert_int_equal(nn_init_normal_(t, 0.3, 2.0, &gen), 0);
    expect_distribution(t, 0.3, 2.0, "normal_(0.3, 2)");
    assert_int_equal(nn_init_constant_(t, 0.25), 0);
    expect_close(t, tensor_full(t->shape, 0.25, DT_F32, CPU), 0, "constant_(0.25)");
    assert_int_equal(nn_init_zeros_(t), 0);
    expect_close(t, tensor_zeros_like(t), 0, "zeros_");
    assert_int_equal(nn_init_ones_(t), 0);
    expect_close(t, tensor_ones(t->shape, DT_F32, CPU), 0, "ones_");
    /* in place through a non-contiguous view: only the viewed elements change */
    Tensor *cols = t_narrow(t_transpose(t, 0, 1), 0, 0, 10);
    assert_int_equal(nn_init_zeros_(cols), 0);
    assert_float_equal(tensor_item(t_sum(t, NULL, 0, false)), 400.0 * 240.0, 0);
    scope_end();
}

static void test_xavier_and_kaiming(void **state)
{
    scope_begin();
    /* fan_in 300, fan_out 200 */
    Tensor *w = empty(SHAPE(200, 300));
    double a = 1.7 * sqrt(6.0 / 500);
    assert_int_equal(nn_init_xavier_uniform_(w, 1.7, &gen), 0);
    expect_uniform(w, -a, a, "xavier_uniform_(gain 1.7) [200, 300]");
    /* fan_in 50 * 9 = 450, fan_out 100 * 9 = 900 */
    Tensor *c = empty(SHAPE(100, 50, 3, 3));
    assert_int_equal(nn_init_xavier_normal_(c, 1.0, &gen), 0);
    expect_distribution(c, 0, sqrt(2.0 / 1350), "xavier_normal_ [100, 50, 3, 3]");

    double bound = sqrt(2.0) * sqrt(3.0 / 300);
    assert_int_equal(nn_init_kaiming_uniform_(w, 0, FAN_IN, "relu", &gen), 0);
    expect_uniform(w, -bound, bound, "kaiming_uniform_(relu, fan_in)");
    bound = sqrt(2.0 / (1 + 0.04)) * sqrt(3.0 / 200);
    assert_int_equal(nn_init_kaiming_uniform_(w, 0.2, FAN_OUT, "leaky_relu", &gen), 0);
    expect_uniform(w, -bound, bound, "kaiming_uniform_(leaky 0.2, fan_out)");
    assert_int_equal(nn_init_kaiming_normal_(c, 0, FAN_OUT, "relu", &gen), 0);
    expect_distribution(c, 0, sqrt(2.0) / sqrt(900.0), "kaiming_normal_(relu, fan_out)");
    assert_int_equal(nn_init_kaiming_normal_(c, 0, FAN_IN, "tanh", &gen), 0);
    expect_distribution(c, 0, (5.0 / 3) / sqrt(450.0), "kaiming_normal_(tanh, fan_in)");
    /* zero elements: a no-op, as in PyTorch */
    assert_int_equal(nn_init_kaiming_uniform_(empty(SHAPE(0, 3)), 0, FAN_IN, "relu", &gen), 0);

    engine_clear_error();
    assert_int_equal(nn_init_kaiming_uniform_(empty(SHAPE(10)), 0, FAN_IN, "relu", &gen), -1);
    assert_non_null(strstr(engine_last_error(), "fewer than 2 dimensions"));
    engine_clear_error();
    assert_int_equal(nn_init_kaiming_normal_(w, 0, FAN_IN, "softsign", &gen), -1);
    assert_non_null(strstr(engine_last_error(), "Unsupported nonlinearity softsign"));
    engine_clear_error();
    assert_int_equal(nn_init_uniform_(tensor_zeros(SHAPE(3), DT_I64, CPU), 0, 1, &gen), -1);
    assert_non_null(strstr(engine_last_error(), "int64"));
    engine_clear_error();
    scope_end();
}

/* Default initialisation: ours against the formulas and against samples
 * from the same PyTorch modules (stds within 5% of each other). */
static void test_default_layer_inits(void **state)
{
    scope_begin();
    manual_seed(11);
    ConvParams p = conv_params_default();
    struct {
        Module *m;
        const char *ctor;
        double bound; /* of weight and bias: 1 / sqrt(fan_in) */
    } uniform_layers[] = {
        {nn_linear(320, 50, true), "nn.Linear(320, 50)", 1 / sqrt(320.0)},
        {nn_conv2d(10, 20, 5, 5, p, true), "nn.Conv2d(10, 20, 5)", 1 / sqrt(250.0)},
        {nn_conv_transpose2d(20, 10, 3, 3, p, true), "nn.ConvTranspose2d(20, 10, 3)", 1 / sqrt(90.0)},
    };
    Module *emb = nn_embedding(1000, 64, 3);
    Module *bn = nn_batch_norm2d(16), *ln = nn_layer_norm(SHAPE(4, 5), 1e-5, true);
    REQUIRE_OK(emb);
    REQUIRE_OK(bn);
    REQUIRE_OK(ln);
    Oracle *o = oracle_new("init");
    int ids[3];
    for (int i = 0; i < 3; i++) {
        REQUIRE_OK(uniform_layers[i].m);
        char args[128];
        snprintf(args, sizeof args, "{\"ctor\": \"%s\", \"names\": [\"weight\", \"bias\"]}", uniform_layers[i].ctor);
        ids[i] = oracle_add(o, "module_params", args, 0, NULL, NULL);
    }
    int id_emb =
        oracle_add(o, "module_params", "{\"ctor\": \"nn.Embedding(1000, 64, padding_idx=3)\", \"names\": [\"weight\"]}",
                   0, NULL, NULL);
    for (int i = 0; i < 3; i++) {
        Tensor *w = module_get_parameter(uniform_layers[i].m, "weight");
        Tensor *b = module_get_parameter(uniform_layers[i].m, "bias");
        double bd = uniform_layers[i].bound;
        Stats sw = stats_of(w), sb = stats_of(b);
        print_message("  %-32s weight in [%.4f, %.4f], bias in [%.4f, %.4f], bound %.4f\n", uniform_layers[i].ctor,
                      sw.min, sw.max, sb.min, sb.max, bd);
        assert_true(sw.min >= -bd && sw.max <= bd && sb.min >= -bd && sb.max <= bd);
        expect_distribution(w, 0, bd / sqrt(3.0), "  weight std");
    }
    Tensor *ew = module_get_parameter(emb, "weight");
    expect_close(t_select(ew, 0, 3), tensor_zeros(SHAPE(64), DT_F32, CPU), 0, "Embedding padding row");
    expect_distribution(ew, 0, 1, "Embedding weight N(0, 1)");
    const char *ones[] = {"weight", "running_var"}, *zeros[] = {"bias", "running_mean"};
    for (int i = 0; i < 2; i++) {
        Tensor *t1 =
            module_get_parameter(bn, ones[i]) ? module_get_parameter(bn, ones[i]) : module_get_buffer(bn, ones[i]);
        Tensor *t0 =
            module_get_parameter(bn, zeros[i]) ? module_get_parameter(bn, zeros[i]) : module_get_buffer(bn, zeros[i]);
        expect_close(t1, tensor_ones(SHAPE(16), DT_F32, CPU), 0, ones[i]);
        expect_close(t0, tensor_zeros(SHAPE(16), DT_F32, CPU), 0, zeros[i]);
    }
    assert_int_equal((int)tensor_item(module_get_buffer(bn, "num_batches_tracked")), 0);
    expect_close(module_get_parameter(ln, "weight"), tensor_ones(SHAPE(4, 5), DT_F32, CPU), 0, "LayerNorm weight");
    expect_close(module_get_parameter(ln, "bias"), tensor_zeros(SHAPE(4, 5), DT_F32, CPU), 0, "LayerNorm bias");

    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 2; k++) {
            Tensor *ours = module_get_parameter(uniform_layers[i].m, k ? "bias" : "weight");
            Stats so = stats_of(ours), st = stats_of(oracle_output(o, ids[i], k));
            print_message("  %-32s %s std: ours %.5f, torch %.5f; max |x|: ours %.5f, torch %.5f\n",
                          uniform_layers[i].ctor, k ? "bias  " : "weight", so.std, st.std, fmax(-so.min, so.max),
                          fmax(-st.min, st.max));
            /* the biases have 10-50 elements, too few for a std comparison: bounds only */
            if (k == 0) assert_true(fabs(so.std - st.std) <= 0.05 * st.std);
            assert_true(fmax(-st.min, st.max) <= uniform_layers[i].bound); /* torch obeys the same bound */
        }
    Stats so = stats_of(ew), st = stats_of(oracle_output(o, id_emb, 0));
    print_message("  Embedding std: ours %.5f, torch %.5f\n", so.std, st.std);
    assert_true(fabs(so.std - st.std) <= 0.05 * st.std);
    oracle_free(o);
    for (int i = 0; i < 3; i++) module_free(uniform_layers[i].m);
    module_free(emb);
    module_free(bn);
    module_free(ln);
    scope_end();
}

static void test_generator_reproducibility(void **state)
{
    scope_begin();
    Generator g1, g2;
    Tensor *a = empty(SHAPE(30, 20)), *b = empty(SHAPE(30, 20));
    generator_seed(&g1, 123);
    generator_seed(&g2, 123);
    nn_init_kaiming_uniform_(a, sqrt(5.0), FAN_IN, "leaky_relu", &g1);
    nn_init_kaiming_uniform_(b, sqrt(5.0), FAN_IN, "leaky_relu", &g2);
    expect_close(a, b, 0, "same seed, same draws");
    nn_init_xavier_normal_(a, 1.0, &g1);
    assert_true(max_rel_error(a, b) > 0.1); /* the generator moved on */
    generator_seed(&g2, 124);
    nn_init_xavier_normal_(b, 1.0, &g2);
    assert_true(max_rel_error(a, b) > 0.1);

    /* NULL is the default generator: manual_seed makes layer inits repeat */
    manual_seed(99);
    Module *l1 = nn_linear(6, 5, true);
    manual_seed(99);
    Module *l2 = nn_linear(6, 5, true);
    Module *l3 = nn_linear(6, 5, true);
    expect_close(module_get_parameter(l2, "weight"), module_get_parameter(l1, "weight"), 0, "manual_seed: weight");
    expect_close(module_get_parameter(l2, "bias"), module_get_parameter(l1, "bias"), 0, "manual_seed: bias");
    assert_true(max_rel_error(module_get_parameter(l3, "weight"), module_get_parameter(l1, "weight")) > 0.1);
    module_free(l1);
    module_free(l2);
    module_free(l3);
    scope_end();
}

int main(void)
{
    generator_seed(&gen, 2024);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gains_and_fans),
        cmocka_unit_test(test_basic_distributions),
        cmocka_unit_test(test_xavier_and_kaiming),
        cmocka_unit_test(test_default_layer_inits),
        cmocka_unit_test(test_generator_reproducibility),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
