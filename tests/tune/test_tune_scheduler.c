/* ./tune's early stopping: ASHA's promotion and stopping decisions worked
 * by hand, then against a small reference written here after Ray Tune's
 * _Bracket (rungs from the log formula, a dict per rung, numpy's
 * nanpercentile by its definition) on random asynchronous curves; the
 * median stopping rule by hand; and numpy's percentile. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/check.h"
#include "tuner/rng.h"
#include "tuner/scheduler.h"

static SchedOptions asha(int64_t grace, double rf, int64_t max_t)
{
    SchedOptions o = {SCHED_ASHA, grace, rf, max_t, 3};
    return o;
}

static void test_percentile(void **state)
{
    (void)state;
    double a[] = {3, 1, 2, 4};
    /* numpy.percentile([1, 2, 3, 4], 66.67) = 1 + 3 * 0.6667 */
    assert_true(fabs(tune_percentile(a, 4, 200.0 / 3) - 3.0) < 1e-12);
    double b[] = {NAN, 5, 1};
    assert_true(fabs(tune_percentile(b, 3, 50) - 3.0) < 1e-12);
    double c[] = {NAN};
    assert_true(isnan(tune_percentile(c, 1, 50)));
    double d[] = {-0.5, -0.4};
    assert_true(fabs(tune_percentile(d, 2, 100.0 * (1 - 1.0 / 3)) - (-0.5 + 0.1 * 2.0 / 3)) < 1e-12);
}

/* Losses (min mode), rf 3, grace 1, max_t 9: rungs at epochs 1, 3, 9.
 * Epoch 1, in this order:
 *   t0 0.50  first at the rung: continues; rung {-.50}
 *   t1 0.40  cutoff = pct66.7(-.50) = -.50; -.40 >= it: continues
 *   t2 0.60  cutoff = pct66.7(-.50, -.40) = -.50 + .10 * 2/3 = -.4333: stops
 *   t3 0.45  cutoff = pct66.7(-.60, -.50, -.40) = -.50 + .10 * 1/3 = -.4667: continues
 *   t4 0.48  cutoff = pct66.7(-.60, -.50, -.45, -.40) = -.45: stops
 * Epoch 2 is no rung: t0 continues whatever its value. Epoch 3:
 *   t0 0.35  first at rung 3: continues
 *   t1 0.36  cutoff = -.35: stops
 *   t3 0.30  cutoff = pct66.7(-.36, -.35) = -.3533: continues
 * A NaN (a diverged trial) stops at a rung that has values. Epoch 9 = max_t: stop. */
static void test_asha_by_hand(void **state)
{
    (void)state;
    TuneScheduler s;
    SchedOptions o = asha(1, 3, 9);
    assert_int_equal(tune_scheduler_init(&s, &o, false, 8), 0);
    assert_int_equal(s.n_rungs, 3);
    assert_true(s.milestones[0] == 1 && s.milestones[1] == 3 && s.milestones[2] == 9);
    assert_int_equal(tune_scheduler_on_result(&s, 0, 1, 0.50), DECIDE_CONTINUE);
    assert_int_equal(tune_scheduler_on_result(&s, 1, 1, 0.40), DECIDE_CONTINUE);
    assert_int_equal(tune_scheduler_on_result(&s, 2, 1, 0.60), DECIDE_STOP);
    assert_int_equal(tune_scheduler_on_result(&s, 3, 1, 0.45), DECIDE_CONTINUE);
    assert_int_equal(tune_scheduler_on_result(&s, 4, 1, 0.48), DECIDE_STOP);
    assert_int_equal(tune_scheduler_on_result(&s, 0, 2, 9.99), DECIDE_CONTINUE);
    assert_int_equal(tune_scheduler_on_result(&s, 0, 3, 0.35), DECIDE_CONTINUE);
    assert_int_equal(tune_scheduler_on_result(&s, 1, 2, 0.37), DECIDE_CONTINUE);
    assert_int_equal(tune_scheduler_on_result(&s, 1, 3, 0.36), DECIDE_STOP);
    assert_int_equal(tune_scheduler_on_result(&s, 3, 2, 0.31), DECIDE_CONTINUE);
    assert_int_equal(tune_scheduler_on_result(&s, 3, 3, 0.30), DECIDE_CONTINUE);
    assert_int_equal(tune_scheduler_on_result(&s, 5, 1, NAN), DECIDE_STOP);
    assert_int_equal(tune_scheduler_on_result(&s, 3, 9, 0.20), DECIDE_STOP); /* the budget: max_t */
    tune_scheduler_free(&s);

    /* max mode: the same figures as accuracies keep the higher ones */
    o = asha(1, 2, 4);
    assert_int_equal(tune_scheduler_init(&s, &o, true, 4), 0);
    assert_int_equal(s.n_rungs, 3); /* 1, 2, 4 */
    assert_int_equal(tune_scheduler_on_result(&s, 0, 1, 0.90), DECIDE_CONTINUE);
    assert_int_equal(tune_scheduler_on_result(&s, 1, 1, 0.80), DECIDE_STOP); /* below the median 0.90 */
    assert_int_equal(tune_scheduler_on_result(&s, 2, 1, 0.95), DECIDE_CONTINUE);
    tune_scheduler_free(&s);
}

