/* View ops: new tensor headers over the same storage, as in PyTorch, with
 * their backward functions; and flip, which copies (as torch.flip does). */
#include <stdlib.h>
#include <string.h>

#include "engine/autocast.h"
#include "engine/ops.h"

/* A view of t with the given shape/strides/offset, recorded for autograd. */
static Tensor *make_view(Tensor *t, Shape shape, const int64_t *strides, int64_t offset)
{
    return tensor_make_view(t->storage, offset, t->dtype, shape, strides);
}

/* Resolves one -1 in shape against numel and checks the result can be a
 * tensor of elem_size-byte elements; false with an error naming op. */
static bool infer_shape(Shape *shape, int64_t numel, size_t elem_size, const char *op)
{
    if (shape->ndim < 0 || shape->ndim > MAX_DIMS) {
        engine_error("%s: tensors have at most %d dims, got %d", op, MAX_DIMS, shape->ndim);
        return false;
    }
    int infer = -1;
    int64_t known = 1; /* the product of the known non-zero sizes */
    bool zero = false, overflow = false;
    for (int i = 0; i < shape->ndim; i++) {
        if (shape->d[i] == -1) {
            if (infer >= 0) {
                engine_error("%s: only one dimension can be inferred", op);
                return false;
            }
            infer = i;
        } else if (shape->d[i] < 0) {
            engine_error("%s: invalid shape dimension %lld", op, (long long)shape->d[i]);
            return false;
        } else if (shape->d[i] == 0) {
            zero = true;
        } else {
            overflow = overflow || __builtin_mul_overflow(known, shape->d[i], &known);
        }
    }
    if (overflow) {
        engine_error("%s: shape %s has too many elements (overflows 64-bit size)", op, shape_str(*shape));
        return false;
    }
    if (zero) known = 0;
    if (infer >= 0) {
        if (known == 0 || numel % known != 0) {
            engine_error("%s: shape '%s' is invalid for input of size %lld", op, shape_str(*shape), (long long)numel);
            return false;
        }
        shape->d[infer] = numel / known;
    } else if (known != numel) {
        engine_error("%s: shape '%s' is invalid for input of size %lld", op, shape_str(*shape), (long long)numel);
        return false;
    }
    return shape_check(*shape, elem_size, op, NULL);
}

/* Strides for viewing (shape, strides) as new_shape without a copy, following
 * PyTorch's computeStride: each group of old dims that is contiguous within
 * itself may be split or merged. Returns false where a copy is needed. */
static bool view_strides(Shape old, const int64_t *old_strides, Shape new_shape, int64_t *out)
{
    int64_t numel = shape_numel(old);
    if (numel <= 1) { /* any strides address a single element */
        shape_contiguous_strides(new_shape, out);
        return true;
    }
    int view_d = new_shape.ndim - 1;
    int64_t chunk_base_stride = old.ndim ? old_strides[old.ndim - 1] : 1;
    int64_t tensor_numel_acc = 1, view_numel_acc = 1;
    for (int tensor_d = old.ndim - 1; tensor_d >= 0; tensor_d--) {
        tensor_numel_acc *= old.d[tensor_d];
        int64_t chunk_stride; /* overflows only for strides no contiguous chunk has */
        if (tensor_d == 0 ||
            (old.d[tensor_d - 1] != 1 &&
             (__builtin_mul_overflow(tensor_numel_acc, chunk_base_stride, &chunk_stride) ||
              old_strides[tensor_d - 1] != chunk_stride))) {
            while (view_d >= 0 && (view_numel_acc < tensor_numel_acc || new_shape.d[view_d] == 1)) {
                out[view_d] = view_numel_acc * chunk_base_stride;
                view_numel_acc *= new_shape.d[view_d];
                view_d--;
            }
            if (view_numel_acc != tensor_numel_acc) return false;
            if (tensor_d > 0) {
                chunk_base_stride = old_strides[tensor_d - 1];
                tensor_numel_acc = 1;
                view_numel_acc = 1;
            }
        }
    }
    return view_d == -1;
}

static int reshape_backward(Node *n, Tensor *g, Tensor **gin)
{
    gin[0] = t_reshape(g, n->inputs[0]->shape);
    return gin[0] ? 0 : -1;
}

