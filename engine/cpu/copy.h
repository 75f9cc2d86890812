/* CPU kernels for raw memory and element copies. */
#ifndef ENGINE_CPU_COPY_H
#define ENGINE_CPU_COPY_H

#include <stddef.h>

#include "engine/tensor.h"

void *cpu_alloc(size_t nbytes);
void cpu_free(void *p);
/* dst = src elementwise; src already has dst's shape (stride 0 where
 * broadcast); converts dtype when they differ. */
void cpu_copy(Tensor *dst, const Tensor *src);
/* Every element of t = value (converted to t's dtype). */
void cpu_fill(Tensor *t, double value);
/* Host <-> storage transfers of nbytes (the CPU ones are memcpy). */
void cpu_memcpy_to_host(void *dst, const void *src, size_t nbytes);
void cpu_memcpy_from_host(void *dst, const void *src, size_t nbytes);

#endif