/* The reference: Ray Tune's _Bracket, with MAX_RUNGS = int(log(max_t / min_t) / log(rf) + 1). */
#define REF_TRIALS 40
typedef struct {
    int n_rungs;
    double milestone[64];
    double value[64][REF_TRIALS];
    int has[64][REF_TRIALS];
    double rf, max_t;
} Ref;

static void ref_init(Ref *r, double min_t, double rf, double max_t)
{
    memset(r, 0, sizeof *r);
    int max_rungs = (int)(log(max_t / min_t) / log(rf) + 1 + 1e-9);
    r->n_rungs = max_rungs;
    for (int k = 0; k < max_rungs; k++) r->milestone[k] = min_t * pow(rf, max_rungs - 1 - k); /* descending */
    r->rf = rf;
    r->max_t = max_t;
}

static double ref_nanpercentile(const double *v, int n, double q)
{
    double s[REF_TRIALS];
    int m = 0;
    for (int i = 0; i < n; i++)
        if (v[i] == v[i]) s[m++] = v[i];
    if (!m) return NAN;
    for (int i = 1; i < m; i++) /* insertion sort */
        for (int j = i; j > 0 && s[j - 1] > s[j]; j--) {
            double tmp = s[j];
            s[j] = s[j - 1];
            s[j - 1] = tmp;
        }
    double rank = q / 100 * (m - 1);
    int lo = (int)rank, hi = lo + 1 < m ? lo + 1 : lo;
    return s[lo] + (s[hi] - s[lo]) * (rank - lo);
}

/* 1: stop. rew in "higher is better" form; NaN stops where a cutoff exists. */
static int ref_on_result(Ref *r, int trial, double cur_iter, double rew)
{
    int stop = 0;
    for (int k = 0; k < r->n_rungs; k++) {
        if (cur_iter < r->milestone[k] || r->has[k][trial]) continue;
        double vals[REF_TRIALS];
        int n = 0;
        for (int j = 0; j < REF_TRIALS; j++)
            if (r->has[k][j]) vals[n++] = r->value[k][j];
        if (n > 0) {
            double cutoff = ref_nanpercentile(vals, n, (1 - 1 / r->rf) * 100);
            if (rew != rew || rew < cutoff) stop = 1;
        }
        r->value[k][trial] = rew;
        r->has[k][trial] = 1;
        break;
    }
    if (cur_iter >= r->max_t) stop = 1;
    return stop;
}

/* Random decreasing loss curves reported in a random interleaving (the
 * asynchronous order of parallel trials); a stopped trial reports no more. */
