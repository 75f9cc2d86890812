/* Decoded pixels (rows of interleaved channels, as libpng and libjpeg give
 * them) into the datasets' layout: planes, channel after channel, with the
 * channel count asked for, converted as PIL's Image.convert does. Shared by
 * the PNG and JPEG readers. */
#ifndef DATA_LOADER_IMAGE_CONVERT_H
#define DATA_LOADER_IMAGE_CONVERT_H

#include <stdint.h>

/* rows[y]: w pixels of fc channels (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA)
 * -> out: tc planes of h x w. RGB to grey as PIL's convert("L")
 * (L = (19595 R + 38470 G + 7471 B + 32768) >> 16), grey to RGB by copying,
 * a missing alpha 255, a dropped one ignored. */
void image_rows_to_chw(uint8_t *const *rows, int h, int w, int fc, int tc, uint8_t *out);

#endif
