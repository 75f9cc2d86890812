/* Reading JPEG images for the datasets (libjpeg-turbo, as PIL and
 * torchvision decode them: the default, accurate integer DCT and fancy
 * upsampling), grey or colour, baseline or progressive, into bytes channel
 * after channel with a chosen channel count (see png_reader.h for the
 * conversions). CMYK JPEGs are refused. */
#ifndef DATA_LOADER_JPEG_READER_H
#define DATA_LOADER_JPEG_READER_H

#include <stdint.h>

#include "data_loader/transforms.h"

/* As png_read_chw: size->c channels (channels, or the file's own with 0:
 * 1 grey, 3 RGB), *file_channels the file's. NULL with an error naming the file. */
uint8_t *jpeg_read_chw(const char *path, int channels, ImageSize *size, int *file_channels);

#endif
