/* Histograms (see histogram.h). Bin edges and bin assignment follow
 * numpy.histogram for float32 input: edges from a linspace rounded to
 * float32, each value's bin found from its offset and then corrected
 * against the edges, so counts match numpy's exactly. */
#include "logger/histogram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"

static int compare_floats(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* numpy.percentile's default (linear) on sorted values. */
static double percentile(const float *sorted, int64_t n, double q)
{
    double pos = q / 100.0 * (double)(n - 1);
    int64_t lo = (int64_t)floor(pos);
    int64_t hi = lo + 1 < n ? lo + 1 : lo;
    double frac = pos - (double)lo;
    return (double)sorted[lo] + frac * ((double)sorted[hi] - (double)sorted[lo]);
}

/* numpy's 'auto' bin count for values spanning [first, last]. */
static int64_t auto_bin_count(const float *values, int64_t n, double first, double last)
{
    float *sorted = malloc(sizeof(float) * (size_t)n);
    ENGINE_ASSERT(sorted != NULL);
    memcpy(sorted, values, sizeof(float) * (size_t)n);
    qsort(sorted, (size_t)n, sizeof(float), compare_floats);
    double ptp = (double)sorted[n - 1] - (double)sorted[0];
    double sturges = ptp / (log2((double)n) + 1.0);
    double iqr = percentile(sorted, n, 75) - percentile(sorted, n, 25);
    double fd = 2.0 * iqr * pow((double)n, -1.0 / 3.0);
    free(sorted);
    double width = fd > 0 ? fmin(fd, sturges) : sturges;
    if (width <= 0) return 1;
    return (int64_t)ceil((last - first) / width);
}

int histogram_numpy(const float *values, int64_t n, int bins, int *n_bins, double **counts, double **edges,
                    const char *label)
{
    ENGINE_CHECK_INT(n >= 1, "%s: histogram of no values", label);
    ENGINE_CHECK_INT(bins >= 0, "%s: histogram bins must be 'auto' or positive, got %d", label, bins);
    float lo = values[0], hi = values[0];
    for (int64_t i = 0; i < n; i++) {
        ENGINE_CHECK_INT(isfinite(values[i]), "%s: histogram of non-finite values (element %lld is %g)", label,
                         (long long)i, (double)values[i]);
        lo = fminf(lo, values[i]);
        hi = fmaxf(hi, values[i]);
    }
    /* numpy widens an empty range by 0.5 each side (in the values' float32) */
    float first = lo == hi ? lo - 0.5f : lo, last = lo == hi ? hi + 0.5f : hi;
    int64_t count = bins == HISTOGRAM_AUTO ? auto_bin_count(values, n, first, last) : bins;
    if (count > HISTOGRAM_MAX_BINS) count = HISTOGRAM_MAX_BINS;
    if (count < 1) count = 1;
    int nb = (int)count;
    double *c = calloc((size_t)nb, sizeof(double));
    double *e = malloc(sizeof(double) * (size_t)(nb + 1));
    ENGINE_ASSERT(c && e);
    double step = ((double)last - (double)first) / nb;
    for (int i = 0; i <= nb; i++) e[i] = (double)(float)((double)first + i * step);
    e[nb] = last;
    double norm = nb / ((double)last - (double)first);
    for (int64_t i = 0; i < n; i++) {
        double v = values[i];
        int64_t k = (int64_t)((v - (double)first) * norm);
        if (k >= nb) k = nb - 1;
        if (k < 0) k = 0;
        if (v < e[k] && k > 0) k--;
        else if (k < nb - 1 && v >= e[k + 1]) k++;
        c[k] += 1;
    }
    *n_bins = nb;
    *counts = c;
    *edges = e;
    return 0;
}

int histogram_compute(Histogram *h, const float *values, int64_t n, int bins, const char *label)
{
    memset(h, 0, sizeof *h);
    int nb;
    double *counts, *edges;
    if (histogram_numpy(values, n, bins, &nb, &counts, &edges, label)) return -1;
    h->min = INFINITY;
    h->max = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        double v = values[i];
        h->min = fmin(h->min, v);
        h->max = fmax(h->max, v);
        h->sum += v;
        h->sum_squares += v * v;
    }
    h->num = (double)n;
    int first = 0, last = nb - 1;
    while (counts[first] == 0) first++;
    while (counts[last] == 0) last--;
    /* one empty bucket ending at the first non-empty bin's left edge, then
     * the non-empty range, as torch's make_histogram trims */
    h->n = last - first + 2;
    h->limits = malloc(sizeof(double) * (size_t)h->n);
    h->counts = malloc(sizeof(double) * (size_t)h->n);
    ENGINE_ASSERT(h->limits && h->counts);
    h->limits[0] = edges[first];
    h->counts[0] = 0;
    for (int i = 1; i < h->n; i++) {
        h->limits[i] = edges[first + i];
        h->counts[i] = counts[first + i - 1];
    }
    free(counts);
    free(edges);
    return 0;
}

void histogram_free(Histogram *h)
{
    free(h->limits);
    free(h->counts);
    memset(h, 0, sizeof *h);
}
