/* The dataset every image loader builds on: images held in memory as bytes
 * (channel after channel, each image its own size or all one size), one
 * class index each, and two transform pipelines, the training one and the
 * validation/test one (transforms.h). get(i) runs sample i through the
 * pipeline the loader asks for, with the sample's random stream. */
#ifndef DATA_LOADER_IMAGE_DATASET_H
#define DATA_LOADER_IMAGE_DATASET_H

#include "base/base_dataset.h"
#include "data_loader/transforms.h"

typedef struct {
    int64_t n;
    uint8_t *pixels;   /* every image's bytes, one after the other */
    Tensor *keep;      /* the tensor the pixels live in, or NULL: pixels was malloc'd */
    ImageSize size;    /* every image's size, when sizes is NULL */
    ImageSize *sizes;  /* or each image's (malloc'd), at pixels + offsets[i] */
    int64_t *offsets;
    int64_t *labels;   /* malloc'd */
    char **paths;      /* each image's file, for messages (malloc'd strings), or NULL */
} ImageSet;

typedef struct {
    Transforms *train; /* NULL for a test set: eval serves every sample */
    Transforms *eval;
    bool from_config;  /* the config's "transforms" (not the dataset's defaults) */
} DatasetTransforms;

/* Takes set, tf and class_names (n_classes malloc'd strings, or NULL)
 * whatever happens. Checks that every image comes out of both pipelines
 * with one size: NULL with an error naming the file (or the dataset) and
 * the sizes otherwise. */
Dataset *image_dataset_new(const char *name, ImageSet *set, DatasetTransforms tf, char **class_names, int n_classes);

/* Frees what an ImageSet holds (for constructors that fail before handing it over). */
void image_set_free(ImageSet *set);
void dataset_transforms_free(DatasetTransforms *tf);

/* The image i of a dataset made by image_dataset_new: its bytes and size. */
const uint8_t *image_dataset_image(const Dataset *ds, int64_t i, ImageSize *size);

#endif
