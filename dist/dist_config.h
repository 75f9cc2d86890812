/* The optional "distributed" block of config.json, with PyTorch DDP's
 * defaults: {"backend": "auto", "bucket_mb": 25, "sync_batchnorm": false,
 * "find_unused_parameters": false}, and "zero": 0 (1: ZeRO stage 1). */
#ifndef DIST_DIST_CONFIG_H
#define DIST_DIST_CONFIG_H

#include <stdbool.h>

#include "utils/config.h"

typedef struct {
    const char *backend; /* "auto" (MPI for CPU ranks, NCCL for CUDA ones), "mpi" or "nccl" */
    double bucket_mb;
    bool sync_batchnorm;
    bool find_unused_parameters;
    int zero; /* 0, or 1: optimizer state sharded over the ranks (dist/zero.h) */
} DistOptions;

/* Reads and checks the block (also in a single process, so that a config
 * that would fail under mpirun fails at once). -1 with an error naming the key. */
int dist_options_from_config(const Config *cfg, DistOptions *o);

#endif
