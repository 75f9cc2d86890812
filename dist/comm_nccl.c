/* The NCCL transport of dist/comm.h (DeviceCommOps), built as the module
 * libdist_nccl.so (linked with libnccl and the CUDA runtime), loaded by
 * dist/world.c only when a distributed run trains on CUDA devices: the
 * gradients never leave the GPU. The communicator is made from an id that
 * rank 0 draws and the MPI transport broadcasts. NEVER RUN: this machine
 * and CI have no GPU; it is compiled with warnings as errors in CUDA
 * builds, and its checks skip visibly without a GPU. */
#include <cuda_runtime.h>
#include <nccl.h>
#include <stdio.h>
#include <string.h>

#include "dist/comm.h"

static char last_error[512];
static ncclComm_t comm;

static const char *error_text(void) { return last_error; }

static int nccl_checked(ncclResult_t rc, const char *what)
{
    if (rc == ncclSuccess) return 0;
    snprintf(last_error, sizeof last_error, "NCCL %s failed: %s", what, ncclGetErrorString(rc));
    return -1;
}

static int allreduce_sum_f32(float *buf, int64_t n, void *stream)
{
    return nccl_checked(ncclAllReduce(buf, buf, (size_t)n, ncclFloat, ncclSum, comm, (cudaStream_t)stream),
                        "all-reduce (sum, float32)");
}

static int broadcast(void *buf, int64_t bytes, int root, void *stream)
{
    return nccl_checked(ncclBroadcast(buf, buf, (size_t)bytes, ncclUint8, root, comm, (cudaStream_t)stream),
                        "broadcast");
}

static void finalize(void)
{
    if (comm) ncclCommDestroy(comm);
    comm = NULL;
}

static const DeviceCommOps nccl_ops = {
    .name = "nccl",
    .error = error_text,
    .allreduce_sum_f32 = allreduce_sum_f32,
    .broadcast = broadcast,
    .finalize = finalize,
};

/* The module's entry points (DIST_NCCL_ID_ENTRY, DIST_NCCL_INIT_ENTRY). */
int dist_nccl_unique_id(void *id, char *err, size_t err_size);
const DeviceCommOps *dist_nccl_init(const void *id, int rank, int size, int device, char *err, size_t err_size);

int dist_nccl_unique_id(void *id, char *err, size_t err_size)
{
    _Static_assert(sizeof(ncclUniqueId) == DIST_NCCL_ID_BYTES, "NCCL's id size");
    ncclUniqueId u;
    ncclResult_t rc = ncclGetUniqueId(&u);
    if (rc != ncclSuccess) {
        snprintf(err, err_size, "ncclGetUniqueId: %s", ncclGetErrorString(rc));
        return -1;
    }
    memcpy(id, &u, sizeof u);
    return 0;
}

const DeviceCommOps *dist_nccl_init(const void *id, int rank, int size, int device, char *err, size_t err_size)
{
    cudaError_t ce = cudaSetDevice(device);
    if (ce != cudaSuccess) {
        snprintf(err, err_size, "cudaSetDevice(%d): %s", device, cudaGetErrorString(ce));
        return NULL;
    }
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    ncclResult_t rc = ncclCommInitRank(&comm, size, u, rank);
    if (rc != ncclSuccess) {
        snprintf(err, err_size, "ncclCommInitRank (rank %d of %d, cuda:%d): %s", rank, size, device,
                 ncclGetErrorString(rc));
        return NULL;
    }
    return &nccl_ops;
}
