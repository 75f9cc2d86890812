/* CPU kernels of max/min along one dim with indices (torch.max(t, dim),
 * argmax) and of their backward, which puts gradients back at the indices.
 * The input is contiguous and seen as [outer, D, inner]. */
#include "engine/cpu/fork.h"
#include "engine/cpu/reduce.h"

#include <stdlib.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "engine/cpu/reduce_impl.h"

#define ROW_TILE 2048 /* outputs per task when rows of them are compared at once */

/* v (at a later index) replaces best when larger, or NaN where best is not:
 * the first occurrence wins ties and NaN counts as the largest value. */
static inline bool takes_over(float v, float best) { return (v > best) | ((v != v) & (best == best)); }

/* Sizes before, of and after dim (a 0-dim tensor counts as [1]). */
static void split_at_dim(const Tensor *t, int dim, int64_t *outer, int64_t *size, int64_t *inner)
{
    *outer = *size = *inner = 1;
    for (int d = 0; d < t->shape.ndim; d++) {
        if (d < dim) *outer *= t->shape.d[d];
        else if (d == dim) *size = t->shape.d[d];
        else *inner *= t->shape.d[d];
    }
}

static int64_t scan_scalar(const float *q, int64_t i0, int64_t i1, float sign, float *best_out)
{
    float best = sign * q[i0];
    int64_t bi = i0;
    for (int64_t i = i0 + 1; i < i1; i++) {
        float v = sign * q[i];
        bool up = takes_over(v, best);
        best = up ? v : best;
        bi = up ? i : bi;
    }
    *best_out = best;
    return bi;
}

/* The index of the winner among q[i0..i1) (stride 1), its value in *best_out. */
static int64_t scan_row(const float *q, int64_t i0, int64_t i1, float sign, float *best_out)
{
#if defined(__SSE2__)
    if (i1 - i0 >= 16 && i1 <= INT32_MAX) {
        /* eight lanes keep their own first winner (value and int32 index),
         * starting from the row's first eight elements */
        __m128 sg = _mm_set1_ps(sign);
        __m128 b0 = _mm_mul_ps(sg, _mm_loadu_ps(q + i0)), b1 = _mm_mul_ps(sg, _mm_loadu_ps(q + i0 + 4));
        __m128i x0 = _mm_add_epi32(_mm_set1_epi32((int32_t)i0), _mm_setr_epi32(0, 1, 2, 3));
        __m128i x1 = _mm_add_epi32(x0, _mm_set1_epi32(4)), step = _mm_set1_epi32(8);
        __m128i i_0 = x0, i_1 = x1;
        __m128 unordered = _mm_or_ps(_mm_cmpunord_ps(b0, b0), _mm_cmpunord_ps(b1, b1));
        int64_t i = i0 + 8;
        for (; i + 8 <= i1; i += 8) {
            i_0 = _mm_add_epi32(i_0, step);
            i_1 = _mm_add_epi32(i_1, step);
            __m128 v0 = _mm_mul_ps(sg, _mm_loadu_ps(q + i)), v1 = _mm_mul_ps(sg, _mm_loadu_ps(q + i + 4));
            __m128 g0 = _mm_cmpgt_ps(v0, b0), g1 = _mm_cmpgt_ps(v1, b1);
            b0 = _mm_or_ps(_mm_and_ps(g0, v0), _mm_andnot_ps(g0, b0));
            b1 = _mm_or_ps(_mm_and_ps(g1, v1), _mm_andnot_ps(g1, b1));
            x0 = _mm_or_si128(_mm_and_si128(_mm_castps_si128(g0), i_0), _mm_andnot_si128(_mm_castps_si128(g0), x0));
            x1 = _mm_or_si128(_mm_and_si128(_mm_castps_si128(g1), i_1), _mm_andnot_si128(_mm_castps_si128(g1), x1));
            unordered = _mm_or_ps(unordered, _mm_cmpunord_ps(v0, v1));
        }
        /* a NaN is rare: then the plain scan finds the first one */
        if (_mm_movemask_ps(unordered) != 0) return scan_scalar(q, i0, i1, sign, best_out);
        float bv[8];
        int32_t bx[8];
        _mm_storeu_ps(bv, b0);
        _mm_storeu_ps(bv + 4, b1);
        _mm_storeu_si128((__m128i *)bx, x0);
        _mm_storeu_si128((__m128i *)(bx + 4), x1);
        float best = bv[0];
        int64_t bi = bx[0];
        for (int k = 1; k < 8; k++)
            if (bv[k] > best || (bv[k] == best && bx[k] < bi)) {
                best = bv[k];
                bi = bx[k];
            }
        for (; i < i1; i++) {
            float v = sign * q[i];
            if (takes_over(v, best)) {
                best = v;
                bi = i;
            }
        }
        *best_out = best;
        return bi;
    }
#endif
    return scan_scalar(q, i0, i1, sign, best_out);
}

