/* Module core: registration, lookups, forward with hooks, traversal in
 * PyTorch's order, train/eval, apply, zero_grad, device moves and freeing. */
#include "engine/nn/module.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/autograd.h"
#include "engine/scope.h"

/* ---- ordered name lists ---- */

static int named_list_find(const NamedList *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0) return i;
    return -1;
}

static void named_list_add(NamedList *l, const char *name, void *item)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 4;
        l->names = realloc(l->names, sizeof(char *) * (size_t)l->cap);
        l->items = realloc(l->items, sizeof(void *) * (size_t)l->cap);
        ENGINE_ASSERT(l->names && l->items);
    }
    l->names[l->n] = strdup(name);
    ENGINE_ASSERT(l->names[l->n] != NULL);
    l->items[l->n] = item;
    l->n++;
}

static void named_list_free(NamedList *l)
{
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* ---- pointer sets (models are small: a linear scan is enough) ---- */

typedef struct {
    int n, cap;
    const void **p;
} PtrSet;

static bool ptrset_contains(const PtrSet *s, const void *p)
{
    for (int i = 0; i < s->n; i++)
        if (s->p[i] == p) return true;
    return false;
}

/* Adds p; returns false when it was already there. */
static bool ptrset_add(PtrSet *s, const void *p)
{
    if (ptrset_contains(s, p)) return false;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->p = realloc(s->p, sizeof(void *) * (size_t)s->cap);
        ENGINE_ASSERT(s->p != NULL);
    }
    s->p[s->n++] = p;
    return true;
}

static void ptrset_free(PtrSet *s) { free(s->p); }

/* ---- creation and registration ---- */

Module *module_new(const char *type_name)
{
    Module *m = calloc(1, sizeof *m);
    ENGINE_ASSERT(m != NULL);
    snprintf(m->type_name, sizeof m->type_name, "%s", type_name ? type_name : "Module");
    m->training = true;
    m->next_hook_id = 1;
    return m;
}

/* Frees a tensor handed to a registration that failed: scoped ones are left
 * to their scope. */
static void release_tensor(Tensor *t)
{
    if (t && t->owner == NULL) tensor_free(t);
}

static bool check_name(const Module *m, const char *name, const char *kind)
{
    if (!name || !name[0]) {
        engine_error("%s name can't be empty string \"\"", kind);
        return false;
    }
    if (strchr(name, '.')) {
        engine_error("%s name can't contain \".\" (got \"%s\")", kind, name);
        return false;
    }
    if (named_list_find(&m->params, name) >= 0 || named_list_find(&m->buffers, name) >= 0 ||
        named_list_find(&m->children, name) >= 0) {
        engine_error("%s: attribute '%s' already exists", m->type_name, name);
        return false;
    }
    return true;
}

Tensor *module_register_parameter(Module *m, const char *name, Tensor *t)
{
    if (!m || !t) {
        release_tensor(t);
        return NULL;
    }
    if (!check_name(m, name, "parameter")) {
        release_tensor(t);
        return NULL;
    }
    if (t->grad_fn != NULL) {
        engine_error("Cannot assign non-leaf Tensor to parameter '%s'. Model parameters must be created explicitly.",
                     name);
        return NULL; /* a non-leaf is always scoped */
    }
    if (t->dtype != DT_F32) {
        engine_error("parameter '%s': only Tensors of floating point dtype can require gradients (got %s)", name,
                     dtype_name(t->dtype));
        release_tensor(t);
        return NULL;
    }
    tensor_persist(t);
    t->requires_grad = true;
    named_list_add(&m->params, name, t);
    return t;
}

Tensor *module_register_buffer(Module *m, const char *name, Tensor *t)
{
    if (!m || !t || !check_name(m, name, "buffer")) {
        release_tensor(t);
        return NULL;
    }
    tensor_persist(t);
    named_list_add(&m->buffers, name, t);
    return t;
}

Module *module_register_module(Module *m, const char *name, Module *child)
{
    if (!m || !child || !check_name(m, name, "module")) {
        module_free(child);
        return NULL;
    }
    named_list_add(&m->children, name, child);
    return child;
}

Tensor *module_get_parameter(const Module *m, const char *name)
{
    int i = named_list_find(&m->params, name);
    return i < 0 ? NULL : m->params.items[i];
}

Tensor *module_get_buffer(const Module *m, const char *name)
{
    int i = named_list_find(&m->buffers, name);
    return i < 0 ? NULL : m->buffers.items[i];
}

