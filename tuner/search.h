/* The search algorithms behind one call: which parameter values trial
 * number `index` gets. Grid parameters (and for search "grid" the choices
 * too) are enumerated, the grid point being index % grid_points, as Ray
 * Tune repeats the grid num_samples times; the other parameters are drawn
 * at random or proposed by TPE from the trials that have results. Every
 * trial draws from a random stream of its own (seed, index), so random and
 * grid searches propose the same trials whatever order they finish in. */
#ifndef TUNE_SEARCH_H
#define TUNE_SEARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "tuner/spec.h"

/* What a finished or running trial tells the model-based search. */
typedef enum { OBS_NONE, OBS_COMPLETE, OBS_PRUNED } ObsState;

typedef struct {
    double x[TUNE_MAX_PARAMS];
    double loss;      /* the objective as a loss (lower is better): -metric when maximizing; NaN when none */
    int64_t epochs;   /* epochs the trial reached (pruned trials that got further rank higher) */
    ObsState state;
} Observation;

/* The grid point's enumerated values (mixed radix, the first parameter
 * changing slowest) into x. */
void grid_point(const TuneSpec *t, int64_t g, double *x);

/* Proposes trial `index` into x from the history (n_hist entries, any
 * order; entries without a result are ignored). 0, or -1 with an error. */
int search_suggest(const TuneSpec *t, int64_t index, const Observation *hist, int n_hist, double *x);

#endif
