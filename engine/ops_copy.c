/* Ops that copy data: contiguous, clone, cat, stack, dtype and device
 * conversion, and the sum-to-shape used by every broadcasting backward. */
#include <stdlib.h>

#include "engine/autocast.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

static int identity_backward(Node *n, Tensor *g, Tensor **gin)
{
    gin[0] = g;
    return 0;
}

Tensor *t_clone(Tensor *t)
{
    if (!t) return NULL;
    Tensor *out = tensor_empty_like(t);
    if (!out) return NULL;
    backend_of(out)->copy(out, t);
    autograd_record("CloneBackward0", identity_backward, out, 1, &t);
    return out;
}

Tensor *t_contiguous(Tensor *t)
{
    if (!t) return NULL;
    if (tensor_is_contiguous(t)) return t;
    return t_clone(t);
}

static int cat_backward(Node *n, Tensor *g, Tensor **gin)
{
    int dim = (int)n->ints[0];
    int64_t start = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        int64_t len = n->inputs[i]->shape.d[dim];
        if (n->needs_grad[i]) {
            gin[i] = t_narrow(g, dim, start, len);
            if (!gin[i]) return -1;
        }
        start += len;
    }
    return 0;
}

Tensor *t_cat(Tensor *const *ts, int n, int dim)
{
    ENGINE_CHECK(n > 0, "cat: expected a non-empty list of Tensors");
    for (int i = 0; i < n; i++)
        if (!ts[i]) return NULL;
    const Tensor *first = ts[0];
    ENGINE_CHECK(first->shape.ndim > 0, "cat: zero-dimensional tensor (at position 0) cannot be concatenated");
    int d = shape_wrap_dim(dim, first->shape.ndim, "cat");
    if (d < 0) return NULL;
    Shape out_shape = first->shape;
    out_shape.d[d] = 0;
    for (int i = 0; i < n; i++) {
        const Tensor *t = ts[i];
        ENGINE_CHECK(t->dtype == first->dtype, "cat: expected all tensors to have dtype %s, got %s at position %d",
                     dtype_name(first->dtype), dtype_name(t->dtype), i);
        CHECK_SAME_DEVICE("cat", first, t);
        ENGINE_CHECK(t->shape.ndim == first->shape.ndim,
                     "cat: tensors must have same number of dimensions: got %d and %d", first->shape.ndim,
                     t->shape.ndim);
        for (int k = 0; k < t->shape.ndim; k++)
            ENGINE_CHECK(k == d || t->shape.d[k] == first->shape.d[k],
                         "cat: sizes of tensors must match except in dimension %d: expected size %lld but got size "
                         "%lld for tensor number %d in the list",
                         d, (long long)first->shape.d[k], (long long)t->shape.d[k], i);
        ENGINE_CHECK(!__builtin_add_overflow(out_shape.d[d], t->shape.d[d], &out_shape.d[d]),
                     "cat: the sizes in dimension %d add up to more than an int64 holds (at tensor number %d)", d, i);
    }
    Tensor *out = tensor_empty(out_shape, first->dtype, tensor_device(first));
    if (!out) return NULL;
    int64_t start = 0;
    bool mode = no_grad_begin();
    for (int i = 0; i < n; i++) {
        Tensor *part = t_narrow(out, d, start, ts[i]->shape.d[d]);
        if (!part) {
            grad_mode_restore(mode);
            return NULL;
        }
        backend_of(part)->copy(part, ts[i]);
        start += ts[i]->shape.d[d];
    }
    grad_mode_restore(mode);
    Node *node = autograd_record("CatBackward0", cat_backward, out, n, ts);
    if (node) node->ints[0] = d;
    return out;
}

Tensor *t_stack(Tensor *const *ts, int n, int dim)
{
    ENGINE_CHECK(n > 0, "stack: expected a non-empty list of Tensors");
    for (int i = 0; i < n; i++) {
        if (!ts[i]) return NULL;
        ENGINE_CHECK(shape_equal(ts[i]->shape, ts[0]->shape),
                     "stack: expects each tensor to be equal size, but got %s at entry 0 and %s at entry %d",
                     shape_str(ts[0]->shape), shape_str(ts[i]->shape), i);
    }
    int d = shape_wrap_dim(dim, ts[0]->shape.ndim + 1, "stack");
    if (d < 0) return NULL;
    Tensor **parts = malloc(sizeof(Tensor *) * (size_t)n);
    ENGINE_CHECK(parts != NULL, "stack: out of memory");
    for (int i = 0; i < n; i++) parts[i] = t_unsqueeze(ts[i], d);
    Tensor *out = t_cat(parts, n, d);
    free(parts);
    return out;
}

Tensor *t_sum_to_shape(Tensor *g, Shape shape)
{
    if (!g) return NULL;
    if (shape_equal(g->shape, shape)) return g;
    int dims[MAX_DIMS], nd = 0;
    int lead = g->shape.ndim - shape.ndim;
    ENGINE_ASSERT(lead >= 0);
    for (int i = 0; i < g->shape.ndim; i++)
        if (i < lead || (shape.d[i - lead] == 1 && g->shape.d[i] != 1)) dims[nd++] = i;
    Tensor *s = nd ? t_sum(g, dims, nd, true) : g;
    return t_reshape(s, shape);
}

/* ---- dtype and device ---- */

static int to_dtype_backward(Node *n, Tensor *g, Tensor **gin)
{
    gin[0] = tensor_to_dtype(g, n->inputs[0]->dtype);
    return gin[0] ? 0 : -1;
}

Tensor *tensor_to_dtype(Tensor *t, DType dtype)
{
    if (!t) return NULL;
    if (t->dtype == dtype) return t;
    Tensor *out = tensor_empty(t->shape, dtype, tensor_device(t));
    if (!out) return NULL;
    backend_of(out)->copy(out, t);
    /* between floating types the cast is differentiable (f32 <-> bf16/f16) */
    if (dtype_is_floating(dtype) && dtype_is_floating(t->dtype)) autograd_record("ToCopyBackward0", to_dtype_backward, out, 1, &t);
    return out;
}

static int to_device_backward(Node *n, Tensor *g, Tensor **gin)
{
    gin[0] = tensor_to(g, tensor_device(n->inputs[0]));
    return gin[0] ? 0 : -1;
}

Tensor *tensor_to(Tensor *t, Device device)
{
    if (!t) return NULL;
    if (device_equal(tensor_device(t), device)) return t;
    Tensor *out = tensor_empty(t->shape, t->dtype, device);
    if (!out || tensor_copy_(out, t) != 0) return NULL;
    autograd_record("ToCopyBackward0", to_device_backward, out, 1, &t);
    return out;
}
