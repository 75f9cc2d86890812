/* Line charts and heat maps (see plot.h). Axis ranges and tick steps are
 * "nice" numbers (1, 2 or 5 times a power of ten); the legend goes into the
 * corner of the plot that hides the fewest data points. */
#include "logger/plot.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const Rgb INK = {40, 40, 40}, FRAME = {90, 90, 90}, GRID = {228, 228, 228}, WHITE = {255, 255, 255};
enum { TITLE_SCALE = 3, LABEL_SCALE = 2 };

typedef struct {
    double lo, hi, step;
    int decimals;
} Axis;

static double nice_step(double range, int target)
{
    double raw = range / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

/* An axis over [lo, hi] with about target ticks; snap widens the range to
 * whole steps, integer keeps steps whole (epochs). */
static Axis make_axis(double lo, double hi, int target, bool snap, bool integer)
{
    if (!(hi > lo)) {
        double d = integer ? 1 : fabs(lo) > 0 ? fabs(lo) * 0.1 : 0.5;
        lo -= d;
        hi += d;
    }
    Axis a = {lo, hi, nice_step(hi - lo, target), 0};
    if (integer && a.step < 1) a.step = 1;
    if (snap) {
        a.lo = floor(lo / a.step + 1e-9) * a.step;
        a.hi = ceil(hi / a.step - 1e-9) * a.step;
    }
    a.decimals = a.step >= 1 ? 0 : (int)ceil(-log10(a.step) - 1e-9);
    return a;
}

/* The axis's tick values, smallest first; returns how many. */
static int axis_ticks(const Axis *a, double *ticks, int max)
{
    int n = 0;
    for (double k = ceil(a->lo / a->step - 1e-9); n < max; k++) {
        double v = k * a->step;
        if (v > a->hi + a->step * 1e-9) break;
        ticks[n++] = fabs(v) < a->step * 1e-9 ? 0 : v;
    }
    return n;
}

static void format_tick(const Axis *a, double v, char *buf, size_t size)
{
    snprintf(buf, size, "%.*f", a->decimals, v);
}

/* The data's range over every series (x or y); false when there is none. */
static bool data_range(const PlotSeries *s, int n_series, bool use_x, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < n_series; i++)
        for (int k = 0; k < s[i].n; k++) {
            double v = use_x ? s[i].x[k] : s[i].y[k];
            if (!isfinite(s[i].y[k]) || !isfinite(v)) continue;
            *lo = fmin(*lo, v);
            *hi = fmax(*hi, v);
        }
    return *lo <= *hi;
}

typedef struct {
    int x, y, w, h; /* the plotting area */
    Axis ax, ay;
} Frame;

static double to_px(const Frame *f, double x) { return f->x + (x - f->ax.lo) / (f->ax.hi - f->ax.lo) * f->w; }
static double to_py(const Frame *f, double y) { return f->y + f->h - (y - f->ay.lo) / (f->ay.hi - f->ay.lo) * f->h; }

/* Centred; a smaller scale when the title would not fit. */
static void draw_title(Canvas *c, int x, int w, int y, const char *title)
{
    int scale = TITLE_SCALE;
    while (scale > 1 && text_width(title, scale) > w - 16) scale--;
    canvas_text(c, x + (w - text_width(title, scale)) / 2, y, title, scale, INK);
}

/* Grid lines, the frame and the tick labels of both axes. */
static void draw_axes(Canvas *c, const Frame *f, const char *xlabel)
{
    double ticks[64];
    char label[32];
    int n = axis_ticks(&f->ay, ticks, 64);
    for (int i = 0; i < n; i++) {
        int py = (int)lround(to_py(f, ticks[i]));
        canvas_fill_rect(c, f->x, py, f->w, 1, GRID);
        canvas_fill_rect(c, f->x - 5, py, 5, 1, FRAME);
        format_tick(&f->ay, ticks[i], label, sizeof label);
        canvas_text(c, f->x - 9 - text_width(label, LABEL_SCALE), py - text_height(LABEL_SCALE) / 2 + 1, label,
                    LABEL_SCALE, INK);
    }
    n = axis_ticks(&f->ax, ticks, 64);
    for (int i = 0; i < n; i++) {
        int px = (int)lround(to_px(f, ticks[i]));
        canvas_fill_rect(c, px, f->y, 1, f->h, GRID);
        canvas_fill_rect(c, px, f->y + f->h, 1, 5, FRAME);
        format_tick(&f->ax, ticks[i], label, sizeof label);
        canvas_text(c, px - text_width(label, LABEL_SCALE) / 2, f->y + f->h + 9, label, LABEL_SCALE, INK);
    }
    canvas_rect(c, f->x - 1, f->y - 1, f->w + 2, f->h + 2, FRAME);
    int label_y = f->y + f->h + 9 + text_height(LABEL_SCALE) + 8;
    canvas_text(c, f->x + (f->w - text_width(xlabel, LABEL_SCALE)) / 2, label_y, xlabel, LABEL_SCALE, INK);
}

