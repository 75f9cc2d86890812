/* TPE proposals (see tpe.h), following Optuna's ParzenEstimator: a prior
 * component (the middle of the range, the range as its width) with weight
 * 1, each observation's bandwidth the larger gap to its neighbours clipped
 * to [range / min(100, n + 1), range], equal weights. */
#include "tuner/tpe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"

static int compare_obs(const void *a, const void *b)
{
    const Observation *x = *(const Observation *const *)a, *y = *(const Observation *const *)b;
    if (x->state != y->state) return x->state == OBS_COMPLETE ? -1 : 1;
    if (x->state == OBS_PRUNED && x->epochs != y->epochs) return x->epochs > y->epochs ? -1 : 1;
    return x->loss < y->loss ? -1 : x->loss > y->loss ? 1 : 0;
}

void tpe_rank(const Observation **obs, int n)
{
    if (n > 1) qsort(obs, (size_t)n, sizeof *obs, compare_obs);
}

int tpe_n_below(int n, double gamma)
{
    int k = (int)ceil(gamma * n);
    if (k > 25) k = 25;
    if (k < 1) k = 1;
    return k > n ? n : k;
}

/* A mixture of Gaussians truncated to [lo, hi]. */
typedef struct {
    double *mu, *sigma, *w;
    int n;
    double lo, hi;
} Parzen;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* values: the observations in model space; the prior is added. */
static int parzen_build(Parzen *pz, const double *values, int n, double lo, double hi)
{
    pz->n = n + 1;
    pz->lo = lo;
    pz->hi = hi;
    pz->mu = malloc(3 * (size_t)pz->n * sizeof(double));
    ENGINE_CHECK_INT(pz->mu != NULL, "out of memory");
    pz->sigma = pz->mu + pz->n;
    pz->w = pz->sigma + pz->n;
    double range = hi - lo, prior = 0.5 * (lo + hi);
    /* sorted observations with the prior among them, as Optuna sorts them */
    memcpy(pz->mu, values, (size_t)n * sizeof(double));
    pz->mu[n] = prior;
    qsort(pz->mu, (size_t)pz->n, sizeof(double), cmp_double);
    double minsigma = range / fmin(100.0, 1.0 + pz->n), maxsigma = range;
    int prior_at = -1;
    for (int k = 0; k < pz->n; k++) {
        double left = k > 0 ? pz->mu[k] - pz->mu[k - 1] : pz->mu[k] - lo;
        double right = k + 1 < pz->n ? pz->mu[k + 1] - pz->mu[k] : hi - pz->mu[k];
        double s = fmax(left, right);
        if (pz->n >= 2 && k == 0) s = right;
        if (pz->n >= 2 && k == pz->n - 1) s = left;
        pz->sigma[k] = fmin(fmax(s, minsigma), maxsigma);
        pz->w[k] = 1.0 / pz->n;
        if (prior_at < 0 && pz->mu[k] == prior) prior_at = k;
    }
    if (prior_at >= 0) pz->sigma[prior_at] = range;
    return 0;
}

static void parzen_free(Parzen *pz) { free(pz->mu); }

static double norm_cdf(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }

static double parzen_log_pdf(const Parzen *pz, double x)
{
    double total = 0;
    for (int k = 0; k < pz->n; k++) {
        double s = pz->sigma[k], z = (x - pz->mu[k]) / s;
        double mass = norm_cdf((pz->hi - pz->mu[k]) / s) - norm_cdf((pz->lo - pz->mu[k]) / s);
        if (mass < 1e-300) mass = 1e-300;
        total += pz->w[k] * exp(-0.5 * z * z) / (s * sqrt(2 * M_PI) * mass);
    }
    return log(fmax(total, 1e-300));
}

static double parzen_sample(const Parzen *pz, TuneRng *rng)
{
    double u = tune_rng_uniform(rng), acc = 0;
    int k = pz->n - 1;
    for (int j = 0; j < pz->n; j++) {
        acc += pz->w[j];
        if (u < acc) {
            k = j;
            break;
        }
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        double x = pz->mu[k] + pz->sigma[k] * tune_rng_normal(rng);
        if (x >= pz->lo && x <= pz->hi) return x;
    }
    return fmin(fmax(pz->mu[k], pz->lo), pz->hi);
}