Module *module_get_child(const Module *m, const char *name)
{
    int i = named_list_find(&m->children, name);
    return i < 0 ? NULL : m->children.items[i];
}

/* ---- forward and hooks ---- */

static int add_hook(ModuleHookList *l, int id, void *fn, void *ctx)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 4;
        l->hooks = realloc(l->hooks, sizeof(ModuleHook) * (size_t)l->cap);
        ENGINE_ASSERT(l->hooks != NULL);
    }
    l->hooks[l->n++] = (ModuleHook){.id = id, .fn = fn, .ctx = ctx};
    return id;
}

static bool remove_hook(ModuleHookList *l, int id)
{
    for (int i = 0; i < l->n; i++) {
        if (l->hooks[i].id != id) continue;
        memmove(&l->hooks[i], &l->hooks[i + 1], sizeof(ModuleHook) * (size_t)(l->n - i - 1));
        l->n--;
        return true;
    }
    return false;
}

int module_register_forward_pre_hook(Module *m, ModulePreHookFn fn, void *ctx)
{
    return add_hook(&m->pre_hooks, m->next_hook_id++, (void *)fn, ctx);
}

int module_register_forward_hook(Module *m, ModuleHookFn fn, void *ctx)
{
    return add_hook(&m->hooks, m->next_hook_id++, (void *)fn, ctx);
}

int module_remove_hook(Module *m, int handle)
{
    if (remove_hook(&m->pre_hooks, handle) || remove_hook(&m->hooks, handle)) return 0;
    engine_error("%s: no forward hook with handle %d", m->type_name, handle);
    return -1;
}

/* The modules whose forward runs on this thread, outermost first, so an
 * error raised inside a forward can name the module it came from by its
 * dotted path ("layer2.0.conv1: conv2d: ..."), as the state dict names its
 * parameters. Deeper nesting than the stack holds goes unnamed below it. */
enum { FORWARD_STACK_MAX = 64 };
static _Thread_local struct {
    const Module *stack[FORWARD_STACK_MAX];
    int depth;
    uint64_t named_error; /* hash of the last message given a path: it has its prefix */
} running;

static uint64_t message_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Appends child's name under parent to path ("0", "layer2"); false when
 * child is not a direct child of parent (then the path starts over). */
static bool append_child_name(char *path, size_t size, const Module *parent, const Module *child)
{
    for (int i = 0; i < parent->children.n; i++) {
        if (parent->children.items[i] != child) continue;
        size_t len = strlen(path);
        snprintf(path + len, size - len, "%s%s", len ? "." : "", parent->children.names[i]);
        return true;
    }
    return false;
}

/* Puts the dotted path of the module at stack[depth] in front of the error
 * its forward raised, once: the outer modules' forwards fail with the same
 * error and leave it as it is. */
static void name_failed_module(int depth)
{
    const char *msg = engine_last_error();
    if (!msg[0] || message_hash(msg) == running.named_error) return;
    char path[1024] = "";
    for (int i = 1; i <= depth && i < FORWARD_STACK_MAX; i++)
        if (!append_child_name(path, sizeof path, running.stack[i - 1], running.stack[i])) path[0] = '\0';
    if (path[0]) engine_error_context("%s", path);
    running.named_error = message_hash(engine_last_error());
}

/* module_forward's body: x is the input the hooks see; batch, when not
 * NULL, goes to forward_batch instead of x to forward, and fused, when not
 * NULL, runs fused(m, x, ctx) in place of m->forward. */
static Tensor *run_forward(Module *m, Tensor *x, const TensorBatch *batch, ModuleFusedForwardFn fused, const void *ctx)
{
    for (int i = 0; i < m->pre_hooks.n; i++) {
        Tensor *replaced = ((ModulePreHookFn)m->pre_hooks.hooks[i].fn)(m, x, m->pre_hooks.hooks[i].ctx);
        if (replaced) x = replaced;
    }
    bool had_error = engine_has_error(); /* an error from before is not this forward's */
    int depth = running.depth++;
    if (depth < FORWARD_STACK_MAX) running.stack[depth] = m;
    Tensor *y = batch ? m->forward_batch(m, batch) : fused ? fused(m, x, ctx) : m->forward(m, x);
    running.depth--;
    if (!y) {
        if (!had_error) name_failed_module(depth);
        return NULL;
    }
    for (int i = 0; i < m->hooks.n; i++) {
        Tensor *replaced = ((ModuleHookFn)m->hooks.hooks[i].fn)(m, x, y, m->hooks.hooks[i].ctx);
        if (replaced) y = replaced;
    }
    return y;
}