Tensor *t_view(Tensor *t, Shape shape)
{
    if (!t) return NULL;
    ENGINE_CHECK(shape.ndim <= MAX_DIMS, "view: at most %d dims", MAX_DIMS);
    if (!infer_shape(&shape, tensor_numel(t), dtype_size(t->dtype), "view")) return NULL;
    int64_t strides[MAX_DIMS] = {0};
    ENGINE_CHECK(view_strides(t->shape, t->strides, shape, strides),
                 "view: view size %s is not compatible with input tensor's size %s and stride (at least one dimension "
                 "spans across two contiguous subspaces). Use reshape instead.",
                 shape_str(shape), shape_str(t->shape));
    Tensor *out = make_view(t, shape, strides, t->offset);
    autograd_record("ViewBackward0", reshape_backward, out, 1, &t);
    return out;
}

Tensor *t_reshape(Tensor *t, Shape shape)
{
    if (!t) return NULL;
    if (!infer_shape(&shape, tensor_numel(t), dtype_size(t->dtype), "reshape")) return NULL;
    int64_t strides[MAX_DIMS] = {0};
    if (view_strides(t->shape, t->strides, shape, strides)) return t_view(t, shape);
    return t_view(t_contiguous(t), shape);
}

Tensor *t_flatten(Tensor *t, int start_dim, int end_dim)
{
    if (!t) return NULL;
    if (t->shape.ndim == 0) return t_reshape(t, SHAPE(1));
    int s = shape_wrap_dim(start_dim, t->shape.ndim, "flatten");
    int e = shape_wrap_dim(end_dim, t->shape.ndim, "flatten");
    if (s < 0 || e < 0) return NULL;
    ENGINE_CHECK(s <= e, "flatten: start_dim (%d) cannot come after end_dim (%d)", start_dim, end_dim);
    Shape out = {.ndim = 0};
    for (int i = 0; i < t->shape.ndim; i++) {
        if (i <= s || i > e) out.d[out.ndim++] = t->shape.d[i];
        else out.d[out.ndim - 1] *= t->shape.d[i];
    }
    return t_reshape(t, out);
}

static int permute_backward(Node *n, Tensor *g, Tensor **gin)
{
    int inverse[MAX_DIMS];
    for (int i = 0; i < g->shape.ndim; i++) inverse[n->ints[i]] = i;
    gin[0] = t_permute(g, inverse);
    return gin[0] ? 0 : -1;
}

Tensor *t_permute(Tensor *t, const int *dims)
{
    if (!t) return NULL;
    int nd = t->shape.ndim;
    bool seen[MAX_DIMS] = {false};
    Shape shape = {.ndim = nd};
    int64_t strides[MAX_DIMS] = {0};
    int wrapped[MAX_DIMS];
    for (int i = 0; i < nd; i++) {
        int d = shape_wrap_dim(dims[i], nd, "permute");
        if (d < 0) return NULL;
        ENGINE_CHECK(!seen[d], "permute: repeated dim %d in permutation", dims[i]);
        seen[d] = true;
        wrapped[i] = d;
        shape.d[i] = t->shape.d[d];
        strides[i] = t->strides[d];
    }
    Tensor *out = make_view(t, shape, strides, t->offset);
    Node *n = autograd_record("PermuteBackward0", permute_backward, out, 1, &t);
    if (n)
        for (int i = 0; i < nd; i++) n->ints[i] = wrapped[i];
    return out;
}

Tensor *t_transpose(Tensor *t, int dim0, int dim1)
{
    if (!t) return NULL;
    int nd = t->shape.ndim;
    if (nd == 0) return t_view(t, SCALAR_SHAPE);
    int a = shape_wrap_dim(dim0, nd, "transpose"), b = shape_wrap_dim(dim1, nd, "transpose");
    if (a < 0 || b < 0) return NULL;
    int perm[MAX_DIMS];
    for (int i = 0; i < nd; i++) perm[i] = i;
    perm[a] = b;
    perm[b] = a;
    return t_permute(t, perm);
}

Tensor *t_squeeze(Tensor *t, int dim)
{
    if (!t) return NULL;
    int d = shape_wrap_dim(dim, t->shape.ndim, "squeeze");
    if (d < 0) return NULL;
    if (t->shape.ndim == 0 || t->shape.d[d] != 1) return t_view(t, t->shape);
    Shape s = {.ndim = 0};
    for (int i = 0; i < t->shape.ndim; i++)
        if (i != d) s.d[s.ndim++] = t->shape.d[i];
    return t_view(t, s);
}

Tensor *t_squeeze_all(Tensor *t)
{
    if (!t) return NULL;
    Shape s = {.ndim = 0};
    for (int i = 0; i < t->shape.ndim; i++)
        if (t->shape.d[i] != 1) s.d[s.ndim++] = t->shape.d[i];
    return t_view(t, s);
}

