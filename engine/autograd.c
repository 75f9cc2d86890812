/* Recording of graph nodes and the backward pass. */
#include "engine/autograd.h"

#include <stdlib.h>
#include <string.h>

#include "engine/ops.h"
#include "engine/scope.h"

struct TensorHook {
    TensorHookFn fn;
    void *ctx;
    TensorHook *next;
};

static _Thread_local bool grad_mode_disabled;

bool grad_enabled(void) { return !grad_mode_disabled; }

bool grad_mode_set(bool enabled)
{
    bool previous = !grad_mode_disabled;
    grad_mode_disabled = !enabled;
    return previous;
}

bool autograd_would_record(int n_inputs, Tensor *const *inputs)
{
    if (grad_mode_disabled) return false;
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i] && inputs[i]->requires_grad) return true;
    return false;
}

Node *autograd_record(const char *name, BackwardFn backward, Tensor *output, int n_inputs, Tensor *const *inputs)
{
    if (!output || !autograd_would_record(n_inputs, inputs)) return NULL;
    Node *n = calloc(1, sizeof *n);
    ENGINE_ASSERT(n != NULL);
    n->inputs = calloc((size_t)n_inputs, sizeof *n->inputs);
    n->needs_grad = calloc((size_t)n_inputs, sizeof *n->needs_grad);
    ENGINE_ASSERT(n->inputs && n->needs_grad);
    n->name = name;
    n->backward = backward;
    n->output = output;
    n->n_inputs = n_inputs;
    for (int i = 0; i < n_inputs; i++) {
        n->inputs[i] = inputs[i];
        n->needs_grad[i] = inputs[i] && inputs[i]->requires_grad;
    }
    output->requires_grad = true;
    output->grad_fn = n;
    scope_adopt_node(n);
    return n;
}

void node_free(Node *n)
{
    free(n->inputs);
    free(n->needs_grad);
    free(n);
}

int tensor_register_hook(Tensor *t, TensorHookFn fn, void *ctx)
{
    if (!t) return -1;
    ENGINE_CHECK_INT(t->requires_grad, "register_hook: cannot register a hook on a tensor that doesn't require gradient");
    TensorHook *h = malloc(sizeof *h);
    ENGINE_ASSERT(h != NULL);
    h->fn = fn;
    h->ctx = ctx;
    h->next = NULL;
    TensorHook **tail = &t->hooks;
    while (*tail) tail = &(*tail)->next;
    *tail = h;
    return 0;
}

void tensor_hooks_free(Tensor *t)
{
    for (TensorHook *h = t->hooks, *next; h; h = next) {
        next = h->next;
        free(h);
    }
    t->hooks = NULL;
}

static Tensor *run_hooks(Tensor *t, Tensor *grad)
{
    for (TensorHook *h = t->hooks; h && grad; h = h->next) {
        Tensor *replaced = h->fn(grad, h->ctx);
        if (replaced) {
            if (!shape_equal(replaced->shape, grad->shape))
                return engine_error("hook: returned gradient of shape %s, expected %s", shape_str(replaced->shape),
                                    shape_str(grad->shape));
            grad = replaced;
        }
    }
    return grad;
}

/* A growable array of pointers. */
typedef struct {
    void **items;
    int n, cap;
} PtrVec;

static void vec_push(PtrVec *v, void *p)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->items = realloc(v->items, sizeof(void *) * (size_t)v->cap);
        ENGINE_ASSERT(v->items != NULL);
    }
    v->items[v->n++] = p;
}

enum { MARK_NONE = 0, MARK_VISITING = 1, MARK_DONE = 2 };

/* Post-order of the nodes reachable from root (inputs before the nodes that
 * use them), by an explicit stack so deep graphs cannot overflow the C stack.
 * Leaves that need a gradient are collected too. */
