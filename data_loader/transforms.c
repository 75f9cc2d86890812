/* Compose (see transforms.h): the registry of transform types, a pipeline
 * read from config, its output size and its application to one image. The
 * transforms themselves are in transforms_tensor.c (ToTensor, Normalize),
 * transforms_geometry.c (Resize, crops, flips), transforms_affine.c
 * (RandomRotation, RandomAffine) and transforms_color.c (ColorJitter). */
#include "data_loader/transform_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utils/registry.h"

struct Transforms {
    int n;
    Transform *items;
};

static const RegistryEntry transform_types[] = {
    {"ToTensor", (void (*)(void))transform_to_tensor},
    {"Normalize", (void (*)(void))transform_normalize},
    {"Resize", (void (*)(void))transform_resize},
    {"CenterCrop", (void (*)(void))transform_center_crop},
    {"RandomCrop", (void (*)(void))transform_random_crop},
    {"RandomHorizontalFlip", (void (*)(void))transform_random_horizontal_flip},
    {"RandomVerticalFlip", (void (*)(void))transform_random_vertical_flip},
    {"RandomRotation", (void (*)(void))transform_random_rotation},
    {"RandomAffine", (void (*)(void))transform_random_affine},
    {"ColorJitter", (void (*)(void))transform_color_jitter},
};
enum { N_TYPES = sizeof transform_types / sizeof transform_types[0] };

void transforms_free(Transforms *t)
{
    if (!t) return;
    for (int i = 0; i < t->n; i++) free(t->items[i].params);
    free(t->items);
    free(t);
}

/* ToTensor first and Normalize after it, as torchvision requires (its
 * ToTensor takes images, its Normalize tensors); marks what runs on bytes. */
static int check_order(Transforms *p, const Config *cfg, const char *key_path)
{
    int to_tensor = -1;
    for (int i = 0; i < p->n; i++) {
        Transform *t = &p->items[i];
        if (t->to_tensor) {
            if (to_tensor >= 0)
                return transform_fail(t, "a second ToTensor (the first is item %d): the image is a tensor already",
                                      to_tensor);
            to_tensor = i;
        }
        t->on_bytes = to_tensor < 0 && !t->to_tensor;
        if (t->needs_tensor && to_tensor < 0)
            return transform_fail(t, "%s takes a tensor: put it after ToTensor", t->type);
    }
    ENGINE_CHECK_INT(to_tensor >= 0,
                     "%s: %s: no ToTensor: the images must become tensors (add {\"type\": \"ToTensor\"}, then "
                     "Normalize if wanted)",
                     cfg->label, key_path);
    return 0;
}

Transforms *transforms_from_config(const Config *cfg, const char *key_path)
{
    const cJSON *list = config_find(cfg, key_path);
    if (!cJSON_IsArray(list))
        return engine_error("%s: %s: expected a list of transforms ([{\"type\": \"ToTensor\"}, ...]), got %s",
                            cfg->label, key_path, config_describe(list));
    Transforms *p = calloc(1, sizeof *p);
    ENGINE_ASSERT(p != NULL);
    int n = cJSON_GetArraySize(list);
    p->items = calloc((size_t)(n ? n : 1), sizeof(Transform));
    ENGINE_ASSERT(p->items != NULL);
    static const char *const item_keys[] = {"type", "args", NULL};
    for (int i = 0; i < n; i++) {
        char item[256], key[300];
        snprintf(item, sizeof item, "%s.%d", key_path, i);
        const char *type;
        if (!cJSON_IsObject(config_find(cfg, item))) {
            engine_error("%s: %s: expected a transform ({\"type\": ..., \"args\": {...}}), got %s", cfg->label, item,
                         config_describe(config_find(cfg, item)));
            goto fail;
        }
        snprintf(key, sizeof key, "%s.type", item);
        if (config_check_keys(cfg, item, item_keys, "a transform") || config_string(cfg, key, &type)) goto fail;
        TransformBuilder build =
            (TransformBuilder)registry_find(transform_types, N_TYPES, type, cfg->label, key);
        if (!build) goto fail;
        Transform *t = &p->items[p->n++];
        for (int k = 0; k < N_TYPES; k++) /* the table's name: the pipeline may outlive the config */
            if (strcmp(type, transform_types[k].name) == 0) t->type = transform_types[k].name;
        snprintf(t->where, sizeof t->where, "%s: %s (%s)", cfg->label, item, type);
        snprintf(key, sizeof key, "%s.args", item);
        const cJSON *args = config_find(cfg, key);
        if (args && !cJSON_IsObject(args)) {
            engine_error("%s: %s: expected an object of arguments, got %s", cfg->label, key, config_describe(args));
            goto fail;
        }
        if (build(t, cfg, key)) goto fail;
    }
    if (check_order(p, cfg, key_path)) goto fail;
    return p;
fail:
    transforms_free(p);
    return NULL;
}

