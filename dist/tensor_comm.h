/* Collectives on whole tensors, on whichever device holds them: CPU
 * tensors over the MPI transport from host memory, CUDA tensors over NCCL
 * from device memory, queued on the engine's compute stream. DDP's start,
 * ZeRO's parameter updates and SyncBatchNorm's statistics go through here.
 * The CUDA paths have never run: no GPU was available where they were
 * written (scripts/gpu_check.sh runs them with one rank). */
#ifndef DIST_TENSOR_COMM_H
#define DIST_TENSOR_COMM_H

#include "engine/tensor.h"

/* t (contiguous: a whole tensor, or a run of one, as ZeRO's pieces are)
 * overwritten with root's values; what names t in errors. */
int dist_broadcast_tensor(Tensor *t, int root, const char *what);

/* A new float32 tensor on t's device: t summed over the ranks (t itself
 * unchanged). Small tensors (statistics) only: a CUDA tensor is staged
 * through host memory and summed over MPI, which every launched job has. */
Tensor *dist_allreduce_sum_tensor(Tensor *t);

#endif
