/* The data loader registry (see data_loaders.h): each loader reads its
 * dataset's arguments, the transforms and BaseDataLoader's options. */
#include "data_loader/data_loaders.h"

#include <stdio.h>
#include <string.h>

#include "data_loader/datasets.h"
#include "utils/registry.h"

typedef DataLoader *(*LoaderBuilder)(const Config *cfg, const char *args_path, bool training);

/* The args every loader takes, besides its own. */
#define COMMON_KEYS                                                                                             \
    "data_dir", "batch_size", "shuffle", "validation_split", "num_workers", "drop_last", "training", "limit", \
        "on_device", "transforms", "collate"

/* args_path.collate: absent or {"type": "default"}: samples are stacked;
 * {"type": "pad", "args": {"padding_value": 0}}: variable-length fields
 * are padded to each batch's longest, with padding_value a number for
 * every such field or an object of one per field name ({"input": 0,
 * "target": -100}; the others take 0). */
static int collate_options(const Config *cfg, const char *args_path, CollateOptions *c)
{
    char key[160], k[200];
    snprintf(key, sizeof key, "%s.collate", args_path);
    memset(c, 0, sizeof *c);
    if (!config_has(cfg, key)) return 0;
    static const char *const keys[] = {"type", "args", NULL};
    if (config_check_keys(cfg, key, keys, "collate")) return -1;
    const char *type;
    snprintf(k, sizeof k, "%s.type", key);
    if (config_string(cfg, k, &type)) return -1;
    c->pad = strcmp(type, "pad") == 0;
    ENGINE_CHECK_INT(c->pad || strcmp(type, "default") == 0,
                     "%s: %s: unknown collate '%s': \"default\" (stack samples of equal shapes) or \"pad\" (pad "
                     "variable-length fields to the batch's longest and add their lengths)",
                     cfg->label, k, type);
    snprintf(k, sizeof k, "%s.args", key);
    if (!config_has(cfg, k)) return 0;
    static const char *const pad_keys[] = {"padding_value", NULL}, *const no_keys[] = {NULL};
    if (config_check_keys(cfg, k, c->pad ? pad_keys : no_keys, c->pad ? "pad collate" : "default collate")) return -1;
    snprintf(k, sizeof k, "%s.args.padding_value", key);
    const cJSON *v = config_find(cfg, k);
    if (!v || cJSON_IsNumber(v)) return config_number_or(cfg, k, 0.0, &c->padding_value);
    ENGINE_CHECK_INT(cJSON_IsObject(v), "%s: %s: expected a number or an object of one per field, got %s", cfg->label,
                     k, config_describe(v));
    for (const cJSON *e = v->child; e; e = e->next) {
        char ek[400];
        ENGINE_CHECK_INT(c->n_named < DATASET_MAX_FIELDS && strlen(e->string) < sizeof c->names[0],
                         "%s: %s: at most %d fields of names under %zu characters", cfg->label, k, DATASET_MAX_FIELDS,
                         sizeof c->names[0]);
        snprintf(ek, sizeof ek, "%s.%s", k, e->string);
        if (config_number(cfg, ek, &c->values[c->n_named])) return -1;
        snprintf(c->names[c->n_named], sizeof c->names[0], "%s", e->string);
        c->n_named++;
    }
    return 0;
}

/* Reads the BaseDataLoader options under args_path. */
static int loader_options(const Config *cfg, const char *args_path, DataLoaderOptions *o)
{
    char k[128];
    int64_t bs, workers;
    memset(o, 0, sizeof *o);
#define KEY(name) (snprintf(k, sizeof k, "%s.%s", args_path, name), k)
    if (config_int(cfg, KEY("batch_size"), &bs)) return -1;
    ENGINE_CHECK_INT(bs > 0, "%s: %s: batch_size must be a positive integer, got %lld", cfg->label, k, (long long)bs);
    o->batch_size = bs;
    if (config_bool_or(cfg, KEY("shuffle"), true, &o->shuffle)) return -1;
    if (config_number_or(cfg, KEY("validation_split"), 0.0, &o->validation_split)) return -1;
    ENGINE_CHECK_INT(o->validation_split >= 0, "%s: %s: validation_split must be a fraction in [0, 1) or a count, got %g",
                     cfg->label, k, o->validation_split);
    if (config_int_or(cfg, KEY("num_workers"), 1, &workers)) return -1;
    ENGINE_CHECK_INT(workers >= 0 && workers <= 64, "%s: %s: num_workers must be in [0, 64], got %lld", cfg->label, k,
                     (long long)workers);
    o->num_workers = (int)workers;
    if (config_bool_or(cfg, KEY("drop_last"), false, &o->drop_last)) return -1;
    if (config_bool_or(cfg, KEY("on_device"), false, &o->on_device)) return -1;
    int64_t seed;
    if (config_int_or(cfg, "seed", 123, &seed)) return -1;
    o->seed = (uint64_t)seed;
    if (collate_options(cfg, args_path, &o->collate)) return -1;
#undef KEY
    return 0;
}

