/* Tree-structured Parzen Estimator, as Optuna's default TPESampler
 * (univariate): the trials with results are split into the best
 * gamma * n (at most 25) and the rest; each parameter gets a Parzen
 * estimator l(x) over the good values and g(x) over the others (truncated
 * Gaussians with a prior component for numbers, smoothed counts for
 * lists), and the proposal is the one of n_ei_candidates draws from l that
 * maximizes l(x) / g(x). Loguniform parameters are modelled in log space,
 * randint ones as a continuous range rounded to the nearest integer.
 * Pruned (early-stopped) trials rank after completed ones, those that ran
 * more epochs first. */
#ifndef TUNE_TPE_H
#define TUNE_TPE_H

#include "tuner/search.h"

/* Sorts best first. */
void tpe_rank(const Observation **obs, int n);
/* How many of n ranked observations are "good": ceil(gamma * n), at most 25, at least 1. */
int tpe_n_below(int n, double gamma);
/* Proposes parameter i (p) from obs[0..n_below) good and obs[n_below..n) others. 0 or -1. */
int tpe_suggest_param(const Param *p, int i, const TpeOptions *o, const Observation *const *obs, int n_below, int n,
                      TuneRng *rng, double *out);

#endif
