/* ./tune's search space and search file: each distribution's sampling
 * (ranges, log scale, integers, lists, seeded reproducibility), the values'
 * --set text, grid enumeration (Ray Tune's order: the grid repeated
 * num_samples times), and the checks that refuse a bad search file before
 * any trial runs, each with one line naming the file and the key. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/check.h"
#include "tests/tune/tune_fixture.h"
#include "tuner/search.h"
#include "tuner/spec.h"

static Config *config;

static int setup(void **state)
{
    (void)state;
    config = config_parse(fixture_config, "config.json");
    return config ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    config_free(config);
    return 0;
}

/* Parses search text against the fixture config; NULL (with the error) when refused. */
static TuneSpec *spec_from(const char *text)
{
    Config *s = config_parse(text, "search.json");
    assert_non_null(s);
    TuneSpec *t = calloc(1, sizeof *t);
    assert_non_null(t);
    int rc = tune_spec_parse(t, s, config, 2);
    config_free(s);
    if (rc) {
        free(t);
        return NULL;
    }
    return t;
}

static void spec_free(TuneSpec *t)
{
    tune_spec_free(t);
    free(t);
}

enum { DRAWS = 20000 };

static void test_uniform(void **state)
{
    (void)state;
    TuneSpec *t = spec_from("{\"space\": {\"optimizer.args.weight_decay\": {\"uniform\": [0.1, 0.5]}}}");
    assert_non_null(t);
    const Param *p = &t->space.params[0];
    TuneRng r;
    tune_rng_seed(&r, 7, 0);
    double sum = 0, lo = 1, hi = 0;
    int below_third = 0;
    for (int k = 0; k < DRAWS; k++) {
        double v = param_sample(p, &r);
        assert_true(v >= 0.1 && v < 0.5);
        sum += v, lo = fmin(lo, v), hi = fmax(hi, v);
        below_third += v < 0.1 + 0.4 / 3;
    }
    printf("uniform [0.1, 0.5): mean %.4f, min %.4f, max %.4f, below a third %.3f\n", sum / DRAWS, lo, hi,
           (double)below_third / DRAWS);
    assert_true(fabs(sum / DRAWS - 0.3) < 0.005);
    assert_true(lo < 0.101 && hi > 0.499);
    assert_true(fabs((double)below_third / DRAWS - 1.0 / 3) < 0.015);
    spec_free(t);
}

/* Each decade of [1e-4, 1e-1] gets a third of the draws (uniform in log10). */
static void test_loguniform(void **state)
{
    (void)state;
    TuneSpec *t = spec_from("{\"space\": {\"optimizer.args.lr\": {\"loguniform\": [1e-4, 1e-1]}}}");
    assert_non_null(t);
    const Param *p = &t->space.params[0];
    TuneRng r;
    tune_rng_seed(&r, 1, 3);
    int decade[3] = {0};
    for (int k = 0; k < DRAWS; k++) {
        double v = param_sample(p, &r);
        assert_true(v >= 1e-4 && v < 1e-1);
        int d = (int)floor(log10(v) + 4);
        assert_true(d >= 0 && d < 3);
        decade[d]++;
    }
    printf("loguniform [1e-4, 1e-1): per decade %d %d %d of %d\n", decade[0], decade[1], decade[2], DRAWS);
    for (int d = 0; d < 3; d++) assert_true(fabs((double)decade[d] / DRAWS - 1.0 / 3) < 0.015);
    /* the chart's axis is log10 of the value */
    assert_true(fabs(param_axis_value(p, 1e-3) + 3) < 1e-12);
    spec_free(t);
}

static void test_randint_and_choice(void **state)
{
    (void)state;
    TuneSpec *t = spec_from("{\"space\": {\"data_loader.args.batch_size\": {\"randint\": [16, 20]},"
                            " \"optimizer.type\": {\"choice\": [\"Adam\", \"SGD\", \"AdamW\"]}}}");
    assert_non_null(t);
    TuneRng r;
    tune_rng_seed(&r, 0, 0);
    int counts[5] = {0}, picks[3] = {0};
    for (int k = 0; k < DRAWS; k++) {
        double v = param_sample(&t->space.params[0], &r);
        assert_true(v == floor(v) && v >= 16 && v <= 20); /* both bounds included */
        counts[(int)v - 16]++;
        double c = param_sample(&t->space.params[1], &r);
        assert_true(c == 0 || c == 1 || c == 2);
        picks[(int)c]++;
    }
    printf("randint [16, 20]: %d %d %d %d %d; choice: %d %d %d\n", counts[0], counts[1], counts[2], counts[3], counts[4],
           picks[0], picks[1], picks[2]);
    for (int k = 0; k < 5; k++) assert_true(fabs((double)counts[k] / DRAWS - 0.2) < 0.015);
    for (int k = 0; k < 3; k++) assert_true(fabs((double)picks[k] / DRAWS - 1.0 / 3) < 0.015);
    char text[64];
    assert_int_equal(param_value_text(&t->space.params[1], 2, text, sizeof text), 0);
    assert_string_equal(text, "AdamW");
    assert_int_equal(param_value_text(&t->space.params[0], 17, text, sizeof text), 0);
    assert_string_equal(text, "17");
    spec_free(t);
}

