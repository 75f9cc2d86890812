/* The search file (search.json) as a whole: the space, the algorithm, the
 * budget, the metric, the early-stopping scheduler and the seed.
 *   {"space": {...}, "search": "tpe", "num_samples": 16, "max_concurrent": 2,
 *    "metric": "min val_loss",
 *    "scheduler": {"type": "ASHA", "args": {"grace_period": 1, "reduction_factor": 3}},
 *    "seed": 0} */
#ifndef TUNE_SPEC_H
#define TUNE_SPEC_H

#include <stdbool.h>
#include <stdint.h>

#include "tuner/space.h"
#include "utils/config.h"

typedef enum { SEARCH_GRID, SEARCH_RANDOM, SEARCH_TPE } SearchKind;
typedef enum { SCHED_FIFO, SCHED_ASHA, SCHED_MEDIAN } SchedKind;

typedef struct {
    int64_t n_startup_trials; /* random proposals before the model is used (Optuna: 10) */
    int64_t n_ei_candidates;  /* candidates drawn from l(x) per proposal (Optuna: 24) */
    double gamma;             /* fraction of observations that are "good" (Optuna: 0.1, at most 25) */
} TpeOptions;

typedef struct {
    SchedKind kind;
    int64_t grace_period;     /* epochs before any stop */
    double reduction_factor;  /* ASHA: keep the best 1/rf at each rung */
    int64_t max_t;            /* ASHA: the budget in epochs (trainer.epochs) */
    int64_t min_samples;      /* median: other trials needed at that epoch */
} SchedOptions;

typedef struct {
    Space space;
    SearchKind search;
    TpeOptions tpe;
    int64_t num_samples;      /* trials per grid point */
    int64_t grid_points;      /* product of the grid sizes (choices too for search "grid") */
    int64_t n_trials;         /* num_samples * grid_points */
    int64_t max_concurrent;
    char metric[64];          /* a metrics.csv column, as "val_loss" */
    bool maximize;
    SchedOptions sched;
    uint64_t seed;
    int64_t epochs;           /* trainer.epochs of the config */
} TuneSpec;

const char *search_kind_name(SearchKind k);
const char *sched_kind_name(SchedKind k);

/* Reads and checks the whole search file against config. default_concurrent
 * is used when max_concurrent is absent. 0, or -1 with one error line. */
int tune_spec_parse(TuneSpec *t, const Config *search, const Config *config, int64_t default_concurrent);
void tune_spec_free(TuneSpec *t);

/* Whether parameter i is enumerated (a grid; for search "grid" a choice too). */
bool spec_param_enumerated(const TuneSpec *t, int i);

/* "min val_loss" / "max val_accuracy": 0, or -1 with an error naming where. */
int parse_metric(const char *text, const char *where, char *key, size_t key_size, bool *maximize);

#endif
