/* The MNIST dataset (see datasets.h). */
#include "data_loader/datasets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_loader/idx.h"
#include "data_loader/transforms.h"
#include "utils/fs.h"

typedef struct {
    Dataset base;
    Tensor *images; /* u8 [N, 28, 28] */
    Tensor *labels; /* u8 [N] */
    float mean, std;
} MnistDataset;

static int mnist_get(const Dataset *ds, int64_t i, const SampleContext *ctx, Sample *out)
{
    const MnistDataset *m = (const MnistDataset *)ds;
    const int64_t pixels = 28 * 28;
    to_tensor_normalize(tensor_u8(m->images) + i * pixels, pixels, m->mean, m->std, out->input);
    out->target = tensor_u8(m->labels)[i];
    return 0;
}

static void mnist_destroy(Dataset *ds)
{
    MnistDataset *m = (MnistDataset *)ds;
    tensor_free(m->images);
    tensor_free(m->labels);
}

/* data_dir/MNIST/raw/<name>, or <name>.gz when only that exists. */
static void find_file(const char *data_dir, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/MNIST/raw/%s", data_dir, name);
    if (fs_exists(out)) return;
    size_t len = strlen(out);
    if (len + 4 > n) return;
    memcpy(out + len, ".gz", 4);
    if (!fs_exists(out)) out[len] = '\0'; /* neither exists: report the raw name */
}

Dataset *mnist_dataset(const char *data_dir, bool training, float mean, float std)
{
    const char *prefix = training ? "train" : "t10k";
    char images_name[64], labels_name[64], images_path[4096], labels_path[4096];
    snprintf(images_name, sizeof images_name, "%s-images-idx3-ubyte", prefix);
    snprintf(labels_name, sizeof labels_name, "%s-labels-idx1-ubyte", prefix);
    find_file(data_dir, images_name, images_path, sizeof images_path);
    find_file(data_dir, labels_name, labels_path, sizeof labels_path);
    if (!fs_exists(images_path) || !fs_exists(labels_path))
        return engine_error("MNIST not found: %s is missing; run scripts/fetch_mnist.sh %s/MNIST/raw (or put the "
                            "IDX files from an MNIST mirror there)",
                            fs_exists(images_path) ? labels_path : images_path, data_dir);
    Tensor *images = idx_load_u8(images_path, 3);
    Tensor *labels = images ? idx_load_u8(labels_path, 1) : NULL;
    if (!labels) {
        tensor_free(images);
        return NULL;
    }
    const char *problem = NULL;
    if (images->shape.d[1] != 28 || images->shape.d[2] != 28) problem = "images are not 28x28";
    else if (labels->shape.d[0] != images->shape.d[0]) problem = "image and label counts differ";
    else if (images->shape.d[0] == 0) problem = "the files hold no samples";
    for (int64_t i = 0; !problem && i < labels->shape.d[0]; i++)
        if (tensor_u8(labels)[i] > 9) problem = "a label is outside 0..9";
    if (problem) {
        engine_error("%s, %s: %s (shapes %s and %s)", images_path, labels_path, problem, shape_str(images->shape),
                     shape_str(labels->shape));
        tensor_free(images);
        tensor_free(labels);
        return NULL;
    }
    MnistDataset *m = calloc(1, sizeof *m);
    ENGINE_ASSERT(m != NULL);
    m->base.name = training ? "MNIST-train" : "MNIST-test";
    m->base.length = images->shape.d[0];
    m->base.sample_shape = SHAPE(1, 28, 28);
    m->base.get = mnist_get;
    m->base.destroy = mnist_destroy;
    m->images = images;
    m->labels = labels;
    m->mean = mean;
    m->std = std;
    return &m->base;
}
