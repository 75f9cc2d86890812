/* CPU reductions over all or some dims (sum, mean, var/std, amax/amin).
 *
 * The input's dims are first coalesced into groups of kept and of reduced
 * dims; then one of two loops runs:
 *  - rows (reduce_rows.c): when the innermost kept dims are contiguous, as
 *    for dim 0 of an [N, C] tensor;
 *  - per output (here): every output walks its reduced sub-block, with a
 *    vectorised run where the innermost reduced dim is contiguous (the last
 *    dim of a contiguous tensor); short runs go four outputs at a time so the
 *    additions of different outputs overlap.
 * Sums add floats in short blocks (vectorised) and the block totals in
 * double, which keeps them within 1e-7 of an exact sum; var and std take
 * two passes (mean, then squared deviations). When there are too few
 * outputs to occupy the threads, each reduction is cut into chunks whose
 * partial results are combined afterwards; the number of chunks depends on
 * the shape only, so results do not depend on the machine.
 */
#include "engine/cpu/fork.h"
#include "engine/cpu/reduce.h"

#include <stdlib.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "engine/cpu/reduce_impl.h"
#include "engine/reduce_layout.h"


#define LANES 16     /* independent float accumulators of a contiguous run */
#define BLOCK 1024   /* elements a run sums in float before moving to double */
#define SHORT_RUN 32 /* runs shorter than this go four outputs at a time */


/* The groups of one kind among the first `end` groups, as a shape and strides. */
static Shape pick_groups(const DimGroups *g, bool reduced, int end, int64_t *strides)
{
    Shape s = {.ndim = 0};
    for (int i = 0; i < end; i++)
        if (g->reduced[i] == reduced) {
            strides[s.ndim] = g->stride[i];
            s.d[s.ndim++] = g->size[i];
        }
    return s;
}

/* ---- runs: n elements from p with stride s ---- */

/* The float lanes' deviations use the mean rounded to float: that shifts
 * every deviation by the same tiny c, which changes the sum of squares by
 * n c^2 only, since the deviations sum to ~0. */
static double run_sum(const float *p, int64_t n, int64_t s, const double *mean)
{
    double acc = 0.0;
    float m = mean ? (float)*mean : 0.0f;
    int64_t i = 0;
    if (s == 1)
        while (n - i >= LANES) {
            int64_t end = n - i >= BLOCK ? i + BLOCK : n - (n - i) % LANES;
            float lane[LANES] = {0};
            if (mean) {
                for (; i < end; i += LANES)
                    for (int k = 0; k < LANES; k++) {
                        float d = p[i + k] - m;
                        lane[k] += d * d;
                    }
            } else {
                for (; i < end; i += LANES)
                    for (int k = 0; k < LANES; k++) lane[k] += p[i + k];
            }
            /* fold the lanes pairwise in float (no long chain of dependent adds) */
            for (int w = LANES / 2; w > 0; w /= 2)
                for (int k = 0; k < w; k++) lane[k] += lane[k + w];
            acc += lane[0];
        }
    for (; i < n; i++) {
        double x = p[i * s];
        acc += mean ? (x - *mean) * (x - *mean) : x;
    }
    return acc;
}

static double run_max(const float *p, int64_t n, int64_t s, float sign)
{
    float m = -INFINITY;
    bool nan = false;
    int64_t i = 0;
#if defined(__SSE2__)
    if (s == 1 && n >= 16) {
        /* maxps(v, m) and minps(v, m) keep m when v is NaN, so NaN is
         * tracked on the side; min runs on the values themselves (no sign
         * multiply in the loop) and is negated once at the end */
        bool is_min = sign < 0;
        __m128 m0 = _mm_set1_ps(is_min ? INFINITY : -INFINITY), m1 = m0, m2 = m0, m3 = m0;
        __m128 unordered = _mm_setzero_ps();
        for (; i + 16 <= n; i += 16) {
            __m128 v0 = _mm_loadu_ps(p + i), v1 = _mm_loadu_ps(p + i + 4);
            __m128 v2 = _mm_loadu_ps(p + i + 8), v3 = _mm_loadu_ps(p + i + 12);
            if (is_min) {
                m0 = _mm_min_ps(v0, m0);
                m1 = _mm_min_ps(v1, m1);
                m2 = _mm_min_ps(v2, m2);
                m3 = _mm_min_ps(v3, m3);
            } else {
                m0 = _mm_max_ps(v0, m0);
                m1 = _mm_max_ps(v1, m1);
                m2 = _mm_max_ps(v2, m2);
                m3 = _mm_max_ps(v3, m3);
            }
            unordered = _mm_or_ps(unordered, _mm_or_ps(_mm_cmpunord_ps(v0, v1), _mm_cmpunord_ps(v2, v3)));
        }
        /* the lanes never hold NaN, so plain maxps/minps fold them */
        __m128 f = is_min ? _mm_min_ps(_mm_min_ps(m0, m1), _mm_min_ps(m2, m3))
                          : _mm_max_ps(_mm_max_ps(m0, m1), _mm_max_ps(m2, m3));
        __m128 h = _mm_movehl_ps(f, f);
        f = is_min ? _mm_min_ps(f, h) : _mm_max_ps(f, h);
        h = _mm_shuffle_ps(f, f, 1);
        f = is_min ? _mm_min_ss(f, h) : _mm_max_ss(f, h);
        m = sign * _mm_cvtss_f32(f);
        nan = _mm_movemask_ps(unordered) != 0;
    }
#endif
    for (; i < n; i++) m = pick_max_f(m, sign * p[i * s]);
    return nan ? NAN : m;
}

