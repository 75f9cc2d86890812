/* The row path of the CPU reductions: the innermost kept dims are
 * contiguous (dim 0 of an [N, C] tensor, as bias gradients reduce), so whole
 * rows of the input are added into a row of outputs, reading memory in
 * order instead of striding once per output element. Rows narrower than
 * NARROW go several side by side, so the loops stay long enough to vectorise. */
#include <stdlib.h>

#include "engine/cpu/fork.h"
#include "engine/cpu/reduce_impl.h"

#define ROW_TILE 16384 /* outputs per task: whole rows up to this width, so reads stream */
#define NARROW 64
#define NARROW_WIDTH 256

/* Steps through the reduced index space of L one element at a time. */
typedef struct {
    const StridedLoop *L;
    int64_t o, i, off;
} RowCursor;

static void cursor_start(RowCursor *c, const StridedLoop *L, int64_t r)
{
    c->L = L;
    c->o = r / L->inner;
    c->i = r % L->inner;
    c->off = 0;
    if (c->o < L->outer) strided_offsets(L, c->o, &c->off);
}

static inline int64_t cursor_offset(const RowCursor *c) { return c->off + c->i * c->L->inner_stride[0]; }

static inline void cursor_next(RowCursor *c)
{
    if (++c->i < c->L->inner) return;
    c->i = 0;
    if (++c->o < c->L->outer) strided_offsets(c->L, c->o, &c->off);
}

/* acc[0..kn) = sums (of squared deviations from mean, when given) of rows
 * [r0, r1); part and m are scratch of kn floats. */
static void rows_sum(const float *p, const StridedLoop *L, int64_t r0, int64_t r1, int64_t kn, const double *mean,
                     float *part, float *m, double *acc)
{
    for (int64_t k = 0; k < kn; k++) {
        acc[k] = 0.0;
        part[k] = 0.0f;
    }
    if (mean) /* see run_sum on the float mean */
        for (int64_t k = 0; k < kn; k++) m[k] = (float)mean[k];
    int64_t rs = L->inner_stride[0];
    RowCursor c;
    cursor_start(&c, L, r0);
    for (int64_t r = r0; r < r1;) {
        int64_t stop = r1 - r > ROW_FLUSH ? r + ROW_FLUSH : r1;
        while (r < stop) {
            const float *q = p + cursor_offset(&c);
            if (!mean && stop - r >= 4 && c.i + 4 <= L->inner) {
                /* four evenly spaced rows per pass over part[] */
                for (int64_t k = 0; k < kn; k++) part[k] += (q[k] + q[k + rs]) + (q[k + 2 * rs] + q[k + 3 * rs]);
                for (int u = 0; u < 4; u++, r++) cursor_next(&c);
                continue;
            }
            if (mean) {
                for (int64_t k = 0; k < kn; k++) {
                    float d = q[k] - m[k];
                    part[k] += d * d;
                }
            } else {
                for (int64_t k = 0; k < kn; k++) part[k] += q[k];
            }
            r++;
            cursor_next(&c);
        }
        for (int64_t k = 0; k < kn; k++) {
            acc[k] += part[k];
            part[k] = 0.0f;
        }
    }
}

/* acc[0..kn) = sign * the max (min when sign < 0) of rows [r0, r1); m is
 * scratch of kn floats. The comparisons compile to maxps/minps, which skip
 * NaN, so NaN is looked for on the side and, when present, located by a
 * second pass. */
static void rows_max(const float *p, const StridedLoop *L, int64_t r0, int64_t r1, int64_t kn, float sign, float *m,
                     double *acc)
{
    bool is_min = sign < 0;
    for (int64_t k = 0; k < kn; k++) m[k] = is_min ? INFINITY : -INFINITY;
    int32_t any_nan = 0;
    RowCursor c;
    cursor_start(&c, L, r0);
    for (int64_t r = r0; r < r1; r++, cursor_next(&c)) {
        const float *q = p + cursor_offset(&c);
        if (is_min) {
            for (int64_t k = 0; k < kn; k++) {
                float v = q[k];
                m[k] = v < m[k] ? v : m[k];
                any_nan |= v != v;
            }
        } else {
            for (int64_t k = 0; k < kn; k++) {
                float v = q[k];
                m[k] = v > m[k] ? v : m[k];
                any_nan |= v != v;
            }
        }
    }
    for (int64_t k = 0; k < kn; k++) acc[k] = sign * m[k];
    if (!any_nan) return;
    cursor_start(&c, L, r0);
    for (int64_t r = r0; r < r1; r++, cursor_next(&c)) {
        const float *q = p + cursor_offset(&c);
        for (int64_t k = 0; k < kn; k++)
            if (q[k] != q[k]) acc[k] = NAN;
    }
}

/* Any reduction of n contiguous rows of K < NARROW outputs at q (acc as
 * rows_sum and rows_max leave it): U rows side by side form one run of
 * U * K elements, long enough to vectorise, whose U partial results per
 * output are folded at the end. */
