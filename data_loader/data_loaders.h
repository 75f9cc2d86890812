/* Data loaders selectable by name in config.json ("data_loader": {"type":
 * "MnistDataLoader", "args": {...}}), like pytorch-template's
 * data_loader/data_loaders.py. Add yours to the table in data_loaders.c.
 *
 * Every loader takes BaseDataLoader's args: batch_size, shuffle,
 * validation_split, num_workers, drop_last, on_device (keep the whole
 * transformed set on the training device: no host work or copies per
 * step; deterministic transforms only), limit (use only the first N
 * training samples; 0 = all; the test set is always whole), and
 * "transforms": {"train": [...], "valid": [...]} (transforms.h; the
 * validation split and ./test use "valid"). Without "transforms" a loader
 * applies ToTensor and Normalize with its dataset's usual constants. */
#ifndef DATA_LOADER_DATA_LOADERS_H
#define DATA_LOADER_DATA_LOADERS_H

#include "base/base_data_loader.h"
#include "utils/config.h"

/* MNIST from data_dir/MNIST/raw; Normalize((0.1307,), (0.3081,)). */
DataLoader *mnist_data_loader(const Config *cfg, const char *args_path, bool training);
/* Fashion-MNIST from data_dir/FashionMNIST/raw or data_dir (default: Debian's
 * /usr/share/datasets/fashion-mnist); Normalize((0.2860,), (0.3530,)). */
DataLoader *fashion_mnist_data_loader(const Config *cfg, const char *args_path, bool training);
/* CIFAR-10 (binary version) from data_dir/cifar-10-batches-bin;
 * Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)). */
DataLoader *cifar10_data_loader(const Config *cfg, const char *args_path, bool training);
/* ImageFolder: data_dir/<class>/<image>.png for training, test_dir (default
 * data_dir) for ./test; channels: 1, 2, 3 or 4 (default: the first
 * image's); ToTensor only by default. */
DataLoader *image_folder_data_loader(const Config *cfg, const char *args_path, bool training);

/* Token sequences with class labels: data_dir/train.txt for training,
 * data_dir/test.txt for ./test (one sample per line: the label, then the
 * token ids); max_length (default: each file's longest). Use with
 * "collate": {"type": "pad"} for sequences of different lengths. */
DataLoader *sequence_data_loader(const Config *cfg, const char *args_path, bool training);

/* Builds the loader config's "data_loader" names. training selects the
 * training or the test set. NULL with an error. */
DataLoader *data_loader_from_config(const Config *cfg, bool training);

#endif
