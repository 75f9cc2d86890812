/* Datasets: indexable collections of (input, target) samples that can
 * assemble a batch into caller-provided buffers (from worker threads). */
#ifndef DATA_LOADER_DATASETS_H
#define DATA_LOADER_DATASETS_H

#include <stdint.h>

#include "engine/tensor.h"

typedef struct Dataset Dataset;
struct Dataset {
    const char *name;
    int64_t length;
    Shape sample_shape; /* one input, e.g. [1, 28, 28] */
    /* Writes samples idx[0..n) as f32 inputs (n * numel(sample_shape)) and
     * i64 targets (n). Must be safe to call from several threads at once. */
    void (*collate)(const Dataset *ds, const int64_t *idx, int n, float *x, int64_t *y);
    void (*destroy)(Dataset *ds);
};

/* MNIST from data_dir/MNIST/raw/ (torchvision's layout; raw or .gz IDX files),
 * the training (60,000) or test (10,000) set, transformed by ToTensor and
 * Normalize(mean, std). NULL with an error saying which file is missing or
 * bad and how to get it. */
Dataset *mnist_dataset(const char *data_dir, bool training, float mean, float std);

void dataset_free(Dataset *ds);

#endif
