/* Reading PNG images for the datasets (libpng): every PNG kind (1 to 16-bit,
 * grey, grey + alpha, RGB, RGBA, palette, with or without transparency,
 * interlaced or not) into bytes, channel after channel, with a chosen
 * channel count. */
#ifndef DATA_LOADER_PNG_READER_H
#define DATA_LOADER_PNG_READER_H

#include <stdint.h>

#include "data_loader/transforms.h"

/* Sides larger than this are refused (as a damaged header would announce them). */
#define PNG_MAX_SIDE 32768

/* The image of path: size->c channels (channels, or with channels 0 the
 * file's own after palette expansion: 1 grey, 2 grey + alpha, 3 RGB, 4
 * RGBA), each size->h x size->w bytes; *file_channels gets the file's own
 * count. 16-bit samples keep their high byte; palettes become RGB (RGBA
 * with transparency); grey becomes RGB by copying and RGB grey as PIL's
 * convert("L") makes it (L = (19595 R + 38470 G + 7471 B + 32768) >> 16);
 * a missing alpha is 255, a dropped one is ignored (as PIL's convert("RGB")).
 * NULL with an error naming the file. */
uint8_t *png_read_chw(const char *path, int channels, ImageSize *size, int *file_channels);

#endif
