/* ASHA and the median stopping rule (see scheduler.h). ASHA follows Ray
 * Tune's _Bracket.on_result: the rungs are looked at from the highest
 * milestone down; at the first one the trial has reached and not yet
 * recorded at, the cutoff is the (1 - 1/rf) percentile of the values
 * recorded there before it, the trial stops when below it, and its value is
 * recorded. */
#include "tuner/scheduler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

double tune_percentile(double *v, int n, double q)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) v[m++] = v[i];
    if (m == 0) return NAN;
    qsort(v, (size_t)m, sizeof *v, cmp_double);
    double pos = q / 100.0 * (m - 1);
    int k = (int)floor(pos);
    if (k >= m - 1) return v[m - 1];
    double frac = pos - k;
    return frac == 0 ? v[k] : v[k] + (v[k + 1] - v[k]) * frac;
}

int tune_scheduler_init(TuneScheduler *s, const SchedOptions *o, bool maximize, int n_trials)
{
    memset(s, 0, sizeof *s);
    s->o = *o;
    s->maximize = maximize;
    s->n_trials = n_trials;
    if (o->kind == SCHED_ASHA) {
        double m = (double)o->grace_period;
        while (m <= (double)o->max_t * (1 + 1e-12) && s->n_rungs < ASHA_MAX_RUNGS) {
            s->milestones[s->n_rungs++] = m;
            m *= o->reduction_factor;
        }
        size_t cells = (size_t)s->n_rungs * (size_t)n_trials;
        s->recorded = calloc(cells ? cells : 1, sizeof *s->recorded);
        s->has_record = calloc(cells ? cells : 1, sizeof *s->has_record);
        ENGINE_CHECK_INT(s->recorded && s->has_record, "out of memory for %d trials", n_trials);
    } else if (o->kind == SCHED_MEDIAN) {
        ENGINE_CHECK_INT(o->max_t >= 1 && (size_t)o->max_t <= SIZE_MAX / sizeof(double) / ((size_t)n_trials + 1),
                         "too many trials and epochs to track");
        s->history = calloc((size_t)n_trials * (size_t)o->max_t + 1, sizeof *s->history);
        s->n_history = calloc((size_t)n_trials + 1, sizeof *s->n_history);
        ENGINE_CHECK_INT(s->history && s->n_history, "out of memory for %d trials", n_trials);
    }
    return 0;
}

void tune_scheduler_free(TuneScheduler *s)
{
    free(s->recorded);
    free(s->has_record);
    free(s->history);
    free(s->n_history);
    memset(s, 0, sizeof *s);
}

static Decision asha_on_result(TuneScheduler *s, int trial, int64_t epoch, double v)
{
    Decision d = DECIDE_CONTINUE;
    for (int r = s->n_rungs - 1; r >= 0; r--) {
        size_t row = (size_t)r * (size_t)s->n_trials;
        if ((double)epoch < s->milestones[r] || s->has_record[row + (size_t)trial]) continue;
        int n = 0;
        double *vals = malloc(((size_t)s->n_trials + 1) * sizeof *vals);
        if (!vals) return DECIDE_CONTINUE; /* no memory: no decision */
        for (int k = 0; k < s->n_trials; k++)
            if (s->has_record[row + (size_t)k]) vals[n++] = s->recorded[row + (size_t)k];
        double cutoff = tune_percentile(vals, n, (1.0 - 1.0 / s->o.reduction_factor) * 100.0);
        free(vals);
        if (n > 0 && (isnan(v) || (!isnan(cutoff) && v < cutoff))) d = DECIDE_STOP;
        s->recorded[row + (size_t)trial] = v;
        s->has_record[row + (size_t)trial] = true;
        break;
    }
    if ((double)epoch >= (double)s->o.max_t) d = DECIDE_STOP;
    return d;
}

static Decision median_on_result(TuneScheduler *s, int trial, int64_t epoch, double v)
{
    int64_t max_t = s->o.max_t;
    double *h = s->history + (size_t)trial * (size_t)max_t;
    if (epoch >= 1 && epoch <= max_t && s->n_history[trial] == epoch - 1) {
        h[epoch - 1] = v;
        s->n_history[trial] = epoch;
    }
    if (epoch < s->o.grace_period || epoch > max_t) return DECIDE_CONTINUE;
    double best = -INFINITY;
    for (int64_t e = 0; e < epoch && e < s->n_history[trial]; e++)
        if (!isnan(h[e]) && h[e] > best) best = h[e];
    double *means = malloc(((size_t)s->n_trials + 1) * sizeof *means);
    if (!means) return DECIDE_CONTINUE;
    int n = 0;
    for (int k = 0; k < s->n_trials; k++) {
        if (k == trial || s->n_history[k] < epoch) continue;
        const double *o = s->history + (size_t)k * (size_t)max_t;
        double sum = 0;
        for (int64_t e = 0; e < epoch; e++) sum += o[e];
        means[n++] = sum / (double)epoch; /* NaN when a value was: left out of the median */
    }
    int counted = 0;
    for (int k = 0; k < n; k++) counted += !isnan(means[k]);
    double median = tune_percentile(means, n, 50.0);
    free(means);
    if (counted < s->o.min_samples) return DECIDE_CONTINUE;
    return best < median ? DECIDE_STOP : DECIDE_CONTINUE;
}

Decision tune_scheduler_on_result(TuneScheduler *s, int trial, int64_t epoch, double value)
{
    if (trial < 0 || trial >= s->n_trials) return DECIDE_CONTINUE;
    double v = isnan(value) ? NAN : s->maximize ? value : -value;
    switch (s->o.kind) {
    case SCHED_ASHA: return asha_on_result(s, trial, epoch, v);
    case SCHED_MEDIAN: return median_on_result(s, trial, epoch, v);
    default: return DECIDE_CONTINUE;
    }
}
