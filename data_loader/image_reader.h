/* Reading an image file of any kind the datasets and ./predict take: PNG
 * (png_reader.h) or JPEG (jpeg_reader.h), told apart by their signatures. */
#ifndef DATA_LOADER_IMAGE_READER_H
#define DATA_LOADER_IMAGE_READER_H

#include <stdbool.h>
#include <stdint.h>

#include "data_loader/transforms.h"

/* As png_read_chw. A file that is neither is an error naming it. */
uint8_t *image_read_chw(const char *path, int channels, ImageSize *size, int *file_channels);
/* Whether a file name ends with an extension image_read_chw decodes
 * (.png, .jpg, .jpeg, in any case). */
bool image_extension_supported(const char *name);

#endif
