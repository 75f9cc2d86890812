/* metrics.csv: one row per epoch in the run's log folder, the columns being
 * the keys of the first epoch's log ("epoch", "loss", metrics, "val_..."),
 * the header written once, every row flushed as it is written so a killed
 * run keeps the epochs it finished. The rows stay in memory for the charts
 * (curves.h). */
#ifndef LOGGER_CSV_LOG_H
#define LOGGER_CSV_LOG_H

#include <stdio.h>

#include "utils/metric_tracker.h"

#define CSV_LOG_MAX_COLUMNS (2 * TRACKER_MAX_KEYS + 2)

typedef struct {
    char path[4096];
    FILE *f;
    int n_columns;
    char columns[CSV_LOG_MAX_COLUMNS][48];
    int n_rows, cap;
    double *values; /* n_rows x n_columns; NAN where a row lacked the key */
} MetricsLog;

/* Creates dir/metrics.csv (replacing an old one). 0 or -1 with an error. */
int metrics_log_open(MetricsLog *m, const char *dir);
/* Appends the epoch's log as a row; the first row fixes the columns (keys
 * a later row adds are not written). 0 or -1 with an error. */
int metrics_log_append(MetricsLog *m, const LogDict *row);
/* Column index of key, or -1. */
int metrics_log_column(const MetricsLog *m, const char *key);
static inline double metrics_log_value(const MetricsLog *m, int row, int column)
{
    return m->values[row * m->n_columns + column];
}
void metrics_log_close(MetricsLog *m);

#endif
