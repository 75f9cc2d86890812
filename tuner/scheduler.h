/* Early stopping of trials from the per-epoch metric they log: ASHA
 * (asynchronous successive halving, Ray Tune's default: at each rung
 * milestone grace_period * reduction_factor^k a trial continues only when
 * its value is in the best 1/reduction_factor of the values recorded at that
 * rung so far) and the median stopping rule (after grace_period epochs a
 * trial stops when its best value is worse than the median of the other
 * trials' running means at the same epoch). FIFO never stops a trial.
 * Values are handed in as logged; a NaN (a diverged trial) is worse than
 * any number. */
#ifndef TUNE_SCHEDULER_H
#define TUNE_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "tuner/spec.h"

typedef enum { DECIDE_CONTINUE, DECIDE_STOP } Decision;

#define ASHA_MAX_RUNGS 40

typedef struct {
    SchedOptions o;
    bool maximize;
    int n_trials;
    /* ASHA: rung milestones, ascending, and the value each trial recorded there (NaN: none yet) */
    int n_rungs;
    double milestones[ASHA_MAX_RUNGS];
    double *recorded;  /* n_rungs x n_trials, in "higher is better" form */
    bool *has_record;  /* n_rungs x n_trials */
    /* median: each trial's values per epoch (higher is better), n_trials x max_t */
    double *history;
    int64_t *n_history;
} TuneScheduler;

/* 0 or -1 with an error. */
int tune_scheduler_init(TuneScheduler *s, const SchedOptions *o, bool maximize, int n_trials);
void tune_scheduler_free(TuneScheduler *s);
/* Trial `trial` logged `value` for epoch `epoch` (1-based, each epoch once, in order). */
Decision tune_scheduler_on_result(TuneScheduler *s, int trial, int64_t epoch, double value);

/* numpy's nanpercentile with linear interpolation (NaNs ignored); NaN when
 * no number is left. Sorts v in place. */
double tune_percentile(double *v, int n, double q);

#endif
