/* CPU loss kernels: flat loops over contiguous data split across threads;
 * sums run in float within blocks and in double across them. Formulas
 * follow PyTorch's CPU kernels, so results agree to rounding. */
#include "engine/cpu/fork.h"
#include "engine/cpu/loss.h"
#include "engine/loss_layout.h"

#include <math.h>

#include "engine/cpu/strided.h"

/* ======================= nll ======================= */

bool cpu_nll_loss_bad_target(const Tensor *target, int64_t n_classes, int64_t ignore_index, int64_t *bad)
{
    const int64_t *pt = tensor_i64(target);
    int64_t n = tensor_numel(target);
    for (int64_t i = 0; i < n; i++) {
        if (pt[i] != ignore_index && (pt[i] < 0 || pt[i] >= n_classes)) {
            *bad = pt[i];
            return true;
        }
    }
    return false;
}

void cpu_nll_loss(Tensor *out, Tensor *total_weight, const Tensor *input, const Tensor *target, const Tensor *weight,
                  int64_t ignore_index, Reduction reduction)
{
    NllLayout l = nll_layout(input, target);
    const float *px = tensor_f32(input), *pw = weight ? tensor_f32(weight) : NULL;
    const int64_t *pt = tensor_i64(target);
    float *po = tensor_f32(out);
    bool per_element = reduction == REDUCTION_NONE;
    double sum = 0.0, wsum = 0.0;
    CPU_FOR_CLAUSES(reduction(+ : sum, wsum), i, l.count, l.count > CPU_PARALLEL_GRAIN, {
        int64_t t = pt[i];
        float loss = 0.0f, w = 0.0f;
        if (t != ignore_index) {
            w = pw ? pw[t] : 1.0f;
            loss = -w * px[nll_offset(l, i, t)];
        }
        if (per_element) po[i] = loss;
        sum += loss;
        wsum += w;
    });
    tensor_f32(total_weight)[0] = (float)wsum;
    if (!per_element) po[0] = (float)(reduction == REDUCTION_MEAN ? sum / wsum : sum);
}

void cpu_nll_loss_backward(Tensor *grad_input, const Tensor *g, const Tensor *target, const Tensor *weight,
                           const Tensor *total_weight, int64_t ignore_index, Reduction reduction)
{
    NllLayout l = nll_layout(grad_input, target);
    const float *pg = tensor_f32(g), *pw = weight ? tensor_f32(weight) : NULL;
    const int64_t *pt = tensor_i64(target);
    float *pgi = tensor_f32(grad_input);
    bool per_element = reduction == REDUCTION_NONE;
    float g0 = per_element ? 0.0f : pg[0];
    if (reduction == REDUCTION_MEAN) g0 /= tensor_f32(total_weight)[0];
    CPU_FOR(i, l.count, l.count > CPU_PARALLEL_GRAIN, {
        int64_t t = pt[i];
        if (t == ignore_index) continue;
        float w = pw ? pw[t] : 1.0f;
        pgi[nll_offset(l, i, t)] = -w * (per_element ? pg[i] : g0);
    });
}

/* ======================= pointwise losses ======================= */

/* log clamped as PyTorch's binary_cross_entropy does, so 0 and 1 stay finite */
static inline float clamped_log(float v) { return fmaxf(logf(v), -100.0f); }
static inline float clamped_log1m(float v) { return fmaxf(log1pf(-v), -100.0f); }

/* log(1 + exp(-x)) as PyTorch's binary_cross_entropy_with_logits computes
 * it, m + log(exp(-m) + exp(-x - m)) with m = max(-x, 0): no overflow, and
 * PyTorch's NaN at x = -Inf (-x - m is Inf - Inf), which makes the loss
 * NaN there whatever the target. */
static inline float softplus_neg(float x)
{
    float m = -x > 0.0f ? -x : 0.0f;
    return m + logf(expf(-m) + expf(-x - m));
}

/* log(sigmoid(x)) as PyTorch's log_sigmoid: min(x, 0) - log1p(exp(-|x|)),
 * finite wherever it can be (0 at +Inf, -Inf at -Inf). */
