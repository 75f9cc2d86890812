/* ENGINE_HOSTDEV marks small inline functions shared by the CPU and CUDA
 * kernels: host+device code under nvcc, plain static inline in C. */
#ifndef ENGINE_HOSTDEV_H
#define ENGINE_HOSTDEV_H

#if defined(__CUDACC__)
#define ENGINE_HOSTDEV static __host__ __device__ __forceinline__
#else
#define ENGINE_HOSTDEV static inline
#endif

#endif
