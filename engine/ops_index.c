/* Indexing ops: gather, scatter_add, index_select, embedding, constant pad
 * and one_hot, with their backward functions. Index tensors are i64 and are
 * range-checked before any kernel reads through them. */
#include <string.h>

#include "engine/autocast.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

/* Size of dim d; a 0-dim tensor indexes like a one-element vector. */
static int64_t dim_size(const Tensor *t, int d) { return t->shape.ndim ? t->shape.d[d] : 1; }

/* Every value of index in [0, size), or an error naming the offending one. */
static bool check_bounds(const char *op, Tensor *index, int dim, int64_t size)
{
    if (tensor_numel(index) == 0) return true;
    int64_t lo, hi;
    if (!backend_of(index)->index_range) {
        engine_error("index_range is not implemented on %s", backend_of(index)->name);
        return false;
    }
    backend_of(index)->index_range(index, &lo, &hi);
    if (lo >= 0 && hi < size) return true;
    engine_error("%s: index %lld is out of bounds for dimension %d with size %lld", op, (long long)(lo < 0 ? lo : hi),
                 dim, (long long)size);
    return false;
}

/* gather/scatter_add shapes: index has self's ndim and is no larger than
 * self except along dim, and no larger than src (when given) anywhere. */
static bool check_gather_shapes(const char *op, const Tensor *self, int d, const Tensor *index, const Tensor *src)
{
    if (index->shape.ndim != self->shape.ndim || (src && src->shape.ndim != self->shape.ndim)) {
        engine_error("%s: Index tensor must have the same number of dimensions as input tensor (index %s, input %s%s%s)",
                     op, shape_str(index->shape), shape_str(self->shape), src ? ", src " : "",
                     src ? shape_str(src->shape) : "");
        return false;
    }
    for (int k = 0; k < index->shape.ndim; k++) {
        if ((k != d && index->shape.d[k] > self->shape.d[k]) || (src && index->shape.d[k] > src->shape.d[k])) {
            engine_error("%s: Size does not match at dimension %d: expected index %s to be smaller than self %s apart "
                         "from dimension %d%s%s",
                         op, k, shape_str(index->shape), shape_str(self->shape), d,
                         src ? " and to be smaller size than src " : "", src ? shape_str(src->shape) : "");
            return false;
        }
    }
    return true;
}

/* A new tensor of index's shape gathered from t along d (index checked). */
static Tensor *gather_new(Tensor *t, int d, Tensor *index)
{
    NEED_KERNEL(t, gather);
    Tensor *out = tensor_empty(index->shape, t->dtype, tensor_device(t));
    if (out && tensor_numel(out) > 0) backend_of(out)->gather(out, t, d, index);
    return out;
}

/* zeros(shape) with index_add of src's slices along d (the backward of
 * index_select and embedding); slices whose index is skip add nothing. */
static Tensor *index_add_into_zeros(Shape shape, int d, Tensor *index, Tensor *src, int64_t skip)
{
    Tensor *z = tensor_zeros(shape, DT_F32, tensor_device(src));
    Tensor *ci = t_contiguous(index), *cs = t_contiguous(src);
    if (!z || !ci || !cs) return NULL;
    NEED_KERNEL(z, index_add);
    backend_of(z)->index_add(z, d, ci, cs, skip);
    return z;
}

/* part placed at the start of zeros(shape) (part is no larger anywhere). */
static Tensor *zero_extend(Tensor *part, Shape shape)
{
    if (!part || shape_equal(part->shape, shape)) return part;
    Tensor *z = tensor_zeros(shape, part->dtype, tensor_device(part));
    if (!z) return NULL;
    Tensor *corner = tensor_make_view(z->storage, z->offset, z->dtype, part->shape, z->strides);
    if (!corner || tensor_copy_(corner, part) != 0) return NULL;
    return z;
}

/* ---- gather and scatter_add ---- */

static int gather_backward(Node *n, Tensor *g, Tensor **gin)
{
    Tensor *t = n->inputs[0];
    Tensor *z = tensor_zeros(t->shape, DT_F32, tensor_device(t));
    if (!z) return -1;
    NEED_KERNEL_INT(z, scatter_add);
    backend_of(z)->scatter_add(z, (int)n->ints[0], n->saved[0], g);
    gin[0] = z;
    return 0;
}

