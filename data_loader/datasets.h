/* The concrete datasets (the abstract Dataset is base/base_dataset.h). Each
 * takes its transforms (image_dataset.h), frees them on failure, and
 * returns NULL with an error saying which file is missing or bad and how to
 * get it. */
#ifndef DATA_LOADER_DATASETS_H
#define DATA_LOADER_DATASETS_H

#include <stdint.h>

#include "base/base_dataset.h"
#include "data_loader/image_dataset.h"

/* Where Debian's dataset-fashion-mnist package puts its files. */
#define FASHION_MNIST_DEBIAN_DIR "/usr/share/datasets/fashion-mnist"

/* MNIST from data_dir/MNIST/raw/ (torchvision's layout; raw or .gz IDX
 * files), the training (60,000) or test (10,000) set. */
Dataset *mnist_dataset(const char *data_dir, bool training, DatasetTransforms tf);
/* Fashion-MNIST (the same format) from data_dir/FashionMNIST/raw/
 * (torchvision's layout) or from data_dir itself (Debian's
 * /usr/share/datasets/fashion-mnist), with its class names. */
Dataset *fashion_mnist_dataset(const char *data_dir, bool training, DatasetTransforms tf);
/* CIFAR-10's binary version: data_dir/cifar-10-batches-bin/data_batch_1..5.bin
 * (training) or test_batch.bin, and batches.meta.txt (the class names). */
Dataset *cifar10_dataset(const char *data_dir, bool training, DatasetTransforms tf);

/* ImageFolder: root/<class>/.../<image>.png, classes from the sorted folder names
 * and images in torchvision's order; each image converted to `channels`
 * (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA; 0: the first image's). */
Dataset *image_folder_dataset(const char *root, int channels, DatasetTransforms tf);

/* Token sequences with a class label from a text file, one sample per line:
 * the label, then the token ids ("1 17 4 9"); fields "input" (int64, variable
 * length up to max_length, or the file's longest when max_length is 0) and
 * "target" (data_loader/sequences.c). */
Dataset *sequence_dataset(const char *path, int64_t max_length);

#endif
