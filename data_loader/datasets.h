/* The concrete datasets (the abstract Dataset is base/base_dataset.h). */
#ifndef DATA_LOADER_DATASETS_H
#define DATA_LOADER_DATASETS_H

#include <stdint.h>

#include "base/base_dataset.h"

/* MNIST from data_dir/MNIST/raw/ (torchvision's layout; raw or .gz IDX files),
 * the training (60,000) or test (10,000) set, transformed by ToTensor and
 * Normalize(mean, std). NULL with an error saying which file is missing or
 * bad and how to get it. */
Dataset *mnist_dataset(const char *data_dir, bool training, float mean, float std);

#endif