static double run(const ReduceJob *job, const float *p, int64_t n, int64_t s, int64_t j)
{
    switch (job->kind) {
    case RED_SUM: return run_sum(p, n, s, NULL);
    case RED_SQDEV: return run_sum(p, n, s, job->shift + j);
    case RED_MAX: return run_max(p, n, s, job->sign);
    }
    return 0.0;
}

/* Four short runs at p, p + ks, p + 2 ks, p + 3 ks, for outputs j..j+3. */
static void run4(const ReduceJob *job, const float *p, int64_t ks, int64_t n, int64_t s, int64_t j, double *acc)
{
    if (job->kind == RED_MAX) {
        float m[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
        for (int64_t i = 0; i < n; i++)
            for (int u = 0; u < 4; u++) m[u] = pick_max_f(m[u], job->sign * p[u * ks + i * s]);
        for (int u = 0; u < 4; u++) acc[u] = m[u];
        return;
    }
    double a[4] = {0, 0, 0, 0}, mean[4] = {0, 0, 0, 0};
    if (job->kind == RED_SQDEV)
        for (int u = 0; u < 4; u++) mean[u] = job->shift[j + u];
    for (int64_t i = 0; i < n; i++)
        for (int u = 0; u < 4; u++) {
            double x = (double)p[u * ks + i * s] - mean[u];
            a[u] += job->kind == RED_SQDEV ? x * x : x;
        }
    for (int u = 0; u < 4; u++) acc[u] = a[u];
}

void cpu_reduce_combine_chunks(const ReduceJob *job, const double *partial, int64_t chunks, int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        double acc = acc_identity(job);
        for (int64_t c = 0; c < chunks; c++) acc = acc_combine(job, acc, partial[c * n + j]);
        reduce_store(job, j, acc);
    }
}

/* ---- per-output path ---- */

/* Accumulates the reduced elements [r0, r1) (row-major over L) of the block at p. */
static double reduce_range(const ReduceJob *job, const float *p, const StridedLoop *L, int64_t r0, int64_t r1,
                           int64_t j)
{
    double acc = acc_identity(job);
    Shape outer = {.ndim = L->ndim_outer};
    for (int d = 0; d < L->ndim_outer; d++) outer.d[d] = L->outer_size[d];
    IndexIter it;
    iter_start(&it, &outer, L->outer_stride[0], r0 / L->inner);
    int64_t i = r0 % L->inner;
    for (int64_t r = r0; r < r1; i = 0) {
        int64_t n = L->inner - i < r1 - r ? L->inner - i : r1 - r;
        acc = acc_combine(job, acc, run(job, p + it.off + i * L->inner_stride[0], n, L->inner_stride[0], j));
        r += n;
        iter_next(&it);
    }
    return acc;
}

/* Outputs [j, j1) in order; four at a time where their runs are short and
 * they lie along the innermost kept group. */
static void reduce_outputs(const ReduceJob *job, const float *base, const Shape *kept, const int64_t *kept_strides,
                           const StridedLoop *L, int64_t j, int64_t j1)
{
    int64_t R = L->outer * L->inner;
    int last = kept->ndim - 1;
    bool short_runs = L->outer == 1 && L->inner < SHORT_RUN && last >= 0;
    IndexIter it;
    iter_start(&it, kept, kept_strides, j);
    while (j < j1) {
        if (short_runs && j + 4 <= j1 && it.idx[last] + 4 <= kept->d[last]) {
            double acc[4];
            run4(job, base + it.off, kept_strides[last], L->inner, L->inner_stride[0], j, acc);
            for (int u = 0; u < 4; u++, j++) {
                reduce_store(job, j, acc[u]);
                iter_next(&it);
            }
        } else {
            const float *p = base + it.off;
            double acc = L->outer == 1 ? run(job, p, R, L->inner_stride[0], j) : reduce_range(job, p, L, 0, R, j);
            reduce_store(job, j, acc);
            iter_next(&it);
            j++;
        }
    }
}

