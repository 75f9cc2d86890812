/* The optimizers' fused updates, run one parameter at a time or batched
 * (internal to engine/optim). While a batch is open (optimizer_step opens
 * one per parameter group), updates of CUDA parameters are queued, and
 * closing the batch runs them all in one launch, as PyTorch's multi-tensor
 * (foreach) implementations do (a backend's optim_step_multi); launching a small kernel per parameter
 * would cost more than most updates. Updates of CPU parameters always run
 * at once, through the same kernels as without batching. */
#ifndef ENGINE_OPTIM_MULTI_TENSOR_H
#define ENGINE_OPTIM_MULTI_TENSOR_H

#include "engine/optim/kernel_args.h"

/* Runs u now, or queues it when a batch is open and its parameter's backend
 * runs batches (CUDA); its tensors must then live until the batch ends.
 * -1 with an error when the backend lacks the update's kernel. */
int optim_run_update(const OptimUpdate *u);
void optim_batch_begin(void);
/* Runs the queued updates and closes the batch. */
void optim_batch_end(void);

#endif
