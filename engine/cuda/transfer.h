/* CUDA side of engine/transfer.h: pinned host memory and copies on a copy
 * stream ordered against the compute stream (runtime.h) with events.
 * Plain C; the events travel as void*. */
#ifndef ENGINE_CUDA_TRANSFER_H
#define ENGINE_CUDA_TRANSFER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Page-locked host memory, or NULL (no error recorded) when the driver
 * will not pin it; the caller then falls back to ordinary memory. */
void *cuda_host_alloc(size_t nbytes);
void cuda_host_free(void *p);

/* The events of one transfer slot. */
void *cuda_transfer_new(void);
void cuda_transfer_free(void *tr);
/* dst (device) <- src (host), nbytes, on the copy stream after the compute
 * stream's work queued so far. */
void cuda_transfer_start(void *tr, void *dst, const void *src, size_t nbytes);
void cuda_transfer_use(void *tr);
void cuda_transfer_wait(void *tr);

#ifdef __cplusplus
}
#endif

#endif
