/* PNG files with libpng: 8-bit gray, RGB or RGBA pixels, rows top first,
 * encoded into memory (TensorBoard images) or written to a file (charts,
 * image grids). */
#ifndef LOGGER_PNG_WRITER_H
#define LOGGER_PNG_WRITER_H

#include <stddef.h>
#include <stdint.h>

/* Encodes width x height pixels of channels (1, 3 or 4) bytes each; *out
 * is malloc'd (caller frees). 0, or -1 with an error. */
int png_encode(const uint8_t *pixels, int width, int height, int channels, uint8_t **out, size_t *out_len);
/* Encodes and writes path atomically (a temporary file renamed into place). */
int png_write_file(const char *path, const uint8_t *pixels, int width, int height, int channels);

#endif