Transforms *transforms_default(const float *mean, const float *std, int n)
{
    char json[1024];
    int pos = snprintf(json, sizeof json, "{\"transforms\": [{\"type\": \"ToTensor\"}");
    if (n > 0) {
        /* %.9g: the floats come back exactly */
        pos += snprintf(json + pos, sizeof json - (size_t)pos, ", {\"type\": \"Normalize\", \"args\": {\"mean\": [");
        for (int i = 0; i < n; i++) pos += snprintf(json + pos, sizeof json - (size_t)pos, "%s%.9g", i ? ", " : "", mean[i]);
        pos += snprintf(json + pos, sizeof json - (size_t)pos, "], \"std\": [");
        for (int i = 0; i < n; i++) pos += snprintf(json + pos, sizeof json - (size_t)pos, "%s%.9g", i ? ", " : "", std[i]);
        pos += snprintf(json + pos, sizeof json - (size_t)pos, "]}}");
    }
    snprintf(json + pos, sizeof json - (size_t)pos, "]}");
    Config *cfg = config_parse(json, "default transforms");
    ENGINE_ASSERT(cfg != NULL);
    Transforms *p = transforms_from_config(cfg, "transforms");
    ENGINE_ASSERT(p != NULL); /* (a std of 0 would be refused: the datasets' constants are not) */
    config_free(cfg);
    return p;
}

bool transforms_random(const Transforms *t)
{
    for (int i = 0; i < t->n; i++)
        if (t->items[i].random) return true;
    return false;
}

int transforms_output_size(const Transforms *p, ImageSize in, ImageSize *out)
{
    ImageSize s = in;
    for (int i = 0; i < p->n; i++) {
        const Transform *t = &p->items[i];
        ImageSize next = s;
        if (t->size && t->size(t, s, &next)) return -1;
        s = next;
    }
    *out = s;
    return 0;
}

static size_t image_floats(ImageSize s) { return (size_t)s.c * (size_t)s.h * (size_t)s.w; }

/* ToTensor alone or followed by Normalize (the MNIST, Fashion-MNIST and
 * CIFAR-10 defaults): one pass from the bytes, no buffers; the values are
 * those of the general path. Returns the Normalize (or NULL) through *norm. */
static bool to_tensor_then_normalize(const Transforms *p, const Transform **norm)
{
    *norm = p->n == 2 ? &p->items[1] : NULL;
    return p->n >= 1 && p->items[0].to_tensor && (p->n == 1 || (p->n == 2 && strcmp(p->items[1].type, "Normalize") == 0));
}

void transforms_apply(const Transforms *p, const uint8_t *image, ImageSize in, SampleRng *rng, float *out)
{
    size_t n = image_floats(in);
    const Transform *norm;
    if (to_tensor_then_normalize(p, &norm)) {
        to_tensor_normalize_bytes(image, in, norm, out);
        return;
    }
    Image cur = {malloc(sizeof(float) * (n ? n : 1)), in.c, in.h, in.w};
    ENGINE_ASSERT(cur.data != NULL);
    for (size_t i = 0; i < n; i++) cur.data[i] = (float)image[i];
    for (int i = 0; i < p->n; i++) {
        const Transform *t = &p->items[i];
        ImageSize s = {cur.c, cur.h, cur.w}, next = s;
        if (t->size) ENGINE_ASSERT(t->size(t, s, &next) == 0); /* checked by transforms_output_size */
        size_t m = image_floats(next);
        Image dst = {malloc(sizeof(float) * (m ? m : 1)), next.c, next.h, next.w};
        ENGINE_ASSERT(dst.data != NULL);
        t->apply(t, &cur, &dst, rng);
        free(cur.data);
        cur = dst;
    }
    memcpy(out, cur.data, sizeof(float) * image_floats((ImageSize){cur.c, cur.h, cur.w}));
    free(cur.data);
}
