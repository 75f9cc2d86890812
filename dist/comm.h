/* The communication layer of distributed training: the collectives a
 * data-parallel run needs, as a table of functions a transport module
 * fills in. OpenMPI is that transport on CPUs (dist/comm_mpi.c, built as its
 * own shared module, libdist_mpi.so, loaded only when ./train runs under
 * mpirun: a plain run never loads MPI). Every function returns 0, or -1
 * with error() naming the collective and the transport's message. */
#ifndef DIST_COMM_H
#define DIST_COMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An asynchronous collective in flight (the module's own handle). */
typedef struct CommRequest CommRequest;

typedef struct {
    const char *name; /* "mpi" */
    const char *(*error)(void); /* the last failure's message */
    int (*allreduce_sum_f32)(float *buf, int64_t n);
    int (*allreduce_sum_f64)(double *buf, int64_t n);
    int (*allreduce_max_i64)(int64_t *buf, int64_t n);
    /* Starts a sum all-reduce of buf in place; *req is finished by wait. */
    int (*iallreduce_sum_f32)(float *buf, int64_t n, CommRequest **req);
    /* Lets collectives in flight progress; *done when req has finished (then it is freed). */
    int (*test)(CommRequest *req, bool *done);
    int (*wait)(CommRequest *req); /* frees req */
    int (*broadcast)(void *buf, int64_t bytes, int root);
    /* recv gets every rank's `bytes` bytes of send, rank after rank. */
    int (*allgather)(const void *send, void *recv, int64_t bytes);
    int (*barrier)(void);
    /* Point to point (./tune's trials on worker ranks): a message of bytes
     * to rank dest with a tag; probe says whether one from src (-1: any)
     * with tag (-1: any) is waiting, its source, tag and size; recv takes it. */
    int (*send)(const void *buf, int64_t bytes, int dest, int tag);
    int (*probe)(int src, int tag, bool *waiting, int *from, int *tag_out, int64_t *bytes);
    int (*recv)(void *buf, int64_t bytes, int src, int tag);
    /* Ends every rank of the job with this exit status. */
    void (*abort)(int status);
    void (*finalize)(void);
} CommOps;

/* Where this process stands in the job. */
typedef struct {
    int rank, size;             /* size 1: a single process */
    int local_rank, local_size; /* among the ranks of this machine */
} CommWorld;

/* What the transport module exports (dlsym name DIST_MODULE_ENTRY):
 * initialises the transport and fills *world; NULL with a message in err. */
typedef const CommOps *(*CommModuleInit)(CommWorld *world, char *err, size_t err_size);
#define DIST_MODULE_ENTRY "dist_module_init"

#endif
