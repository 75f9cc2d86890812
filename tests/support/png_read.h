/* Decoding PNG files in the tests with libpng: any PNG comes back as 8-bit
 * RGB rows (gray expanded), so tests can compare pixels directly. */
#ifndef TESTS_PNG_READ_H
#define TESTS_PNG_READ_H

#include <stddef.h>
#include <stdint.h>

/* malloc'd width * height * 3 bytes, or NULL (message on stderr). */
uint8_t *png_decode_rgb(const uint8_t *data, size_t n, int *width, int *height);
uint8_t *png_read_rgb(const char *path, int *width, int *height);

#endif