static void reduce_per_output(const ReduceJob *job, const float *base, Shape kept, const int64_t *kept_strides,
                              Shape red, const int64_t *red_strides)
{
    const int64_t *rs[1] = {red_strides};
    StridedLoop L;
    strided_loop_init(&L, red, 1, rs);
    int64_t n_out = shape_numel(kept), R = shape_numel(red);
    int64_t chunks = reduce_chunks(n_out, R, n_out * R);
    if (chunks > 1) {
        /* few outputs: every (output, chunk) pair is a task */
        double *partial = malloc(sizeof(double) * (size_t)(chunks * n_out));
        ENGINE_ASSERT(partial != NULL);
        CPU_FOR(t, n_out * chunks, true, {
            int64_t j = t / chunks, c = t % chunks;
            IndexIter it;
            iter_start(&it, &kept, kept_strides, j);
            partial[c * n_out + j] = reduce_range(job, base + it.off, &L, R * c / chunks, R * (c + 1) / chunks, j);
        });
        cpu_reduce_combine_chunks(job, partial, chunks, n_out);
        free(partial);
        return;
    }
    /* blocks of consecutive outputs, with enough work each to be worth a task */
    int64_t per_block = R >= 4096 ? 1 : 4096 / R;
    int64_t n_blocks = (n_out + per_block - 1) / per_block;
    CPU_FOR(b, n_blocks, n_out * R > CPU_PARALLEL_GRAIN && n_blocks > 1, {
        int64_t j0 = b * per_block, j1 = j0 + per_block < n_out ? j0 + per_block : n_out;
        reduce_outputs(job, base, &kept, kept_strides, &L, j0, j1);
    });
}

/* Runs job over in with outputs in the keepdim shape's row-major order. */
static void run_reduce(const ReduceJob *job, const Tensor *in, const bool *reduce)
{
    DimGroups g;
    group_dims(in, reduce, &g);
    int64_t kept_strides[MAX_DIMS], red_strides[MAX_DIMS];
    Shape kept = pick_groups(&g, false, g.n, kept_strides);
    Shape red = pick_groups(&g, true, g.n, red_strides);
    int64_t n_out = shape_numel(kept), R = shape_numel(red);
    if (n_out == 0) return;
    if (R == 0) { /* empty reductions: sum 0, mean and var NaN */
        for (int64_t j = 0; j < n_out; j++) reduce_store(job, j, acc_identity(job));
        return;
    }
    const float *base = tensor_f32(in);
    bool rows_inner = g.n > 0 && !g.reduced[g.n - 1] && g.stride[g.n - 1] == 1;
    if (rows_inner && red.ndim > 0) {
        int64_t outer_strides[MAX_DIMS];
        Shape outer = pick_groups(&g, false, g.n - 1, outer_strides);
        cpu_reduce_rows(job, base, outer, outer_strides, g.size[g.n - 1], red, red_strides);
    } else {
        reduce_per_output(job, base, kept, kept_strides, red, red_strides);
    }
}

static int64_t reduced_count(const Tensor *in, const bool *reduce)
{
    int64_t n = 1;
    for (int d = 0; d < in->shape.ndim; d++)
        if (reduce[d]) n *= in->shape.d[d];
    return n;
}

void cpu_sum(Tensor *out, const Tensor *in, const bool *reduce)
{
    ReduceJob job = {.kind = RED_SUM, .scale = 1.0, .out = tensor_f32(out)};
    run_reduce(&job, in, reduce);
}

void cpu_mean(Tensor *out, const Tensor *in, const bool *reduce)
{
    ReduceJob job = {.kind = RED_SUM, .scale = 1.0 / (double)reduced_count(in, reduce), .out = tensor_f32(out)};
    run_reduce(&job, in, reduce);
}

void cpu_var(Tensor *out, const Tensor *in, const bool *reduce, int correction, bool take_sqrt)
{
    int64_t n = reduced_count(in, reduce), n_out = tensor_numel(out);
    double *mean = malloc(sizeof(double) * (size_t)(n_out > 0 ? n_out : 1));
    ENGINE_ASSERT(mean != NULL);
    ReduceJob mean_job = {.kind = RED_SUM, .scale = 1.0 / (double)n, .out_f64 = mean};
    run_reduce(&mean_job, in, reduce);
    double dof = (double)n - correction;
    ReduceJob var_job = {.kind = RED_SQDEV,
                         .shift = mean,
                         .scale = 1.0 / (dof > 0 ? dof : 0.0), /* 0 / 0 = NaN, x / 0 = inf */
                         .take_sqrt = take_sqrt,
                         .out = tensor_f32(out)};
    run_reduce(&var_job, in, reduce);
    free(mean);
}

void cpu_amax(Tensor *out, const Tensor *in, const bool *reduce)
{
    ReduceJob job = {.kind = RED_MAX, .sign = 1.0f, .out = tensor_f32(out)};
    run_reduce(&job, in, reduce);
}

void cpu_amin(Tensor *out, const Tensor *in, const bool *reduce)
{
    ReduceJob job = {.kind = RED_MAX, .sign = -1.0f, .out = tensor_f32(out)};
    run_reduce(&job, in, reduce);
}
