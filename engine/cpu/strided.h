/* A strided loop over up to 4 operands sharing one index space, the building
 * block of CPU elementwise kernels: dims are coalesced where every operand is
 * contiguous across them, the last dim becomes the inner loop, and the outer
 * index can be split across threads. */
#ifndef ENGINE_CPU_STRIDED_H
#define ENGINE_CPU_STRIDED_H

#include <stdint.h>

#include "engine/shape.h"

#define STRIDED_MAX_OPS 4

typedef struct {
    int nops;
    int ndim_outer;                        /* dims in the outer index */
    int64_t outer_size[MAX_DIMS];          /* sizes of the outer dims */
    int64_t outer_stride[STRIDED_MAX_OPS][MAX_DIMS];
    int64_t outer;                         /* product of outer sizes */
    int64_t inner;                         /* size of the inner dim */
    int64_t inner_stride[STRIDED_MAX_OPS]; /* stride of each operand in the inner dim */
} StridedLoop;

/* strides[k] are operand k's element strides over shape (0 for broadcast dims). */
void strided_loop_init(StridedLoop *loop, Shape shape, int nops, const int64_t *const *strides);

/* Element offsets of each operand at the start of outer row o (< outer).
 * What is left of o at the outermost dim is its index there: no division
 * for it (a 64-bit division costs some 40 cycles, more than a short row's
 * work, and a broadcast of one value per row, as dropout2d's mask, has
 * one outer dim). */
static inline void strided_offsets(const StridedLoop *loop, int64_t o, int64_t *off)
{
    for (int k = 0; k < loop->nops; k++) off[k] = 0;
    for (int d = loop->ndim_outer - 1; d > 0; d--) {
        int64_t i = o % loop->outer_size[d];
        o /= loop->outer_size[d];
        for (int k = 0; k < loop->nops; k++) off[k] += i * loop->outer_stride[k][d];
    }
    if (loop->ndim_outer > 0)
        for (int k = 0; k < loop->nops; k++) off[k] += o * loop->outer_stride[k][0];
}

/* Whether a loop of total size n is worth running on several threads. */
#define CPU_PARALLEL_GRAIN 32768

#endif
