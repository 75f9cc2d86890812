/* The CUDA runtime state the backend shares: one stream on which every
 * kernel, copy, cuBLAS and cuDNN call runs (so they are ordered without
 * device-wide syncs), the library handles bound to it, and the numeric
 * modes. Plain C declarations: included by C code in CUDA builds. */
#ifndef ENGINE_CUDA_RUNTIME_H
#define ENGINE_CUDA_RUNTIME_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Devices visible to the process (CUDA_VISIBLE_DEVICES applies); 0 when the
 * driver or device is missing (never aborts). */
int cuda_device_count(void);
/* The shared stream, cuBLAS and cuDNN handles (created on first use), as
 * void* so C code can pass them around; .cu files cast them. */
void *cuda_stream(void);
void *cuda_cublas(void);
void *cuda_cudnn(void);
/* TF32 tensor-core math for matmul/conv: off by default (results within
 * 1e-4 of the CPU); an explicit option. */
void cuda_set_tf32(bool enabled);
bool cuda_tf32(void);
/* Deterministic algorithms only (cuDNN algorithm choice, no atomics-based
 * reductions where a deterministic kernel exists). */
void cuda_set_deterministic(bool enabled);
bool cuda_deterministic(void);
/* The current device's compute capability, major part (8 for A100, 9 for
 * H100): which low-precision kernels it has. */
int cuda_compute_capability_major(void);
/* Waits for the stream (host reads, timing). */
void cuda_synchronize(void);

#ifdef __cplusplus
}
#endif

#endif