static void rows_narrow(const ReduceJob *job, const float *q, int64_t n, int64_t K, const double *mean, double *acc)
{
    int64_t U = NARROW_WIDTH / K, w = U * K, r = 0;
    float part[NARROW_WIDTH], m[NARROW_WIDTH];
    double wide[NARROW_WIDTH];
    bool is_max = job->kind == RED_MAX, is_min = is_max && job->sign < 0;
    for (int64_t k = 0; k < w; k++) {
        wide[k] = is_max ? (is_min ? INFINITY : -INFINITY) : 0.0;
        m[k] = mean ? (float)mean[k % K] : 0.0f; /* see run_sum on the float mean */
    }
    int32_t any_nan = 0;
    while (n - r >= U) {
        /* max continues from the running result, sums restart each block */
        for (int64_t k = 0; k < w; k++) part[k] = is_max ? (float)wide[k] : 0.0f;
        for (int steps = 0; steps < ROW_FLUSH && n - r >= U; steps++, r += U) {
            const float *row = q + r * K;
            if (is_min) {
                for (int64_t k = 0; k < w; k++) {
                    part[k] = row[k] < part[k] ? row[k] : part[k];
                    any_nan |= row[k] != row[k];
                }
            } else if (is_max) {
                for (int64_t k = 0; k < w; k++) {
                    part[k] = row[k] > part[k] ? row[k] : part[k];
                    any_nan |= row[k] != row[k];
                }
            } else if (mean) {
                for (int64_t k = 0; k < w; k++) {
                    float d = row[k] - m[k];
                    part[k] += d * d;
                }
            } else {
                for (int64_t k = 0; k < w; k++) part[k] += row[k];
            }
        }
        for (int64_t k = 0; k < w; k++) wide[k] = is_max ? part[k] : wide[k] + part[k];
    }
    for (int64_t k = 0; k < K; k++) {
        double a = wide[k];
        for (int64_t u = 1; u < U; u++) a = is_max ? (is_min ? fmin(a, wide[u * K + k]) : fmax(a, wide[u * K + k]))
                                                   : a + wide[u * K + k];
        for (int64_t i = r; i < n; i++) {
            double x = q[i * K + k];
            if (is_max) {
                a = is_min ? fmin(a, x) : fmax(a, x);
                any_nan |= x != x;
            } else {
                a += mean ? (x - mean[k]) * (x - mean[k]) : x;
            }
        }
        acc[k] = is_max ? job->sign * a : a;
    }
    if (!any_nan) return;
    for (int64_t i = 0; i < n; i++) /* rare: locate the NaN */
        for (int64_t k = 0; k < K; k++)
            if (q[i * K + k] != q[i * K + k]) acc[k] = NAN;
}

void cpu_reduce_rows(const ReduceJob *job, const float *base, Shape outer, const int64_t *outer_strides, int64_t K,
                     Shape red, const int64_t *red_strides)
{
    const int64_t *rs[1] = {red_strides};
    StridedLoop L;
    strided_loop_init(&L, red, 1, rs);
    int64_t rows = shape_numel(outer), R = shape_numel(red), n_out = rows * K;
    int64_t tiles = (K + ROW_TILE - 1) / ROW_TILE;
    int64_t chunks = reduce_chunks(rows * tiles, R, n_out * R);
    double *partial = chunks > 1 ? malloc(sizeof(double) * (size_t)(chunks * n_out)) : NULL;
    ENGINE_ASSERT(chunks == 1 || partial);
    int64_t n_tasks = rows * tiles * chunks;
    CPU_FOR(t, n_tasks, n_out * R > CPU_PARALLEL_GRAIN && n_tasks > 1, {
        int64_t c = t % chunks, tile = t / chunks;
        int64_t o = tile / tiles, k0 = (tile % tiles) * ROW_TILE;
        int64_t kn = K - k0 < ROW_TILE ? K - k0 : ROW_TILE;
        int64_t j0 = o * K + k0, r0 = R * c / chunks, r1 = R * (c + 1) / chunks;
        IndexIter it;
        iter_start(&it, &outer, outer_strides, o);
        const float *p = base + it.off + k0;
        double *acc = malloc((sizeof(double) + 2 * sizeof(float)) * (size_t)kn);
        ENGINE_ASSERT(acc != NULL);
        float *scratch = (float *)(acc + kn);
        const double *mean = job->kind == RED_SQDEV ? job->shift + j0 : NULL;
        if (L.outer == 1 && L.inner_stride[0] == K && K < NARROW) rows_narrow(job, p + r0 * K, r1 - r0, K, mean, acc);
        else if (job->kind == RED_MAX) rows_max(p, &L, r0, r1, kn, job->sign, scratch, acc);
        else rows_sum(p, &L, r0, r1, kn, mean, scratch, scratch + kn, acc);
        for (int64_t k = 0; k < kn; k++) {
            if (partial) partial[c * n_out + j0 + k] = acc[k];
            else reduce_store(job, j0 + k, acc[k]);
        }
        free(acc);
    });
    if (partial) {
        cpu_reduce_combine_chunks(job, partial, chunks, n_out);
        free(partial);
    }
}

