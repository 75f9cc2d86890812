/* Image transforms (see transforms.h). */
#include "data_loader/transforms.h"

void to_tensor_normalize(const uint8_t *in, int64_t n, float mean, float std, float *out)
{
    /* computed as torchvision does, in two roundings: x/255, then (x - mean)/std */
    for (int64_t i = 0; i < n; i++) out[i] = ((float)in[i] / 255.0f - mean) / std;
}
