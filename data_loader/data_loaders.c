/* The data loader registry (see data_loaders.h). */
#include "data_loader/data_loaders.h"

#include <stdio.h>

#include "data_loader/datasets.h"
#include "utils/registry.h"

typedef DataLoader *(*LoaderBuilder)(const Config *cfg, const char *args_path, bool training);

/* Reads the BaseDataLoader options under args_path. */
static int loader_options(const Config *cfg, const char *args_path, DataLoaderOptions *o)
{
    char k[128];
    int64_t bs, workers;
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
#undef KEY
    return 0;
}

DataLoader *mnist_data_loader(const Config *cfg, const char *args_path, bool training)
{
    static const char *const keys[] = {"data_dir", "batch_size", "shuffle", "validation_split", "num_workers",
                                       "drop_last", "training", "limit", "on_device", NULL};
    char k[128];
    snprintf(k, sizeof k, "%s.data_dir", args_path);
    const char *data_dir;
    DataLoaderOptions o;
    if (config_check_keys(cfg, args_path, keys, "MnistDataLoader") || config_string(cfg, k, &data_dir) ||
        loader_options(cfg, args_path, &o))
        return NULL;
    if (!training) { /* the test set: every sample once, in order */
        o.shuffle = false;
        o.validation_split = 0;
        o.drop_last = false;
    }
    int64_t limit;
    snprintf(k, sizeof k, "%s.limit", args_path);
    if (config_int_or(cfg, k, 0, &limit)) return NULL;
    ENGINE_CHECK(limit >= 0, "%s: %s: limit must be 0 (all samples) or a sample count, got %lld", cfg->label, k,
                 (long long)limit);
    Dataset *ds = mnist_dataset(data_dir, training, 0.1307f, 0.3081f);
    if (!ds) return NULL;
    /* the first `limit` training samples, for quick runs; the test set stays whole, so ./test always
     * reports on all of it whatever the training run used */
    if (training && limit > 0 && limit < ds->length) ds->length = limit;
    DataLoader *dl = base_data_loader_new(ds, o);
    if (!dl) engine_error_context("%s: %s", cfg->label, args_path);
    return dl;
}

static const RegistryEntry loaders[] = {
    {"MnistDataLoader", (void (*)(void))mnist_data_loader},
};

DataLoader *data_loader_from_config(const Config *cfg, bool training)
{
    const char *type;
    if (config_string(cfg, "data_loader.type", &type) != 0) return NULL;
    LoaderBuilder b = (LoaderBuilder)registry_find(loaders, sizeof loaders / sizeof loaders[0], type, cfg->label,
                                                   "data_loader.type");
    return b ? b(cfg, "data_loader.args", training) : NULL;
}
