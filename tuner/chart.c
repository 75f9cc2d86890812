/* results.png (see tune.h): one panel per parameter with each trial's
 * metric against its value (a log axis for loguniform parameters, the
 * entries of a list in order), and a panel of every trial's metric per
 * epoch. Completed trials are coloured, stopped ones grey, the best one
 * red; failed trials have no point. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "logger/canvas.h"
#include "tuner/tune.h"

static const Rgb INK = {40, 40, 40}, FRAME = {90, 90, 90}, GRID = {228, 228, 228}, WHITE = {255, 255, 255},
                 GREY = {175, 175, 175}, BLUE = {31, 119, 180}, RED = {214, 39, 40}, GREEN = {44, 160, 44};
enum { PANEL_W = 520, PANEL_H = 380, COLS = 2 };

typedef struct {
    int x, y, w, h;
    double xlo, xhi, ylo, yhi; /* ylo, yhi: log10 of the range when ylog */
    bool ylog;                 /* metric values spanning more than 20x, all above 0 */
} Frame;

static double px(const Frame *f, double x) { return f->x + (x - f->xlo) / (f->xhi - f->xlo) * f->w; }
static double py(const Frame *f, double y)
{
    if (f->ylog) y = log10(y);
    return f->y + f->h - (y - f->ylo) / (f->yhi - f->ylo) * f->h;
}

static double nice_step(double range)
{
    double raw = range / 5, mag = pow(10, floor(log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
}

static void widen(double *lo, double *hi)
{
    if (!(*hi > *lo)) {
        double d = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 0.5;
        *lo -= d, *hi += d;
    }
    double pad = (*hi - *lo) * 0.06;
    *lo -= pad, *hi += pad;
}

/* Frame, grid and y ticks; x ticks unless labels (categorical) are given;
 * whole x steps when xint (epochs). */
static void draw_frame(Canvas *c, const Frame *f, const char *title, const char *xlabel, bool xlog, bool xint,
                       int n_labels, const char *const *labels)
{
    int scale = 2;
    if (text_width(title, 2) > f->w + 60) scale = 1;
    canvas_text(c, f->x + (f->w - text_width(title, scale)) / 2, f->y - 30, title, scale, INK);
    canvas_text(c, f->x + (f->w - text_width(xlabel, 2)) / 2, f->y + f->h + 32, xlabel, 2, INK);
    char buf[48];
    double step;
    if (f->ylog) {
        bool fine = f->yhi - f->ylo < 2.5;
        for (double d = floor(f->ylo); d <= f->yhi; d++)
            for (int m = 1; m <= 5; m += fine ? (m == 1 ? 1 : 3) : 10) { /* 1, 2, 5 within few decades */
                double v = m * pow(10, d), lv = log10(v);
                if (lv < f->ylo || lv > f->yhi) continue;
                int y = (int)lround(py(f, v));
                canvas_fill_rect(c, f->x, y, f->w, 1, GRID);
                snprintf(buf, sizeof buf, "%.3g", v);
                canvas_text(c, f->x - 8 - text_width(buf, 1), y - 4, buf, 1, INK);
            }
    } else {
        step = nice_step(f->yhi - f->ylo);
        for (double v = ceil(f->ylo / step) * step; v <= f->yhi + 1e-12; v += step) {
            int y = (int)lround(py(f, v));
            canvas_fill_rect(c, f->x, y, f->w, 1, GRID);
            snprintf(buf, sizeof buf, "%.4g", fabs(v) < step * 1e-9 ? 0 : v);
            canvas_text(c, f->x - 8 - text_width(buf, 1), y - 4, buf, 1, INK);
        }
    }
    if (labels) {
        for (int k = 0; k < n_labels; k++) {
            int x = (int)lround(px(f, k));
            canvas_fill_rect(c, x, f->y, 1, f->h, GRID);
            canvas_text(c, x - text_width(labels[k], 1) / 2, f->y + f->h + 10, labels[k], 1, INK);
        }
    } else {
        step = nice_step(f->xhi - f->xlo);
        if ((xlog || xint) && step < 1) step = xint || step >= 0.5 ? 1 : 0.5;
        for (double v = ceil(f->xlo / step) * step; v <= f->xhi + 1e-12; v += step) {
            int x = (int)lround(px(f, v));
            canvas_fill_rect(c, x, f->y, 1, f->h, GRID);
            snprintf(buf, sizeof buf, "%.4g", xlog ? pow(10, v) : fabs(v) < step * 1e-9 ? 0 : v);
            canvas_text(c, x - text_width(buf, 1) / 2, f->y + f->h + 10, buf, 1, INK);
        }
    }
    canvas_rect(c, f->x - 1, f->y - 1, f->w + 2, f->h + 2, FRAME);
}

static bool y_range(const Tune *t, bool curves, Frame *f)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < t->n_created; k++) {
        const Trial *tr = t->trials[k];
        if (curves) {
            for (int64_t e = 0; e < tr->n_epochs; e++)
                if (isfinite(tr->curve[e])) lo = fmin(lo, tr->curve[e]), hi = fmax(hi, tr->curve[e]);
        } else {
            int64_t ep;
            double m = tune_trial_metric(t, tr, &ep);
            if (isfinite(m)) lo = fmin(lo, m), hi = fmax(hi, m);
        }
    }
    if (!(lo <= hi)) return false;
    f->ylog = lo > 0 && hi / lo > 20;
    if (f->ylog) lo = log10(lo), hi = log10(hi);
    widen(&lo, &hi);
    f->ylo = lo, f->yhi = hi;
    return true;
}

