/* A tiny built-in bitmap font for charts: printable ASCII, 5x7 pixel glyphs
 * (plus one row for descenders) in 6x9 cells, drawn at an integer scale. */
#ifndef LOGGER_FONT_H
#define LOGGER_FONT_H

#include <stdbool.h>

enum { FONT_W = 5, FONT_H = 8, FONT_ADVANCE = 6, FONT_LINE = 9 };

/* Whether pixel (x, y) of character c's glyph is set (x < FONT_W, y <
 * FONT_H; y = 0 is the top). Characters outside printable ASCII show as '?'. */
bool font_pixel(char c, int x, int y);

#endif
