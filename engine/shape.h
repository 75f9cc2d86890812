/* Shapes: up to MAX_DIMS sizes, passed by value. SHAPE(2, 3) builds one. */
#ifndef ENGINE_SHAPE_H
#define ENGINE_SHAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_DIMS 8

typedef struct {
    int ndim;
    int64_t d[MAX_DIMS];
} Shape;

#define SHAPE(...) \
    ((Shape){.ndim = (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), .d = {__VA_ARGS__}})
/* The shape of a 0-dim tensor. */
#define SCALAR_SHAPE ((Shape){.ndim = 0})

/* The element count of a valid shape (a tensor's); -1, never a wrapped
 * product, for one that shape_numel_checked refuses. */
int64_t shape_numel(Shape s);

/* ---- checked sizes: every allocation and every shape read from a user or a
 * file goes through these ----
 * A shape is addressable when the product of its non-zero sizes fits in
 * int64: then the element count, every stride and every partial product of
 * sizes fit too (a zero size does not make huge other sizes harmless:
 * strides are still computed from them). */
/* The element count in *numel; false when s is not addressable. */
bool shape_numel_checked(Shape s, int64_t *numel);
/* The bytes of s's elements of elem_size bytes each in *nbytes; false when s
 * is not addressable or the bytes would not fit in int64. */
bool shape_nbytes_checked(Shape s, size_t elem_size, size_t *nbytes);
/* Whether s can be a tensor of elem_size-byte elements: 0 to MAX_DIMS dims,
 * none negative, bytes that fit (then in *nbytes unless it is NULL).
 * Otherwise false with an error naming op and the shape, e.g. "empty: shape
 * [64, 8006399337547549, 7, 7] has too many elements (overflows 64-bit size)". */
bool shape_check(Shape s, size_t elem_size, const char *op, size_t *nbytes);
bool shape_equal(Shape a, Shape b);
/* "[2, 3, 4]"; returns a pointer to one of a few rotating thread-local buffers,
 * so two calls can appear in one message. */
const char *shape_str(Shape s);
/* Broadcasts a and b as PyTorch does; returns false when they do not broadcast. */
bool shape_broadcast(Shape a, Shape b, Shape *out);
/* Wraps a possibly negative dim into [0, ndim); returns -1 when out of range
 * (an error message naming op is recorded). ndim 0 accepts dims -1 and 0. */
int shape_wrap_dim(int dim, int ndim, const char *op);
/* A contiguous shape seen as [outer, size, inner] around dim: what
 * softmax-like kernels of every backend loop over. */
typedef struct {
    int64_t outer, size, inner;
} DimSplit;
DimSplit shape_split_at(Shape s, int dim);

/* Row-major contiguous strides for s. */
void shape_contiguous_strides(Shape s, int64_t *strides);

#endif