static inline float log_sigmoid(float x) { return fminf(x, 0.0f) - log1pf(expf(-fabsf(x))); }

/* Elements handled per task; float partial sums within a block vectorise,
 * the double total across blocks keeps large tensors accurate. */
#define LOSS_BLOCK 1024

/* Unweighted losses of n elements into v; pw NULL means no pos_weight. One
 * loop per kind, so the simple ones vectorise. */
static void pointwise_values(PointwiseLoss kind, float *v, const float *x, const float *t, const float *pw, int64_t n)
{
    switch (kind) {
    case POINTWISE_MSE:
        for (int64_t i = 0; i < n; i++) v[i] = (x[i] - t[i]) * (x[i] - t[i]);
        return;
    case POINTWISE_L1:
        for (int64_t i = 0; i < n; i++) v[i] = fabsf(x[i] - t[i]);
        return;
    case POINTWISE_BCE:
        for (int64_t i = 0; i < n; i++) v[i] = (t[i] - 1.0f) * clamped_log1m(x[i]) - t[i] * clamped_log(x[i]);
        return;
    case POINTWISE_BCE_LOGITS:
        for (int64_t i = 0; i < n; i++) {
            float log_weight = pw ? (pw[i] - 1.0f) * t[i] + 1.0f : 1.0f;
            v[i] = (1.0f - t[i]) * x[i] + log_weight * softplus_neg(x[i]);
        }
        return;
    }
}

/* Unweighted d loss / dx into dx and d loss / dt into dt (either NULL when
 * not wanted). */
static void pointwise_grads(PointwiseLoss kind, float *dx, float *dt, const float *x, const float *t, const float *pw,
                            int64_t n)
{
    switch (kind) {
    case POINTWISE_MSE:
        for (int64_t i = 0; dx && i < n; i++) dx[i] = 2.0f * (x[i] - t[i]);
        for (int64_t i = 0; dt && i < n; i++) dt[i] = -2.0f * (x[i] - t[i]);
        return;
    case POINTWISE_L1:
        for (int64_t i = 0; dx && i < n; i++) dx[i] = (float)((x[i] > t[i]) - (x[i] < t[i]));
        for (int64_t i = 0; dt && i < n; i++) dt[i] = (float)((x[i] < t[i]) - (x[i] > t[i]));
        return;
    case POINTWISE_BCE:
        for (int64_t i = 0; dx && i < n; i++) dx[i] = (x[i] - t[i]) / fmaxf((1.0f - x[i]) * x[i], 1e-12f);
        for (int64_t i = 0; dt && i < n; i++) dt[i] = clamped_log1m(x[i]) - clamped_log(x[i]);
        return;
    case POINTWISE_BCE_LOGITS:
        for (int64_t i = 0; dx && i < n; i++) {
            float sig = 1.0f / (1.0f + expf(-x[i]));
            dx[i] = pw ? (pw[i] * t[i] + 1.0f - t[i]) * sig - pw[i] * t[i] : sig - t[i];
        }
        /* PyTorch's form: with pos_weight, (pw - 1) * softplus_neg(x) - x would
         * give Inf - Inf = NaN at x = -Inf where PyTorch gives +Inf */
        for (int64_t i = 0; dt && i < n; i++) dt[i] = pw ? log_sigmoid(-x[i]) - pw[i] * log_sigmoid(x[i]) : -x[i];
        return;
    }
}

/* out[i] = d[i] * (g ? g[i] : g0) * (w ? w[i] : 1) */
static void scale_grad(float *out, const float *d, const float *g, float g0, const float *w, int64_t n)
{
    if (g && w) {
        for (int64_t i = 0; i < n; i++) out[i] = d[i] * g[i] * w[i];
    } else if (g) {
        for (int64_t i = 0; i < n; i++) out[i] = d[i] * g[i];
    } else if (w) {
        for (int64_t i = 0; i < n; i++) out[i] = d[i] * g0 * w[i];
    } else {
        for (int64_t i = 0; i < n; i++) out[i] = d[i] * g0;
    }
}