static void draw_series(Canvas *c, const Frame *f, const PlotSeries *s)
{
    bool have_prev = false;
    double px0 = 0, py0 = 0;
    for (int k = 0; k < s->n; k++) {
        if (!isfinite(s->y[k]) || !isfinite(s->x[k])) {
            have_prev = false;
            continue;
        }
        double px = to_px(f, s->x[k]), py = to_py(f, s->y[k]);
        if (have_prev) canvas_line(c, px0, py0, px, py, 2.5, s->color);
        px0 = px, py0 = py, have_prev = true;
    }
    /* dots after the lines so each epoch's value stays visible, unless
     * they are so close that they would merge into a thick line */
    if (s->n > 1 && (double)f->w / (s->n - 1) < 10) return;
    for (int k = 0; k < s->n; k++)
        if (isfinite(s->y[k]) && isfinite(s->x[k])) canvas_dot(c, to_px(f, s->x[k]), to_py(f, s->y[k]), 3.5, s->color);
}

/* Data points of every series inside the rectangle (x, y, w, h). */
static int points_inside(const Frame *f, const PlotSeries *s, int n_series, int x, int y, int w, int h)
{
    int count = 0;
    for (int i = 0; i < n_series; i++)
        for (int k = 0; k < s[i].n; k++) {
            double px = to_px(f, s[i].x[k]), py = to_py(f, s[i].y[k]);
            if (px >= x - 4 && px <= x + w + 4 && py >= y - 4 && py <= y + h + 4) count++;
        }
    return count;
}

static void draw_legend(Canvas *c, const Frame *f, const PlotSeries *s, int n_series)
{
    int row = text_height(LABEL_SCALE) + 8, sample = 28, widest = 0;
    for (int i = 0; i < n_series; i++) {
        int tw = text_width(s[i].label, LABEL_SCALE);
        widest = tw > widest ? tw : widest;
    }
    int w = 10 + sample + 8 + widest + 10, h = 6 + n_series * row + 2, margin = 10;
    int xs[2] = {f->x + f->w - w - margin, f->x + margin}, ys[2] = {f->y + margin, f->y + f->h - h - margin};
    int best_x = xs[0], best_y = ys[0], best = -1;
    for (int corner = 0; corner < 4; corner++) { /* top-right, top-left, bottom-right, bottom-left */
        int lx = xs[corner % 2], ly = ys[corner / 2];
        int hidden = points_inside(f, s, n_series, lx, ly, w, h);
        if (best < 0 || hidden < best) best = hidden, best_x = lx, best_y = ly;
    }
    canvas_fill_rect(c, best_x, best_y, w, h, WHITE);
    canvas_rect(c, best_x, best_y, w, h, RGB(200, 200, 200));
    for (int i = 0; i < n_series; i++) {
        int cy = best_y + 6 + i * row + text_height(LABEL_SCALE) / 2;
        canvas_line(c, best_x + 10, cy, best_x + 10 + sample, cy, 2.5, s[i].color);
        canvas_dot(c, best_x + 10 + sample / 2.0, cy, 3.5, s[i].color);
        canvas_text(c, best_x + 10 + sample + 8, cy - text_height(LABEL_SCALE) / 2, s[i].label, LABEL_SCALE, INK);
    }
}

