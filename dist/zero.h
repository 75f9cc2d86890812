/* Optimizer-state sharding across ranks (ZeRO stage 1, as llm.c does it;
 * "distributed": {"zero": 1}). Every rank still holds the whole model and
 * averages whole gradients (dist/ddp.h), but each element of the
 * parameters has one owner rank, an equal run of them per rank: only the
 * owner updates it, so only the owner holds its optimizer state (Adam's
 * moments), and then sends the new values to the others. Optimizer memory
 * per rank falls by the number of ranks (to within one element); the
 * weights are those of unsharded training, bit for bit (the algorithms
 * are elementwise). Checkpoints keep the single-process format: the state
 * is gathered on rank 0 to be saved, and a loaded state is sharded again. */
#ifndef DIST_ZERO_H
#define DIST_ZERO_H

#include <stdint.h>

#include "engine/optim/optimizer.h"

typedef struct Zero Zero;

/* Owners for opt's parameters (all groups, in order), whose state is still
 * whole (zero_shard_state shards it). NULL with an error for a parameter
 * that is not contiguous. */
Zero *zero_new(Optimizer *opt);
void zero_free(Zero *z);
/* The optimizer gained parameters (trainer.unfreeze_epoch adds a group):
 * the new ones are cut among the ranks on their own; the others' pieces
 * stay where their state is. 0 or -1 with an error. */
int zero_extend(Zero *z);
/* After the gradients are averaged: drops the gradients of the parameters
 * of which this rank owns no element (the optimizer updates only the
 * elements it owns of the others, optimizer_own). */
void zero_drop_foreign_grads(Zero *z);
/* After the optimizer step: every parameter's pieces from their owners to
 * all ranks. */
int zero_broadcast_params(Zero *z);
/* Every rank calls it: the others send their pieces to rank 0, whose
 * optimizer gets the whole state (to be saved); the others keep theirs.
 * Then zero_shard_state puts rank 0 back to its pieces. */
int zero_gather_state(Zero *z);
/* Every rank keeps only the state of the elements it owns (after
 * zero_gather_state, or after loading a whole state from a checkpoint). */
int zero_shard_state(Zero *z);
/* Optimizer state elements held by this rank now. */
int64_t zero_state_elements(Zero *z);

#endif
