/* Host-to-device copies that overlap computation, for input pipelines.
 *
 * A batch assembled in page-locked ("pinned") host memory is copied to the
 * device on a copy stream of its own while the compute stream still runs
 * the previous step; the compute stream then waits for the copy on the
 * device, never on the host. This is what PyTorch gets from
 * pin_memory=True, .to(device, non_blocking=True) and a side stream. On the
 * CPU the same calls are plain copies, so code written against them needs
 * no device branch.
 *
 * A Transfer is one reusable copy slot: start it, let the compute stream
 * use its destination, wait for it before refilling its source. */
#ifndef ENGINE_TRANSFER_H
#define ENGINE_TRANSFER_H

#include <stdbool.h>

#include "engine/tensor.h"

/* A CPU tensor in page-locked memory when this build and machine have a
 * CUDA device, in ordinary memory otherwise (or when the driver refuses to
 * pin more); scope rules as for tensor_empty. */
Tensor *tensor_empty_pinned(Shape shape, DType dtype);
bool tensor_is_pinned(const Tensor *t);

typedef struct Transfer Transfer;

Transfer *transfer_new(void);
/* Waits for the copy in flight, if any, then frees. NULL is a no-op. */
void transfer_free(Transfer *tr);
/* Queues dst <- src. src: a contiguous CPU tensor (pinned, or the copy
 * cannot be asynchronous and returns once done); dst: a contiguous tensor
 * of the same shape and dtype on any device. On a GPU the copy starts after
 * all work queued on the compute stream so far (which may still read dst's
 * old contents) and runs beside the work queued after it. -1 with an error
 * naming the shapes when the tensors do not fit these rules. A transfer
 * whose previous copy is still in flight waits for it first. */
int transfer_start(Transfer *tr, Tensor *dst, const Tensor *src);
/* Orders the compute work queued from now on after the copy (a wait on the
 * device, none on the host). Call before handing dst to the model. */
void transfer_use(Transfer *tr);
/* Blocks the host until the copy has finished reading src, so that src may
 * be refilled. Safe from any thread. */
void transfer_wait(Transfer *tr);

#endif
