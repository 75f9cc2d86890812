/* Image transforms, applied while a batch is assembled. */
#ifndef DATA_LOADER_TRANSFORMS_H
#define DATA_LOADER_TRANSFORMS_H

#include <stdint.h>

/* torchvision's ToTensor() then Normalize((mean,), (std,)) on one image of n
 * bytes: out = (in / 255 - mean) / std. */
void to_tensor_normalize(const uint8_t *in, int64_t n, float mean, float std, float *out);

#endif
