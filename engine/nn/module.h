/* Modules: torch.nn.Module in C.
 *
 * A Module owns ordered, named parameters (persistent leaves that require
 * grad), buffers (persistent state such as BatchNorm's running_mean) and
 * children (sub-modules). Names follow PyTorch, so a model's state dict has
 * the keys PyTorch's would ("conv1.weight", "fc2.bias", "0.running_var").
 *
 * forward takes one tensor and returns one (enough for layers and for
 * Sequential-style models); a model that needs more inputs (a sequence and
 * its lengths) sets forward_batch, which takes the named tensors of a batch. Call modules
 * through module_forward(), which runs the forward pre-hooks and hooks.
 * Like ops, module_forward() given a NULL input returns NULL without a new
 * message, so a forward pass can be checked once at its end.
 *
 * Ownership: a module owns its parameters, buffers, children and private
 * data; module_free() releases the whole tree. Tensors registered in two
 * modules (tied weights) are freed once.
 */
#ifndef ENGINE_NN_MODULE_H
#define ENGINE_NN_MODULE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/nn/tensor_batch.h"
#include "engine/state_dict.h"
#include "engine/tensor.h"

typedef struct Module Module;

typedef Tensor *(*ModuleForwardFn)(Module *self, Tensor *x);
/* The forward of a model that takes the whole batch (input, lengths, mask...). */
typedef Tensor *(*ModuleForwardBatchFn)(Module *self, const TensorBatch *batch);
/* Writes PyTorch's extra_repr (e.g. "in_features=320, out_features=50, bias=True")
 * into buf; an empty string for none. */
typedef void (*ModuleExtraReprFn)(const Module *self, char *buf, size_t size);
/* Frees a layer's private data (self->impl); see module_free(). */
typedef void (*ModuleDestroyFn)(Module *self);
/* Forward pre-hook: sees the input before forward; returning a tensor
 * replaces it, returning NULL keeps it. */
typedef Tensor *(*ModulePreHookFn)(Module *m, Tensor *input, void *ctx);
/* Forward hook: sees the input and output after forward; returning a tensor
 * replaces the output, returning NULL keeps it. */
typedef Tensor *(*ModuleHookFn)(Module *m, Tensor *input, Tensor *output, void *ctx);
typedef void (*ModuleApplyFn)(Module *m, void *ctx);

/* An ordered name -> item list (items are Tensor* or Module*). */
typedef struct {
    int n, cap;
    char **names;
    void **items;
} NamedList;

typedef struct {
    int id;
    void *fn; /* ModulePreHookFn or ModuleHookFn */
    void *ctx;
} ModuleHook;

typedef struct {
    int n, cap;
    ModuleHook *hooks;
} ModuleHookList;

struct Module {
    char type_name[64]; /* the class name repr prints: "Linear", "MnistModel" */
    bool training;
    NamedList params;             /* Tensor*: persistent leaves */
    NamedList buffers;            /* Tensor*: persistent */
    NamedList children;           /* Module* */
    ModuleForwardFn forward;      /* NULL for containers without one (ModuleList) */
    ModuleForwardBatchFn forward_batch; /* models that take the batch; NULL: forward(batch "input") */
    ModuleExtraReprFn extra_repr; /* may be NULL */
    ModuleDestroyFn destroy;      /* may be NULL: then impl is released with free() */
    void *impl;                   /* layer-private data (configuration, parameter pointers) */
    ModuleHookList pre_hooks, hooks;
    int next_hook_id;
};

/* A new empty module in training mode (training = true, as PyTorch's). */
Module *module_new(const char *type_name);
/* Frees m, its children, parameters (with their .grad), buffers and private
 * data. NULL is a no-op. */
void module_free(Module *m);

/* ---- registration (names must be non-empty, without '.', and unique among
 * m's parameters, buffers and children) ----
 * Each takes ownership of what it is given, also on failure: a scoped tensor
 * is made persistent, and on failure a persistent tensor or module is freed.
 * A NULL tensor or module returns NULL without a new message (so a failed
 * constructor propagates). Each returns what it registered, or NULL. */
/* Sets requires_grad; t must be an f32 leaf. */
Tensor *module_register_parameter(Module *m, const char *name, Tensor *t);
Tensor *module_register_buffer(Module *m, const char *name, Tensor *t);
Module *module_register_module(Module *m, const char *name, Module *child);

/* Direct (non-recursive) lookups by name; NULL when absent (no error). */
Tensor *module_get_parameter(const Module *m, const char *name);
Tensor *module_get_buffer(const Module *m, const char *name);
Module *module_get_child(const Module *m, const char *name);
static inline Module *module_child_at(const Module *m, int i) { return (Module *)m->children.items[i]; }

