/* The "distributed" config block (see dist_config.h). */
#include "dist/dist_config.h"

#include <string.h>

#include "engine/error.h"

int dist_options_from_config(const Config *cfg, DistOptions *o)
{
    if (config_string_or(cfg, "distributed.backend", "auto", &o->backend) ||
        config_number_or(cfg, "distributed.bucket_mb", 25.0, &o->bucket_mb) ||
        config_bool_or(cfg, "distributed.sync_batchnorm", false, &o->sync_batchnorm) ||
        config_bool_or(cfg, "distributed.find_unused_parameters", false, &o->find_unused_parameters))
        return -1;
    int64_t zero;
    if (config_int_or(cfg, "distributed.zero", 0, &zero)) return -1;
    ENGINE_CHECK_INT(zero == 0 || zero == 1,
                     "%s: distributed.zero: 0 (every rank holds the optimizer state) or 1 (sharded: ZeRO stage 1), got %lld",
                     cfg->label, (long long)zero);
    o->zero = (int)zero;
    bool known = strcmp(o->backend, "auto") == 0 || strcmp(o->backend, "mpi") == 0 || strcmp(o->backend, "nccl") == 0;
    ENGINE_CHECK_INT(known, "%s: distributed.backend: expected \"auto\", \"mpi\" or \"nccl\", got \"%s\"", cfg->label,
                     o->backend);

    ENGINE_CHECK_INT(o->bucket_mb > 0 && o->bucket_mb <= 4096,
                     "%s: distributed.bucket_mb: expected a size in (0, 4096] MB, got %g", cfg->label, o->bucket_mb);
    return 0;
}
