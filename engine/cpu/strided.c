/* Coalescing of strided loops (see strided.h). */
#include "engine/cpu/strided.h"

#include <string.h>

#include "engine/error.h"

void strided_loop_init(StridedLoop *loop, Shape shape, int nops, const int64_t *const *strides)
{
    ENGINE_ASSERT(nops >= 1 && nops <= STRIDED_MAX_OPS);
    int64_t size[MAX_DIMS] = {0};
    int64_t st[STRIDED_MAX_OPS][MAX_DIMS] = {{0}};
    int nd = 0;
    /* drop size-1 dims, then merge dim d into the previous one when every
     * operand steps through them as one */
    for (int d = 0; d < shape.ndim; d++) {
        if (shape.d[d] == 1) continue;
        if (nd > 0) {
            bool mergeable = true;
            for (int k = 0; k < nops; k++)
                if (st[k][nd - 1] != strides[k][d] * shape.d[d]) mergeable = false;
            if (mergeable) {
                size[nd - 1] *= shape.d[d];
                for (int k = 0; k < nops; k++) st[k][nd - 1] = strides[k][d];
                continue;
            }
        }
        size[nd] = shape.d[d];
        for (int k = 0; k < nops; k++) st[k][nd] = strides[k][d];
        nd++;
    }
    loop->nops = nops;
    if (nd == 0) {
        loop->ndim_outer = 0;
        loop->outer = 1;
        loop->inner = shape_numel(shape);
        for (int k = 0; k < nops; k++) loop->inner_stride[k] = 0;
        return;
    }
    loop->inner = size[nd - 1];
    for (int k = 0; k < nops; k++) loop->inner_stride[k] = st[k][nd - 1];
    loop->ndim_outer = nd - 1;
    loop->outer = 1;
    for (int d = 0; d < nd - 1; d++) {
        loop->outer_size[d] = size[d];
        loop->outer *= size[d];
    }
    for (int k = 0; k < nops; k++) memcpy(loop->outer_stride[k], st[k], sizeof(int64_t) * (size_t)(nd - 1));
}
