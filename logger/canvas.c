/* Canvas drawing (see canvas.h). Lines are drawn by coverage: each pixel
 * near the segment is blended by how far its centre is from it, which
 * gives smooth edges without a rasteriser. */
#include "logger/canvas.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "logger/font.h"
#include "logger/png_writer.h"

int canvas_init(Canvas *c, int width, int height, Rgb background)
{
    memset(c, 0, sizeof *c);
    ENGINE_CHECK_INT(width > 0 && height > 0 && width <= 16384 && height <= 16384, "canvas: bad size %dx%d", width,
                     height);
    c->width = width;
    c->height = height;
    c->pixels = malloc((size_t)width * (size_t)height * 3);
    ENGINE_ASSERT(c->pixels != NULL);
    canvas_fill_rect(c, 0, 0, width, height, background);
    return 0;
}

void canvas_free(Canvas *c)
{
    free(c->pixels);
    memset(c, 0, sizeof *c);
}

/* Mixes color into pixel (x, y) with weight alpha in [0, 1]. */
static void blend(Canvas *c, int x, int y, Rgb color, double alpha)
{
    if (x < 0 || y < 0 || x >= c->width || y >= c->height || alpha <= 0) return;
    if (alpha > 1) alpha = 1;
    uint8_t *p = c->pixels + ((size_t)y * (size_t)c->width + (size_t)x) * 3;
    const uint8_t rgb[3] = {color.r, color.g, color.b};
    for (int k = 0; k < 3; k++) p[k] = (uint8_t)lrint(p[k] + alpha * (rgb[k] - p[k]));
}

void canvas_fill_rect(Canvas *c, int x, int y, int w, int h, Rgb color)
{
    for (int yy = y < 0 ? 0 : y; yy < y + h && yy < c->height; yy++)
        for (int xx = x < 0 ? 0 : x; xx < x + w && xx < c->width; xx++) {
            uint8_t *p = c->pixels + ((size_t)yy * (size_t)c->width + (size_t)xx) * 3;
            p[0] = color.r, p[1] = color.g, p[2] = color.b;
        }
}

void canvas_rect(Canvas *c, int x, int y, int w, int h, Rgb color)
{
    canvas_fill_rect(c, x, y, w, 1, color);
    canvas_fill_rect(c, x, y + h - 1, w, 1, color);
    canvas_fill_rect(c, x, y, 1, h, color);
    canvas_fill_rect(c, x + w - 1, y, 1, h, color);
}

/* Distance from (px, py) to the segment (x0, y0)-(x1, y1). */
static double segment_distance(double px, double py, double x0, double y0, double x1, double y1)
{
    double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    double t = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double ex = x0 + t * dx - px, ey = y0 + t * dy - py;
    return sqrt(ex * ex + ey * ey);
}

void canvas_line(Canvas *c, double x0, double y0, double x1, double y1, double width, Rgb color)
{
    double r = width / 2;
    int xa = (int)floor(fmin(x0, x1) - r - 1), xb = (int)ceil(fmax(x0, x1) + r + 1);
    int ya = (int)floor(fmin(y0, y1) - r - 1), yb = (int)ceil(fmax(y0, y1) + r + 1);
    if (xa < 0) xa = 0;
    if (ya < 0) ya = 0;
    if (xb >= c->width) xb = c->width - 1;
    if (yb >= c->height) yb = c->height - 1;
    for (int y = ya; y <= yb; y++)
        for (int x = xa; x <= xb; x++)
            blend(c, x, y, color, r + 0.5 - segment_distance(x + 0.5, y + 0.5, x0, y0, x1, y1));
}

void canvas_dot(Canvas *c, double cx, double cy, double radius, Rgb color)
{
    canvas_line(c, cx, cy, cx, cy, 2 * radius, color);
}

int text_width(const char *s, int scale)
{
    int n = (int)strlen(s);
    return n ? (n * FONT_ADVANCE - 1) * scale : 0;
}

int text_height(int scale) { return FONT_H * scale; }

/* Draws s left to right, or rotated to read upwards (bottom to top). */
static void draw_text(Canvas *c, int x, int y, const char *s, int scale, Rgb color, bool upwards)
{
    for (int i = 0; s[i]; i++)
        for (int gy = 0; gy < FONT_H; gy++)
            for (int gx = 0; gx < FONT_W; gx++) {
                if (!font_pixel(s[i], gx, gy)) continue;
                int along = (i * FONT_ADVANCE + gx) * scale, across = gy * scale;
                if (upwards) /* x grows up the canvas, the glyph's top faces left */
                    canvas_fill_rect(c, x + across, y + text_width(s, scale) - along - scale, scale, scale, color);
                else
                    canvas_fill_rect(c, x + along, y + across, scale, scale, color);
            }
}

void canvas_text(Canvas *c, int x, int y, const char *s, int scale, Rgb color)
{
    draw_text(c, x, y, s, scale, color, false);
}

void canvas_text_up(Canvas *c, int x, int y, const char *s, int scale, Rgb color)
{
    draw_text(c, x, y, s, scale, color, true);
}

int canvas_save_png(const Canvas *c, const char *path)
{
    return png_write_file(path, c->pixels, c->width, c->height, 3);
}
