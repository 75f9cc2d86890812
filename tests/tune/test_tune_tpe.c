/* ./tune's TPE: on a synthetic objective (a quadratic in log10 lr with its
 * optimum at lr = 10^-2.5, plus a penalty for the wrong choice of a
 * categorical parameter), TPE proposals move toward the optimum and find a
 * better value than random search over the same budget, measured over
 * several seeds; the ranking of observations (pruned after completed) and
 * the size of the good set follow Optuna. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/support/check.h"
#include "tests/tune/tune_fixture.h"
#include "tuner/search.h"
#include "tuner/tpe.h"

static double objective(const double *x)
{
    double d = log10(x[0]) + 2.5;
    return d * d + (x[1] == 2 ? 0 : 0.5);
}

enum { BUDGET = 40, SEEDS = 10 };

/* Runs a sequential search (each trial told before the next is proposed);
 * returns the best objective and the mean distance |log10 lr + 2.5| of the
 * last half of the proposals. */
static double run_search(TuneSpec *t, double *late_distance)
{
    Observation hist[BUDGET];
    double best = INFINITY, dist = 0;
    for (int k = 0; k < BUDGET; k++) {
        double x[TUNE_MAX_PARAMS];
        assert_int_equal(search_suggest(t, k, hist, k, x), 0);
        assert_true(x[0] >= 1e-6 && x[0] <= 1);
        assert_true(x[1] == 0 || x[1] == 1 || x[1] == 2);
        hist[k].x[0] = x[0];
        hist[k].x[1] = x[1];
        hist[k].loss = objective(x);
        hist[k].epochs = 3;
        hist[k].state = OBS_COMPLETE;
        best = fmin(best, hist[k].loss);
        if (k >= BUDGET / 2) dist += fabs(log10(x[0]) + 2.5);
    }
    *late_distance = dist / (BUDGET - BUDGET / 2);
    return best;
}

static void test_tpe_beats_random(void **state)
{
    (void)state;
    Config *config = config_parse(fixture_config, "config.json");
    assert_non_null(config);
    int wins = 0;
    double sum_tpe = 0, sum_random = 0, dist_tpe = 0, dist_random = 0;
    for (int seed = 0; seed < SEEDS; seed++) {
        char text[512];
        printf("seed %d: ", seed);
        double best_of[2];
        for (int algo = 0; algo < 2; algo++) { /* 0: TPE, 1: random */
            snprintf(text, sizeof text,
                     "{\"space\": {\"optimizer.args.lr\": {\"loguniform\": [1e-6, 1]},"
                     " \"optimizer.type\": {\"choice\": [\"SGD\", \"AdamW\", \"Adam\"]}},"
                     " \"search\": \"%s\", \"num_samples\": %d, \"seed\": %d%s}",
                     algo ? "random" : "tpe", BUDGET, seed, algo ? "" : ", \"tpe\": {\"n_startup_trials\": 10}");
            Config *s = config_parse(text, "search.json");
            assert_non_null(s);
            TuneSpec t;
            assert_int_equal(tune_spec_parse(&t, s, config, 1), 0);
            double late;
            best_of[algo] = run_search(&t, &late);
            if (algo) sum_random += best_of[algo], dist_random += late;
            else sum_tpe += best_of[algo], dist_tpe += late;
            printf("%s%s best %.5f (late proposals %.3f decades off)%s", algo ? "; " : "", algo ? "random" : "tpe",
                   best_of[algo], late, algo ? "\n" : "");
            tune_spec_free(&t);
            config_free(s);
        }
        wins += best_of[0] < best_of[1];
    }
    printf("TPE better on %d of %d seeds; mean best %.5f vs %.5f; late proposals %.3f vs %.3f decades from the optimum\n",
           wins, SEEDS, sum_tpe / SEEDS, sum_random / SEEDS, dist_tpe / SEEDS, dist_random / SEEDS);
    assert_true(sum_tpe < sum_random);
    assert_true(wins >= SEEDS * 7 / 10);
    /* the proposals themselves concentrate near the optimum */
    assert_true(dist_tpe < 0.5 * dist_random);
    config_free(config);
}

static void test_ranking(void **state)
{
    (void)state;
    Observation o[4] = {
        {.loss = 0.5, .epochs = 1, .state = OBS_PRUNED},
        {.loss = 0.9, .epochs = 3, .state = OBS_COMPLETE},
        {.loss = 0.7, .epochs = 2, .state = OBS_PRUNED},
        {.loss = 0.2, .epochs = 3, .state = OBS_COMPLETE},
    };
    const Observation *p[4] = {&o[0], &o[1], &o[2], &o[3]};
    tpe_rank(p, 4);
    /* completed by loss, then pruned ones that got further first */
    assert_ptr_equal(p[0], &o[3]);
    assert_ptr_equal(p[1], &o[1]);
    assert_ptr_equal(p[2], &o[2]);
    assert_ptr_equal(p[3], &o[0]);
    assert_int_equal(tpe_n_below(1, 0.1), 1);
    assert_int_equal(tpe_n_below(10, 0.1), 1);
    assert_int_equal(tpe_n_below(11, 0.1), 2);
    assert_int_equal(tpe_n_below(1000, 0.1), 25);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranking),
        cmocka_unit_test(test_tpe_beats_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
