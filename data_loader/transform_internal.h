/* What the transform families share (transforms_*.c): the image a pipeline
 * passes along, the Transform record each family fills in from its config
 * arguments, and the argument readers. Not for datasets: see transforms.h. */
#ifndef DATA_LOADER_TRANSFORM_INTERNAL_H
#define DATA_LOADER_TRANSFORM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base_dataset.h"
#include "data_loader/transforms.h"
#include "utils/config.h"

/* An image inside a pipeline: channels x height x width floats, row-major
 * per channel (torch's CHW). Before ToTensor the values are bytes (0..255)
 * and every transform rounds its results as torchvision does on uint8
 * tensors; after ToTensor they are the floats a tensor transform sees. */
typedef struct {
    float *data;
    int c, h, w;
} Image;

typedef struct Transform Transform;
struct Transform {
    const char *type;  /* "RandomCrop" */
    char where[192];   /* "config.json: data_loader.args.transforms.train.2 (RandomCrop)", for errors */
    bool random;       /* draws from the sample's stream */
    bool on_bytes;     /* runs before ToTensor (set by the pipeline) */
    bool to_tensor;    /* this is ToTensor */
    bool needs_tensor; /* only after ToTensor (Normalize) */
    /* The output size for an input of that size; -1 with an error starting
     * with t->where. NULL: the size does not change. */
    int (*size)(const Transform *t, ImageSize in, ImageSize *out);
    /* in -> out, whose data holds the output size (as size() said). */
    void (*apply)(const Transform *t, const Image *in, Image *out, SampleRng *rng);
    void *params; /* the family's own, freed with free() */
};

/* A family's constructor: reads the arguments at args_path (which may be
 * absent) into t->params and sets the functions. 0 or -1 with an error. */
typedef int (*TransformBuilder)(Transform *t, const Config *cfg, const char *args_path);

int transform_to_tensor(Transform *t, const Config *cfg, const char *args_path);
/* The bytes of an image through ToTensor and then, when normalize is not
 * NULL, that Normalize, in one pass into out: the values of the two passes. */
void to_tensor_normalize_bytes(const uint8_t *image, ImageSize size, const Transform *normalize, float *out);
int transform_normalize(Transform *t, const Config *cfg, const char *args_path);
int transform_resize(Transform *t, const Config *cfg, const char *args_path);
int transform_center_crop(Transform *t, const Config *cfg, const char *args_path);
int transform_random_crop(Transform *t, const Config *cfg, const char *args_path);
int transform_random_horizontal_flip(Transform *t, const Config *cfg, const char *args_path);
int transform_random_vertical_flip(Transform *t, const Config *cfg, const char *args_path);
int transform_random_rotation(Transform *t, const Config *cfg, const char *args_path);
int transform_random_affine(Transform *t, const Config *cfg, const char *args_path);
int transform_color_jitter(Transform *t, const Config *cfg, const char *args_path);

/* ---- reading arguments (transform_args.c) ---- */

/* Refuses keys of args_path that are not in keys (NULL-terminated), listing them. */
int targ_check(const Transform *t, const Config *cfg, const char *args_path, const char *const *keys);
/* A number or a list of 1..max numbers at args_path.name; *n = 0 when the
 * key is absent or null (torchvision's None). expected says what fits, for
 * the message ("an int or [h, w]"). */
int targ_numbers(const Transform *t, const Config *cfg, const char *args_path, const char *name, double *out,
                 int max, int *n, const char *expected);
/* The same, each a whole number in [min, max_value]. */
int targ_ints(const Transform *t, const Config *cfg, const char *args_path, const char *name, int64_t *out, int max,
              int *n, int64_t min, int64_t max_value, const char *expected);
/* Optional scalars: the default when absent (or null). */
int targ_number(const Transform *t, const Config *cfg, const char *args_path, const char *name, double def,
                double *out);
int targ_bool(const Transform *t, const Config *cfg, const char *args_path, const char *name, bool def, bool *out);
/* One of choices (NULL-terminated): its index in *out. */
int targ_choice(const Transform *t, const Config *cfg, const char *args_path, const char *name,
                const char *const *choices, int def, int *out);
/* An error starting with t->where. Returns -1. */
int transform_fail(const Transform *t, const char *fmt, ...) ENGINE_PRINTF(2, 3);
/* Allocates t->params of n bytes (zeroed). */
void *transform_params(Transform *t, size_t n);

/* ---- pixel helpers ---- */

/* How a value computed from bytes becomes a byte again: torch.round (half
 * to even) for interpolations, a cast (toward zero) after a blend. */
static inline float round_byte(float v) { return __builtin_nearbyintf(v); }

/* Where a padded coordinate i (possibly outside [0, n)) reads from, by
 * torchvision's padding modes: -1 for the fill value ("constant"). */
typedef enum { PAD_CONSTANT, PAD_EDGE, PAD_REFLECT, PAD_SYMMETRIC } PadMode;
static inline int pad_source(int i, int n, PadMode mode)
{
    if (i >= 0 && i < n) return i;
    switch (mode) {
    case PAD_CONSTANT: return -1;
    case PAD_EDGE: return i < 0 ? 0 : n - 1;
    case PAD_REFLECT: /* ... 2 1 | 0 1 2 | 1 0 ... (the pad is shorter than n, checked) */
        return i < 0 ? -i : 2 * (n - 1) - i;
    case PAD_SYMMETRIC: /* ... 1 0 | 0 1 2 | 2 1 ... */
        return i < 0 ? -i - 1 : 2 * n - 1 - i;
    }
    return -1;
}

/* The inverse affine matrix of torchvision's _get_inverse_affine_matrix
 * (angle and shear in degrees, center relative to the image's center). */
void affine_inverse_matrix(const double center[2], double angle, const double translate[2], double scale,
                           const double shear[2], double m[6]);
/* torchvision's tensor affine/rotate: samples in with the inverse matrix m
 * (nearest or bilinear, fill where the source falls outside); out has in's
 * size. */
void affine_sample(const Image *in, Image *out, const double m[6], bool bilinear, const float *fill, int n_fill,
                   bool on_bytes);

#endif
