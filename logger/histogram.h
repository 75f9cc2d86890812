/* Histograms for TensorBoard, as torch.utils.tensorboard's add_histogram
 * computes them: numpy.histogram's bins ('auto' or a fixed count), then
 * trimmed to the range of non-empty buckets with one empty bucket in front,
 * so that bucket i counts values in (limits[i-1], limits[i]]. */
#ifndef LOGGER_HISTOGRAM_H
#define LOGGER_HISTOGRAM_H

#include <stdint.h>

/* bins: HISTOGRAM_AUTO for numpy's 'auto' (the smaller of the
 * Freedman-Diaconis and Sturges bin widths), or a positive fixed count. */
#define HISTOGRAM_AUTO 0
/* 'auto' can ask for a huge number of bins when a few values lie far out;
 * more than this many are not made (numpy has no such limit). */
#define HISTOGRAM_MAX_BINS 65536

typedef struct {
    double min, max, num, sum, sum_squares;
    int n;          /* buckets after trimming */
    double *limits; /* n right edges; limits[0] is the left edge of the first non-empty bin */
    double *counts; /* n counts; counts[0] == 0 */
} Histogram;

/* n >= 1 finite values (an error names label otherwise). 0 or -1. */
int histogram_compute(Histogram *h, const float *values, int64_t n, int bins, const char *label);
/* The untrimmed numpy.histogram(values, bins) result: *n_bins counts and
 * n_bins + 1 edges, malloc'd (caller frees both). 0 or -1. */
int histogram_numpy(const float *values, int64_t n, int bins, int *n_bins, double **counts, double **edges,
                    const char *label);
void histogram_free(Histogram *h);

#endif
