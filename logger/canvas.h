/* An RGB drawing surface for the charts the trainer writes (curves.png,
 * confusion.png): filled rectangles, anti-aliased lines and dots, and text
 * in the built-in bitmap font, horizontal or rotated to read bottom-up. */
#ifndef LOGGER_CANVAS_H
#define LOGGER_CANVAS_H

#include <stdint.h>

typedef struct {
    uint8_t r, g, b;
} Rgb;

#define RGB(r, g, b) ((Rgb){(r), (g), (b)})

typedef struct {
    int width, height;
    uint8_t *pixels; /* width * height * 3, rows top first */
} Canvas;

/* 0, or -1 with an error for a bad size. */
int canvas_init(Canvas *c, int width, int height, Rgb background);
void canvas_free(Canvas *c);
/* Pixels outside the canvas are clipped everywhere. */
void canvas_fill_rect(Canvas *c, int x, int y, int w, int h, Rgb color);
/* A one-pixel rectangle outline. */
void canvas_rect(Canvas *c, int x, int y, int w, int h, Rgb color);
/* A line of the given width (pixels) between two points, edges blended. */
void canvas_line(Canvas *c, double x0, double y0, double x1, double y1, double width, Rgb color);
void canvas_dot(Canvas *c, double cx, double cy, double radius, Rgb color);

/* Text with its top-left corner at (x, y), glyphs scale x scale pixels. */
void canvas_text(Canvas *c, int x, int y, const char *s, int scale, Rgb color);
/* Text turned 90 degrees counter-clockwise (reading upwards); (x, y) is the
 * top-left corner of its bounding box. */
void canvas_text_up(Canvas *c, int x, int y, const char *s, int scale, Rgb color);
int text_width(const char *s, int scale);
int text_height(int scale);

int canvas_save_png(const Canvas *c, const char *path);

#endif