/* The training and validation/test pipelines: the config's "transforms"
 * ({"train": [...], "valid": [...]}, both required), or ToTensor and
 * Normalize(mean, std) (n constants; n = 0: ToTensor only). A test set
 * (training false) needs only the "valid" one, but both are checked. */
static int read_transforms(const Config *cfg, const char *args_path, bool training, const float *mean,
                           const float *std, int n, DatasetTransforms *tf)
{
    char key[160], train_key[200], valid_key[200];
    snprintf(key, sizeof key, "%s.transforms", args_path);
    memset(tf, 0, sizeof *tf);
    if (!config_has(cfg, key)) {
        tf->eval = transforms_default(mean, std, n);
        tf->train = training ? transforms_default(mean, std, n) : NULL;
        return 0;
    }
    static const char *const keys[] = {"train", "valid", NULL};
    if (config_check_keys(cfg, key, keys, "transforms")) return -1;
    snprintf(train_key, sizeof train_key, "%s.train", key);
    snprintf(valid_key, sizeof valid_key, "%s.valid", key);
    ENGINE_CHECK_INT(config_has(cfg, train_key) && config_has(cfg, valid_key),
                     "%s: %s: needs both \"train\" (training) and \"valid\" (validation split and ./test) pipelines, "
                     "e.g. \"valid\": [{\"type\": \"ToTensor\"}]",
                     cfg->label, key);
    tf->from_config = true;
    tf->train = transforms_from_config(cfg, train_key);
    tf->eval = tf->train ? transforms_from_config(cfg, valid_key) : NULL;
    if (!tf->eval) {
        dataset_transforms_free(tf);
        return -1;
    }
    if (!training) {
        transforms_free(tf->train);
        tf->train = NULL;
    }
    return 0;
}

/* What a loader builder gives the common part: the dataset's constructor call. */
typedef Dataset *(*DatasetMaker)(const Config *cfg, const char *args_path, bool training, DatasetTransforms tf);

static DataLoader *build_loader(const Config *cfg, const char *args_path, bool training, const char *what,
                                const char *const *keys, DatasetMaker make, const float *mean, const float *std,
                                int n_norm)
{
    char k[160];
    DataLoaderOptions o;
    if (config_check_keys(cfg, args_path, keys, what) || loader_options(cfg, args_path, &o)) return NULL;
    if (!training) { /* the test set: every sample once, in order, with the evaluation transforms */
        o.shuffle = false;
        o.validation_split = 0;
        o.drop_last = false;
        o.evaluation = true;
    }
    int64_t limit;
    snprintf(k, sizeof k, "%s.limit", args_path);
    if (config_int_or(cfg, k, 0, &limit)) return NULL;
    ENGINE_CHECK(limit >= 0, "%s: %s: limit must be 0 (all samples) or a sample count, got %lld", cfg->label, k,
                 (long long)limit);
    DatasetTransforms tf;
    if (read_transforms(cfg, args_path, training, mean, std, n_norm, &tf)) return NULL;
    Dataset *ds = make(cfg, args_path, training, tf);
    if (!ds) return NULL;
    /* the first `limit` training samples, for quick runs; the test set stays whole, so ./test always
     * reports on all of it whatever the training run used */
    if (training && limit > 0 && limit < ds->length) ds->length = limit;
    DataLoader *dl = base_data_loader_new(ds, o);
    if (!dl) engine_error_context("%s: %s", cfg->label, args_path);
    return dl;
}

/* args_path.data_dir, or def when absent and def is not NULL. */
static const char *data_dir(const Config *cfg, const char *args_path, const char *def)
{
    char k[160];
    const char *dir = NULL;
    snprintf(k, sizeof k, "%s.data_dir", args_path);
    if (def ? config_string_or(cfg, k, def, &dir) : config_string(cfg, k, &dir)) return NULL;
    return dir;
}

static Dataset *make_mnist(const Config *cfg, const char *args_path, bool training, DatasetTransforms tf)
{
    const char *dir = data_dir(cfg, args_path, NULL);
    if (!dir) return dataset_transforms_free(&tf), NULL;
    return mnist_dataset(dir, training, tf);
}

DataLoader *mnist_data_loader(const Config *cfg, const char *args_path, bool training)
{
    static const char *const keys[] = {COMMON_KEYS, NULL};
    static const float mean[] = {0.1307f}, std[] = {0.3081f};
    return build_loader(cfg, args_path, training, "MnistDataLoader", keys, make_mnist, mean, std, 1);
}

