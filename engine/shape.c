/* Shape helpers: element counts, broadcasting, printing, dim wrapping. */
#include "engine/shape.h"

#include <stdio.h>

#include "engine/error.h"

int64_t shape_numel(Shape s)
{
    int64_t n = 1;
    for (int i = 0; i < s.ndim; i++) n *= s.d[i];
    return n;
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
