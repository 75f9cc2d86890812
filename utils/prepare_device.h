/* prepare_device, as in pytorch-template's utils: n_gpu from the config;
 * asking for a GPU where there is none, or for more than there are, is a
 * warning and the run goes on with what is there. */
#ifndef UTILS_PREPARE_DEVICE_H
#define UTILS_PREPARE_DEVICE_H

#include <stdint.h>

#include "engine/dtype.h"
#include "logger/logger.h"
#include "utils/config.h"

Device prepare_device(int64_t n_gpu_use, const Logger *lg);
/* The config's n_gpu (default 0): -1 with an error when it is not a whole
 * number >= 0. */
int n_gpu_from_config(const Config *cfg, int64_t *n_gpu);
/* The GPU backend's numeric modes from the config's optional "cuda" block:
 * {"tf32": false, "deterministic": false} (PyTorch's allow_tf32 and
 * cudnn.deterministic; both off by default). -1 with an error naming the
 * key. */
int configure_device_modes(const Config *cfg);

#endif
