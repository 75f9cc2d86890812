/* How BLAS libraries (OpenBLAS, cuBLAS) see a strided matrix: shared by
 * the op layer, which copies operands BLAS cannot take as they are, and by
 * every backend's matrix products. */
#ifndef ENGINE_MATRIX_LAYOUT_H
#define ENGINE_MATRIX_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/tensor.h"

/* How BLAS sees a rows x cols matrix with element strides (row_stride,
 * col_stride): unit stride along one dim, a leading dimension along the
 * other. */
typedef struct {
    bool transposed; /* stored column-major: unit stride along the rows */
    int64_t ld;      /* leading dimension */
} MatrixLayout;

/* Fills out; false when the strides need a copy first. */
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
static inline bool matrix_blas_ok(const Tensor *t)
{
    int nd = t->shape.ndim;
    MatrixLayout l;
    return nd >= 2 &&
           blas_matrix_layout(t->shape.d[nd - 2], t->shape.d[nd - 1], t->strides[nd - 2], t->strides[nd - 1], &l);
}

#endif
