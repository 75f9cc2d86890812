/* PNG decoding for the tests (see png_read.h), through libpng's simplified API. */
#include "tests/support/png_read.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *finish(png_image *image, int *width, int *height)
{
    image->format = PNG_FORMAT_RGB;
    uint8_t *pixels = malloc(PNG_IMAGE_SIZE(*image));
    if (pixels && png_image_finish_read(image, NULL, pixels, 0, NULL)) {
        *width = (int)image->width;
        *height = (int)image->height;
        return pixels;
    }
    fprintf(stderr, "png decode: %s\n", image->message);
    free(pixels);
    png_image_free(image);
    return NULL;
}

uint8_t *png_decode_rgb(const uint8_t *data, size_t n, int *width, int *height)
{
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, data, n)) {
        fprintf(stderr, "png decode: %s\n", image.message);
        return NULL;
    }
    return finish(&image, width, height);
}

uint8_t *png_read_rgb(const char *path, int *width, int *height)
{
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&image, path)) {
        fprintf(stderr, "png read %s: %s\n", path, image.message);
        return NULL;
    }
    return finish(&image, width, height);
}