static Rgb trial_color(const Trial *tr, const Trial *best)
{
    if (tr == best) return RED;
    if (tr->state == TRIAL_STOPPED) return GREY;
    if (tr->state == TRIAL_DONE) return BLUE;
    return GREEN; /* running or interrupted */
}

static void param_panel(Canvas *c, const Tune *t, int i, const Frame *base, const Trial *best)
{
    const Param *p = &t->spec.space.params[i];
    Frame f = *base;
    char title[300], xlabel[300];
    snprintf(title, sizeof title, "%s vs %s", t->spec.metric, p->short_name);
    snprintf(xlabel, sizeof xlabel, "%s%s", p->key, p->kind == DIST_LOGUNIFORM ? " (log scale)" : "");
    if (!y_range(t, false, &f)) {
        canvas_text(c, f.x + 20, f.y + f.h / 2, "no results yet", 2, INK);
        return;
    }
    bool index = param_axis_is_index(p);
    const char *labels[64];
    char label_text[64][32];
    int n_labels = 0;
    if (index) {
        n_labels = p->n_values < 64 ? p->n_values : 64;
        for (int k = 0; k < n_labels; k++) {
            param_value_display(p, k, label_text[k], sizeof label_text[k]);
            labels[k] = label_text[k];
        }
        f.xlo = -0.5, f.xhi = p->n_values - 0.5;
    } else if (param_is_categorical(p)) {
        f.xlo = INFINITY, f.xhi = -INFINITY;
        for (int k = 0; k < p->n_values; k++) {
            double v = param_axis_value(p, k);
            f.xlo = fmin(f.xlo, v), f.xhi = fmax(f.xhi, v);
        }
        widen(&f.xlo, &f.xhi);
    } else {
        f.xlo = p->kind == DIST_LOGUNIFORM ? log10(p->lo) : p->lo;
        f.xhi = p->kind == DIST_LOGUNIFORM ? log10(p->hi) : p->hi;
        widen(&f.xlo, &f.xhi);
    }
    if (f.ylog) strncat(title, " (y: log scale)", sizeof title - strlen(title) - 1);
    draw_frame(c, &f, title, xlabel, p->kind == DIST_LOGUNIFORM, false, n_labels, index ? labels : NULL);
    for (int pass = 0; pass < 2; pass++) /* grey ones first, so coloured dots stay on top */
        for (int k = 0; k < t->n_created; k++) {
            const Trial *tr = t->trials[k];
            int64_t ep;
            double m = tune_trial_metric(t, tr, &ep);
            if (!isfinite(m) || (tr->state == TRIAL_STOPPED) != (pass == 0)) continue;
            double x = param_axis_value(p, tr->x[i]);
            if (index) x += ((tr->id * 37) % 11 - 5) * 0.02; /* a little jitter within the column */
            canvas_dot(c, px(&f, x), py(&f, m), 5, trial_color(tr, best));
        }
}

static void curves_panel(Canvas *c, const Tune *t, const Frame *base, const Trial *best)
{
    Frame f = *base;
    char title[160];
    snprintf(title, sizeof title, "%s per epoch", t->spec.metric);
    int64_t max_e = 1;
    for (int k = 0; k < t->n_created; k++) max_e = t->trials[k]->n_epochs > max_e ? t->trials[k]->n_epochs : max_e;
    f.xlo = 1, f.xhi = (double)(max_e > 1 ? max_e : 2);
    widen(&f.xlo, &f.xhi);
    if (!y_range(t, true, &f)) {
        canvas_text(c, f.x + 20, f.y + f.h / 2, "no results yet", 2, INK);
        return;
    }
    if (f.ylog) strncat(title, " (y: log scale)", sizeof title - strlen(title) - 1);
    draw_frame(c, &f, title, "epoch", false, true, 0, NULL);
    for (int pass = 0; pass < 3; pass++)
        for (int k = 0; k < t->n_created; k++) {
            const Trial *tr = t->trials[k];
            int want = tr == best ? 2 : tr->state == TRIAL_STOPPED ? 0 : 1;
            if (want != pass) continue;
            Rgb col = trial_color(tr, best);
            for (int64_t e = 0; e < tr->n_epochs; e++) {
                if (!isfinite(tr->curve[e])) continue;
                if (e > 0 && isfinite(tr->curve[e - 1]))
                    canvas_line(c, px(&f, (double)e), py(&f, tr->curve[e - 1]), px(&f, (double)e + 1),
                                py(&f, tr->curve[e]), 2, col);
                canvas_dot(c, px(&f, (double)e + 1), py(&f, tr->curve[e]), 3, col);
            }
        }
}

int tune_draw_results(const Tune *t, const char *path)
{
    int panels = t->spec.space.n + 1, rows = (panels + COLS - 1) / COLS;
    Canvas c;
    if (canvas_init(&c, COLS * PANEL_W, rows * PANEL_H + 40, WHITE)) return -1;
    const Trial *best = tune_best_trial(t);
    char head[200];
    snprintf(head, sizeof head, "%d trials: blue done, grey stopped early, red best, green unfinished", t->n_created);
    canvas_text(&c, 16, 12, head, 2, INK);
    for (int k = 0; k < panels; k++) {
        Frame f = {(k % COLS) * PANEL_W + 80, 40 + (k / COLS) * PANEL_H + 50, PANEL_W - 110, PANEL_H - 120, 0, 1, 0, 1,
                   false};
        if (k < t->spec.space.n) param_panel(&c, t, k, &f, best);
        else curves_panel(&c, t, &f, best);
    }
    int rc = canvas_save_png(&c, path);
    canvas_free(&c);
    return rc;
}
