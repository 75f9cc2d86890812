/* What the CPU backend's oneDNN users share (conv_dnnl.c, matmul_bf16_dnnl.c):
 * the process's one oneDNN CPU engine, and the per-call scratchpads that let
 * several threads run one primitive at once. Only in builds with oneDNN. */
#ifndef ENGINE_CPU_DNNL_UTIL_H
#define ENGINE_CPU_DNNL_UTIL_H

#ifdef ENGINE_HAVE_DNNL

#include <oneapi/dnnl/dnnl.h>
#include <stdbool.h>
#include <stddef.h>

/* The engine, made on first use (thread-safe); NULL when oneDNN cannot start. */
dnnl_engine_t cpu_dnnl_engine(void);

/* A scratchpad of bytes (> 0) for one execution: its memory object in *mem
 * and the buffer to free with cpu_dnnl_scratchpad_free; false when either
 * cannot be made (nothing to free then). */
bool cpu_dnnl_scratchpad(size_t bytes, dnnl_memory_t *mem, void **buffer);
void cpu_dnnl_scratchpad_free(dnnl_memory_t mem, void *buffer);

#endif
#endif
