/* In-memory image datasets with training and evaluation transforms (see
 * image_dataset.h). */
#include "data_loader/image_dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_loader/huge_pages.h"

typedef struct {
    Dataset base;
    ImageSet set;
    DatasetTransforms tf;
    char **class_names;
    char *name;
} ImageDataset;

void image_set_free(ImageSet *set)
{
    if (set->keep) tensor_free(set->keep);
    else free(set->pixels);
    free(set->sizes);
    free(set->offsets);
    free(set->labels);
    if (set->paths)
        for (int64_t i = 0; i < set->n; i++) free(set->paths[i]);
    free(set->paths);
    memset(set, 0, sizeof *set);
}

void dataset_transforms_free(DatasetTransforms *tf)
{
    transforms_free(tf->train);
    transforms_free(tf->eval);
    tf->train = tf->eval = NULL;
}

static void free_names(char **names, int n)
{
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

const uint8_t *image_dataset_image(const Dataset *ds, int64_t i, ImageSize *size)
{
    const ImageSet *s = &((const ImageDataset *)ds)->set;
    if (s->sizes) {
        *size = s->sizes[i];
        return s->pixels + s->offsets[i];
    }
    *size = s->size;
    return s->pixels + i * (int64_t)s->size.c * s->size.h * s->size.w;
}

static int image_get(const Dataset *ds, int64_t i, const SampleContext *ctx, Sample *out)
{
    const ImageDataset *d = (const ImageDataset *)ds;
    const Transforms *t = ctx->training && d->tf.train ? d->tf.train : d->tf.eval;
    ImageSize size;
    const uint8_t *image = image_dataset_image(ds, i, &size);
    SampleRng rng = sample_rng(ctx, i);
    transforms_apply(t, image, size, &rng, sample_f32(out, 0)); /* the classic fields: input, target */
    *sample_i64(out, 1) = d->set.labels[i];
    return 0;
}

static void image_prefetch(const Dataset *ds, int64_t i)
{
    ImageSize size;
    const uint8_t *image = image_dataset_image(ds, i, &size);
    /* the first 4 KB: the hardware prefetcher follows a longer run by itself */
    size_t bytes = (size_t)size.c * (size_t)size.h * (size_t)size.w;
    for (size_t k = 0; k < bytes && k < 4096; k += 64) __builtin_prefetch(image + k);
}

static void image_destroy(Dataset *ds)
{
    ImageDataset *d = (ImageDataset *)ds;
    image_set_free(&d->set);
    dataset_transforms_free(&d->tf);
    free_names(d->class_names, d->base.n_classes);
    free(d->name);
}

static void size_str(ImageSize s, char *buf, size_t n) { snprintf(buf, n, "%dx%dx%d", s.c, s.h, s.w); }

/* Which image (a file when the set has paths) a message names. */
static void image_name(const ImageSet *set, const char *name, int64_t i, char *buf, size_t n)
{
    if (set->paths) snprintf(buf, n, "%s", set->paths[i]);
    else snprintf(buf, n, "%s image %lld", name, (long long)i);
}

/* Every image through both pipelines: one output size for all. Sizes seen
 * already are not checked again (a folder of images of a few sizes costs
 * a few checks). */
static int check_sizes(ImageDataset *d, const char *name)
{
    const ImageSet *set = &d->set;
    Transforms *pipes[2] = {d->tf.train, d->tf.eval};
    const char *pipe_names[2] = {"training", "validation/test"};
    ImageSize first_in = {0}, out_first = {0};
    int64_t first = -1;
    enum { SEEN = 16 };
    ImageSize seen[SEEN];
    int n_seen = 0;
    for (int64_t i = 0; i < set->n; i++) {
        ImageSize in = set->sizes ? set->sizes[i] : set->size;
        bool known = false;
        for (int k = 0; k < n_seen; k++)
            if (memcmp(&seen[k], &in, sizeof in) == 0) known = true;
        if (known) continue;
        if (n_seen < SEEN) seen[n_seen++] = in;
        char who[4200], a[48], b[48], c[48];
        image_name(set, name, i, who, sizeof who);
        for (int p = 0; p < 2; p++) {
            if (!pipes[p]) continue;
            ImageSize out;
            size_str(in, a, sizeof a);
            if (transforms_output_size(pipes[p], in, &out)) {
                engine_error_context("%s (%s)", who, a);
                return -1;
            }
            if (first < 0) {
                first = i;
                first_in = in;
                out_first = out;
                continue;
            }
            if (memcmp(&out, &out_first, sizeof out) == 0) continue;
            char first_who[4200];
            image_name(set, name, first, first_who, sizeof first_who);
            size_str(out, b, sizeof b);
            size_str(out_first, c, sizeof c);
            char in_first[48];
            size_str(first_in, in_first, sizeof in_first);
            if (first == i)
                engine_error("%s (%s): the training transforms make it %s, the validation/test ones %s: both must "
                             "give the model one size",
                             who, a, c, b);
            else
                engine_error("%s (%s): the %s transforms make it %s, but %s (%s) becomes %s: a batch needs one size; "
                             "add a Resize and/or CenterCrop to the transforms",
                             who, a, pipe_names[p], b, first_who, in_first, c);
            return -1;
        }
    }
    if (first >= 0) d->base.sample_shape = SHAPE(out_first.c, out_first.h, out_first.w);
    return 0;
}

/* The set's pixels on 2 MiB pages (huge_pages.h says why). */
static void pixels_on_huge_pages(const ImageSet *set)
{
    size_t bytes = 0;
    if (set->n > 0 && set->sizes) {
        ImageSize last = set->sizes[set->n - 1];
        bytes = (size_t)set->offsets[set->n - 1] + (size_t)last.c * (size_t)last.h * (size_t)last.w;
    } else if (set->n > 0) {
        bytes = (size_t)set->n * (size_t)set->size.c * (size_t)set->size.h * (size_t)set->size.w;
    }
    huge_pages_after_fill(set->pixels, bytes);
}

Dataset *image_dataset_new(const char *name, ImageSet *set, DatasetTransforms tf, char **class_names, int n_classes)
{
    pixels_on_huge_pages(set);
    ImageDataset *d = calloc(1, sizeof *d);
    ENGINE_ASSERT(d != NULL);
    d->set = *set;
    memset(set, 0, sizeof *set);
    d->tf = tf;
    d->class_names = class_names;
    d->name = strdup(name);
    ENGINE_ASSERT(d->name != NULL);
    d->base.name = d->name;
    d->base.length = d->set.n;
    d->base.get = image_get;
    d->base.prefetch = image_prefetch;
    d->base.destroy = image_destroy;
    d->base.class_names = (const char *const *)class_names;
    d->base.n_classes = class_names ? n_classes : 0;
    d->base.random_train = tf.train && transforms_random(tf.train);
    d->base.random_eval = transforms_random(tf.eval);
    d->base.eval_differs = tf.from_config;
    if (check_sizes(d, name)) {
        dataset_free(&d->base);
        return NULL;
    }
    return &d->base;
}
