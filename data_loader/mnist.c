/* MNIST and Fashion-MNIST (see datasets.h): the same IDX files (raw or
 * .gz), 28x28 grey images of ten classes. */
#include "data_loader/datasets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_loader/idx.h"
#include "utils/fs.h"

static const char *const mnist_classes[] = {"0 - zero", "1 - one", "2 - two",   "3 - three", "4 - four",
                                            "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"};
static const char *const fashion_classes[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* dir/<name>, or dir/<name>.gz when only that exists; false when neither does. */
static bool find_file(const char *dir, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", dir, name);
    if (fs_exists(out)) return true;
    size_t len = strlen(out);
    if (len + 4 > n) return false;
    memcpy(out + len, ".gz", 4);
    if (fs_exists(out)) return true;
    out[len] = '\0'; /* neither exists: report the raw name */
    return false;
}

static char **copy_names(const char *const *names, int n)
{
    char **out = malloc(sizeof(char *) * (size_t)n);
    ENGINE_ASSERT(out != NULL);
    for (int i = 0; i < n; i++) {
        out[i] = strdup(names[i]);
        ENGINE_ASSERT(out[i] != NULL);
    }
    return out;
}

/* The images and labels of one split from the first of dirs that holds both files. */
static Dataset *idx_dataset(const char *const *dirs, int n_dirs, const char *missing_hint, const char *what,
                            const char *name, bool training, DatasetTransforms tf, const char *const *classes)
{
    const char *prefix = training ? "train" : "t10k";
    char images_name[64], labels_name[64], images_path[4096] = "", labels_path[4096] = "";
    snprintf(images_name, sizeof images_name, "%s-images-idx3-ubyte", prefix);
    snprintf(labels_name, sizeof labels_name, "%s-labels-idx1-ubyte", prefix);
    bool found = false;
    for (int d = 0; d < n_dirs && !found; d++) {
        bool have_images = find_file(dirs[d], images_name, images_path, sizeof images_path);
        bool have_labels = find_file(dirs[d], labels_name, labels_path, sizeof labels_path);
        found = have_images && have_labels;
        if (!found && (have_images || have_labels)) { /* half a dataset: name what is missing there */
            dataset_transforms_free(&tf);
            return engine_error("%s not found: %s is missing; %s", what, have_images ? labels_path : images_path,
                                missing_hint);
        }
    }
    if (!found) {
        dataset_transforms_free(&tf);
        return engine_error("%s not found: %s is missing; %s", what, images_path, missing_hint);
    }
    Tensor *images = idx_load_u8(images_path, 3);
    Tensor *labels = images ? idx_load_u8(labels_path, 1) : NULL;
    const char *problem = NULL;
    if (!labels) problem = "";
    else if (images->shape.d[1] != 28 || images->shape.d[2] != 28) problem = "images are not 28x28";
    else if (labels->shape.d[0] != images->shape.d[0]) problem = "image and label counts differ";
    else if (images->shape.d[0] == 0) problem = "the files hold no samples";
    for (int64_t i = 0; !problem && i < labels->shape.d[0]; i++)
        if (tensor_u8(labels)[i] > 9) problem = "a label is outside 0..9";
    if (problem) {
        if (problem[0])
            engine_error("%s, %s: %s (shapes %s and %s)", images_path, labels_path, problem, shape_str(images->shape),
                         shape_str(labels->shape));
        tensor_free(images);
        tensor_free(labels);
        dataset_transforms_free(&tf);
        return NULL;
    }
    ImageSet set = {.n = images->shape.d[0], .pixels = tensor_u8(images), .keep = images, .size = {1, 28, 28}};
    set.labels = malloc(sizeof(int64_t) * (size_t)set.n);
    ENGINE_ASSERT(set.labels != NULL);
    for (int64_t i = 0; i < set.n; i++) set.labels[i] = tensor_u8(labels)[i];
    tensor_free(labels);
    return image_dataset_new(name, &set, tf, copy_names(classes, 10), 10);
}

Dataset *mnist_dataset(const char *data_dir, bool training, DatasetTransforms tf)
{
    char dir[4096], hint[4200];
    snprintf(dir, sizeof dir, "%s/MNIST/raw", data_dir);
    snprintf(hint, sizeof hint,
             "run scripts/fetch_mnist.sh %s (or put the IDX files from an MNIST mirror there)", dir);
    const char *dirs[] = {dir};
    return idx_dataset(dirs, 1, hint, "MNIST", training ? "MNIST-train" : "MNIST-test", training, tf, mnist_classes);
}

Dataset *fashion_mnist_dataset(const char *data_dir, bool training, DatasetTransforms tf)
{
    char dir[4096], hint[8400];
    snprintf(dir, sizeof dir, "%s/FashionMNIST/raw", data_dir);
    snprintf(hint, sizeof hint,
             "looked in %s and %s; apt-get install dataset-fashion-mnist puts the files in " FASHION_MNIST_DEBIAN_DIR
             " (the default data_dir), or put torchvision's FashionMNIST/raw under data_dir",
             dir, data_dir);
    const char *dirs[] = {dir, data_dir};
    return idx_dataset(dirs, 2, hint, "Fashion-MNIST", training ? "FashionMNIST-train" : "FashionMNIST-test", training, tf,
                       fashion_classes);
}