static void topo_sort(Node *root, PtrVec *order, PtrVec *leaves)
{
    PtrVec stack = {0};
    PtrVec child_index = {0}; /* next input to visit, stored as a pointer-sized int */
    root->mark = MARK_VISITING;
    vec_push(&stack, root);
    vec_push(&child_index, (void *)0);
    while (stack.n > 0) {
        Node *n = stack.items[stack.n - 1];
        intptr_t i = (intptr_t)child_index.items[child_index.n - 1];
        if (i < n->n_inputs) {
            child_index.items[child_index.n - 1] = (void *)(i + 1);
            Tensor *in = n->inputs[i];
            if (!n->needs_grad[i]) continue;
            if (in->grad_fn) {
                if (in->grad_fn->mark == MARK_NONE) {
                    in->grad_fn->mark = MARK_VISITING;
                    vec_push(&stack, in->grad_fn);
                    vec_push(&child_index, (void *)0);
                }
            } else if (in->requires_grad) {
                /* each leaf once */
                bool known = false;
                for (int k = 0; k < leaves->n; k++)
                    if (leaves->items[k] == in) known = true;
                if (!known) vec_push(leaves, in);
            }
        } else {
            n->mark = MARK_DONE;
            vec_push(order, n);
            stack.n--;
            child_index.n--;
        }
    }
    free(stack.items);
    free(child_index.items);
}

static Tensor *accumulate(Tensor *acc, Tensor *g) { return acc ? t_add(acc, g) : g; }

/* What a backward pass holds while it runs: the gradient it was given and
 * every tensor whose gradient is still being summed. */
typedef struct {
    const Tensor *given;
    const PtrVec *order, *leaves;
} Pass;

/* Whether the finished gradient g can become the leaf's .grad as it is,
 * instead of a copy: a temporary (scope-owned) dense tensor of the leaf's
 * dtype and shape, alone on its storage, that is not the gradient the pass
 * was given and that no other tensor of the pass is still summing into (a
 * backward function may hand one gradient to several inputs). The copy it
 * saves is a full pass over every parameter's gradient at every step. */
static bool can_take(const Tensor *leaf, const Tensor *g, const Pass *pass)
{
    if (g == pass->given || (pass->given && g->storage == pass->given->storage)) return false;
    if (!g->owner || g->grad_fn || g->offset != 0 || g->dtype != leaf->dtype || !shape_equal(g->shape, leaf->shape) ||
        !tensor_is_contiguous(g) || __atomic_load_n(&g->storage->refcount, __ATOMIC_ACQUIRE) != 1 ||
        g->storage->nbytes != (size_t)tensor_numel(g) * dtype_size(g->dtype))
        return false;
    for (int k = 0; k < pass->leaves->n; k++)
        if (((const Tensor *)pass->leaves->items[k])->grad_acc == g) return false;
    for (int k = 0; k < pass->order->n; k++)
        if (((const Node *)pass->order->items[k])->output->grad_acc == g) return false;
    return true;
}

/* A leaf's gradient of this backward is complete: its hooks see it once,
 * then it lands in .grad. 0 or -1. */
static int finish_leaf(Tensor *leaf, const Pass *pass)
{
    Tensor *g = leaf->grad_acc;
    leaf->grad_acc = NULL;
    if (!g) return 0;
    g = run_hooks(leaf, g);
    if (!g) return -1;
    if (!leaf->grad) {
        /* owned by the leaf, not by any scope: it lives as long as the leaf */
        Tensor *grad;
        if (can_take(leaf, g, pass)) {
            grad = tensor_make_view(g->storage, 0, g->dtype, g->shape, NULL);
        } else {
            grad = tensor_empty(leaf->shape, leaf->dtype, tensor_device(leaf));
            if (grad && tensor_copy_(grad, g) != 0) return -1;
        }
        if (!grad) return -1;
        leaf->grad = tensor_persist(grad);
        return 0;
    }
    return t_add_(leaf->grad, g, 1.0) != 0 ? -1 : 0;
}

/* The index of leaf in leaves, or -1. */
static int leaf_index(const PtrVec *leaves, const Tensor *t)
{
    for (int k = 0; k < leaves->n; k++)
        if (leaves->items[k] == t) return k;
    return -1;
}

/* pending[k]: the nodes that will still add to leaf k's gradient. A leaf is
 * finished as soon as the last of them has run, rather than after the whole
 * backward, so that its hooks (distributed training starts averaging a
 * bucket of gradients there) run while the rest of the backward computes. */
static int *count_leaf_consumers(const PtrVec *order, const PtrVec *leaves)
{
    int *pending = calloc((size_t)(leaves->n ? leaves->n : 1), sizeof(int));
    ENGINE_ASSERT(pending != NULL);
    for (int j = 0; j < order->n; j++) {
        const Node *n = order->items[j];
        for (int i = 0; i < n->n_inputs; i++) {
            if (!n->needs_grad[i] || n->inputs[i]->grad_fn) continue;
            int k = leaf_index(leaves, n->inputs[i]);
            if (k >= 0) pending[k]++;
        }
    }
    return pending;
}