Tensor *t_unsqueeze(Tensor *t, int dim)
{
    if (!t) return NULL;
    ENGINE_CHECK(t->shape.ndim < MAX_DIMS, "unsqueeze: tensors have at most %d dims", MAX_DIMS);
    int d = shape_wrap_dim(dim, t->shape.ndim + 1, "unsqueeze");
    if (d < 0) return NULL;
    Shape s = {.ndim = t->shape.ndim + 1};
    for (int i = 0, j = 0; i < s.ndim; i++) s.d[i] = i == d ? 1 : t->shape.d[j++];
    return t_view(t, s);
}

static int expand_backward(Node *n, Tensor *g, Tensor **gin)
{
    gin[0] = t_sum_to_shape(g, n->inputs[0]->shape);
    return gin[0] ? 0 : -1;
}

Tensor *t_expand(Tensor *t, Shape shape)
{
    if (!t) return NULL;
    ENGINE_CHECK(shape.ndim <= MAX_DIMS, "expand: tensors have at most %d dims, got %d", MAX_DIMS, shape.ndim);
    ENGINE_CHECK(shape.ndim >= t->shape.ndim,
                 "expand: the number of sizes provided (%d) must be greater or equal to the number of dimensions in "
                 "the tensor (%d)",
                 shape.ndim, t->shape.ndim);
    int64_t strides[MAX_DIMS] = {0};
    for (int i = 0; i < shape.ndim; i++) {
        int j = t->shape.ndim - shape.ndim + i;
        if (j < 0) {
            ENGINE_CHECK(shape.d[i] >= 0, "expand: -1 is not allowed in a leading, non-existing dimension");
            strides[i] = 0;
            continue;
        }
        if (shape.d[i] == -1) shape.d[i] = t->shape.d[j];
        if (t->shape.d[j] == shape.d[i]) {
            strides[i] = t->strides[j];
        } else {
            ENGINE_CHECK(t->shape.d[j] == 1,
                         "expand: the expanded size of the tensor (%lld) must match the existing size (%lld) at "
                         "non-singleton dimension %d; target sizes %s, tensor sizes %s",
                         (long long)shape.d[i], (long long)t->shape.d[j], i, shape_str(shape), shape_str(t->shape));
            strides[i] = 0;
        }
    }
    if (!shape_check(shape, dtype_size(t->dtype), "expand", NULL)) return NULL;
    Tensor *out = make_view(t, shape, strides, t->offset);
    autograd_record("ExpandBackward0", expand_backward, out, 1, &t);
    return out;
}

/* Backward of every strided sub-view: scatter g into zeros of the input's
 * shape through the same view. ints: dim, start, step; shape: view shape. */
static int slice_backward(Node *n, Tensor *g, Tensor **gin)
{
    Tensor *in = n->inputs[0];
    Tensor *z = tensor_zeros(in->shape, in->dtype, tensor_device(in));
    if (!z) return -1;
    int dim = (int)n->ints[0];
    int64_t start = n->ints[1], step = n->ints[2];
    int64_t strides[MAX_DIMS] = {0};
    memcpy(strides, z->strides, sizeof strides);
    Tensor *part;
    if (n->ints[3]) { /* select: the dim is gone */
        Shape s = {.ndim = 0};
        int64_t st[MAX_DIMS];
        for (int i = 0; i < in->shape.ndim; i++)
            if (i != dim) {
                st[s.ndim] = z->strides[i];
                s.d[s.ndim++] = in->shape.d[i];
            }
        part = tensor_make_view(z->storage, start * z->strides[dim], z->dtype, s, st);
    } else {
        Shape s = in->shape;
        s.d[dim] = g->shape.d[dim];
        if (s.d[dim] > 1) strides[dim] *= step; /* fits: the elements lie inside z */
        part = tensor_make_view(z->storage, start * z->strides[dim], z->dtype, s, strides);
    }
    if (!part || tensor_copy_(part, g) != 0) return -1;
    gin[0] = z;
    return 0;
}