/* The same seed gives the same trials; each trial has a stream of its own. */
static void test_seeded_reproducibility(void **state)
{
    (void)state;
    const char *text = "{\"space\": {\"optimizer.args.lr\": {\"loguniform\": [1e-5, 1]},"
                       " \"data_loader.args.batch_size\": {\"choice\": [32, 64, 128]}}, \"seed\": 5}";
    TuneSpec *a = spec_from(text), *b = spec_from(text);
    assert_non_null(a);
    assert_non_null(b);
    b->seed = 6;
    double xa[TUNE_MAX_PARAMS], xa2[TUNE_MAX_PARAMS], xb[TUNE_MAX_PARAMS];
    int differ = 0;
    for (int k = 0; k < 20; k++) {
        assert_int_equal(search_suggest(a, k, NULL, 0, xa), 0);
        assert_int_equal(search_suggest(a, k, NULL, 0, xa2), 0);
        assert_memory_equal(xa, xa2, 2 * sizeof(double));
        assert_int_equal(search_suggest(b, k, NULL, 0, xb), 0);
        differ += xa[0] != xb[0];
    }
    assert_int_equal(differ, 20);
    /* a value's --set text reads back to the same double */
    char t[64];
    for (int k = 0; k < 20; k++) {
        assert_int_equal(search_suggest(a, k, NULL, 0, xa), 0);
        assert_int_equal(param_value_text(&a->space.params[0], xa[0], t, sizeof t), 0);
        assert_true(strtod(t, NULL) == xa[0]);
    }
    spec_free(a);
    spec_free(b);
}

/* 2 x 3 grid points, num_samples 2: 12 trials, the grid in order twice, the
 * first key changing slowest; lists go to --set as JSON. */
static void test_grid_enumeration(void **state)
{
    (void)state;
    TuneSpec *t = spec_from("{\"space\": {\"arch.args.hidden\": {\"grid\": [[256], [512, 256]]},"
                            " \"data_loader.args.batch_size\": {\"grid\": [32, 64, 128]},"
                            " \"optimizer.args.lr\": {\"loguniform\": [1e-4, 1e-2]}}, \"num_samples\": 2}");
    assert_non_null(t);
    assert_int_equal(t->grid_points, 6);
    assert_int_equal(t->n_trials, 12);
    double x[TUNE_MAX_PARAMS];
    for (int k = 0; k < 12; k++) {
        assert_int_equal(search_suggest(t, k, NULL, 0, x), 0);
        assert_true(x[0] == (k % 6) / 3 && x[1] == (k % 6) % 3);
        assert_true(x[2] >= 1e-4 && x[2] < 1e-2);
    }
    char text[64];
    assert_int_equal(param_value_text(&t->space.params[0], 1, text, sizeof text), 0);
    assert_string_equal(text, "[512,256]");
    spec_free(t);

    /* search "grid": choices are enumerated too; random search draws them */
    t = spec_from("{\"space\": {\"optimizer.type\": {\"choice\": [\"Adam\", \"SGD\"]},"
                  " \"data_loader.args.batch_size\": {\"grid\": [32, 64]}}, \"search\": \"grid\"}");
    assert_non_null(t);
    assert_int_equal(t->n_trials, 4);
    int seen[4] = {0};
    for (int k = 0; k < 4; k++) {
        assert_int_equal(search_suggest(t, k, NULL, 0, x), 0);
        seen[(int)x[0] * 2 + (int)x[1]]++;
    }
    for (int k = 0; k < 4; k++) assert_int_equal(seen[k], 1);
    spec_free(t);
    t = spec_from("{\"space\": {\"optimizer.type\": {\"choice\": [\"Adam\", \"SGD\"]}}, \"num_samples\": 7}");
    assert_non_null(t);
    assert_int_equal(t->grid_points, 1);
    assert_int_equal(t->n_trials, 7);
    spec_free(t);
}

static void refused(const char *text, const char *a, const char *b)
{
    TuneSpec *t = spec_from(text);
    if (t) spec_free(t);
    expect_failure(t == NULL, a, b);
}