static Dataset *make_fashion(const Config *cfg, const char *args_path, bool training, DatasetTransforms tf)
{
    const char *dir = data_dir(cfg, args_path, FASHION_MNIST_DEBIAN_DIR);
    if (!dir) return dataset_transforms_free(&tf), NULL;
    return fashion_mnist_dataset(dir, training, tf);
}

DataLoader *fashion_mnist_data_loader(const Config *cfg, const char *args_path, bool training)
{
    static const char *const keys[] = {COMMON_KEYS, NULL};
    static const float mean[] = {0.2860f}, std[] = {0.3530f};
    return build_loader(cfg, args_path, training, "FashionMnistDataLoader", keys, make_fashion, mean, std, 1);
}

static Dataset *make_cifar10(const Config *cfg, const char *args_path, bool training, DatasetTransforms tf)
{
    const char *dir = data_dir(cfg, args_path, NULL);
    if (!dir) return dataset_transforms_free(&tf), NULL;
    return cifar10_dataset(dir, training, tf);
}

DataLoader *cifar10_data_loader(const Config *cfg, const char *args_path, bool training)
{
    static const char *const keys[] = {COMMON_KEYS, NULL};
    static const float mean[] = {0.4914f, 0.4822f, 0.4465f}, std[] = {0.2470f, 0.2435f, 0.2616f};
    return build_loader(cfg, args_path, training, "Cifar10DataLoader", keys, make_cifar10, mean, std, 3);
}

static Dataset *make_image_folder(const Config *cfg, const char *args_path, bool training, DatasetTransforms tf)
{
    char k[160];
    const char *root = data_dir(cfg, args_path, NULL);
    int64_t channels = 0;
    snprintf(k, sizeof k, "%s.test_dir", args_path);
    if (root && !training && config_string_or(cfg, k, root, &root)) root = NULL;
    snprintf(k, sizeof k, "%s.channels", args_path);
    if (root && config_int_or(cfg, k, 0, &channels)) root = NULL;
    if (root && (channels < 0 || channels > 4)) {
        engine_error("%s: %s: channels must be 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA), or 0 for the first "
                     "image's, got %lld",
                     cfg->label, k, (long long)channels);
        root = NULL;
    }
    if (!root) return dataset_transforms_free(&tf), NULL;
    return image_folder_dataset(root, (int)channels, tf);
}

DataLoader *image_folder_data_loader(const Config *cfg, const char *args_path, bool training)
{
    static const char *const keys[] = {COMMON_KEYS, "test_dir", "channels", NULL};
    return build_loader(cfg, args_path, training, "ImageFolderDataLoader", keys, make_image_folder, NULL, NULL, 0);
}

static Dataset *make_sequences(const Config *cfg, const char *args_path, bool training, DatasetTransforms tf)
{
    char k[200], path[4200];
    dataset_transforms_free(&tf); /* tokens are not images */
    const char *dir = data_dir(cfg, args_path, NULL);
    int64_t max_length;
    snprintf(k, sizeof k, "%s.max_length", args_path);
    if (!dir || config_int_or(cfg, k, 0, &max_length)) return NULL;
    ENGINE_CHECK(max_length >= 0, "%s: %s: must be 0 (the longest sequence of the file) or positive, got %lld",
                 cfg->label, k, (long long)max_length);
    snprintf(path, sizeof path, "%s/%s", dir, training ? "train.txt" : "test.txt");
    return sequence_dataset(path, max_length);
}

DataLoader *sequence_data_loader(const Config *cfg, const char *args_path, bool training)
{
    /* COMMON_KEYS without "transforms" */
    static const char *const keys[] = {"data_dir", "batch_size", "shuffle", "validation_split", "num_workers",
                                       "drop_last", "training", "limit", "on_device", "collate", "max_length", NULL};
    return build_loader(cfg, args_path, training, "SequenceDataLoader", keys, make_sequences, NULL, NULL, 0);
}

static const RegistryEntry loaders[] = {
    {"SequenceDataLoader", (void (*)(void))sequence_data_loader},
    {"MnistDataLoader", (void (*)(void))mnist_data_loader},
    {"FashionMnistDataLoader", (void (*)(void))fashion_mnist_data_loader},
    {"Cifar10DataLoader", (void (*)(void))cifar10_data_loader},
    {"ImageFolderDataLoader", (void (*)(void))image_folder_data_loader},
};

DataLoader *data_loader_from_config(const Config *cfg, bool training)
{
    const char *type;
    if (config_string(cfg, "data_loader.type", &type) != 0) return NULL;
    LoaderBuilder b = (LoaderBuilder)registry_find(loaders, sizeof loaders / sizeof loaders[0], type, cfg->label,
                                                   "data_loader.type");
    return b ? b(cfg, "data_loader.args", training) : NULL;
}
