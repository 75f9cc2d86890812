/* curves.png: the epoch history of metrics.csv as line charts, one panel
 * per logged quantity (loss, each metric) with its training and validation
 * values ("loss" and "val_loss") against the epoch. */
#ifndef LOGGER_CURVES_H
#define LOGGER_CURVES_H

#include "logger/csv_log.h"

/* Draws every row of m and writes path atomically. 0 or -1 with an error. */
int draw_curves(const MetricsLog *m, const char *path);

#endif