Tensor *t_gather(Tensor *t, int dim, Tensor *index)
{
    if (!t || !index) return NULL;
    /* bf16/f16: through f32, which these kernels take (exact: values only move) */
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 1, t_gather(ac_in_[0], dim, index), t);
    CHECK_DTYPE("gather", index, DT_I64, "index");
    CHECK_SAME_DEVICE("gather", t, index);
    int d = shape_wrap_dim(dim, t->shape.ndim, "gather");
    if (d < 0 || !check_gather_shapes("gather", t, d, index, NULL)) return NULL;
    if (!check_bounds("gather", index, d, dim_size(t, d))) return NULL;
    Tensor *out = gather_new(t, d, index);
    Node *n = autograd_record("GatherBackward0", gather_backward, out, 2, (Tensor *[]){t, index});
    if (n) {
        n->saved[0] = index;
        n->ints[0] = d;
    }
    return out;
}

static int scatter_add_backward(Node *n, Tensor *g, Tensor **gin)
{
    if (n->needs_grad[0]) gin[0] = g;
    if (n->needs_grad[2]) {
        /* src's elements beyond index's extent were never added: zero grad */
        Tensor *part = gather_new(g, (int)n->ints[0], n->saved[0]);
        if (!(gin[2] = zero_extend(part, n->inputs[2]->shape))) return -1;
    }
    return 0;
}

Tensor *t_scatter_add(Tensor *t, int dim, Tensor *index, Tensor *src)
{
    if (!t || !index || !src) return NULL;
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 2, t_scatter_add(ac_in_[0], dim, index, ac_in_[1]), t, src);
    CHECK_DTYPE("scatter_add", index, DT_I64, "index");
    ENGINE_CHECK(src->dtype == t->dtype, "scatter_add: expected self and src to have the same dtype, got %s and %s",
                 dtype_name(t->dtype), dtype_name(src->dtype));
    CHECK_SAME_DEVICE("scatter_add", t, index);
    CHECK_SAME_DEVICE("scatter_add", t, src);
    int d = shape_wrap_dim(dim, t->shape.ndim, "scatter_add");
    if (d < 0 || !check_gather_shapes("scatter_add", t, d, index, src)) return NULL;
    if (!check_bounds("scatter_add", index, d, dim_size(t, d))) return NULL;
    NEED_KERNEL(t, scatter_add);
    Tensor *out = tensor_empty_like(t);
    if (!out || tensor_copy_(out, t) != 0) return NULL;
    if (tensor_numel(index) > 0) backend_of(out)->scatter_add(out, d, index, src);
    Node *n = autograd_record("ScatterAddBackward0", scatter_add_backward, out, 3, (Tensor *[]){t, index, src});
    if (n) {
        n->saved[0] = index;
        n->ints[0] = d;
    }
    return out;
}

/* ---- index_select and embedding ---- */

static int index_select_backward(Node *n, Tensor *g, Tensor **gin)
{
    gin[0] = index_add_into_zeros(n->inputs[0]->shape, (int)n->ints[0], n->saved[0], g, -1);
    return gin[0] ? 0 : -1;
}

Tensor *t_index_select(Tensor *t, int dim, Tensor *index)
{
    if (!t || !index) return NULL;
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 1, t_index_select(ac_in_[0], dim, index), t);
    CHECK_DTYPE("index_select", index, DT_I64, "index");
    CHECK_SAME_DEVICE("index_select", t, index);
    ENGINE_CHECK(index->shape.ndim <= 1, "index_select: Index is supposed to be a vector, got shape %s",
                 shape_str(index->shape));
    int d = shape_wrap_dim(dim, t->shape.ndim, "index_select");
    if (d < 0) return NULL;
    int64_t n = tensor_numel(index);
    Shape out_shape = t->shape;
    if (t->shape.ndim > 0) out_shape.d[d] = n;
    else ENGINE_CHECK(n == 1, "index_select: a 0-dim input takes exactly one index, got %lld", (long long)n);
    if (!check_bounds("index_select", index, d, dim_size(t, d))) return NULL;
    /* index broadcast over every other dim turns this into a gather */
    int64_t strides[MAX_DIMS] = {0};
    if (index->shape.ndim == 1 && out_shape.ndim > 0) strides[d] = index->strides[0];
    Tensor *spread = tensor_make_view(index->storage, index->offset, DT_I64, out_shape, strides);
    Tensor *out = spread ? gather_new(t, d, spread) : NULL;
    Node *node = autograd_record("IndexSelectBackward0", index_select_backward, out, 2, (Tensor *[]){t, index});
    if (node) {
        node->saved[0] = index;
        node->ints[0] = d;
    }
    return out;
}

