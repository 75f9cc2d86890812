/* Charts drawn into a canvas region: a line chart (several series against
 * a shared x axis, with ticks, grid, a legend and a title) and a heat map
 * of counts (a confusion matrix). */
#ifndef LOGGER_PLOT_H
#define LOGGER_PLOT_H

#include <stdint.h>

#include "logger/canvas.h"

typedef struct {
    const char *label;
    const double *x, *y; /* NaN y values are gaps */
    int n;
    Rgb color;
} PlotSeries;

/* Draws into the rectangle (x, y, w, h) of c. */
void plot_lines(Canvas *c, int x, int y, int w, int h, const char *title, const char *xlabel,
                const PlotSeries *series, int n_series);

/* n x n counts, row i = true class i, column j = predicted class j. */
void plot_heatmap(Canvas *c, int x, int y, int w, int h, const char *title, const int64_t *counts, int n);

/* Colours of the series the trainer draws (matplotlib's first two). */
#define PLOT_BLUE RGB(31, 119, 180)
#define PLOT_ORANGE RGB(255, 127, 14)

#endif
