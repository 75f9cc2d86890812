/* Optimizer-state sharding across ranks (ZeRO stage 1, as llm.c does it;
 * "distributed": {"zero": 1}). Every rank still holds the whole model and
 * averages whole gradients (dist/ddp.h), but each parameter has one owner
 * rank: only the owner steps it, so only the owner holds its optimizer
 * state (Adam's moments), and then sends the new values to the others.
 * Optimizer memory per rank falls by about the number of ranks; the
 * weights are those of unsharded training, bit for bit. Checkpoints keep
 * the single-process format: the state is gathered on rank 0 to be saved,
 * and a loaded state is sharded again. */
#ifndef DIST_ZERO_H
#define DIST_ZERO_H

#include <stdint.h>

#include "engine/optim/optimizer.h"

typedef struct Zero Zero;

/* Owners for opt's parameters (all groups, in order), balanced by size.
 * NULL with an error. */
Zero *zero_new(Optimizer *opt);
void zero_free(Zero *z);
/* The optimizer gained parameters (trainer.unfreeze_epoch adds a group):
 * owners for the new ones; those of the others stay where their state is. */
void zero_extend(Zero *z);
/* After the gradients are averaged: drops the gradients of the parameters
 * this rank does not own, so that the optimizer steps (and keeps state for)
 * its own only. */
void zero_drop_foreign_grads(Zero *z);
/* After the optimizer step: every parameter from its owner to all ranks. */
int zero_broadcast_params(Zero *z);
/* Every rank calls it: the others send their shards to rank 0, whose
 * optimizer gets the whole state (to be saved); the others keep theirs. Then zero_shard_state puts rank 0 back to its shard. */
int zero_gather_state(Zero *z);
/* Every rank keeps only the state of the parameters it owns (after
 * zero_gather_state, or after loading a whole state from a checkpoint). */
int zero_shard_state(Zero *z);
/* Optimizer state elements held by this rank now. */
int64_t zero_state_elements(Zero *z);

#endif