static int embedding_backward(Node *n, Tensor *g, Tensor **gin)
{
    Tensor *weight = n->inputs[1], *flat = n->saved[0];
    Tensor *cg = t_contiguous(g);
    if (!cg) return -1;
    Tensor *rows = tensor_make_view(cg->storage, cg->offset, DT_F32, SHAPE(tensor_numel(flat), weight->shape.d[1]), NULL);
    if (!rows) return -1;
    gin[1] = index_add_into_zeros(weight->shape, 0, flat, rows, n->ints[0]);
    return gin[1] ? 0 : -1;
}

Tensor *f_embedding(Tensor *indices, Tensor *weight, int64_t padding_idx)
{
    if (!indices || !weight) return NULL;
    /* bf16/f16 weight: through f32, which the gather takes (exact: rows only move) */
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 1, f_embedding(indices, ac_in_[0], padding_idx), weight);
    CHECK_DTYPE("embedding", indices, DT_I64, "indices");
    CHECK_DTYPE("embedding", weight, DT_F32, "weight");
    CHECK_SAME_DEVICE("embedding", indices, weight);
    ENGINE_CHECK(weight->shape.ndim == 2, "embedding: expected weight to be 2-D [num_embeddings, embedding_dim], got %s",
                 shape_str(weight->shape));
    ENGINE_CHECK(indices->shape.ndim < MAX_DIMS, "embedding: indices of shape %s leave no room for the embedding dim",
                 shape_str(indices->shape));
    int64_t num = weight->shape.d[0], width = weight->shape.d[1];
    ENGINE_CHECK(padding_idx < num, "embedding: padding_idx (%lld) must be within num_embeddings (%lld)",
                 (long long)padding_idx, (long long)num);
    if (!check_bounds("embedding", indices, 0, num)) return NULL;
    Tensor *flat = t_contiguous(indices);
    if (!flat) return NULL;
    int64_t n = tensor_numel(flat);
    /* row i of the result is weight row flat[i]: a gather with the index
     * broadcast along the embedding dim */
    Tensor *spread = tensor_make_view(flat->storage, flat->offset, DT_I64, SHAPE(n, width), (int64_t[]){1, 0});
    Tensor *out = spread ? gather_new(weight, 0, spread) : NULL;
    if (!out) return NULL;
    out->shape = indices->shape;
    out->shape.d[out->shape.ndim++] = width;
    shape_contiguous_strides(out->shape, out->strides);
    Node *node = autograd_record("EmbeddingBackward0", embedding_backward, out, 2, (Tensor *[]){indices, weight});
    if (node) {
        node->saved[0] = flat;
        node->ints[0] = padding_idx < 0 ? -1 : padding_idx;
    }
    return out;
}

/* ---- pad ---- */

/* x with before[d] / after[d] elements added (negative: removed) on each
 * side of every dim, new elements set to value. */
static Tensor *pad_dims(Tensor *x, const int64_t *before, const int64_t *after, double value)
{
    Shape shape = x->shape;
    for (int d = 0; d < shape.ndim; d++) shape.d[d] += before[d] + after[d];
    NEED_KERNEL(x, pad);
    Tensor *out = tensor_empty(shape, x->dtype, tensor_device(x));
    if (out) backend_of(out)->pad(out, x, before, value);
    return out;
}

/* n->shape.d holds the per-dim padding before each dim; the padding after
 * follows from the sizes. */
