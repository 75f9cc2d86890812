/* curves.png (see curves.h): panels of 560 x 420 pixels, three to a row. */
#include "logger/curves.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "logger/plot.h"

enum { PANEL_W = 560, PANEL_H = 420, PER_ROW = 3 };

/* One column's values over the rows (NAN where missing; all NAN for column -1). */
static double *column_values(const MetricsLog *m, int column)
{
    double *v = malloc(sizeof(double) * (size_t)(m->n_rows ? m->n_rows : 1));
    ENGINE_ASSERT(v != NULL);
    for (int r = 0; r < m->n_rows; r++) v[r] = column >= 0 ? metrics_log_value(m, r, column) : NAN;
    return v;
}

/* The columns a panel shows: those without "val_" (and not "epoch"), plus
 * validation-only ones. */
static bool is_panel(const MetricsLog *m, int column)
{
    const char *key = m->columns[column];
    if (strcmp(key, "epoch") == 0) return false;
    if (strncmp(key, "val_", 4) != 0) return true;
    return metrics_log_column(m, key + 4) < 0;
}

int draw_curves(const MetricsLog *m, const char *path)
{
    int n_panels = 0;
    for (int i = 0; i < m->n_columns; i++) n_panels += is_panel(m, i);
    if (n_panels == 0) n_panels = 1;
    int cols = n_panels < PER_ROW ? n_panels : PER_ROW, rows = (n_panels + PER_ROW - 1) / PER_ROW;
    Canvas c;
    if (canvas_init(&c, cols * PANEL_W, rows * PANEL_H, RGB(255, 255, 255))) return -1;
    int epoch_col = metrics_log_column(m, "epoch");
    double *x = column_values(m, epoch_col);
    for (int r = 0; epoch_col < 0 && r < m->n_rows; r++) x[r] = r + 1;
    int panel = 0;
    for (int i = 0; i < m->n_columns; i++) {
        if (!is_panel(m, i)) continue;
        const char *key = m->columns[i];
        bool valid_only = strncmp(key, "val_", 4) == 0;
        const char *title = valid_only ? key + 4 : key;
        char val_key[64];
        snprintf(val_key, sizeof val_key, "val_%s", key);
        double *train = column_values(m, valid_only ? -1 : i);
        double *valid = column_values(m, valid_only ? i : metrics_log_column(m, val_key));
        PlotSeries series[2] = {{"train", x, train, m->n_rows, PLOT_BLUE}, {"valid", x, valid, m->n_rows, PLOT_ORANGE}};
        /* only the series that have values get a line and a legend entry */
        int n = 0;
        PlotSeries shown[2];
        for (int s = 0; s < 2; s++) {
            bool any = false;
            for (int r = 0; r < m->n_rows; r++) any |= !isnan(series[s].y[r]);
            if (any) shown[n++] = series[s];
        }
        plot_lines(&c, (panel % PER_ROW) * PANEL_W, (panel / PER_ROW) * PANEL_H, PANEL_W, PANEL_H, title, "epoch",
                   shown, n);
        free(train);
        free(valid);
        panel++;
    }
    free(x);
    int rc = canvas_save_png(&c, path);
    canvas_free(&c);
    return rc;
}