Tensor *t_slice(Tensor *t, int dim, int64_t start, int64_t end, int64_t step)
{
    if (!t) return NULL;
    ENGINE_CHECK(t->shape.ndim > 0, "slice: cannot be applied to a 0-dim tensor");
    int d = shape_wrap_dim(dim, t->shape.ndim, "slice");
    if (d < 0) return NULL;
    ENGINE_CHECK(step > 0, "slice: step must be positive, got %lld", (long long)step);
    int64_t size = t->shape.d[d];
    if (start < 0) start += size;
    if (end < 0) end += size;
    if (start < 0) start = 0;
    if (start > size) start = size;
    if (end > size) end = size;
    if (end < start) end = start;
    Shape s = t->shape;
    s.d[d] = end == start ? 0 : (end - start - 1) / step + 1; /* without end - start + step overflowing */
    int64_t strides[MAX_DIMS] = {0};
    memcpy(strides, t->strides, sizeof strides);
    if (s.d[d] > 1) strides[d] *= step; /* fits: the elements lie inside t; a huge step leaves one */
    Tensor *out = make_view(t, s, strides, t->offset + start * t->strides[d]);
    Node *n = autograd_record("SliceBackward0", slice_backward, out, 1, &t);
    if (n) {
        n->ints[0] = d;
        n->ints[1] = start;
        n->ints[2] = step;
        n->ints[3] = 0;
    }
    return out;
}

Tensor *t_narrow(Tensor *t, int dim, int64_t start, int64_t length)
{
    if (!t) return NULL;
    ENGINE_CHECK(t->shape.ndim > 0, "narrow: cannot be applied to a 0-dim tensor");
    int d = shape_wrap_dim(dim, t->shape.ndim, "narrow");
    if (d < 0) return NULL;
    int64_t size = t->shape.d[d];
    if (start < 0) start += size;
    ENGINE_CHECK(start >= 0 && length >= 0 && length <= size - start,
                 "narrow: start (%lld) + length (%lld) exceeds dimension size (%lld) of dim %d", (long long)start,
                 (long long)length, (long long)size, d);
    return t_slice(t, d, start, start + length, 1);
}

Tensor *t_select(Tensor *t, int dim, int64_t index)
{
    if (!t) return NULL;
    ENGINE_CHECK(t->shape.ndim > 0, "select: cannot be applied to a 0-dim tensor");
    int d = shape_wrap_dim(dim, t->shape.ndim, "select");
    if (d < 0) return NULL;
    int64_t size = t->shape.d[d];
    ENGINE_CHECK(index >= -size && index < size, "select: index %lld out of range for tensor of size %s at dim %d",
                 (long long)index, shape_str(t->shape), d);
    if (index < 0) index += size;
    Shape s = {.ndim = 0};
    int64_t strides[MAX_DIMS] = {0};
    for (int i = 0; i < t->shape.ndim; i++)
        if (i != d) {
            strides[s.ndim] = t->strides[i];
            s.d[s.ndim++] = t->shape.d[i];
        }
    Tensor *out = make_view(t, s, strides, t->offset + index * t->strides[d]);
    Node *n = autograd_record("SelectBackward0", slice_backward, out, 1, &t);
    if (n) {
        n->ints[0] = d;
        n->ints[1] = index;
        n->ints[2] = 1;
        n->ints[3] = 1;
    }
    return out;
}

int t_chunk(Tensor *t, int chunks, int dim, Tensor **out)
{
    if (!t) return -1;
    ENGINE_CHECK_INT(chunks > 0, "chunk: chunk expects `chunks` to be greater than 0, got: %d", chunks);
    ENGINE_CHECK_INT(t->shape.ndim > 0, "chunk: cannot be applied to a 0-dim tensor");
    int d = shape_wrap_dim(dim, t->shape.ndim, "chunk");
    if (d < 0) return -1;
    int64_t size = t->shape.d[d];
    if (size == 0) { /* as PyTorch: `chunks` empty chunks */
        for (int i = 0; i < chunks; i++)
            if (!(out[i] = t_narrow(t, d, 0, 0))) return -1;
        return chunks;
    }
    int64_t step = (size - 1) / chunks + 1; /* ceil without size + chunks overflowing */
    int n = 0;
    for (int64_t start = 0; start < size; n++) {
        int64_t len = step <= size - start ? step : size - start;
        out[n] = t_narrow(t, d, start, len);
        if (!out[n]) return -1;
        start += len;
    }
    return n;
}

/* ---- diagonal ---- */

/* The diagonal of t's dims d1, d2 with offset, as a view: those dims
 * removed, the diagonal appended last. */
