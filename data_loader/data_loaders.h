/* Data loaders selectable by name in config.json ("data_loader": {"type":
 * "MnistDataLoader", "args": {...}}), like pytorch-template's
 * data_loader/data_loaders.py. Add yours to the table in data_loaders.c. */
#ifndef DATA_LOADER_DATA_LOADERS_H
#define DATA_LOADER_DATA_LOADERS_H

#include "base/base_data_loader.h"
#include "utils/config.h"

/* MNIST with ToTensor + Normalize((0.1307,), (0.3081,)); args: data_dir,
 * batch_size, shuffle, validation_split, num_workers, drop_last, limit
 * (use only the first N training samples; 0 = all; the test set is always
 * whole), and on_device (keep the whole transformed set on the training
 * device, 188 MB for MNIST plus a shuffled copy per epoch: no host work or
 * copies per step). */
DataLoader *mnist_data_loader(const Config *cfg, const char *args_path, bool training);

/* Builds the loader config's "data_loader" names. training selects the
 * training or the test set. NULL with an error. */
DataLoader *data_loader_from_config(const Config *cfg, bool training);

#endif