/* ---- calling ---- */
/* Runs the pre-hooks, forward, then the hooks (each list in registration
 * order). A module without forward is an error, as in PyTorch. An error
 * raised inside a child's forward gets the child's dotted path below the
 * outermost module in front, once ("layer2.0.conv1: conv2d: ..."). */
Tensor *module_forward(Module *m, Tensor *x);
/* A model's forward on a whole batch: forward_batch when the model has one
 * (the hooks then see the batch's "input", NULL if it has none), else
 * module_forward on the batch's "input". NULL with an error naming the
 * missing field. */
Tensor *module_forward_batch(Module *m, const TensorBatch *batch);
/* module_forward with fused(m, x, ctx) in place of m's forward, for a
 * caller that runs m's op fused with the op that follows it (as
 * nn_conv2d_max_pool2d does); only for a module without hooks, which would
 * see m's own output. Errors are named after m as module_forward's are. */
typedef Tensor *(*ModuleFusedForwardFn)(Module *m, Tensor *x, const void *ctx);
Tensor *module_forward_fused(Module *m, Tensor *x, ModuleFusedForwardFn fused, const void *ctx);
/* Return a handle for module_remove_hook(). */
int module_register_forward_pre_hook(Module *m, ModulePreHookFn fn, void *ctx);
int module_register_forward_hook(Module *m, ModuleHookFn fn, void *ctx);
/* Removes the pre-hook or hook with that handle; -1 with an error when none has it. */
int module_remove_hook(Module *m, int handle);

/* ---- traversal ----
 * The named_* functions initialise out (free it with state_dict_free) and fill
 * it in PyTorch's order: a module's own entries, then its children's, depth
 * first, with dotted names. A tensor reachable under two names (tied
 * weights) appears once, under its first name, as in PyTorch. */
int module_named_parameters(const Module *m, StateDict *out);
int module_named_buffers(const Module *m, StateDict *out);
/* The parameters / buffers as a malloc'd array (caller frees); *n gets the count. */
Tensor **module_parameters(const Module *m, int *n);
Tensor **module_buffers(const Module *m, int *n);
/* Number of parameter elements (each tensor once); only those that require
 * grad when trainable_only. */
int64_t module_num_parameters(const Module *m, bool trainable_only);

/* Replicas (engine/nn/module_replica.c), for data parallelism inside one
 * process: makes replica, a module built from the same description as
 * original, view original's parameter and buffer storages (no copy), with
 * the same requires_grad flags and training mode; the replica's gradients
 * stay its own. Cheap when nothing changed, so call it before each use: it
 * follows storages that loading or moving replaced. 0 or -1 with an error
 * naming the first parameter or buffer whose dtype or shape differ. */
int module_replica_sync(Module *replica, const Module *original);
/* The type name of m or its first descendant whose type name starts with
 * prefix ("BatchNorm"), or NULL. */
const char *module_find_type(const Module *m, const char *prefix);

/* Sets training on m and every descendant (module.train(mode) / .eval()). */
void module_train(Module *m, bool mode);
static inline void module_eval(Module *m) { module_train(m, false); }
/* Calls fn on every descendant, children before their parent (post-order, as
 * PyTorch's apply), and returns m. */
Module *module_apply(Module *m, ModuleApplyFn fn, void *ctx);
/* Frees every parameter's .grad (set_to_none) or zeroes it in place. */
void module_zero_grad(Module *m, bool set_to_none);
/* Moves parameters, their gradients and buffers to device, replacing each
 * tensor's storage in place so Tensor* pointers held elsewhere (optimizers)
 * stay valid. Returns 0, or -1 with an error (e.g. CUDA on a CPU-only build). */
int module_to(Module *m, Device device);

/* ---- state dicts (loading: module_state.c) ---- */
/* Parameters and buffers under PyTorch's names and order (a module's
 * parameters, then its buffers, then each child's). out is initialised here
 * and references m's tensors. */
int module_state_dict(const Module *m, StateDict *out);
/* Copies sd's values into m's tensors in place (dtype converted, across
 * devices). strict: missing and unexpected keys are errors. Shapes must match
 * either way. Nothing is copied unless everything checks; the error lists
 * every problem in PyTorch's wording. Returns 0 or -1. */
int module_load_state_dict(Module *m, const StateDict *sd, bool strict);

/* ---- printing (module_repr.c) ---- */
/* PyTorch's repr(m) as a malloc'd string (caller frees). */
char *module_repr(const Module *m);
/* repr(m), then "Trainable parameters: N" (pytorch-template's BaseModel.__str__). */
void module_summary(const Module *m, FILE *f);

#endif
