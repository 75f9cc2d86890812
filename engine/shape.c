/* Shape helpers: element counts, broadcasting, printing, dim wrapping. */
#include "engine/shape.h"

#include <stdio.h>

#include "engine/error.h"

/* The product of s's non-zero sizes times scale in *out, and whether a size
 * is zero; false for a bad ndim, a negative size or an overflow of int64. */
static bool nonzero_product(Shape s, int64_t scale, int64_t *out, bool *empty)
{
    if (s.ndim < 0 || s.ndim > MAX_DIMS) return false;
    int64_t p = scale;
    *empty = false;
    for (int i = 0; i < s.ndim; i++) {
        if (s.d[i] < 0) return false;
        if (s.d[i] == 0) *empty = true;
        else if (__builtin_mul_overflow(p, s.d[i], &p)) return false;
    }
    *out = p;
    return true;
}

bool shape_numel_checked(Shape s, int64_t *numel)
{
    int64_t p;
    bool empty;
    if (!nonzero_product(s, 1, &p, &empty)) return false;
    *numel = empty ? 0 : p;
    return true;
}

int64_t shape_numel(Shape s)
{
    int64_t n;
    return shape_numel_checked(s, &n) ? n : -1; /* never a wrapped product */
}

bool shape_nbytes_checked(Shape s, size_t elem_size, size_t *nbytes)
{
    /* the bytes of the non-zero sizes must fit as well: byte offsets are
     * computed from strides, which ignore zero sizes */
    int64_t p;
    bool empty;
    if (elem_size > INT64_MAX || !nonzero_product(s, (int64_t)elem_size, &p, &empty)) return false;
    *nbytes = empty ? 0 : (size_t)p;
    return true;
}

bool shape_check(Shape s, size_t elem_size, const char *op, size_t *nbytes)
{
    if (s.ndim < 0 || s.ndim > MAX_DIMS) {
        engine_error("%s: tensors have at most %d dims, got %d", op, MAX_DIMS, s.ndim);
        return false;
    }
    for (int i = 0; i < s.ndim; i++) {
        if (s.d[i] < 0) {
            engine_error("%s: negative dimension %lld in shape %s", op, (long long)s.d[i], shape_str(s));
            return false;
        }
    }
    size_t n;
    if (!shape_nbytes_checked(s, elem_size, &n)) {
        engine_error("%s: shape %s has too many elements (overflows 64-bit size)", op, shape_str(s));
        return false;
    }
    if (nbytes) *nbytes = n;
    return true;
}

bool shape_equal(Shape a, Shape b)
{
    if (a.ndim != b.ndim) return false;
    for (int i = 0; i < a.ndim; i++)
        if (a.d[i] != b.d[i]) return false;
    return true;
}

const char *shape_str(Shape s)
{
    static _Thread_local char bufs[4][128];
    static _Thread_local int next;
    char *buf = bufs[next];
    next = (next + 1) % 4;
    int pos = snprintf(buf, 128, "[");
    for (int i = 0; i < s.ndim && pos < 120; i++)
        pos += snprintf(buf + pos, (size_t)(128 - pos), i ? ", %lld" : "%lld", (long long)s.d[i]);
    snprintf(buf + pos, (size_t)(128 - pos), "]");
    return buf;
}

bool shape_broadcast(Shape a, Shape b, Shape *out)
{
    Shape r = {.ndim = a.ndim > b.ndim ? a.ndim : b.ndim};
    for (int i = 0; i < r.ndim; i++) {
        int ia = a.ndim - r.ndim + i, ib = b.ndim - r.ndim + i;
        int64_t da = ia >= 0 ? a.d[ia] : 1, db = ib >= 0 ? b.d[ib] : 1;
        if (da != db && da != 1 && db != 1) return false;
        r.d[i] = da == 1 ? db : da;
    }
    *out = r;
    return true;
}

int shape_wrap_dim(int dim, int ndim, const char *op)
{
    int n = ndim > 0 ? ndim : 1;
    if (dim < -n || dim >= n) {
        engine_error("%s: dimension out of range (expected to be in range of [%d, %d], but got %d)", op, -n,
                     n - 1, dim);
        return -1;
    }
    return dim < 0 ? dim + n : dim;
}

void shape_contiguous_strides(Shape s, int64_t *strides)
{
    int64_t st = 1;
    for (int i = s.ndim - 1; i >= 0; i--) {
        strides[i] = st;
        st *= s.d[i] > 0 ? s.d[i] : 1;
    }
}

DimSplit shape_split_at(Shape s, int dim)
{
    DimSplit r = {1, 1, 1};
    if (s.ndim == 0) return r;
    for (int d = 0; d < dim; d++) r.outer *= s.d[d];
    r.size = s.d[dim];
    for (int d = dim + 1; d < s.ndim; d++) r.inner *= s.d[d];
    return r;
}