/* Four short rows of D at q, q + D, q + 2 D, q + 3 D, one per SIMD lane:
 * their comparisons run side by side instead of one after the other. */
static void scan4(const float *q, int64_t D, float sign, float *pv, int64_t *pi)
{
    float best[4];
    int32_t bi[4] = {0, 0, 0, 0};
#if defined(__SSE2__)
    __m128 sg = _mm_set1_ps(sign);
    __m128 b = _mm_mul_ps(sg, _mm_setr_ps(q[0], q[D], q[2 * D], q[3 * D]));
    __m128i x = _mm_setzero_si128();
    for (int32_t i = 1; i < (int32_t)D; i++) {
        __m128 v = _mm_mul_ps(sg, _mm_setr_ps(q[i], q[D + i], q[2 * D + i], q[3 * D + i]));
        /* takes_over: v > b, or v NaN where b is not */
        __m128 up = _mm_or_ps(_mm_cmpgt_ps(v, b), _mm_and_ps(_mm_cmpunord_ps(v, v), _mm_cmpord_ps(b, b)));
        b = _mm_or_ps(_mm_and_ps(up, v), _mm_andnot_ps(up, b));
        __m128i upi = _mm_castps_si128(up);
        x = _mm_or_si128(_mm_and_si128(upi, _mm_set1_epi32(i)), _mm_andnot_si128(upi, x));
    }
    _mm_storeu_ps(best, b);
    _mm_storeu_si128((__m128i *)bi, x);
#else
    for (int u = 0; u < 4; u++) best[u] = sign * q[u * D];
    for (int32_t i = 1; i < (int32_t)D; i++)
        for (int u = 0; u < 4; u++) {
            float v = sign * q[u * D + i];
            bool up = takes_over(v, best[u]);
            best[u] = up ? v : best[u];
            bi[u] = up ? i : bi[u];
        }
#endif
    for (int u = 0; u < 4; u++) {
        if (pv) pv[u] = sign * best[u];
        pi[u] = bi[u];
    }
}

/* Outputs j < n from the winners of their chunks, part_v[c * n + j] (in the
 * scans' sign) and part_i, compared in chunk order so that the first
 * occurrence still wins. */
static void combine_winners(const float *part_v, const int64_t *part_i, int64_t chunks, int64_t n, float sign,
                            float *pv, int64_t *pi)
{
    for (int64_t j = 0; j < n; j++) {
        float best = part_v[j];
        int64_t bi = part_i[j];
        for (int64_t c = 1; c < chunks; c++)
            if (takes_over(part_v[c * n + j], best)) {
                best = part_v[c * n + j];
                bi = part_i[c * n + j];
            }
        if (pv) pv[j] = sign * best;
        pi[j] = bi;
    }
}

/* Long rows, few of them: each is cut into chunks scanned in parallel. */
static void max_along_rows_chunked(float *pv, int64_t *pi, const float *p, int64_t outer, int64_t D, float sign,
                                   int64_t chunks)
{
    float *part_v = malloc(sizeof(float) * (size_t)(outer * chunks));
    int64_t *part_i = malloc(sizeof(int64_t) * (size_t)(outer * chunks));
    ENGINE_ASSERT(part_v && part_i);
    CPU_FOR(t, outer * chunks, true, {
        int64_t o = t / chunks, c = t % chunks;
        part_i[c * outer + o] = scan_row(p + o * D, D * c / chunks, D * (c + 1) / chunks, sign, &part_v[c * outer + o]);
    });
    combine_winners(part_v, part_i, chunks, outer, sign, pv, pi);
    free(part_v);
    free(part_i);
}

/* inner == 1: one contiguous row of D per output. */
static void max_along_rows(float *pv, int64_t *pi, const float *p, int64_t outer, int64_t D, float sign)
{
    int64_t chunks = reduce_chunks(outer, D, outer * D);
    if (chunks > 1) {
        max_along_rows_chunked(pv, pi, p, outer, D, sign, chunks);
        return;
    }
    int64_t n_quads = (outer + 3) / 4;
    CPU_FOR(b, n_quads, outer * D > CPU_PARALLEL_GRAIN && n_quads > 1, {
        int64_t o = 4 * b;
        if (o + 4 <= outer && D < 16) {
            scan4(p + o * D, D, sign, pv ? pv + o : NULL, pi + o);
            continue;
        }
        for (; o < 4 * b + 4 && o < outer; o++) {
            float best;
            pi[o] = scan_row(p + o * D, 0, D, sign, &best);
            if (pv) pv[o] = sign * best;
        }
    });
}

