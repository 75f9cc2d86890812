/* ToTensor and Normalize, as torchvision's: bytes / 255, then
 * (x - mean[c]) / std[c] in float32, two roundings as torch makes them
 * (the MNIST loaders' results stay bit for bit what they were). */
#include "data_loader/transform_internal.h"

#include <math.h>

static void to_tensor_apply(const Transform *t, const Image *in, Image *out, SampleRng *rng)
{
    size_t n = (size_t)in->c * (size_t)in->h * (size_t)in->w;
    for (size_t i = 0; i < n; i++) out->data[i] = in->data[i] / 255.0f;
}

int transform_to_tensor(Transform *t, const Config *cfg, const char *args_path)
{
    static const char *const keys[] = {NULL};
    if (targ_check(t, cfg, args_path, keys)) return -1;
    t->to_tensor = true;
    t->apply = to_tensor_apply;
    return 0;
}

enum { MAX_NORM_CHANNELS = 64 };
typedef struct {
    float mean[MAX_NORM_CHANNELS], std[MAX_NORM_CHANNELS];
    int n;
} NormalizeParams;

static int normalize_size(const Transform *t, ImageSize in, ImageSize *out)
{
    const NormalizeParams *p = t->params;
    if (p->n != 1 && p->n != in.c)
        return transform_fail(t, "mean and std have %d values, the image has %d channel%s (give %s%d)", p->n, in.c,
                              in.c == 1 ? "" : "s", in.c == 1 ? "" : "1 or ", in.c);
    *out = in;
    return 0;
}

static void normalize_apply(const Transform *t, const Image *in, Image *out, SampleRng *rng)
{
    const NormalizeParams *p = t->params;
    size_t plane = (size_t)in->h * (size_t)in->w;
    for (int c = 0; c < in->c; c++) {
        float mean = p->mean[p->n == 1 ? 0 : c], std = p->std[p->n == 1 ? 0 : c];
        const float *src = in->data + (size_t)c * plane;
        float *dst = out->data + (size_t)c * plane;
        for (size_t i = 0; i < plane; i++) dst[i] = (src[i] - mean) / std;
    }
}

void to_tensor_normalize_bytes(const uint8_t *image, ImageSize size, const Transform *normalize, float *out)
{
    const NormalizeParams *p = normalize ? normalize->params : NULL;
    size_t plane = (size_t)size.h * (size_t)size.w;
    for (int c = 0; c < size.c; c++) {
        const uint8_t *src = image + (size_t)c * plane;
        float *dst = out + (size_t)c * plane;
        if (!p) {
            for (size_t i = 0; i < plane; i++) dst[i] = (float)src[i] / 255.0f;
            continue;
        }
        /* the general path's two float roundings, whole vectors at a time
         * (a 256-entry table per channel gave the same bits, but its
         * lookups do not vectorise: 0.25 us an MNIST image against 0.09
         * with AVX-512 and 0.14 with AVX2, 0.28 with SSE2 alone) */
        int k = p->n == 1 ? 0 : c;
        const float mean = p->mean[k], std = p->std[k];
        for (size_t i = 0; i < plane; i++) dst[i] = ((float)src[i] / 255.0f - mean) / std;
    }
}

int transform_normalize(Transform *t, const Config *cfg, const char *args_path)
{
    static const char *const keys[] = {"mean", "std", "inplace", NULL};
    NormalizeParams *p = transform_params(t, sizeof *p);
    double mean[MAX_NORM_CHANNELS], std[MAX_NORM_CHANNELS];
    int n_mean, n_std;
    bool inplace; /* accepted for torchvision's sake: the result is the same */
    if (targ_check(t, cfg, args_path, keys) ||
        targ_numbers(t, cfg, args_path, "mean", mean, MAX_NORM_CHANNELS, &n_mean, "a number per channel") ||
        targ_numbers(t, cfg, args_path, "std", std, MAX_NORM_CHANNELS, &n_std, "a number per channel") ||
        targ_bool(t, cfg, args_path, "inplace", false, &inplace))
        return -1;
    if (n_mean == 0 || n_std == 0)
        return transform_fail(t, "needs mean and std (one number per channel, e.g. \"mean\": [0.5], \"std\": [0.5])");
    if (n_mean != n_std)
        return transform_fail(t, "mean has %d values, std %d: give one of each per channel", n_mean, n_std);
    p->n = n_mean;
    for (int i = 0; i < p->n; i++) {
        /* float32, as torch.as_tensor(mean, dtype=torch.float32) */
        p->mean[i] = (float)mean[i];
        p->std[i] = (float)std[i];
        if (p->std[i] == 0.0f || !isfinite(p->std[i]))
            return transform_fail(t, "std[%d] is %g: a std of zero (in float32) would divide by zero", i, std[i]);
    }
    t->needs_tensor = true;
    t->size = normalize_size;
    t->apply = normalize_apply;
    return 0;
}