static void test_asha_against_reference(void **state)
{
    (void)state;
    const struct {
        int grace;
        double rf;
        int max_t;
    } cases[] = {{1, 3, 9}, {1, 2, 8}, {2, 3, 18}, {1, 4, 16}, {1, 3, 3}};
    int decisions = 0, stops = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (uint64_t seed = 0; seed < 5; seed++) {
            TuneRng rng;
            tune_rng_seed(&rng, seed, 100 + c);
            SchedOptions o = asha(cases[c].grace, cases[c].rf, cases[c].max_t);
            TuneScheduler s;
            assert_int_equal(tune_scheduler_init(&s, &o, false, REF_TRIALS), 0);
            Ref ref;
            ref_init(&ref, cases[c].grace, cases[c].rf, cases[c].max_t);
            int epoch[REF_TRIALS] = {0}, alive[REF_TRIALS];
            double start[REF_TRIALS], rate[REF_TRIALS];
            for (int k = 0; k < REF_TRIALS; k++) {
                alive[k] = 1;
                start[k] = 1 + tune_rng_uniform(&rng);
                rate[k] = 0.5 + 0.5 * tune_rng_uniform(&rng);
            }
            for (;;) {
                int live = 0, pick = -1;
                for (int k = 0; k < REF_TRIALS; k++) live += alive[k];
                if (!live) break;
                int target = (int)tune_rng_below(&rng, (uint64_t)live);
                for (int k = 0; k < REF_TRIALS && pick < 0; k++)
                    if (alive[k] && target-- == 0) pick = k;
                int e = ++epoch[pick];
                double loss = start[pick] * pow(rate[pick], e) + 0.01 * tune_rng_normal(&rng);
                if (tune_rng_below(&rng, 50) == 0) loss = NAN;
                int got = tune_scheduler_on_result(&s, pick, e, loss) == DECIDE_STOP;
                int want = ref_on_result(&ref, pick, e, loss == loss ? -loss : NAN);
                if (got != want)
                    fail_msg("grace %d rf %g max_t %d seed %llu: trial %d epoch %d loss %g: ours %d, reference %d",
                             cases[c].grace, cases[c].rf, cases[c].max_t, (unsigned long long)seed, pick, e, loss, got,
                             want);
                decisions++;
                stops += got && e < cases[c].max_t;
                if (got) alive[pick] = 0;
            }
            tune_scheduler_free(&s);
        }
    printf("%d decisions as the reference's, %d early stops among them\n", decisions, stops);
    assert_true(stops > 100); /* the comparison covered stopping, not only continuing */
}

/* Median rule, grace 2, 3 others needed. Losses per epoch:
 *   t0 1.0 0.8 0.6   t1 1.2 1.0 0.9   t2 0.9 0.7 0.5
 * t3 at epoch 2 with 1.1, 1.05: best 1.05; the others' means over 2 epochs
 * are 0.9, 1.1, 0.8, median 0.9: 1.05 is worse, it stops. t4 with 1.0,
 * 0.85: 0.85 beats the median (0.9 of t0, t1, t2, t3's 1.075 -> median of
 * 0.8, 0.9, 1.075, 1.1 = 0.9875): continues. Epoch 1 is within grace. */
static void test_median_by_hand(void **state)
{
    (void)state;
    SchedOptions o = {SCHED_MEDIAN, 2, 3, 3, 3};
    TuneScheduler s;
    assert_int_equal(tune_scheduler_init(&s, &o, false, 5), 0);
    const double curves[3][3] = {{1.0, 0.8, 0.6}, {1.2, 1.0, 0.9}, {0.9, 0.7, 0.5}};
    for (int k = 0; k < 3; k++) assert_int_equal(tune_scheduler_on_result(&s, k, 1, curves[k][0]), DECIDE_CONTINUE);
    /* at epoch 2 each of t0, t1, t2 sees at most 2 others with 2 epochs: fewer than 3, no decision */
    for (int k = 0; k < 3; k++) assert_int_equal(tune_scheduler_on_result(&s, k, 2, curves[k][1]), DECIDE_CONTINUE);
    assert_int_equal(tune_scheduler_on_result(&s, 3, 1, 1.1), DECIDE_CONTINUE);
    assert_int_equal(tune_scheduler_on_result(&s, 3, 2, 1.05), DECIDE_STOP);
    assert_int_equal(tune_scheduler_on_result(&s, 4, 1, 1.0), DECIDE_CONTINUE);
    assert_int_equal(tune_scheduler_on_result(&s, 4, 2, 0.85), DECIDE_CONTINUE);
    tune_scheduler_free(&s);
}

/* FIFO never stops anything. */
static void test_fifo(void **state)
{
    (void)state;
    SchedOptions o = {SCHED_FIFO, 1, 3, 5, 3};
    TuneScheduler s;
    assert_int_equal(tune_scheduler_init(&s, &o, false, 3), 0);
    for (int e = 1; e <= 5; e++)
        for (int k = 0; k < 3; k++) assert_int_equal(tune_scheduler_on_result(&s, k, e, k * 10.0 + e), DECIDE_CONTINUE);
    tune_scheduler_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentile),
        cmocka_unit_test(test_asha_by_hand),
        cmocka_unit_test(test_asha_against_reference),
        cmocka_unit_test(test_median_by_hand),
        cmocka_unit_test(test_fifo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
