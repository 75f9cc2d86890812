/* Checking every CUDA, cuBLAS and cuDNN call: a failure reports the call,
 * file:line and the library's own error string. Running out of device
 * memory is a user-facing condition (an error message, NULL up the stack);
 * anything else means a broken invariant or a broken device and aborts.
 * Only included by .cu files. */
#ifndef ENGINE_CUDA_CHECK_H
#define ENGINE_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <stdio.h>
#include <stdlib.h>

extern "C" {
#include "engine/error.h"
}

/* Aborts with the call, file:line and message. */
[[noreturn]] static inline void cuda_fail(const char *lib, const char *call, const char *msg, const char *file,
                                          int line)
{
    fprintf(stderr, "%s:%d: %s call failed: %s: %s\n", file, line, lib, call, msg);
    fflush(stderr);
    abort();
}

#define CUDA_CHECK(call)                                                                       \
    do {                                                                                       \
        cudaError_t err_ = (call);                                                             \
        if (err_ != cudaSuccess) cuda_fail("CUDA", #call, cudaGetErrorString(err_), __FILE__, __LINE__); \
    } while (0)

#define CUBLAS_CHECK(call)                                                                     \
    do {                                                                                       \
        cublasStatus_t st_ = (call);                                                           \
        if (st_ != CUBLAS_STATUS_SUCCESS) cuda_fail("cuBLAS", #call, cublasGetStatusString(st_), __FILE__, __LINE__); \
    } while (0)

#define CUDNN_CHECK(call)                                                                      \
    do {                                                                                       \
        cudnnStatus_t st_ = (call);                                                            \
        if (st_ != CUDNN_STATUS_SUCCESS) cuda_fail("cuDNN", #call, cudnnGetErrorString(st_), __FILE__, __LINE__); \
    } while (0)

/* A kernel launch: checks the launch itself (configuration errors). */
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

#endif
