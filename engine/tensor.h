/* Tensors: a typed, strided view into a reference-counted storage on a device.
 *
 * Lifetime follows scopes (see scope.h): a tensor belongs to the scope open
 * when it was made and is freed when that scope ends; one passed to
 * tensor_persist() lives until tensor_free(). Model code therefore never
 * frees; parameters, buffers and optimizer state are made persistent.
 */
#ifndef ENGINE_TENSOR_H
#define ENGINE_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/dtype.h"
#include "engine/error.h"
#include "engine/shape.h"

typedef struct Storage {
    void *data;
    size_t nbytes;
    Device device;
    bool pinned; /* CPU memory page-locked for asynchronous copies (engine/transfer.h) */
    int refcount; /* atomic: views of one storage (a parameter, a batch) are made and freed on several threads */
} Storage;

typedef struct Tensor Tensor;
typedef struct Node Node;
typedef struct Scope Scope;
typedef struct TensorHook TensorHook;

struct Tensor {
    Storage *storage;
    int64_t offset; /* in elements */
    DType dtype;
    Shape shape;
    int64_t strides[MAX_DIMS]; /* in elements */

    /* autograd */
    bool requires_grad;
    Tensor *grad;     /* accumulated gradient of a leaf; persistent */
    Node *grad_fn;    /* the node that made this tensor; NULL for leaves */
    Tensor *grad_acc; /* gradient being accumulated during one backward pass */
    TensorHook *hooks;

    /* ownership */
    Scope *owner; /* NULL: persistent (freed by tensor_free) */
    Tensor *scope_prev, *scope_next;
};

/* ---- creation (all on the given device; results follow the scope rule) ----
 * Sizes are checked (shape_check): a shape whose bytes overflow 64 bits is
 * an error naming it, and so is memory running out ("out of memory: cannot
 * allocate 12.0 GiB for a float32 tensor of shape [...] on cpu ..."). */
Tensor *tensor_empty(Shape shape, DType dtype, Device device);
Tensor *tensor_zeros(Shape shape, DType dtype, Device device);
Tensor *tensor_ones(Shape shape, DType dtype, Device device);
Tensor *tensor_full(Shape shape, double value, DType dtype, Device device);
/* Values start, start+step, ... below end (above end for a negative step). */
Tensor *tensor_arange(double start, double end, double step, DType dtype, Device device);
/* A copy of n = numel(shape) elements of dtype from a C array. */
Tensor *tensor_from_data(const void *data, Shape shape, DType dtype, Device device);
/* A 0-dim tensor. */
Tensor *tensor_scalar(double value, DType dtype, Device device);
/* A new tensor with the same shape, dtype and device as t, not initialised. */
Tensor *tensor_empty_like(const Tensor *t);
Tensor *tensor_zeros_like(const Tensor *t);

/* ---- properties ---- */
static inline int tensor_dim(const Tensor *t) { return t->shape.ndim; }
static inline int64_t tensor_numel(const Tensor *t) { return shape_numel(t->shape); }
static inline Device tensor_device(const Tensor *t) { return t->storage->device; }
static inline bool tensor_is_cuda(const Tensor *t) { return t->storage->device.type == DEVICE_CUDA; }
/* Size of dim (negative dims count from the end); -1 with an error when out of range. */
int64_t tensor_size(const Tensor *t, int dim);
bool tensor_is_contiguous(const Tensor *t);
/* Address of element 0 of the view (storage data + offset). */
static inline void *tensor_data(const Tensor *t)
{
    return (char *)t->storage->data + (size_t)t->offset * dtype_size(t->dtype);
}
static inline float *tensor_f32(const Tensor *t) { return (float *)tensor_data(t); }
static inline int64_t *tensor_i64(const Tensor *t) { return (int64_t *)tensor_data(t); }
static inline uint8_t *tensor_u8(const Tensor *t) { return (uint8_t *)tensor_data(t); }

/* ---- reading values out ---- */
/* The value of a one-element tensor as a double (NAN with an error otherwise). */
double tensor_item(const Tensor *t);
/* Copies the elements, in row-major order, into dst (numel * dtype_size bytes)
 * as the tensor's own dtype; works for any strides and device. Returns 0 or -1. */
int tensor_copy_to_buffer(const Tensor *t, void *dst);
/* Copies numel elements from a C array of t's dtype into t (any strides). */
int tensor_copy_from_buffer(Tensor *t, const void *src);

/* ---- in-place (no autograd; for init, optimizers and buffers) ---- */
int tensor_fill_(Tensor *t, double value);
/* dst = src, with src broadcast to dst's shape and converted to its dtype. */
int tensor_copy_(Tensor *dst, const Tensor *src);

/* ---- device and dtype ---- */
/* t itself when already there; otherwise a copy (differentiable). */
Tensor *tensor_to(Tensor *t, Device device);
Tensor *tensor_to_dtype(Tensor *t, DType dtype);

/* ---- autograd flags ---- */
/* Only leaves may change it; returns t (NULL with an error for non-leaves). */
Tensor *tensor_set_requires_grad(Tensor *t, bool requires_grad);
/* A view sharing storage, cut from the graph. */
Tensor *tensor_detach(Tensor *t);
static inline bool tensor_is_leaf(const Tensor *t) { return t->grad_fn == NULL; }

/* ---- lifetime ---- */
/* Takes t out of its scope: it lives until tensor_free(). A tensor with a
 * grad_fn is detached from its graph first (the graph dies with the scope). */
Tensor *tensor_persist(Tensor *t);
/* Frees a persistent tensor (and its .grad). Freeing a scoped tensor is a bug. */
void tensor_free(Tensor *t);

/* Internal: a new tensor header viewing storage (refcount taken), following
 * the scope rule. Used by view ops and allocation. NULL with an error when
 * shape's size overflows (a computed view shape can). */
Tensor *tensor_make_view(Storage *storage, int64_t offset, DType dtype, Shape shape, const int64_t *strides);
Storage *storage_new(size_t nbytes, Device device);
/* Takes one more reference to s (atomically); storage_release drops one. */
void storage_retain(Storage *s);
/* Internal: a contiguous tensor over all of s that takes over the caller's
 * reference to s (NULL stays NULL); NULL with an error, s released, when
 * shape's bytes overflow or exceed s's. */
Tensor *tensor_on_storage(Storage *s, DType dtype, Shape shape);
/* CPU storage in page-locked memory (CUDA builds with a device); NULL, with
 * no error recorded, when it cannot be had. See engine/transfer.h. */
Storage *storage_new_pinned(size_t nbytes);
void storage_release(Storage *s);

#endif
