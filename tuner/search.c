/* Grid enumeration, random proposals and the dispatch to TPE (see search.h). */
#include "tuner/search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "tuner/tpe.h"

void grid_point(const TuneSpec *t, int64_t g, double *x)
{
    for (int i = t->space.n - 1; i >= 0; i--) {
        if (!spec_param_enumerated(t, i)) continue;
        int64_t n = t->space.params[i].n_values;
        x[i] = (double)(g % n);
        g /= n;
    }
}

int search_suggest(const TuneSpec *t, int64_t index, const Observation *hist, int n_hist, double *x)
{
    TuneRng rng;
    tune_rng_seed(&rng, t->seed, (uint64_t)index);
    grid_point(t, t->grid_points > 0 ? index % t->grid_points : 0, x);
    for (int i = 0; i < t->space.n; i++)
        if (!spec_param_enumerated(t, i)) x[i] = param_sample(&t->space.params[i], &rng);
    if (t->search != SEARCH_TPE) return 0;

    /* the observations with a result, best first */
    int n_obs = 0;
    for (int k = 0; k < n_hist; k++) n_obs += hist[k].state != OBS_NONE && isfinite(hist[k].loss);
    if (n_obs < t->tpe.n_startup_trials) return 0;
    const Observation **obs = malloc((size_t)n_obs * sizeof *obs);
    ENGINE_CHECK_INT(obs != NULL, "out of memory");
    n_obs = 0;
    for (int k = 0; k < n_hist; k++)
        if (hist[k].state != OBS_NONE && isfinite(hist[k].loss)) obs[n_obs++] = &hist[k];
    tpe_rank(obs, n_obs);
    int n_below = tpe_n_below(n_obs, t->tpe.gamma);
    int rc = 0;
    for (int i = 0; i < t->space.n && rc == 0; i++) {
        if (spec_param_enumerated(t, i)) continue;
        rc = tpe_suggest_param(&t->space.params[i], i, &t->tpe, obs, n_below, n_obs, &rng, &x[i]);
    }
    free(obs);
    return rc;
}
