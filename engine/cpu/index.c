/* CPU indexing kernels (see index.h): strided loops over the index, typed
 * per dtype by small row macros, parallel with OpenMP. */
#include "engine/cpu/fork.h"
#include "engine/cpu/index.h"

#include <omp.h>
#include <string.h>

#include "engine/cpu/strided.h"

void cpu_index_range(const Tensor *index, int64_t *min_out, int64_t *max_out)
{
    const int64_t *strides[1] = {index->strides};
    StridedLoop L;
    strided_loop_init(&L, index->shape, 1, strides);
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    const int64_t *base = tensor_i64(index);
    int64_t s = L.inner_stride[0];
    CPU_FOR_CLAUSES(reduction(min : lo) reduction(max : hi), o, L.outer, L.outer * L.inner > CPU_PARALLEL_GRAIN, {
        int64_t off;
        strided_offsets(&L, o, &off);
        const int64_t *p = base + off;
        int64_t i = 0;
        if (s == 1) { /* four independent chains instead of one */
            int64_t l[4] = {lo, lo, lo, lo}, h[4] = {hi, hi, hi, hi};
            for (; i + 4 <= L.inner; i += 4)
                for (int k = 0; k < 4; k++) {
                    l[k] = p[i + k] < l[k] ? p[i + k] : l[k];
                    h[k] = p[i + k] > h[k] ? p[i + k] : h[k];
                }
            for (int k = 0; k < 4; k++) {
                lo = l[k] < lo ? l[k] : lo;
                hi = h[k] > hi ? h[k] : hi;
            }
        }
        for (; i < L.inner; i++) {
            int64_t v = p[i * s];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    });
    *min_out = lo;
    *max_out = hi;
}

/* One inner row of a gather; a row whose index does not vary (index_select,
 * embedding) is a plain strided copy of one source row. */
#define GATHER_ROW(T)                                                                    \
    do {                                                                                 \
        T *po = (T *)out_base + off[0];                                                  \
        const T *ps = (const T *)src_base + off[2];                                      \
        if (si == 0) {                                                                   \
            const T *row = ps + pi[0] * dim_stride;                                      \
            if (so == 1 && ss == 1) memcpy(po, row, sizeof(T) * (size_t)L.inner);        \
            else for (int64_t i = 0; i < L.inner; i++) po[i * so] = row[i * ss];         \
        } else {                                                                         \
            for (int64_t i = 0; i < L.inner; i++) po[i * so] = ps[i * ss + pi[i * si] * dim_stride]; \
        }                                                                                \
    } while (0)

void cpu_gather(Tensor *out, const Tensor *src, int dim, const Tensor *index)
{
    /* src is walked at index position with its dim's stride left out; the
     * index value then supplies the offset along dim */
    int64_t src_strides[MAX_DIMS] = {0};
    memcpy(src_strides, src->strides, sizeof(int64_t) * (size_t)src->shape.ndim);
    int64_t dim_stride = 0;
    if (src->shape.ndim > 0) {
        dim_stride = src->strides[dim];
        src_strides[dim] = 0;
    }
    const int64_t *strides[3] = {out->strides, index->strides, src_strides};
    StridedLoop L;
    strided_loop_init(&L, out->shape, 3, strides);
    char *out_base = tensor_data(out);
    const char *src_base = tensor_data(src);
    const int64_t *idx_base = tensor_i64(index);
    int64_t so = L.inner_stride[0], si = L.inner_stride[1], ss = L.inner_stride[2];
    CPU_FOR(o, L.outer, L.outer * L.inner > CPU_PARALLEL_GRAIN, {
        int64_t off[3];
        strided_offsets(&L, o, off);
        const int64_t *pi = idx_base + off[1];
        switch (out->dtype) {
        case DT_F32: GATHER_ROW(float); break;
        case DT_I64: GATHER_ROW(int64_t); break;
        case DT_U8: GATHER_ROW(uint8_t); break;
        default: ENGINE_UNREACHABLE("gather: bad dtype");
        }
    });
}

#define SCATTER_ADD_ROW(T)                                                               \
    do {                                                                                 \
        T *po = (T *)out_base + off[0];                                                  \
        const T *ps = (const T *)src_base + off[2];                                      \
        if (so == 0 && si == 1 && ss == 1) /* contiguous along dim */                 \
            for (int64_t i = 0; i < L.inner; i++) po[pi[i] * dim_stride] += ps[i];       \
        else                                                                             \
            for (int64_t i = 0; i < L.inner; i++) po[i * so + pi[i * si] * dim_stride] += ps[i * ss]; \
    } while (0)

void cpu_scatter_add(Tensor *out, int dim, const Tensor *index, const Tensor *src)
{
    /* Loop over index's shape with dim moved last (out's stride there 0, the
     * index value supplying the offset): distinct outer rows then differ in
     * some other dim and write disjoint parts of out, while each line along
     * dim is summed by one thread in index order. */
    int nd = index->shape.ndim;
    Shape shape = {.ndim = nd};
    int64_t so_[MAX_DIMS] = {0}, si_[MAX_DIMS] = {0}, ss_[MAX_DIMS] = {0};
    for (int k = 0, j = 0; k < nd; k++) {
        if (k == dim) continue;
        shape.d[j] = index->shape.d[k];
        so_[j] = out->strides[k];
        si_[j] = index->strides[k];
        ss_[j] = src->strides[k];
        j++;
    }
    int64_t dim_stride = 0;
    if (nd > 0) {
        shape.d[nd - 1] = index->shape.d[dim];
        so_[nd - 1] = 0;
        si_[nd - 1] = index->strides[dim];
        ss_[nd - 1] = src->strides[dim];
        dim_stride = out->strides[dim];
    }
    const int64_t *strides[3] = {so_, si_, ss_};
    StridedLoop L;
    strided_loop_init(&L, shape, 3, strides);
    char *out_base = tensor_data(out);
    const char *src_base = tensor_data(src);
    const int64_t *idx_base = tensor_i64(index);
    int64_t so = L.inner_stride[0], si = L.inner_stride[1], ss = L.inner_stride[2];
    CPU_FOR(o, L.outer, L.outer * L.inner > CPU_PARALLEL_GRAIN, {
        int64_t off[3];
        strided_offsets(&L, o, off);
        const int64_t *pi = idx_base + off[1];
        switch (out->dtype) {
        case DT_F32: SCATTER_ADD_ROW(float); break;
        case DT_I64: SCATTER_ADD_ROW(int64_t); break;
        case DT_U8: SCATTER_ADD_ROW(uint8_t); break;
        default: ENGINE_UNREACHABLE("scatter_add: bad dtype");
        }
    });
}

/* Elements of the inner block one task adds at a time. */
#define INDEX_ADD_BLOCK 1024

void cpu_index_add(Tensor *out, int dim, const Tensor *index, const Tensor *src, int64_t skip)
{
    /* out as [outer, size, inner], src as [outer, n, inner]. Tasks own
     * disjoint parts of out: an outer slice, a block of the inner dims and,
     * when those are too few to occupy the threads (embedding tables), a
     * range of rows; each task scans the whole index in order, so every
     * element is summed in index order whatever the thread count. */
    int nd = out->shape.ndim;
    int64_t outer = 1, inner = 1, size = nd ? out->shape.d[dim] : 1;
    for (int k = 0; k < dim; k++) outer *= out->shape.d[k];
    for (int k = dim + 1; k < nd; k++) inner *= out->shape.d[k];
    int64_t n = tensor_numel(index);
    if (outer == 0 || inner == 0 || n == 0) return;
    int64_t n_blocks = (inner + INDEX_ADD_BLOCK - 1) / INDEX_ADD_BLOCK;
    int64_t work = outer * n * inner;
    int threads = work > CPU_PARALLEL_GRAIN ? omp_get_max_threads() : 1;
    int64_t row_parts = 1;
    if (outer * n_blocks < threads) row_parts = size < threads ? size : threads;
    int64_t tasks = outer * n_blocks * row_parts;
    float *po_base = tensor_f32(out);
    const float *ps_base = tensor_f32(src);
    const int64_t *idx = tensor_i64(index);
    CPU_FOR(task, tasks, threads > 1 && tasks > 1, {
        int64_t part = task % row_parts, blk = (task / row_parts) % n_blocks, o = task / (row_parts * n_blocks);
        int64_t row_lo = size * part / row_parts, row_hi = size * (part + 1) / row_parts;
        int64_t k0 = blk * INDEX_ADD_BLOCK, len = inner - k0 < INDEX_ADD_BLOCK ? inner - k0 : INDEX_ADD_BLOCK;
        for (int64_t i = 0; i < n; i++) {
            int64_t r = idx[i];
            if (r == skip || r < row_lo || r >= row_hi) continue;
            float *po = po_base + (o * size + r) * inner + k0;
            const float *ps = ps_base + (o * n + i) * inner + k0;
            for (int64_t k = 0; k < len; k++) po[k] += ps[k];
        }
    });
}

/* One output row of a pad: fill, the copied middle [lo, hi), fill. */
#define PAD_ROW(T, fill, lo, hi)                                                         \
    do {                                                                                 \
        T *po = (T *)out_base + r * width;                                               \
        const T *pi = (const T *)in_base + in_off;                                       \
        for (int64_t j = 0; j < (lo); j++) po[j] = (fill);                               \
        if (in_step == 1) memcpy(po + (lo), pi + ((lo) - before_last), sizeof(T) * (size_t)((hi) - (lo))); \
        else for (int64_t j = (lo); j < (hi); j++) po[j] = pi[(j - before_last) * in_step]; \
        for (int64_t j = (hi); j < width; j++) po[j] = (fill);                           \
    } while (0)

void cpu_pad(Tensor *out, const Tensor *in, const int64_t *before, double value)
{
    int nd = out->shape.ndim;
    if (nd == 0) {
        memcpy(tensor_data(out), tensor_data(in), dtype_size(out->dtype));
        return;
    }
    int64_t width = out->shape.d[nd - 1];
    int64_t numel = tensor_numel(out);
    if (numel == 0) return;
    int64_t rows = numel / width;
    int64_t before_last = before[nd - 1], in_w = in->shape.d[nd - 1], in_step = in->strides[nd - 1];
    /* output columns [lo, hi) of a row that has an input row come from it */
    int64_t lo = before_last > 0 ? before_last : 0;
    int64_t hi = before_last + in_w < width ? before_last + in_w : width;
    if (hi < lo) hi = lo;
    float f32_fill = (float)value;
    int64_t i64_fill = (int64_t)value;
    uint8_t u8_fill = (uint8_t)i64_fill;
    char *out_base = tensor_data(out);
    const char *in_base = tensor_data(in);
    CPU_FOR(r, rows, numel > CPU_PARALLEL_GRAIN, {
        /* the input row this output row reads, if any */
        int64_t rem = r, in_off = 0;
        bool inside = true;
        for (int d = nd - 2; d >= 0; d--) {
            int64_t c = rem % out->shape.d[d] - before[d];
            rem /= out->shape.d[d];
            if (c < 0 || c >= in->shape.d[d]) inside = false;
            in_off += c * in->strides[d];
        }
        if (!inside) in_off = 0;
        int64_t row_lo = inside ? lo : width, row_hi = inside ? hi : width;
        switch (out->dtype) {
        case DT_F32: PAD_ROW(float, f32_fill, row_lo, row_hi); break;
        case DT_I64: PAD_ROW(int64_t, i64_fill, row_lo, row_hi); break;
        case DT_U8: PAD_ROW(uint8_t, u8_fill, row_lo, row_hi); break;
        default: ENGINE_UNREACHABLE("pad: bad dtype");
        }
    });
}

void cpu_one_hot(Tensor *out, const Tensor *indices)
{
    int64_t classes = out->shape.d[out->shape.ndim - 1];
    int64_t n = tensor_numel(indices);
    const int64_t *idx = tensor_i64(indices);
    int64_t *po = tensor_i64(out);
    CPU_FOR(i, n, n > CPU_PARALLEL_GRAIN, po[i * classes + idx[i]] = 1;);
}
