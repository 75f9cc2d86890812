/* Shared pieces of the layer implementations: construction and repr text. */
#include "engine/nn/layer_util.h"

#include <stdio.h>
#include <stdlib.h>

Module *layer_new(const char *type_name, size_t impl_size, ModuleForwardFn forward, ModuleExtraReprFn extra_repr)
{
    Module *m = module_new(type_name);
    m->impl = calloc(1, impl_size ? impl_size : 1);
    ENGINE_ASSERT(m->impl != NULL);
    m->forward = forward;
    m->extra_repr = extra_repr;
    return m;
}

Module *layer_fail(Module *m)
{
    /* name the layer with its arguments, as its repr does: a shape that
     * overflows or memory that runs out then says which arguments asked */
    if (m->extra_repr) {
        char extra[512] = "";
        m->extra_repr(m, extra, sizeof extra);
        engine_error_context("%s(%s)", m->type_name, extra);
    }
    module_free(m);
    return NULL;
}

Tensor *layer_tensor(Shape shape) { return tensor_empty(shape, DT_F32, CPU); }

const char *py_tuple2(const int v[2], char *buf, size_t size)
{
    snprintf(buf, size, "(%d, %d)", v[0], v[1]);
    return buf;
}

const char *py_int_or_tuple2(const int v[2], char *buf, size_t size)
{
    if (v[0] == v[1])
        snprintf(buf, size, "%d", v[0]);
    else
        py_tuple2(v, buf, size);
    return buf;
}
