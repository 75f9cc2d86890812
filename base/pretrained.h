/* Weights to start from, given in config.json's "arch" block:
 *   "arch": {"type": "MnistModel", "args": {},
 *            "pretrained": "mnist_pretrained.safetensors",
 *            "exclude": ["fc2.*"]}
 * pretrained: a safetensors file holding a state_dict under PyTorch's names
 * (one written from PyTorch with safetensors' save_file or
 * utils/safetensors.py) or one of our checkpoints (its "optimizer.*"
 * tensors are ignored): weights only, nothing of the run it came from.
 * Loading is not strict: the file's tensors that the model lacks are
 * skipped; the model's tensors matching an exclude pattern (shell globs over
 * the dotted state_dict names, utils/name_patterns.h) keep their
 * initialisation, say a new head for another number of classes. Any other
 * tensor of the model that the file lacks, or has in another shape, is an
 * error naming the file, the tensor and both shapes. The log lists what was
 * loaded, skipped and left at its initialisation. */
#ifndef BASE_PRETRAINED_H
#define BASE_PRETRAINED_H

#include "engine/nn/nn.h"
#include "logger/logger.h"
#include "utils/config.h"

/* Loads arch.pretrained into model, leaving out arch.exclude; nothing
 * without arch.pretrained (arch.exclude alone is an error). 0, or -1 with an
 * error (the model unchanged). */
int pretrained_load_from_config(const Config *cfg, Module *model, const Logger *lg);

#endif
