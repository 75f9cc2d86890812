/* Scopes: every tensor and graph node created while a scope is open is freed
 * when it ends. The trainer opens one per step and one per eval batch, so
 * model code never frees anything and memory stays flat across steps.
 * Scopes nest and are per thread. With no scope open, new tensors go to a
 * root scope freed at exit; long-running code must open scopes, and anything
 * meant to live on (parameters, buffers, optimizer state) is made persistent
 * with tensor_persist(). */
#ifndef ENGINE_SCOPE_H
#define ENGINE_SCOPE_H

#include "engine/tensor.h"

void scope_begin(void);
/* Frees everything created since the matching scope_begin(). */
void scope_end(void);
/* Moves t into the enclosing scope (the root scope at the outermost one), so it outlives the current scope. A tensor with a grad_fn is detached
 * from its graph first. Returns t. */
Tensor *scope_keep(Tensor *t);
/* Scopes that outlive a thread's stack: the threads that run one shard of a
 * batch in two parallel calls (forward, then backward; engine/parallel.h)
 * keep the shard's graph in a scope of its own that whichever thread runs
 * the shard enters. scope_create makes one (on no stack); scope_push makes
 * it the calling thread's current scope until scope_pop(s); scope_destroy
 * frees it and everything in it (it must not be on a stack then). */
Scope *scope_create(void);
void scope_push(Scope *s);
void scope_pop(Scope *s);
void scope_destroy(Scope *s);
/* Depth of the scope stack (0 = none open). */
int scope_depth(void);

/* Internal: registration used by tensor and node creation. */
void scope_adopt_tensor(Tensor *t);
void scope_adopt_node(Node *n);
void scope_unlink_tensor(Tensor *t);

#endif
