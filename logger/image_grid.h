/* Image grids, as torchvision.utils.make_grid and save_image: a batch of
 * images [N, C, H, W] (C 1 or 3) laid out nrow per row with padding
 * between them, optionally normalised to [0, 1] by the batch's min and max. */
#ifndef LOGGER_IMAGE_GRID_H
#define LOGGER_IMAGE_GRID_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/tensor.h"

/* A CPU f32 tensor [3, rows * (H + padding) + padding, cols * (W + padding)
 * + padding] (cols = min(nrow, N)), padding pixels 0; a single image
 * ([C, H, W] or N == 1) comes back alone, without padding, as make_grid
 * does. NULL with an error for other shapes or dtypes. */
Tensor *make_grid(Tensor *images, int nrow, int padding, bool normalize);

/* An f32 image [C, H, W] (C 1 or 3) with values in [0, 1] as 8-bit RGB,
 * rows top first (*pixels malloc'd, caller frees; values clipped to [0, 1]
 * and rounded). 0 or -1 with an error. */
int image_to_rgb8(Tensor *image, uint8_t **pixels, int *height, int *width);

/* Writes an f32 image [C, H, W] with values in [0, 1] to a PNG file. */
int save_image(Tensor *image, const char *path);

#endif