static Tensor *diagonal_view(Tensor *t, int64_t offset, int d1, int d2)
{
    int64_t n1 = t->shape.d[d1], n2 = t->shape.d[d2];
    int64_t len = offset >= 0 ? (n1 < n2 - offset ? n1 : n2 - offset) : (n1 + offset < n2 ? n1 + offset : n2);
    if (len < 0) len = 0;
    int64_t start = t->offset;
    if (len > 0) start += offset >= 0 ? offset * t->strides[d2] : -offset * t->strides[d1];
    Shape s = {.ndim = 0};
    int64_t strides[MAX_DIMS] = {0};
    for (int i = 0; i < t->shape.ndim; i++)
        if (i != d1 && i != d2) {
            strides[s.ndim] = t->strides[i];
            s.d[s.ndim++] = t->shape.d[i];
        }
    strides[s.ndim] = t->strides[d1] + t->strides[d2];
    s.d[s.ndim++] = len;
    return make_view(t, s, strides, start);
}

/* g into the diagonal of zeros of the input's shape. ints: offset, d1, d2. */
static int diagonal_backward(Node *n, Tensor *g, Tensor **gin)
{
    Tensor *in = n->inputs[0];
    Tensor *z = tensor_zeros(in->shape, in->dtype, tensor_device(in));
    Tensor *part = z ? diagonal_view(z, n->ints[0], (int)n->ints[1], (int)n->ints[2]) : NULL;
    if (!part || tensor_copy_(part, g) != 0) return -1;
    gin[0] = z;
    return 0;
}

Tensor *t_diagonal(Tensor *t, int64_t offset, int dim1, int dim2)
{
    if (!t) return NULL;
    ENGINE_CHECK(t->shape.ndim >= 2, "diagonal: expected a tensor of at least 2 dims, got %s", shape_str(t->shape));
    int d1 = shape_wrap_dim(dim1, t->shape.ndim, "diagonal"), d2 = d1 < 0 ? -1 : shape_wrap_dim(dim2, t->shape.ndim, "diagonal");
    if (d1 < 0 || d2 < 0) return NULL;
    ENGINE_CHECK(d1 != d2, "diagonal: diagonal dimensions cannot be identical %d, %d", dim1, dim2);
    /* an offset past either side gives an empty diagonal, as in PyTorch */
    if (offset > t->shape.d[d2]) offset = t->shape.d[d2];
    if (offset < -t->shape.d[d1]) offset = -t->shape.d[d1];
    Tensor *out = diagonal_view(t, offset, d1, d2);
    Node *n = autograd_record("DiagonalBackward0", diagonal_backward, out, 1, &t);
    if (n) {
        n->ints[0] = offset;
        n->ints[1] = d1;
        n->ints[2] = d2;
    }
    return out;
}

/* ---- flip ---- */

/* t reversed along dim d: index_select with n-1, ..., 0 (a copy, on t's device). */
static Tensor *reverse_dim(Tensor *t, int d)
{
    int64_t n = t->shape.d[d];
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    ENGINE_ASSERT(idx != NULL);
    for (int64_t i = 0; i < n; i++) idx[i] = n - 1 - i;
    Tensor *index = tensor_from_data(idx, SHAPE(n), DT_I64, tensor_device(t));
    free(idx);
    return t_index_select(t, d, index);
}

/* t reversed along every dim of the bit mask, as a new tensor (no autograd). */
static Tensor *flip_dims(Tensor *t, uint64_t mask)
{
    bool mode = no_grad_begin();
    Tensor *out = t;
    for (int d = 0; d < t->shape.ndim && out; d++)
        if ((mask >> d & 1) && t->shape.d[d] > 1) out = reverse_dim(out, d);
    if (out == t) out = t_clone(t); /* nothing to reverse: still a copy, as torch.flip */
    grad_mode_restore(mode);
    return out;
}

/* Flipping is its own inverse: the gradient flipped back. ints[0]: the dims' mask. */
static int flip_backward(Node *n, Tensor *g, Tensor **gin)
{
    gin[0] = flip_dims(g, (uint64_t)n->ints[0]);
    return gin[0] ? 0 : -1;
}

Tensor *t_flip(Tensor *t, const int *dims, int n_dims)
{
    if (!t) return NULL;
    /* bf16/f16: through f32, which the copy kernel takes (exact: values only move) */
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 1, t_flip(ac_in_[0], dims, n_dims), t);
    uint64_t mask = 0;
    for (int i = 0; i < n_dims; i++) {
        int d = shape_wrap_dim(dims[i], t->shape.ndim, "flip");
        if (d < 0) return NULL;
        ENGINE_CHECK(!(mask >> d & 1), "flip: dim %d appears multiple times in the list of dims", d);
        mask |= (uint64_t)1 << d;
    }
    Tensor *out = flip_dims(t, mask);
    Node *n = autograd_record("FlipBackward0", flip_backward, out, 1, &t);
    if (n) n->ints[0] = (int64_t)mask;
    return out;
}