Tensor *module_forward(Module *m, Tensor *x)
{
    if (!x) return NULL;
    ENGINE_CHECK(m != NULL, "module_forward: the module is NULL (did its constructor fail?)");
    ENGINE_CHECK(m->forward != NULL, "Module [%s] is missing the required \"forward\" function", m->type_name);
    return run_forward(m, x, NULL, NULL, NULL);
}

Tensor *module_forward_fused(Module *m, Tensor *x, ModuleFusedForwardFn fused, const void *ctx)
{
    if (!x) return NULL;
    ENGINE_ASSERT(m != NULL && fused != NULL && m->pre_hooks.n == 0 && m->hooks.n == 0);
    return run_forward(m, x, NULL, fused, ctx);
}

Tensor *module_forward_batch(Module *m, const TensorBatch *batch)
{
    ENGINE_CHECK(m != NULL, "module_forward_batch: the module is NULL (did its constructor fail?)");
    if (m->forward_batch) return run_forward(m, tensor_batch_get(batch, "input"), batch, NULL, NULL);
    char who[96];
    snprintf(who, sizeof who, "%s (a model whose forward takes one tensor)", m->type_name);
    Tensor *x = tensor_batch_require(batch, "input", who);
    return x ? module_forward(m, x) : NULL;
}

/* ---- traversal ---- */

enum { WANT_PARAMS = 1, WANT_BUFFERS = 2 };

typedef struct {
    int want;
    bool dedupe; /* named_parameters style: each module and tensor once */
    StateDict *out;
    PtrSet modules, tensors;
} Collect;

static int collect_list(Collect *c, const NamedList *l, const char *prefix)
{
    char name[1024];
    for (int i = 0; i < l->n; i++) {
        Tensor *t = l->items[i];
        if (!t || (c->dedupe && !ptrset_add(&c->tensors, t))) continue;
        int len = snprintf(name, sizeof name, "%s%s", prefix, l->names[i]);
        ENGINE_CHECK_INT(len < (int)sizeof name, "state_dict: name too long: %s%s", prefix, l->names[i]);
        if (state_dict_add(c->out, name, t) != 0) return -1;
    }
    return 0;
}

/* A module's own entries, then each child's under "<prefix><child>.". */
static int collect(Collect *c, const Module *m, const char *prefix)
{
    if (c->dedupe && !ptrset_add(&c->modules, m)) return 0;
    if ((c->want & WANT_PARAMS) && collect_list(c, &m->params, prefix) != 0) return -1;
    if ((c->want & WANT_BUFFERS) && collect_list(c, &m->buffers, prefix) != 0) return -1;
    char child_prefix[1024];
    for (int i = 0; i < m->children.n; i++) {
        if (!m->children.items[i]) continue;
        int len = snprintf(child_prefix, sizeof child_prefix, "%s%s.", prefix, m->children.names[i]);
        ENGINE_CHECK_INT(len < (int)sizeof child_prefix, "state_dict: name too long: %s%s", prefix,
                         m->children.names[i]);
        if (collect(c, m->children.items[i], child_prefix) != 0) return -1;
    }
    return 0;
}

static int run_collect(const Module *m, int want, bool dedupe, StateDict *out)
{
    state_dict_init(out);
    Collect c = {.want = want, .dedupe = dedupe, .out = out};
    int rc = collect(&c, m, "");
    ptrset_free(&c.modules);
    ptrset_free(&c.tensors);
    if (rc != 0) state_dict_free(out);
    return rc;
}

int module_named_parameters(const Module *m, StateDict *out) { return run_collect(m, WANT_PARAMS, true, out); }
int module_named_buffers(const Module *m, StateDict *out) { return run_collect(m, WANT_BUFFERS, true, out); }
int module_state_dict(const Module *m, StateDict *out)
{
    return run_collect(m, WANT_PARAMS | WANT_BUFFERS, false, out);
}

static Tensor **tensor_array(const Module *m, int want, int *n)
{
    StateDict sd;
    *n = 0;
    if (run_collect(m, want, true, &sd) != 0) return NULL;
    Tensor **arr = malloc(sizeof(Tensor *) * (size_t)(sd.n ? sd.n : 1));
    ENGINE_ASSERT(arr != NULL);
    if (sd.n) memcpy(arr, sd.tensors, sizeof(Tensor *) * (size_t)sd.n);
    *n = sd.n;
    state_dict_free(&sd);
    return arr;
}

