/* Row-major sgemm through oneDNN's (Debian's libdnnl), when the build found
 * it: on this engine's mid-size and large products its AVX-512 kernels
 * measured 5-38% faster than OpenBLAS's, on tiny ones (MnistModel's
 * per-sample products) 16-35% slower (bench/bench_gemm_ab); linalg.c picks
 * by size. */
#ifndef ENGINE_CPU_GEMM_DNNL_H
#define ENGINE_CPU_GEMM_DNNL_H

#include <stdbool.h>
#include <stdint.h>

/* c = alpha * op(a) @ op(b) + beta * c, as cblas_sgemm row-major (beta 0:
 * c is not read). Returns false, having written nothing, when the build has
 * no oneDNN or oneDNN refuses the call; the caller's BLAS runs then. */
bool dnnl_sgemm_row_major(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                          int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

#endif