/* The parameter's range in model space. */
static void model_range(const Param *p, double *lo, double *hi)
{
    if (p->kind == DIST_LOGUNIFORM) *lo = log(p->lo), *hi = log(p->hi);
    else if (p->kind == DIST_RANDINT) *lo = p->lo - 0.5, *hi = p->hi + 0.5;
    else *lo = p->lo, *hi = p->hi;
}

static double to_model(const Param *p, double x) { return p->kind == DIST_LOGUNIFORM ? log(x) : x; }

static double from_model(const Param *p, double m)
{
    if (p->kind == DIST_LOGUNIFORM) {
        double v = exp(m);
        return v < p->lo ? p->lo : v > p->hi ? p->hi : v;
    }
    if (p->kind == DIST_RANDINT) {
        double v = floor(m + 0.5);
        return v < p->lo ? p->lo : v > p->hi ? p->hi : v;
    }
    return m < p->lo ? p->lo : m > p->hi ? p->hi : m;
}

static int suggest_numeric(const Param *p, int i, const TpeOptions *o, const Observation *const *obs, int n_below,
                           int n, TuneRng *rng, double *out)
{
    double lo, hi;
    model_range(p, &lo, &hi);
    double *v = malloc(((size_t)n + 1) * sizeof(double));
    ENGINE_CHECK_INT(v != NULL, "out of memory");
    for (int k = 0; k < n; k++) v[k] = to_model(p, obs[k]->x[i]);
    Parzen below = {0}, above = {0};
    int rc = parzen_build(&below, v, n_below, lo, hi);
    if (rc == 0) rc = parzen_build(&above, v + n_below, n - n_below, lo, hi);
    if (rc == 0) {
        double best = -INFINITY, best_x = 0.5 * (lo + hi);
        for (int64_t c = 0; c < o->n_ei_candidates; c++) {
            double x = parzen_sample(&below, rng);
            double score = parzen_log_pdf(&below, x) - parzen_log_pdf(&above, x);
            if (score > best) best = score, best_x = x;
        }
        *out = from_model(p, best_x);
    }
    parzen_free(&below);
    parzen_free(&above);
    free(v);
    return rc;
}

/* Optuna's categorical estimator: each value's count among the trials plus
 * a prior of 1 spread over the values, normalized. */
static int suggest_categorical(const Param *p, int i, const TpeOptions *o, const Observation *const *obs, int n_below,
                               int n, TuneRng *rng, double *out)
{
    int m = p->n_values;
    double *wl = calloc(2 * (size_t)m, sizeof(double));
    ENGINE_CHECK_INT(wl != NULL, "out of memory");
    double *wg = wl + m, sl = 0, sg = 0;
    for (int c = 0; c < m; c++) wl[c] = wg[c] = 1.0 / m;
    for (int k = 0; k < n; k++) {
        int c = (int)obs[k]->x[i];
        if (c < 0 || c >= m) continue;
        if (k < n_below) wl[c] += 1;
        else wg[c] += 1;
    }
    for (int c = 0; c < m; c++) sl += wl[c], sg += wg[c];
    double best = -INFINITY;
    int best_c = 0;
    for (int64_t k = 0; k < o->n_ei_candidates; k++) {
        double u = tune_rng_uniform(rng) * sl, acc = 0;
        int c = m - 1;
        for (int j = 0; j < m; j++) {
            acc += wl[j];
            if (u < acc) {
                c = j;
                break;
            }
        }
        double score = log(wl[c] / sl) - log(wg[c] / sg);
        if (score > best) best = score, best_c = c;
    }
    *out = best_c;
    free(wl);
    return 0;
}

int tpe_suggest_param(const Param *p, int i, const TpeOptions *o, const Observation *const *obs, int n_below, int n,
                      TuneRng *rng, double *out)
{
    if (param_is_categorical(p)) return suggest_categorical(p, i, o, obs, n_below, n, rng, out);
    return suggest_numeric(p, i, o, obs, n_below, n, rng, out);
}
