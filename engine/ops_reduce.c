/* Reductions over all or some dims, with keepdim, and their backward functions. */
#include <string.h>

#include "engine/cpu/reduce.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#ifdef ENGINE_HAVE_CUDA
#include "engine/cuda/reduce.h"
#endif

/* Marks the reduced dims (all of them when n_dims == 0) and builds the
 * keepdim and final output shapes. Returns false with an error recorded. */
static bool reduce_shapes(const Tensor *t, const int *dims, int n_dims, bool keepdim, const char *op, bool *mask,
                          Shape *keep_shape, Shape *out_shape)
{
    int nd = t->shape.ndim;
    memset(mask, 0, sizeof(bool) * MAX_DIMS);
    if (!dims || n_dims == 0) {
        for (int d = 0; d < nd; d++) mask[d] = true;
    } else {
        for (int i = 0; i < n_dims; i++) {
            int d = shape_wrap_dim(dims[i], nd, op);
            if (d < 0) return false;
            if (nd == 0) continue;
            if (mask[d]) {
                engine_error("%s: dim %d appears multiple times in the list of dims", op, d);
                return false;
            }
            mask[d] = true;
        }
    }
    *keep_shape = t->shape;
    out_shape->ndim = 0;
    for (int d = 0; d < nd; d++) {
        if (mask[d]) keep_shape->d[d] = 1;
        if (!mask[d]) out_shape->d[out_shape->ndim++] = t->shape.d[d];
        else if (keepdim) out_shape->d[out_shape->ndim++] = 1;
    }
    return true;
}

static int sum_backward(Node *n, Tensor *g, Tensor **gin)
{
    /* back to keepdim shape, then broadcast over the reduced dims */
    Tensor *gk = t_reshape(g, n->shape);
    gin[0] = t_expand(gk, n->inputs[0]->shape);
    return gin[0] ? 0 : -1;
}

Tensor *t_sum(Tensor *t, const int *dims, int n_dims, bool keepdim)
{
    if (!t) return NULL;
    CHECK_DTYPE("sum", t, DT_F32, "input");
    bool mask[MAX_DIMS];
    Shape keep_shape, out_shape;
    if (!reduce_shapes(t, dims, n_dims, keepdim, "sum", mask, &keep_shape, &out_shape)) return NULL;
    Tensor *out = tensor_empty(keep_shape, DT_F32, tensor_device(t));
    if (!out) return NULL;
    KERNEL(out, sum)(out, t, mask);
    out->shape = out_shape; /* same contiguous data, final shape */
    shape_contiguous_strides(out_shape, out->strides);
    Node *n = autograd_record("SumBackward1", sum_backward, out, 1, &t);
    if (n) n->shape = keep_shape;
    return out;
}
