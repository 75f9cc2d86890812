/* Data-parallel training (PyTorch's DistributedDataParallel) on the
 * communication layer of dist/world.h: every rank holds the whole model;
 * at the start rank 0's parameters and buffers are broadcast (and every
 * rank's model and config checked against rank 0's); after each backward
 * the gradients of the trainable parameters are averaged over the ranks in
 * buckets of about bucket_mb, each started as soon as its last gradient is
 * there (gradient hooks), so that communication overlaps the rest of the
 * backward pass. In a single process none of this is made. */
#ifndef DIST_DDP_H
#define DIST_DDP_H

#include <stdbool.h>

#include "engine/nn/module.h"
#include "utils/config.h"

typedef struct DDP DDP;

/* Checks that every rank built the same model from the same config (one
 * line naming the rank and what differs), then broadcasts rank 0's
 * parameters and buffers. 0 or -1 with an error. */
int ddp_check_and_broadcast(Module *model, const Config *cfg);
/* Rank 0's buffers (BatchNorm's running statistics) to every rank, as DDP's
 * broadcast_buffers: before validation and checkpoints. */
int ddp_broadcast_buffers(Module *model);

/* The gradient averaging of model's parameters that require grad now
 * (frozen ones take no part; make a new one when that changes), in buckets
 * of about bucket_mb. find_unused (distributed.find_unused_parameters, as
 * PyTorch's): false: a parameter that gets no gradient in a step is an
 * error; true: such parameters are allowed, and found every step (an
 * all-reduce of one flag per parameter). NULL with an error (parameters of
 * mixed devices or not float32; CUDA ones need NCCL). */
DDP *ddp_new(Module *model, double bucket_mb, bool find_unused);
void ddp_free(DDP *d);
/* Whether the coming backward communicates (false: gradient accumulation
 * of a micro-batch that is not the last, as DDP's no_sync()). */
void ddp_set_sync(DDP *d, bool sync);
/* After backward: starts the buckets still waiting, waits for all, and
 * leaves the average over ranks of each parameter's .grad in it. A
 * parameter got no gradient in the step when no hook saw one and its .grad
 * is NULL (accumulation and the batch split leave theirs in .grad). With
 * find_unused false that is an error naming the rank and the parameter
 * (after the step's collectives, so no rank waits for this one); with true
 * the ranks that did not use a parameter add zeros to its average, and one
 * that no rank used keeps .grad NULL (the optimizer skips it, as in one
 * process). 0 or -1 with an error. */
int ddp_finish_backward(DDP *d);
/* Seconds spent waiting for communication in ddp_finish_backward since the
 * last call (the part not hidden behind the backward pass). */
double ddp_take_wait_seconds(DDP *d);

#endif
