/* CPU matrix products over BLAS (cblas_sgemm), and the helpers the
 * convolution kernels share with them. */
#ifndef ENGINE_CPU_LINALG_H
#define ENGINE_CPU_LINALG_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/tensor.h"

/* How BLAS sees a rows x cols matrix with element strides (row_stride,
 * col_stride): unit stride along one dim, a leading dimension along the
 * other. Returns false when the strides need a copy first. Backend-neutral:
 * cuBLAS takes the same layouts. */
typedef struct {
    bool transposed; /* stored column-major: unit stride along the rows */
    int64_t ld;      /* leading dimension */
} MatrixLayout;

static inline bool blas_matrix_layout(int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride,
                                      MatrixLayout *out)
{
    int64_t min_ld_rows = rows > 1 ? rows : 1, min_ld_cols = cols > 1 ? cols : 1;
    /* a dim of size 1 may have any stride: give it the one each layout wants */
    if (cols <= 1) col_stride = 1;
    if (rows <= 1) row_stride = min_ld_cols;
    if (col_stride == 1 && row_stride >= min_ld_cols) {
        *out = (MatrixLayout){false, row_stride};
        return true;
    }
    if (rows <= 1) row_stride = 1;
    if (row_stride == 1 && col_stride >= min_ld_rows) {
        *out = (MatrixLayout){true, col_stride};
        return true;
    }
    return false;
}

/* Whether the last two dims of t form BLAS-compatible matrices. */
bool cpu_matrix_blas_ok(const Tensor *t);

/* Row-major C = alpha * op(A) @ op(B) + beta * C with op(A) m x k, op(B)
 * k x n; a thin wrapper over cblas_sgemm that accepts m, n or k of 0. */
void cpu_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
               const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* cpu_sgemm on the OpenMP threads: each computes a block of C's rows (or
 * columns, when C is wide) with single-threaded BLAS. One thread pool for
 * everything: BLAS's own pool would wake next to OpenMP's still-spinning
 * threads (between elementwise ops and products) and oversubscribe the
 * cores. Small products, and calls from inside a parallel region, run as
 * one cpu_sgemm. */
void cpu_sgemm_parallel(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                        int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* out [batch..., M, N] (contiguous) = a [batch..., M, K] @ b [batch..., K, N]
 * (+ out's current values when accumulate). a and b have out's ndim, batch
 * dims already broadcast (stride 0 where broadcast), and BLAS-compatible
 * matrices (cpu_matrix_blas_ok). */
void cpu_matmul(Tensor *out, const Tensor *a, const Tensor *b, bool accumulate);

/* BLAS threads for code that calls sgemm from inside its own OpenMP loop:
 * begin makes BLAS single-threaded (so the two thread pools do not fight
 * over the cores) and returns the previous count for end. */
int cpu_blas_serial_begin(void);
void cpu_blas_serial_end(int previous);

#endif
