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

/* The collectives on GPU memory (NCCL, dist/comm_nccl.c, the module
 * libdist_nccl.so, loaded when a distributed run trains on CUDA). They are
 * queued on a CUDA stream (the engine's compute stream, so they are
 * ordered with the kernels that made and use the data) and return at once. */
typedef struct {
    const char *name; /* "nccl" */
    const char *(*error)(void);
    int (*allreduce_sum_f32)(float *device_buf, int64_t n, void *stream);
    int (*broadcast)(void *device_buf, int64_t bytes, int root, void *stream);
    void (*finalize)(void);
} DeviceCommOps;

/* What libdist_nccl.so exports: the 128-byte id rank 0 makes and every rank
 * receives (over MPI), then the communicator of rank of size on CUDA
 * device `device`. NULL / -1 with a message in err. */
#define DIST_NCCL_ID_BYTES 128
#define DIST_NCCL_ID_ENTRY "dist_nccl_unique_id"
#define DIST_NCCL_INIT_ENTRY "dist_nccl_init"
typedef int (*DeviceCommUniqueId)(void *id, char *err, size_t err_size);
typedef const DeviceCommOps *(*DeviceCommInit)(const void *id, int rank, int size, int device, char *err,
                                               size_t err_size);

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