int tensor_backward(Tensor *root, Tensor *grad) { return tensor_backward_ex(root, grad, false); }

int tensor_backward_ex(Tensor *root, Tensor *grad, bool retain_graph)
{
    if (!root) return -1;
    ENGINE_CHECK_INT(root->requires_grad,
                     "backward: element 0 of tensors does not require grad and does not have a grad_fn");
    if (!grad) {
        ENGINE_CHECK_INT(tensor_numel(root) == 1,
                         "backward: grad can be implicitly created only for scalar outputs (got shape %s)",
                         shape_str(root->shape));
        grad = tensor_ones(root->shape, root->dtype, tensor_device(root));
        if (!grad) return -1;
    } else {
        ENGINE_CHECK_INT(shape_equal(grad->shape, root->shape),
                         "backward: gradient has shape %s but the tensor has shape %s", shape_str(grad->shape),
                         shape_str(root->shape));
    }
    bool previous_mode = no_grad_begin();
    int rc = 0;
    PtrVec order = {0}, leaves = {0};
    Pass pass = {grad, &order, &leaves};
    int *pending = NULL;
    if (root->grad_fn == NULL) {
        vec_push(&leaves, root);
        root->grad_acc = grad;
    } else {
        topo_sort(root->grad_fn, &order, &leaves);
        pending = count_leaf_consumers(&order, &leaves);
        root->grad_acc = grad;
        for (int k = order.n - 1; k >= 0 && rc == 0; k--) {
            Node *n = order.items[k];
            Tensor *out = n->output;
            Tensor *g = out->grad_acc;
            out->grad_acc = NULL;
            if (!g) continue;
            if (n->released) {
                engine_error("backward: trying to backward through the graph a second time (or directly access saved "
                             "tensors after they have already been freed) at %s; specify retain_graph=true if you "
                             "need to backward a second time",
                             n->name);
                rc = -1;
                break;
            }
            g = run_hooks(out, g);
            Tensor *grad_in[64] = {0};
            Tensor **gin = n->n_inputs <= 64 ? grad_in : calloc((size_t)n->n_inputs, sizeof(Tensor *));
            ENGINE_ASSERT(gin != NULL);
            if (!g || n->backward(n, g, gin) != 0) rc = -1;
            for (int i = 0; i < n->n_inputs && rc == 0; i++) {
                if (!n->needs_grad[i] || !gin[i]) continue;
                Tensor *in = n->inputs[i];
                if (!shape_equal(gin[i]->shape, in->shape))
                    engine_panic(__FILE__, __LINE__, n->name); /* a backward function returned a wrong shape */
                /* cut from the graph after this node recorded it (tensor_persist,
                 * scope_keep): nothing would consume the gradient, and holding it
                 * would leave a pointer into a scope that is about to end */
                if (!in->grad_fn && !in->requires_grad) continue;
                in->grad_acc = accumulate(in->grad_acc, gin[i]);
                if (!in->grad_acc) rc = -1;
            }
            /* leaves whose last contribution this node was */
            for (int i = 0; i < n->n_inputs && rc == 0; i++) {
                if (!n->needs_grad[i] || n->inputs[i]->grad_fn) continue;
                int li = leaf_index(&leaves, n->inputs[i]);
                if (li >= 0 && --pending[li] == 0 && finish_leaf(n->inputs[i], &pass)) rc = -1;
            }
            if (gin != grad_in) free(gin);
            if (!retain_graph) {
                n->released = true;
                memset(n->saved, 0, sizeof n->saved);
            }
        }
    }
    /* the leaves not finished yet (the root itself, nodes skipped without a
     * gradient, or a failure: then their partial sums are dropped) */
    for (int k = 0; k < leaves.n; k++) {
        Tensor *leaf = leaves.items[k];
        if (rc != 0) leaf->grad_acc = NULL;
        else if (finish_leaf(leaf, &pass)) rc = -1;
    }
    free(pending);
    for (int k = 0; k < order.n; k++) ((Node *)order.items[k])->mark = MARK_NONE;
    if (rc != 0)
        for (int k = 0; k < order.n; k++) ((Node *)order.items[k])->output->grad_acc = NULL;
    free(order.items);
    free(leaves.items);
    grad_mode_restore(previous_mode);
    return rc;
}