static void test_bad_spaces(void **state)
{
    (void)state;
    refused("{\"space\": {\"optimizer.args.lrr\": {\"uniform\": [0, 1]}}}", "search.json: space.optimizer.args.lrr",
            "no such key in config.json");
    refused("{\"space\": {\"optimizer.type\": {\"choice\": []}}}", "search.json: space.optimizer.type", "empty");
    refused("{\"space\": {\"optimizer.args.lr\": {\"uniform\": [0.1, 0.01]}}}", "search.json: space.optimizer.args.lr",
            "low < high");
    refused("{\"space\": {\"data_loader.args.batch_size\": {\"randint\": [64, 32]}}}",
            "search.json: space.data_loader.args.batch_size", "low 64 > high 32");
    refused("{\"space\": {\"optimizer.args.lr\": {\"loguniform\": [0, 0.1]}}}", "search.json: space.optimizer.args.lr",
            "above 0");
    refused("{\"space\": {\"optimizer.args.lr\": {\"loguniform\": [-1, 0.1]}}}", "search.json: space.optimizer.args.lr",
            "above 0");
    refused("{\"space\": {\"optimizer.args.lr\": {\"choice\": [0.1, \"fast\"]}}}", "search.json: space.optimizer.args.lr",
            "value 1 is a string");
    refused("{\"space\": {\"optimizer.type\": {\"loguniform\": [1e-3, 1]}}}", "search.json: space.optimizer.type",
            "a string");
    refused("{\"space\": {\"arch.args.hidden\": {\"grid\": [256, 512]}}}", "search.json: space.arch.args.hidden",
            "is a number");
    refused("{\"space\": {\"optimizer.args.lr\": {\"logunifrom\": [1e-3, 1]}}}", "search.json: space.optimizer.args.lr",
            "did you mean 'loguniform'");
    refused("{\"space\": {\"optimizer.args.lr\": {\"uniform\": [1e-3]}}}", "search.json: space.optimizer.args.lr",
            "[low, high]");
    refused("{\"space\": {\"data_loader.args.batch_size\": {\"randint\": [1.5, 8]}}}",
            "search.json: space.data_loader.args.batch_size", "integer bounds");
    refused("{\"space\": {\"trainer.save_dir\": {\"choice\": [\"a/\", \"b/\"]}}}", "search.json: space.trainer.save_dir",
            "sets this key itself");
    refused("{\"space\": {}}", "search.json: space", NULL);
    refused("{\"space\": {\"optimizer.args.lr\": {\"uniform\": [0, 1]}}, \"searhc\": \"tpe\"}", "search.json: searhc",
            "did you mean 'search'");
    refused("{\"space\": {\"optimizer.args.lr\": {\"uniform\": [0, 1]}}, \"search\": \"bayes\"}", "search.json: search",
            "grid, random, tpe");
    refused("{\"space\": {\"optimizer.args.lr\": {\"uniform\": [0, 1]}}, \"metric\": \"lowest val_loss\"}",
            "search.json: metric", "min KEY");
    refused("{\"space\": {\"optimizer.args.lr\": {\"uniform\": [0, 1]}}, \"scheduler\": {\"type\": \"ASHA\","
            " \"args\": {\"reduction_factor\": 1}}}", "search.json: scheduler.args.reduction_factor", "above 1");
    refused("{\"space\": {\"optimizer.args.lr\": {\"uniform\": [0, 1]}}, \"scheduler\": {\"type\": \"ASHA\","
            " \"args\": {\"grace_period\": 10}}}", "search.json: scheduler.args.grace_period", "trainer.epochs (9)");
    refused("{\"space\": {\"optimizer.args.lr\": {\"uniform\": [0, 1]}}, \"num_samples\": 0}", "search.json: num_samples",
            NULL);
    refused("{\"space\": {\"optimizer.args.lr\": {\"uniform\": [0, 1]}}, \"max_concurrent\": 0}",
            "search.json: max_concurrent", NULL);
    /* a value the config itself refuses (config_set's own check) */
    refused("{\"space\": {\"metrics.3\": {\"choice\": [\"accuracy\"]}}}", "search.json: space.metrics.3", NULL);
}

/* The metric defaults to the config's monitor. */
static void test_metric_default(void **state)
{
    (void)state;
    TuneSpec *t = spec_from("{\"space\": {\"optimizer.args.lr\": {\"uniform\": [0, 1]}}}");
    assert_non_null(t);
    assert_string_equal(t->metric, "val_loss");
    assert_false(t->maximize);
    assert_int_equal(t->sched.kind, SCHED_FIFO);
    assert_int_equal(t->max_concurrent, 2);
    spec_free(t);
    t = spec_from("{\"space\": {\"optimizer.args.lr\": {\"uniform\": [0, 1]}}, \"metric\": \"max val_accuracy\"}");
    assert_non_null(t);
    assert_string_equal(t->metric, "val_accuracy");
    assert_true(t->maximize);
    spec_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_loguniform),
        cmocka_unit_test(test_randint_and_choice),
        cmocka_unit_test(test_seeded_reproducibility),
        cmocka_unit_test(test_grid_enumeration),
        cmocka_unit_test(test_bad_spaces),
        cmocka_unit_test(test_metric_default),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
