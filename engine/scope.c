/* Scope stack (per thread): intrusive lists of the tensors and nodes each
 * scope owns, freed in one sweep when it ends. */
#include "engine/scope.h"

#include <stdlib.h>

#include "engine/autograd.h"

struct Scope {
    Tensor *tensors;
    Node *nodes;
    Scope *parent;
};

static _Thread_local Scope *current_scope;
static _Thread_local int current_depth;
/* What is made with no scope open lands here; freed at exit (main thread),
 * so nothing leaks, but code that runs for long should open scopes. */
static _Thread_local Scope root_scope;
static _Thread_local bool root_registered;

static void free_scope_contents(Scope *s);
static void free_root_scope(void) { free_scope_contents(&root_scope); }

static Scope *owning_scope(void)
{
    if (current_scope) return current_scope;
    if (!root_registered) {
        root_registered = true;
        atexit(free_root_scope);
    }
    return &root_scope;
}

Scope *scope_create(void)
{
    Scope *s = calloc(1, sizeof *s);
    ENGINE_ASSERT(s != NULL);
    return s;
}

void scope_push(Scope *s)
{
    ENGINE_ASSERT(s->parent == NULL && "scope_push: the scope is already on a stack");
    s->parent = current_scope;
    current_scope = s;
    current_depth++;
}

void scope_pop(Scope *s)
{
    ENGINE_ASSERT(current_scope == s && "scope_pop: not the current scope");
    current_scope = s->parent;
    s->parent = NULL;
    current_depth--;
}

void scope_destroy(Scope *s)
{
    if (!s) return;
    ENGINE_ASSERT(s->parent == NULL && s != current_scope && "scope_destroy: the scope is still on a stack");
    free_scope_contents(s);
    free(s);
}

void scope_begin(void) { scope_push(scope_create()); }

int scope_depth(void) { return current_depth; }

void scope_adopt_tensor(Tensor *t)
{
    Scope *s = owning_scope();
    t->owner = s;
    t->scope_prev = NULL;
    t->scope_next = s->tensors;
    if (s->tensors) s->tensors->scope_prev = t;
    s->tensors = t;
}

void scope_adopt_node(Node *n)
{
    Scope *s = owning_scope();
    n->owner = s;
    n->scope_next = s->nodes;
    s->nodes = n;
}

void scope_unlink_tensor(Tensor *t)
{
    Scope *s = t->owner;
    if (!s) return;
    if (t->scope_prev) t->scope_prev->scope_next = t->scope_next;
    else s->tensors = t->scope_next;
    if (t->scope_next) t->scope_next->scope_prev = t->scope_prev;
    t->owner = NULL;
    t->scope_prev = t->scope_next = NULL;
}

/* Frees the tensor header and drops its storage reference. */
void tensor_destroy(Tensor *t);

static void free_scope_contents(Scope *s)
{
    /* nodes first: they only point at tensors, never own them */
    for (Node *n = s->nodes, *next; n; n = next) {
        next = n->scope_next;
        node_free(n);
    }
    for (Tensor *t = s->tensors, *next; t; t = next) {
        next = t->scope_next;
        tensor_destroy(t);
    }
    s->nodes = NULL;
    s->tensors = NULL;
}

void scope_end(void)
{
    Scope *s = current_scope;
    ENGINE_ASSERT(s != NULL && "scope_end without scope_begin");
    free_scope_contents(s);
    current_scope = s->parent;
    current_depth--;
    free(s);
}

Tensor *scope_keep(Tensor *t)
{
    if (!t) return NULL;
    ENGINE_ASSERT(current_scope != NULL && "scope_keep outside a scope");
    ENGINE_ASSERT(t->owner == current_scope && "scope_keep on a tensor the current scope does not own");
    if (t->grad_fn) { /* the graph dies with this scope */
        t->grad_fn = NULL;
        t->requires_grad = false;
    }
    scope_unlink_tensor(t);
    Scope *saved = current_scope;
    current_scope = saved->parent; /* NULL: the root scope */
    scope_adopt_tensor(t);
    current_scope = saved;
    return t;
}