/* The winners among rows [i0, i1) of kn contiguous columns at q (rows
 * inner apart): values into best, indices (from i0) into bi. int32 indices
 * keep the comparisons and the selects one width, so they vectorise. */
static void scan_rows(const float *q, int64_t inner, int64_t i0, int64_t i1, int64_t kn, float sign, float *best,
                      int32_t *bi)
{
    for (int64_t k = 0; k < kn; k++) {
        best[k] = sign * q[i0 * inner + k];
        bi[k] = 0;
    }
    for (int32_t i = 1; i < (int32_t)(i1 - i0); i++) {
        const float *row = q + (i0 + i) * inner;
        for (int64_t k = 0; k < kn; k++) {
            float v = sign * row[k], b = best[k];
            int32_t up = (v > b) | ((v != v) & (b == b)); /* takes_over */
            best[k] = up ? v : b;
            bi[k] = up ? i : bi[k];
        }
    }
}

/* inner > 1: rows of inner contiguous outputs, compared row after row. Tasks
 * are (outer index, column tile, chunk of rows); chunk winners are then
 * compared in order, so the first occurrence still wins. */
static void max_across_rows(float *pv, int64_t *pi, const float *p, int64_t outer, int64_t D, int64_t inner,
                            float sign)
{
    int64_t tiles = (inner + ROW_TILE - 1) / ROW_TILE, n_out = outer * inner;
    int64_t chunks = reduce_chunks(outer * tiles, D, outer * D * inner);
    if (chunks < (D + INT32_MAX - 1) / INT32_MAX) chunks = (D + INT32_MAX - 1) / INT32_MAX; /* int32 indices */
    float *part_v = chunks > 1 ? malloc(sizeof(float) * (size_t)(chunks * n_out)) : NULL;
    int64_t *part_i = chunks > 1 ? malloc(sizeof(int64_t) * (size_t)(chunks * n_out)) : NULL;
    ENGINE_ASSERT(chunks == 1 || (part_v && part_i));
    int64_t n_tasks = outer * tiles * chunks;
    CPU_FOR(t, n_tasks, outer * D * inner > CPU_PARALLEL_GRAIN && n_tasks > 1, {
        int64_t c = t % chunks, tile = t / chunks;
        int64_t o = tile / tiles, k0 = (tile % tiles) * ROW_TILE;
        int64_t kn = inner - k0 < ROW_TILE ? inner - k0 : ROW_TILE;
        int64_t i0 = D * c / chunks, i1 = D * (c + 1) / chunks, j0 = o * inner + k0;
        float best[ROW_TILE];
        int32_t bi[ROW_TILE];
        scan_rows(p + o * D * inner + k0, inner, i0, i1, kn, sign, best, bi);
        for (int64_t k = 0; k < kn; k++) {
            if (part_v) {
                part_v[c * n_out + j0 + k] = best[k];
                part_i[c * n_out + j0 + k] = i0 + bi[k];
            } else {
                if (pv) pv[j0 + k] = sign * best[k];
                pi[j0 + k] = bi[k];
            }
        }
    });
    if (chunks == 1) return;
    combine_winners(part_v, part_i, chunks, n_out, sign, pv, pi);
    free(part_v);
    free(part_i);
}

void cpu_max_dim(Tensor *values, Tensor *indices, const Tensor *in, int dim, bool is_max)
{
    int64_t outer, D, inner;
    split_at_dim(in, dim, &outer, &D, &inner);
    ENGINE_ASSERT(D > 0);
    float *pv = values ? tensor_f32(values) : NULL;
    float sign = is_max ? 1.0f : -1.0f;
    if (inner == 1) max_along_rows(pv, tensor_i64(indices), tensor_f32(in), outer, D, sign);
    else max_across_rows(pv, tensor_i64(indices), tensor_f32(in), outer, D, inner, sign);
}

void cpu_put_along_dim(Tensor *dst, const Tensor *src, const Tensor *indices, int dim)
{
    int64_t outer, D, inner;
    split_at_dim(dst, dim, &outer, &D, &inner);
    float *pd = tensor_f32(dst);
    const float *ps = tensor_f32(src);
    const int64_t *pi = tensor_i64(indices);
    CPU_FOR(o, outer, outer * inner > CPU_PARALLEL_GRAIN, {
        for (int64_t k = 0; k < inner; k++) {
            int64_t i = pi[o * inner + k];
            ENGINE_ASSERT(i >= 0 && i < D);
            pd[(o * D + i) * inner + k] = ps[o * inner + k];
        }
    });
}
