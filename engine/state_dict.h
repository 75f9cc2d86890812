/* A list of named tensors: what modules, optimizers and checkpoints exchange
 * (PyTorch's state_dict). It references tensors; it does not own them. */
#ifndef ENGINE_STATE_DICT_H
#define ENGINE_STATE_DICT_H

#include "engine/tensor.h"

typedef struct {
    int n, cap;
    char **names;
    Tensor **tensors;
} StateDict;

void state_dict_init(StateDict *sd);
/* Appends (name is copied). Returns 0, or -1 with an error on a duplicate name. */
int state_dict_add(StateDict *sd, const char *name, Tensor *t);
/* The tensor called name, or NULL. */
Tensor *state_dict_get(const StateDict *sd, const char *name);
/* Frees the names and arrays, not the tensors. */
void state_dict_free(StateDict *sd);

#endif
