/* Define-by-run autograd.
 *
 * An op whose inputs require grad (and grad mode is on) records a Node as it
 * runs: the backward function, the inputs (the graph's edges) and whatever it
 * saves. tensor_backward() walks the recorded graph once, in reverse
 * topological order, and accumulates into the leaves' .grad. Backward
 * functions are written with the ops themselves (grad mode off), so they run
 * on whatever device the tensors are on.
 */
#ifndef ENGINE_AUTOGRAD_H
#define ENGINE_AUTOGRAD_H

#include "engine/tensor.h"

#define NODE_MAX_SAVED 8

/* Fills grad_in[i] for every input i with node->needs_grad[i]; entries left
 * NULL mean "no gradient" (treated as zero). grad_in[i] must have the shape
 * of node->inputs[i]. Returns 0, or -1 with an error recorded. */
typedef int (*BackwardFn)(Node *node, Tensor *grad_out, Tensor **grad_in);

struct Node {
    const char *name; /* PyTorch's name for it, e.g. "MulBackward0" */
    BackwardFn backward;
    Tensor *output;
    int n_inputs;
    Tensor **inputs;
    bool *needs_grad;
    Tensor *saved[NODE_MAX_SAVED];
    int64_t ints[8];
    double scalars[4];
    Shape shape; /* a shape an op may need to remember (e.g. the input's) */
    bool released; /* saved state dropped after a backward pass */

    /* bookkeeping */
    Scope *owner;
    Node *scope_next;
    int mark;
};

/* Records a node for output when grad mode is on and any input requires
 * grad; sets output->requires_grad and grad_fn. Returns NULL (not an error)
 * when nothing needs recording: the op then saves nothing. */
Node *autograd_record(const char *name, BackwardFn backward, Tensor *output, int n_inputs, Tensor *const *inputs);
/* Whether autograd_record would record a node for these inputs: lets an op
 * skip computing what only its backward would use. */
bool autograd_would_record(int n_inputs, Tensor *const *inputs);

/* backward(root): root must have one element unless grad is given. The graph
 * is released afterwards unless retain_graph. Returns 0 or -1. */
int tensor_backward(Tensor *root, Tensor *grad);
int tensor_backward_ex(Tensor *root, Tensor *grad, bool retain_graph);

/* Grad mode (per thread). no_grad_begin() turns it off and returns the old
 * value for grad_mode_restore(). */
bool grad_enabled(void);
bool grad_mode_set(bool enabled);
static inline bool no_grad_begin(void) { return grad_mode_set(false); }
static inline void grad_mode_restore(bool previous) { grad_mode_set(previous); }

/* Gradient hooks, called with the gradient of t when it is computed (for a
 * leaf: before it is accumulated into .grad). Returning a tensor replaces the
 * gradient; returning NULL keeps it. */
typedef Tensor *(*TensorHookFn)(Tensor *grad, void *ctx);
int tensor_register_hook(Tensor *t, TensorHookFn fn, void *ctx);

/* Internal: frees a node's memory (scope end). */
void node_free(Node *n);
/* Internal: frees t's hook list. */
void tensor_hooks_free(Tensor *t);

#endif
