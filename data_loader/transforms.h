/* Image transforms composed from config, as torchvision.transforms.Compose:
 *
 *   "transforms": {
 *     "train": [{"type": "RandomCrop", "args": {"size": 28, "padding": 4}},
 *               {"type": "RandomHorizontalFlip"},
 *               {"type": "ToTensor"},
 *               {"type": "Normalize", "args": {"mean": [0.1307], "std": [0.3081]}}],
 *     "valid": [{"type": "ToTensor"}, {"type": "Normalize", "args": {...}}]
 *   }
 *
 * with torchvision's names, arguments and defaults: ToTensor, Normalize,
 * Resize, CenterCrop, RandomCrop, RandomHorizontalFlip, RandomVerticalFlip,
 * RandomRotation, RandomAffine, ColorJitter. A pipeline takes one image of
 * bytes (channels x height x width) and writes the floats of a sample.
 * Transforms before ToTensor see bytes and round their results as
 * torchvision's do on uint8 tensors; those after it see floats. Random ones
 * draw from the sample's own stream (base_dataset.h: seed, epoch, index). */
#ifndef DATA_LOADER_TRANSFORMS_H
#define DATA_LOADER_TRANSFORMS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base_dataset.h"
#include "utils/config.h"

typedef struct {
    int c, h, w;
} ImageSize;

typedef struct Transforms Transforms;

/* The pipeline listed at key_path (an array of {"type": ..., "args": {...}}).
 * NULL with an error naming the key: an unknown type or argument lists the
 * known ones; a pipeline needs exactly one ToTensor, and Normalize after it. */
Transforms *transforms_from_config(const Config *cfg, const char *key_path);
/* ToTensor, then Normalize(mean, std) when n > 0 (the datasets' defaults). */
Transforms *transforms_default(const float *mean, const float *std, int n);
void transforms_free(Transforms *t);

/* Whether any transform draws random numbers. */
bool transforms_random(const Transforms *t);
/* The size of the result for an input of size in. -1 with an error naming
 * the transform that cannot take it (a crop larger than the image, a mean
 * of the wrong length...). */
int transforms_output_size(const Transforms *t, ImageSize in, ImageSize *out);
/* Transforms one image of bytes (in's size, channel after channel) into
 * out (the output size's floats). The size must have passed
 * transforms_output_size. Safe to call from several threads at once. */
void transforms_apply(const Transforms *t, const uint8_t *image, ImageSize in, SampleRng *rng, float *out);

#endif