static inline const float *offset_or_null(const float *p, int64_t off) { return p ? p + off : NULL; }

static bool probabilities_in_range(const float *x, int64_t n)
{
    int64_t bad = 0;
    CPU_FOR_CLAUSES(reduction(+ : bad), i, n, n > CPU_PARALLEL_GRAIN, bad += !(x[i] >= 0.0f && x[i] <= 1.0f););
    return bad == 0;
}

bool cpu_pointwise_loss(PointwiseLoss kind, Tensor *out, const Tensor *x, const Tensor *target, const Tensor *weight,
                        const Tensor *pos_weight, Reduction reduction)
{
    int64_t n = tensor_numel(x);
    const float *px = tensor_f32(x), *pt = tensor_f32(target);
    const float *pw = weight ? tensor_f32(weight) : NULL, *ppw = pos_weight ? tensor_f32(pos_weight) : NULL;
    float *po = tensor_f32(out);
    if (kind == POINTWISE_BCE && !probabilities_in_range(px, n)) return false;
    bool per_element = reduction == REDUCTION_NONE;
    int64_t blocks = (n + LOSS_BLOCK - 1) / LOSS_BLOCK;
    double total = 0.0;
    CPU_FOR_CLAUSES(reduction(+ : total), b, blocks, n > CPU_PARALLEL_GRAIN / 4, {
        int64_t start = b * LOSS_BLOCK, len = n - start < LOSS_BLOCK ? n - start : LOSS_BLOCK;
        float buffer[LOSS_BLOCK];
        float *v = per_element ? po + start : buffer;
        pointwise_values(kind, v, px + start, pt + start, offset_or_null(ppw, start), len);
        if (pw)
            for (int64_t i = 0; i < len; i++) v[i] *= pw[start + i];
        if (!per_element) {
            float s = 0.0f;
_Pragma("omp simd reduction(+ : s)")
            for (int64_t i = 0; i < len; i++) s += v[i];
            total += s;
        }
    });
    if (!per_element) po[0] = (float)(reduction == REDUCTION_MEAN ? total / (double)n : total);
    return true;
}

void cpu_pointwise_loss_backward(PointwiseLoss kind, Tensor *grad_x, Tensor *grad_target, const Tensor *g,
                                 const Tensor *x, const Tensor *target, const Tensor *weight, const Tensor *pos_weight,
                                 Reduction reduction)
{
    int64_t n = tensor_numel(x);
    const float *px = tensor_f32(x), *pt = tensor_f32(target), *pg = tensor_f32(g);
    const float *pw = weight ? tensor_f32(weight) : NULL, *ppw = pos_weight ? tensor_f32(pos_weight) : NULL;
    float *pgx = grad_x ? tensor_f32(grad_x) : NULL, *pgt = grad_target ? tensor_f32(grad_target) : NULL;
    bool per_element = reduction == REDUCTION_NONE;
    float g0 = per_element ? 0.0f : pg[0];
    if (reduction == REDUCTION_MEAN) g0 /= (float)n;
    int64_t blocks = (n + LOSS_BLOCK - 1) / LOSS_BLOCK;
    CPU_FOR(b, blocks, n > CPU_PARALLEL_GRAIN / 4, {
        int64_t start = b * LOSS_BLOCK, len = n - start < LOSS_BLOCK ? n - start : LOSS_BLOCK;
        float dx[LOSS_BLOCK], dt[LOSS_BLOCK];
        pointwise_grads(kind, pgx ? dx : NULL, pgt ? dt : NULL, px + start, pt + start, offset_or_null(ppw, start),
                        len);
        const float *gb = per_element ? pg + start : NULL, *wb = offset_or_null(pw, start);
        if (pgx) scale_grad(pgx + start, dx, gb, g0, wb, len);
        if (pgt) scale_grad(pgt + start, dt, gb, g0, wb, len);
    });
}
