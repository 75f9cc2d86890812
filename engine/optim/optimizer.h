/* Optimizers (torch.optim.Optimizer): parameter groups, each with its own
 * learning rate and hyperparameters, zero_grad, step, and state dicts for
 * checkpoints. The algorithms (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta)
 * and their options are declared in engine/optim/algorithms.h.
 *
 * An optimizer references its parameters (persistent leaves, see tensor.h);
 * it owns its per-parameter state. step() updates the parameters in place,
 * records no graph and leaves nothing in the caller's scope. Parameters
 * without a .grad are skipped, as PyTorch skips those whose grad is None. */
#ifndef ENGINE_OPTIM_OPTIMIZER_H
#define ENGINE_OPTIM_OPTIMIZER_H

#include <stdbool.h>

#include "engine/state_dict.h"
#include "engine/tensor.h"

#define OPTIM_MAX_HPARAMS 8

typedef struct {
    Tensor **params; /* not owned */
    int n_params;
    double lr;
    /* PyTorch's group['initial_lr']: set by LR schedulers, NAN until then. */
    double initial_lr;
    /* The algorithm's other hyperparameters ("momentum", "beta1", "eps", ...),
     * in its own order: read and write them by name with optimizer_get/set. */
    double hparams[OPTIM_MAX_HPARAMS];
} ParamGroup;

typedef struct OptimizerVTable OptimizerVTable;
typedef struct ParamState ParamState;

/* Elements [lo, hi) of a parameter's flattened values (optimizer_own). */
typedef struct {
    int64_t lo, hi;
} ElementRange;

typedef struct {
    const OptimizerVTable *vt;
    int n_groups;
    ParamGroup *groups;
    /* What optimizer_add_param_group gives a new group. */
    double default_lr;
    double defaults[OPTIM_MAX_HPARAMS];
    int n_params;      /* over all groups */
    ParamState *state; /* one per parameter, numbered in group order */
    ElementRange *own; /* per parameter (optimizer_own); NULL: every element of every one */
} Optimizer;

/* PyTorch's class name: "SGD", "Adam", ... */
const char *optimizer_name(const Optimizer *opt);

/* Zeroes every parameter's .grad, or frees it (set_to_none) so that the next
 * step skips the parameter unless a backward pass gives it a gradient. */
void optimizer_zero_grad(Optimizer *opt, bool set_to_none);

/* One update of every parameter that has a .grad. Returns 0, or -1 with an
 * error (a gradient whose shape, dtype or device does not match its
 * parameter); nothing is updated when it fails. */
int optimizer_step(Optimizer *opt);

/* Adds a group with the optimizer's default hyperparameters (change them
 * with optimizer_set). Returns the new group's index, or -1 with an error
 * (no parameters, a parameter already in a group, a non-leaf...). */
int optimizer_add_param_group(Optimizer *opt, Tensor **params, int n);

/* Hyperparameters by name: "lr", "initial_lr" and the algorithm's own
 * (PyTorch's group keys; a pair like betas is "beta1" and "beta2"; flags
 * like "amsgrad" read as 0 or 1). */
bool optimizer_has_hparam(const Optimizer *opt, const char *name);
/* NAN with an error for an unknown name or group. */
double optimizer_get(const Optimizer *opt, int group, const char *name);
/* Checks the value as the constructor does. Returns 0 or -1 with an error. */
int optimizer_set(Optimizer *opt, int group, const char *name, double value);

/* The state for checkpoints, as PyTorch's optimizer.state_dict(): the
 * per-parameter tensors go to tensors_out (initialised by the caller) named
 * "state.<param index>.<name>" (e.g. "state.0.exp_avg"; the tensors stay
 * owned by the optimizer), and *json_out gets a malloc'd JSON object with the
 * optimizer type, every group's hyperparameters and parameter indices, and
 * each parameter's step count. Returns 0 or -1. */
int optimizer_state_dict(Optimizer *opt, StateDict *tensors_out, char **json_out);
/* Restores what optimizer_state_dict saved, hyperparameters included. Fails
 * (changing nothing) with an error naming the mismatch when the type, the
 * number of groups or of parameters per group, or a tensor's shape does not
 * match. The tensors are copied (to the parameters' device). */
int optimizer_load_state_dict(Optimizer *opt, const StateDict *tensors, const char *json);

/* Sharded state (ZeRO, dist/zero.h): from now on this process updates only
 * elements [lo, hi) of parameter index's flattened values and keeps state
 * for those alone, 1-D with hi - lo elements (lo == hi: none of it; its
 * gradient is ignored). State dicts then hold those pieces: the caller
 * gathers and splits them, and loads a state shaped that way. The same
 * elements get the same update as without it: every algorithm here is
 * elementwise. Clears the parameter's state. 0 or -1 with an error. */
int optimizer_own(Optimizer *opt, int index, int64_t lo, int64_t hi);
/* Back to every element of every parameter, state cleared. */
void optimizer_own_all(Optimizer *opt);
/* The state shape of parameter index: its own shape, or [hi - lo] when
 * optimizer_own gave it a range. */
Shape optimizer_state_shape(const Optimizer *opt, int index);

/* Frees the optimizer and its state (not the parameters). */
void optimizer_free(Optimizer *opt);

#endif
