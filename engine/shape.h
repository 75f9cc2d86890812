/* Shapes: up to MAX_DIMS sizes, passed by value. SHAPE(2, 3) builds one. */
#ifndef ENGINE_SHAPE_H
#define ENGINE_SHAPE_H

#include <stdbool.h>
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

int64_t shape_numel(Shape s);
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
