/* Sequential and ModuleList: children named "0", "1", ...; Sequential's
 * forward feeds each child's output to the next. */
#include <stdio.h>

#include "engine/nn/layer_util.h"
#include "engine/nn/layers.h"

static Tensor *sequential_forward(Module *self, Tensor *x)
{
    for (int i = 0; i < self->children.n && x; i++) x = module_forward(module_child_at(self, i), x);
    return x;
}

Module *nn_container_append(Module *container, Module *child)
{
    if (!container) {
        module_free(child);
        return NULL;
    }
    char name[24];
    snprintf(name, sizeof name, "%d", container->children.n);
    return module_register_module(container, name, child);
}

/* Builds the container, taking every module even when one is NULL. */
static Module *container_new(const char *type, ModuleForwardFn forward, int n, Module *const *modules)
{
    bool ok = n >= 0;
    for (int i = 0; i < n; i++) ok = ok && modules[i] != NULL;
    if (!ok) {
        for (int i = 0; i < n; i++) module_free(modules[i]);
        if (n < 0) engine_error("%s: negative number of modules (%d)", type, n);
        return NULL;
    }
    Module *m = module_new(type);
    m->forward = forward;
    for (int i = 0; i < n; i++)
        if (!nn_container_append(m, modules[i])) {
            for (int j = i + 1; j < n; j++) module_free(modules[j]);
            return layer_fail(m);
        }
    return m;
}

Module *nn_sequential(int n, Module *const *modules)
{
    return container_new("Sequential", sequential_forward, n, modules);
}
Module *nn_module_list(int n, Module *const *modules) { return container_new("ModuleList", NULL, n, modules); }
