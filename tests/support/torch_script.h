/* Running a standalone PyTorch reference script (tests/ref/<script>) on
 * tensors made by a test: they go to the script in one safetensors file,
 * with an "args" JSON string in its metadata; the script writes a
 * safetensors file of result tensors (and optionally a "result" JSON string
 * in its metadata), which comes back here. Used where the op oracle
 * (oracle.h) does not fit, e.g. optimizers stepping many times. */
#ifndef TESTS_TORCH_SCRIPT_H
#define TESTS_TORCH_SCRIPT_H

#include "engine/engine.h"

/* Runs script with the n named tensors and args_json. Returns 0 and the
 * results in *result (free with safetensors_free), 1 when no torch is
 * available (the caller then skips visibly with cmocka's skip()), -1 on
 * failure (message printed). label names the temporary files and messages. */
int torch_script_run(const char *script, const char *label, int n, const char *const *names,
                     Tensor *const *tensors, const char *args_json, Safetensors **result);

#endif
