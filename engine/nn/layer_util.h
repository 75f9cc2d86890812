/* Shared pieces of the layer implementations (not public API). */
#ifndef ENGINE_NN_LAYER_UTIL_H
#define ENGINE_NN_LAYER_UTIL_H

#include <stddef.h>

#include "engine/nn/module.h"

/* A module with zeroed private data of impl_size bytes (freed by module_free). */
Module *layer_new(const char *type_name, size_t impl_size, ModuleForwardFn forward, ModuleExtraReprFn extra_repr);
/* module_free(m) and NULL: the failure exit of constructors. The recorded
 * error gets the layer's repr in front ("Conv2d(3, 64, kernel_size=(3, 3),
 * stride=(1, 1)): ..."), so extra_repr must work on what is set so far. */
Module *layer_fail(Module *m);
/* A persistent-to-be [shape] f32 CPU tensor for module_register_*. */
Tensor *layer_tensor(Shape shape);

static inline const char *py_bool(bool b) { return b ? "True" : "False"; }
/* "(a, b)" */
const char *py_tuple2(const int v[2], char *buf, size_t size);
/* "a" when both are equal, else "(a, b)" (how pooling layers print sizes given as ints). */
const char *py_int_or_tuple2(const int v[2], char *buf, size_t size);

#endif
