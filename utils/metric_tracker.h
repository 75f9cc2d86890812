/* MetricTracker, as in pytorch-template's utils/util.py: running totals of
 * named values weighted by sample counts, averaged on demand. */
#ifndef UTILS_METRIC_TRACKER_H
#define UTILS_METRIC_TRACKER_H

#include <stdbool.h>
#include <stdint.h>

#define TRACKER_MAX_KEYS 16

typedef struct {
    int n;
    const char *keys[TRACKER_MAX_KEYS];
    double total[TRACKER_MAX_KEYS];
    int64_t count[TRACKER_MAX_KEYS];
} MetricTracker;

void tracker_init(MetricTracker *t, int n_keys, const char *const *keys);
void tracker_reset(MetricTracker *t);
/* Adds value * n to key's total and n to its count. */
void tracker_update(MetricTracker *t, const char *key, double value, int64_t n);
double tracker_avg(const MetricTracker *t, const char *key);

/* An ordered name -> value list: an epoch's log ("loss", "val_accuracy", ...):
 * epoch, the training and validation averages, and a few more (device memory). */
#define LOG_DICT_MAX (2 * TRACKER_MAX_KEYS + 8)
typedef struct {
    int n;
    char keys[LOG_DICT_MAX][48];
    double values[LOG_DICT_MAX];
} LogDict;

void log_dict_set(LogDict *d, const char *key, double value);
/* false when absent. */
bool log_dict_get(const LogDict *d, const char *key, double *value);
/* Adds every average of t under prefix + key ("val_" for validation). */
void log_dict_add_tracker(LogDict *d, const MetricTracker *t, const char *prefix);

#endif