void plot_lines(Canvas *c, int x, int y, int w, int h, const char *title, const char *xlabel,
                const PlotSeries *series, int n_series)
{
    int top = 12 + text_height(TITLE_SCALE) + 14;
    draw_title(c, x, w, y + 12, title);
    double xlo, xhi, ylo, yhi;
    if (!data_range(series, n_series, true, &xlo, &xhi) || !data_range(series, n_series, false, &ylo, &yhi)) {
        const char *none = "no data yet";
        canvas_text(c, x + (w - text_width(none, LABEL_SCALE)) / 2, y + h / 2, none, LABEL_SCALE, INK);
        return;
    }
    Frame f;
    f.ay = make_axis(ylo, yhi, 5, true, false);
    f.ax = make_axis(xlo, xhi, 6, false, true);
    /* room on the left for the widest y tick label */
    double ticks[64];
    char label[32];
    int widest = 0, n = axis_ticks(&f.ay, ticks, 64);
    for (int i = 0; i < n; i++) {
        format_tick(&f.ay, ticks[i], label, sizeof label);
        int tw = text_width(label, LABEL_SCALE);
        widest = tw > widest ? tw : widest;
    }
    int left = 16 + widest + 10, right = 24, bottom = 9 + 2 * text_height(LABEL_SCALE) + 8 + 14;
    f.x = x + left;
    f.y = y + top;
    f.w = w - left - right;
    f.h = h - top - bottom;
    if (f.w < 20 || f.h < 20) return;
    /* a margin inside the frame so the first and last points are not cut */
    double pad = (f.ax.hi - f.ax.lo) * 0.04;
    f.ax.lo -= pad;
    f.ax.hi += pad;
    canvas_fill_rect(c, f.x, f.y, f.w, f.h, WHITE);
    draw_axes(c, &f, xlabel);
    for (int i = 0; i < n_series; i++) draw_series(c, &f, &series[i]);
    draw_legend(c, &f, series, n_series);
}

/* White through light blue to dark blue, as matplotlib's "Blues". */
static Rgb blues(double t)
{
    static const Rgb stops[] = {{247, 251, 255}, {198, 219, 239}, {107, 174, 214}, {33, 113, 181}, {8, 48, 107}};
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double pos = t * 4;
    int i = pos >= 4 ? 3 : (int)pos;
    double u = pos - i;
    return RGB((uint8_t)lround(stops[i].r + u * (stops[i + 1].r - stops[i].r)),
               (uint8_t)lround(stops[i].g + u * (stops[i + 1].g - stops[i].g)),
               (uint8_t)lround(stops[i].b + u * (stops[i + 1].b - stops[i].b)));
}

void plot_heatmap(Canvas *c, int x, int y, int w, int h, const char *title, const int64_t *counts, int n)
{
    if (n < 1) return;
    int top = 12 + text_height(TITLE_SCALE) + 16;
    draw_title(c, x, w, y + 12, title);
    char label[32];
    snprintf(label, sizeof label, "%d", n - 1);
    int class_w = text_width(label, LABEL_SCALE);
    int left = 12 + text_height(LABEL_SCALE) + 12 + class_w + 10;
    int bottom = 10 + text_height(LABEL_SCALE) + 10 + text_height(LABEL_SCALE) + 12;
    int cell_w = (w - left - 16) / n, cell_h = (h - top - bottom) / n;
    int cell = cell_w < cell_h ? cell_w : cell_h;
    if (cell < 4) return;
    int gx = x + left + (w - left - 16 - cell * n) / 2, gy = y + top;
    int64_t max = 1;
    for (int i = 0; i < n * n; i++) max = counts[i] > max ? counts[i] : max;
    snprintf(label, sizeof label, "%lld", (long long)max);
    int count_scale = text_width(label, 2) + 6 <= cell ? 2 : 1;
    bool show_counts = text_width(label, 1) + 2 <= cell;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double t = (double)counts[i * n + j] / (double)max;
            int cx = gx + j * cell, cy = gy + i * cell;
            canvas_fill_rect(c, cx, cy, cell, cell, blues(t));
            if (!show_counts) continue;
            snprintf(label, sizeof label, "%lld", (long long)counts[i * n + j]);
            canvas_text(c, cx + (cell - text_width(label, count_scale)) / 2 + 1,
                        cy + (cell - text_height(count_scale)) / 2, label, count_scale, t > 0.45 ? WHITE : INK);
        }
    canvas_rect(c, gx - 1, gy - 1, n * cell + 2, n * cell + 2, FRAME);
    for (int k = 0; k < n; k++) { /* class numbers along both axes */
        snprintf(label, sizeof label, "%d", k);
        canvas_text(c, gx - 8 - text_width(label, LABEL_SCALE), gy + k * cell + (cell - text_height(LABEL_SCALE)) / 2,
                    label, LABEL_SCALE, INK);
        canvas_text(c, gx + k * cell + (cell - text_width(label, LABEL_SCALE)) / 2, gy + n * cell + 10, label,
                    LABEL_SCALE, INK);
    }
    const char *xl = "predicted class", *yl = "true class";
    canvas_text(c, gx + (n * cell - text_width(xl, LABEL_SCALE)) / 2, gy + n * cell + 20 + text_height(LABEL_SCALE),
                xl, LABEL_SCALE, INK);
    canvas_text_up(c, x + 12, gy + (n * cell - text_width(yl, LABEL_SCALE)) / 2, yl, LABEL_SCALE, INK);
}