static int pad_backward(Node *n, Tensor *g, Tensor **gin)
{
    Tensor *x = n->inputs[0];
    int nd = x->shape.ndim;
    int64_t before[MAX_DIMS] = {0}, after[MAX_DIMS] = {0}, offset = g->offset;
    bool crops = false;
    for (int d = 0; d < nd; d++) {
        before[d] = -n->shape.d[d];
        after[d] = x->shape.d[d] - g->shape.d[d] + n->shape.d[d];
        crops = crops || before[d] > 0 || after[d] > 0;
        offset -= before[d] * g->strides[d];
    }
    /* without cropping the gradient is a narrowed view of g; otherwise the
     * cropped elements get zeros by padding back */
    gin[0] = crops ? pad_dims(g, before, after, 0.0) : tensor_make_view(g->storage, offset, g->dtype, x->shape, g->strides);
    return gin[0] ? 0 : -1;
}

Tensor *f_pad(Tensor *x, const int64_t *pads, int n_pads, double value)
{
    if (!x) return NULL;
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 1, f_pad(ac_in_[0], pads, n_pads, value), x);
    int nd = x->shape.ndim;
    ENGINE_CHECK(n_pads >= 0 && n_pads % 2 == 0, "pad: Padding length must be divisible by 2, got %d", n_pads);
    ENGINE_CHECK(n_pads / 2 <= nd,
                 "pad: Padding length too large: %d values pad %d dims but the input of shape %s has %d dims", n_pads,
                 n_pads / 2, shape_str(x->shape), nd);
    int64_t before[MAX_DIMS] = {0}, after[MAX_DIMS] = {0};
    for (int k = 0; k < n_pads / 2; k++) {
        int d = nd - 1 - k;
        before[d] = pads[2 * k];
        after[d] = pads[2 * k + 1];
        ENGINE_CHECK(x->shape.d[d] + before[d] + after[d] >= 0,
                     "pad: The input size %lld, plus negative padding %lld and %lld resulted in a negative output "
                     "size, which is invalid. Check dimension %d of your input of shape %s",
                     (long long)x->shape.d[d], (long long)before[d], (long long)after[d], d, shape_str(x->shape));
    }
    Tensor *out = pad_dims(x, before, after, value);
    Node *n = autograd_record("ConstantPadNdBackward0", pad_backward, out, 1, &x);
    if (n) {
        n->shape.ndim = nd;
        memcpy(n->shape.d, before, sizeof before);
    }
    return out;
}

/* ---- one_hot ---- */

Tensor *f_one_hot(Tensor *indices, int64_t num_classes)
{
    if (!indices) return NULL;
    ENGINE_CHECK(indices->dtype == DT_I64,
                 "one_hot: one_hot is only applicable to index tensor of type int64 (LongTensor), got %s",
                 dtype_name(indices->dtype));
    ENGINE_CHECK(indices->shape.ndim < MAX_DIMS, "one_hot: indices of shape %s leave no room for the class dim",
                 shape_str(indices->shape));
    NEED_KERNEL(indices, index_range);
    NEED_KERNEL(indices, one_hot);
    int64_t lo = 0, hi = -1;
    if (tensor_numel(indices) > 0) backend_of(indices)->index_range(indices, &lo, &hi);
    else ENGINE_CHECK(num_classes >= 0, "one_hot: Can not infer total number of classes from empty tensor.");
    ENGINE_CHECK(lo >= 0, "one_hot: Class values must be non-negative, got %lld", (long long)lo);
    if (num_classes < 0) num_classes = hi + 1;
    ENGINE_CHECK(hi < num_classes, "one_hot: Class values must be smaller than num_classes: got %lld with num_classes %lld",
                 (long long)hi, (long long)num_classes);
    Shape shape = indices->shape;
    shape.d[shape.ndim++] = num_classes;
    Tensor *out = tensor_zeros(shape, DT_I64, tensor_device(indices));
    Tensor *flat = t_contiguous(indices);
    if (!out || !flat) return NULL;
    if (tensor_numel(flat) > 0 && num_classes > 0) backend_of(out)->one_hot(out, flat);
    return out;
}
