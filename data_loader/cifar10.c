/* CIFAR-10, the binary version (see datasets.h): records of one label byte
 * and 3072 pixel bytes (the red, green and blue 32x32 planes: already
 * channel after channel), and the class names one per line in
 * batches.meta.txt. https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
 * unpacks to cifar-10-batches-bin/. */
#include "data_loader/datasets.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_loader/read_file.h"
#include "utils/fs.h"

enum { RECORD = 1 + 3 * 32 * 32, N_CLASSES = 10, N_TRAIN_FILES = 5 };
/* A batch file of the archive holds 10,000 records (30.7 MB); this leaves room for larger ones. */
#define MAX_FILE ((int64_t)1 << 31)

/* The ten names of batches.meta.txt (blank lines skipped); NULL with an error. */
static char **read_names(const char *path)
{
    int64_t size;
    uint8_t *text = read_regular_file(path, 1 << 20, &size);
    if (!text) return NULL;
    char **names = calloc(N_CLASSES, sizeof(char *));
    ENGINE_ASSERT(names != NULL);
    int n = 0;
    bool ok = true;
    for (int64_t start = 0; start < size && ok;) {
        int64_t end = start;
        while (end < size && text[end] != '\n') end++;
        int64_t a = start, b = end;
        while (a < b && isspace(text[a])) a++;
        while (b > a && isspace(text[b - 1])) b--;
        if (b > a) {
            if (n == N_CLASSES || b - a > 256) ok = false;
            for (int64_t k = a; ok && k < b; k++)
                if (text[k] < 0x20) ok = false; /* text, not a binary file */
            if (ok) {
                names[n] = strndup((const char *)text + a, (size_t)(b - a));
                ENGINE_ASSERT(names[n] != NULL);
                n++;
            }
        }
        start = end + 1;
    }
    free(text);
    if (!ok || n != N_CLASSES) {
        for (int i = 0; i < n; i++) free(names[i]);
        free(names);
        return engine_error("%s: expected the %d class names, one per line (of at most 256 characters)", path,
                            N_CLASSES);
    }
    return names;
}

/* Appends the records of path to set. */
static int read_batch(const char *path, ImageSet *set)
{
    int64_t size;
    uint8_t *data = read_regular_file(path, MAX_FILE, &size);
    if (!data) return -1;
    if (size == 0 || size % RECORD != 0) {
        free(data);
        ENGINE_CHECK_INT(false, "%s: not a CIFAR-10 batch file: %lld bytes is not a whole number of %d-byte records",
                         path, (long long)size, RECORD);
    }
    int64_t n = size / RECORD, pixels = RECORD - 1;
    uint8_t *grown = realloc(set->pixels, (size_t)((set->n + n) * pixels));
    int64_t *labels = realloc(set->labels, sizeof(int64_t) * (size_t)(set->n + n));
    ENGINE_ASSERT(grown && labels);
    set->pixels = grown;
    set->labels = labels;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *r = data + i * RECORD;
        if (r[0] >= N_CLASSES) {
            int label = r[0];
            free(data);
            ENGINE_CHECK_INT(false, "%s: record %lld has label %d, outside 0..%d", path, (long long)i, label,
                             N_CLASSES - 1);
        }
        set->labels[set->n + i] = r[0];
        memcpy(set->pixels + (set->n + i) * pixels, r + 1, (size_t)pixels);
    }
    set->n += n;
    free(data);
    return 0;
}

Dataset *cifar10_dataset(const char *data_dir, bool training, DatasetTransforms tf)
{
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/cifar-10-batches-bin", data_dir);
    ImageSet set = {.size = {3, 32, 32}};
    int n_files = training ? N_TRAIN_FILES : 1;
    for (int f = 0; f < n_files; f++) {
        if (training) snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, f + 1);
        else snprintf(path, sizeof path, "%s/test_batch.bin", dir);
        if (read_batch(path, &set)) {
            if (!fs_exists(dir))
                engine_error_context("CIFAR-10 not found (get the binary version, "
                                     "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, and unpack it in %s)",
                                     data_dir);
            image_set_free(&set);
            dataset_transforms_free(&tf);
            return NULL;
        }
    }
    snprintf(path, sizeof path, "%s/batches.meta.txt", dir);
    char **names = read_names(path);
    if (!names) {
        image_set_free(&set);
        dataset_transforms_free(&tf);
        return NULL;
    }
    return image_dataset_new(training ? "CIFAR10-train" : "CIFAR10-test", &set, tf, names, N_CLASSES);
}