Tensor **module_parameters(const Module *m, int *n) { return tensor_array(m, WANT_PARAMS, n); }
Tensor **module_buffers(const Module *m, int *n) { return tensor_array(m, WANT_BUFFERS, n); }

int64_t module_num_parameters(const Module *m, bool trainable_only)
{
    int n;
    Tensor **ps = module_parameters(m, &n);
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        if (!trainable_only || ps[i]->requires_grad) total += tensor_numel(ps[i]);
    free(ps);
    return total;
}

void module_train(Module *m, bool mode)
{
    m->training = mode;
    for (int i = 0; i < m->children.n; i++) module_train(m->children.items[i], mode);
}

Module *module_apply(Module *m, ModuleApplyFn fn, void *ctx)
{
    for (int i = 0; i < m->children.n; i++) module_apply(m->children.items[i], fn, ctx);
    fn(m, ctx);
    return m;
}

void module_zero_grad(Module *m, bool set_to_none)
{
    int n;
    Tensor **ps = module_parameters(m, &n);
    for (int i = 0; i < n; i++) {
        if (!ps[i]->grad) continue;
        if (set_to_none) {
            tensor_free(ps[i]->grad);
            ps[i]->grad = NULL;
        } else {
            tensor_fill_(ps[i]->grad, 0.0);
        }
    }
    free(ps);
}

/* Gives t a copy of its values on device: the header stays, the storage is
 * replaced, so every holder of t sees the move. */
static int move_tensor(Tensor *t, Device device)
{
    if (device_equal(tensor_device(t), device)) return 0;
    Tensor *copy = tensor_to(t, device); /* scoped: freed by the caller's scope_end */
    if (!copy) return -1;
    Storage *s = copy->storage;
    storage_retain(s);
    storage_release(t->storage);
    t->storage = s;
    t->offset = copy->offset;
    memcpy(t->strides, copy->strides, sizeof t->strides);
    return 0;
}

int module_to(Module *m, Device device)
{
    int n_params, n_buffers;
    Tensor **ps = module_parameters(m, &n_params);
    Tensor **bs = module_buffers(m, &n_buffers);
    int rc = (ps && bs) ? 0 : -1;
    scope_begin();
    bool mode = no_grad_begin();
    for (int i = 0; rc == 0 && i < n_params; i++) {
        rc = move_tensor(ps[i], device);
        if (rc == 0 && ps[i]->grad) rc = move_tensor(ps[i]->grad, device);
    }
    for (int i = 0; rc == 0 && i < n_buffers; i++) rc = move_tensor(bs[i], device);
    grad_mode_restore(mode);
    scope_end();
    free(ps);
    free(bs);
    return rc;
}

/* ---- freeing ---- */

/* Every module of the tree once, children before parents. */
static void gather_modules(Module *m, PtrSet *modules)
{
    if (ptrset_contains(modules, m)) return;
    for (int i = 0; i < m->children.n; i++)
        if (m->children.items[i]) gather_modules(m->children.items[i], modules);
    ptrset_add(modules, m);
}

static void gather_tensors(const NamedList *l, PtrSet *tensors)
{
    for (int i = 0; i < l->n; i++)
        if (l->items[i]) ptrset_add(tensors, l->items[i]);
}

void module_free(Module *m)
{
    if (!m) return;
    PtrSet modules = {0}, tensors = {0};
    gather_modules(m, &modules);
    for (int i = 0; i < modules.n; i++) {
        const Module *mi = modules.p[i];
        gather_tensors(&mi->params, &tensors);
        gather_tensors(&mi->buffers, &tensors);
    }
    for (int i = 0; i < tensors.n; i++) tensor_free((Tensor *)tensors.p[i]);
    for (int i = 0; i < modules.n; i++) {
        Module *mi = (Module *)modules.p[i];
        if (mi->destroy)
            mi->destroy(mi);
        else
            free(mi->impl);
        named_list_free(&mi->params);
        named_list_free(&mi->buffers);
        named_list_free(&mi->children);
        free(mi->pre_hooks.hooks);
        free(mi->hooks.hooks);
        free(mi);
    }
    ptrset_free(&modules);
    ptrset_free(&tensors);
}
