/* CPU matrix products: every product is one or more cblas_sgemm calls on the
 * operands' own memory (transposed views become transposition flags, not
 * copies). Threads are OpenMP's only: batches of small products run in
 * parallel over the batch, single large ones in row or column blocks, and
 * BLAS itself stays single-threaded inside. */
#include "engine/cpu/linalg.h"

#include <cblas.h>
#include <limits.h>
#include <omp.h>
#include <string.h>

#include "engine/cpu/allocator.h"
#include "engine/cpu/fork.h"
#include "engine/cpu/gemm_dnnl.h"
#include "engine/cpu/matmul_bf16_dnnl.h"
#include "engine/cpu/strided.h"

/* The thread-count control is an OpenBLAS extension: weak, so another BLAS
 * links too (its threads are then left alone). */
#pragma weak openblas_set_num_threads

/* The engine threads every product itself (for_product_blocks below, and
 * the kernels that call sgemm from their own OpenMP loops), so OpenBLAS's
 * own pool is set to one thread when the engine loads, for the whole
 * process, instead of being toggled around each parallel loop: no product
 * then runs on OpenBLAS's threads, whose count (OPENBLAS_NUM_THREADS)
 * would otherwise decide its bits, and no loop pays for the toggles. A
 * program that links the engine and calls BLAS itself gets
 * single-threaded BLAS too. */
__attribute__((constructor)) static void blas_one_thread(void)
{
    if (openblas_set_num_threads) openblas_set_num_threads(1);
}

/* Products of at least this many multiply-adds go to oneDNN's sgemm where
 * the build has it (gemm_dnnl.h; bench/bench_gemm_ab, 1 thread, CPU time,
 * on Zen 4 with OpenBLAS's AVX-512 kernels: the MLP's 128 x 1024 x 784-1024
 * products 5-19% faster, the MNIST net's per-sample conv2 products 16-38%;
 * MnistModel's 50 x 20 x 64 and smaller ones 16-35% slower, so small ones
 * stay with OpenBLAS). The choice goes by the whole product's size, so that
 * the blocks cpu_sgemm_parallel cuts it into take the same library on any
 * number of threads. */
#define DNNL_GEMM_MIN_MACS ((int64_t)1 << 20)

#pragma weak openblas_get_corename

/* Whether the loaded OpenBLAS runs narrower vectors than the CPU: AVX2
 * kernels on a CPU with AVX-512 (OpenBLAS 0.3.21 picks its Haswell ones for
 * Zen 5, and OPENBLAS_CORETYPE may force them: some machines set it because
 * older builds miscompute with the wider ones). oneDNN's sgemm, compiled
 * for the CPU as it runs, then wins at every size (bench_gemm_ab on Zen 5
 * with the Haswell kernels, 1 thread: 1.2-6x, MnistModel's 50 x 20 x 64
 * and 5 x 10 x 576 included), so every product goes to it. Decided once per
 * process: the same library for a product all run long. */
static bool openblas_narrower_than_cpu(void)
{
    static int answer = -1; /* not decided yet; any thread may decide, all alike */
    int a = __atomic_load_n(&answer, __ATOMIC_RELAXED);
    if (a < 0) {
        const char *core = openblas_get_corename ? openblas_get_corename() : NULL;
        bool wide = core && (strcmp(core, "SkylakeX") == 0 || strcmp(core, "Cooperlake") == 0 ||
                             strcmp(core, "SapphireRapids") == 0);
        __builtin_cpu_init();
        a = core && !wide && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
        __atomic_store_n(&answer, a, __ATOMIC_RELAXED);
    }
    return a;
}

bool cpu_sgemm_by_dnnl(int64_t m, int64_t n, int64_t k)
{
    return m * n * k >= DNNL_GEMM_MIN_MACS || openblas_narrower_than_cpu();
}

static void sgemm_on(bool dnnl, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

void cpu_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
               const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    sgemm_on(cpu_sgemm_by_dnnl(m, n, k), trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static void sgemm_on(bool dnnl, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0) { /* an empty sum: BLAS implementations disagree on this corner */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return;
    }
    if (dnnl && dnnl_sgemm_row_major(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
    ENGINE_ASSERT(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX &&
                  ldc <= INT_MAX);
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)m,
                (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* Element offset of batch entry idx (row-major over the first nbatch dims). */
static int64_t batch_offset(const Tensor *t, int nbatch, int64_t idx)
{
    int64_t off = 0;
    for (int d = nbatch - 1; d >= 0; d--) {
        off += (idx % t->shape.d[d]) * t->strides[d];
        idx /= t->shape.d[d];
    }
    return off;
}

/* When b is the same matrix for every batch entry and a's batch and row dims
 * form one evenly strided run of rows with unit column stride, the whole
 * batch is a single (batch*M) x K matrix: one large sgemm instead of many
 * small ones. Returns its leading dimension, or 0 when it does not fold. */
static int64_t folded_rows_ld(const Tensor *a, const Tensor *b, int nbatch)
{
    int nd = a->shape.ndim;
    for (int d = 0; d < nbatch; d++)
        if (b->shape.d[d] > 1 && b->strides[d] != 0) return 0;
    int64_t k = a->shape.d[nd - 1];
    if (k > 1 && a->strides[nd - 1] != 1) return 0;
    /* walk the row dims (batch dims and M) from the innermost outwards */
    int64_t ld = k > 1 ? k : 1, next = 0;
    bool first = true;
    for (int d = nd - 2; d >= 0; d--) {
        if (a->shape.d[d] == 1) continue;
        if (first) ld = a->strides[d];
        else if (a->strides[d] != next) return 0;
        first = false;
        next = a->strides[d] * a->shape.d[d];
    }
    return ld >= (k > 1 ? k : 1) ? ld : 0;
}

/* Products smaller than this (m * n * k) run on one thread, as OpenBLAS
 * itself decides. */
#define GEMM_PARALLEL_MIN (64 * 64 * 64)

/* Start of block t of nt over [0, total), on multiples of 16 rows or
 * columns (the BLAS kernels' register blocking). */
static int64_t block_start(int64_t total, int t, int nt)
{
    if (t >= nt) return total;
    int64_t p = total * t / nt;
    return p - p % 16;
}

/* One thread's block of a product's m x n result: rows [r0, r0 + rows),
 * columns [c0, c0 + cols) (the whole result when the product is not split). */
typedef void (*ProductBlockFn)(const void *ctx, int64_t r0, int64_t rows, int64_t c0, int64_t cols);

/* Runs block over the result of an m x n x k product: whole on the calling
 * thread (small products, one thread, or a call from inside a parallel
 * region), else one block of rows per OpenMP thread (of columns when the
 * result is wide), each with single-threaded BLAS. */
static void for_product_blocks(int64_t m, int64_t n, int64_t k, ProductBlockFn block, const void *ctx)
{
    int threads = omp_get_max_threads();
    bool split_rows = m >= n;
    int64_t total = split_rows ? m : n;
    if (threads < 2 || omp_in_parallel() || m * n * k < GEMM_PARALLEL_MIN || total < 32) {
        block(ctx, 0, m, 0, n);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t lo = block_start(total, t, nt), hi = block_start(total, t + 1, nt);
        if (hi > lo && split_rows) block(ctx, lo, hi - lo, 0, n);
        else if (hi > lo) block(ctx, 0, m, lo, hi - lo);
    }
}

typedef struct {
    bool trans_a, trans_b, dnnl;
    int64_t k, lda, ldb, ldc;
    float alpha, beta;
    const float *a, *b;
    float *c;
} SgemmArgs;

static void sgemm_block(const void *ctx, int64_t r0, int64_t rows, int64_t c0, int64_t cols)
{
    const SgemmArgs *g = ctx;
    sgemm_on(g->dnnl, g->trans_a, g->trans_b, rows, cols, g->k, g->alpha, g->a + (g->trans_a ? r0 : r0 * g->lda),
             g->lda, g->b + (g->trans_b ? c0 * g->ldb : c0), g->ldb, g->beta, g->c + r0 * g->ldc + c0, g->ldc);
}

void cpu_sgemm_parallel_on(bool dnnl, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                           const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    SgemmArgs args = {trans_a, trans_b, dnnl, k, lda, ldb, ldc, alpha, beta, a, b, c};
    for_product_blocks(m, n, k, sgemm_block, &args);
}

void cpu_sgemm_parallel(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                        int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    /* the library goes by the whole product's size, the same for every block */
    cpu_sgemm_parallel_on(cpu_sgemm_by_dnnl(m, n, k), trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

bool cpu_matmul_lowp_native(DType dt) { return dt == DT_BF16 && dnnl_bf16_matmul_native(); }

/* A rows x cols bf16 matrix (element strides rs, cs) as contiguous floats
 * (exact), from the caching allocator. */
static float *bf16_matrix_to_f32(const uint16_t *src, int64_t rs, int64_t cs, int64_t rows, int64_t cols)
{
    float *f = cpu_caching_alloc(sizeof(float) * (size_t)(rows * cols > 0 ? rows * cols : 1));
    ENGINE_ASSERT(f != NULL);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) f[i * cols + j] = bf16_to_f32(src[i * rs + j * cs]);
    return f;
}

typedef struct {
    const Tensor *a, *b;
    float *c;
    int64_t n, k;
    bool accumulate;
} Bf16Args;

/* One block on oneDNN's bf16 kernels; where oneDNN refuses it, sgemm on
 * exact f32 copies of the block's operands (the same sums). */
static void bf16_block(const void *ctx, int64_t r0, int64_t rows, int64_t c0, int64_t cols)
{
    const Bf16Args *g = ctx;
    const Tensor *a = g->a, *b = g->b;
    const uint16_t *pa = (const uint16_t *)tensor_data(a) + r0 * a->strides[0];
    const uint16_t *pb = (const uint16_t *)tensor_data(b) + c0 * b->strides[1];
    float *c = g->c + r0 * g->n + c0;
    if (g->k > 0 && dnnl_bf16_matmul(c, g->n, pa, a->strides[0], a->strides[1], pb, b->strides[0], b->strides[1], rows,
                                     cols, g->k, g->accumulate))
        return;
    float *fa = bf16_matrix_to_f32(pa, a->strides[0], a->strides[1], rows, g->k);
    float *fb = bf16_matrix_to_f32(pb, b->strides[0], b->strides[1], g->k, cols);
    cpu_sgemm(false, false, rows, cols, g->k, 1.0f, fa, g->k > 0 ? g->k : 1, fb, cols, g->accumulate ? 1.0f : 0.0f, c,
              g->n);
    cpu_caching_free(fa);
    cpu_caching_free(fb);
}

void cpu_matmul_lowp(Tensor *out, const Tensor *a, const Tensor *b, bool accumulate)
{
    ENGINE_ASSERT(out->shape.ndim == 2 && a->shape.ndim == 2 && b->shape.ndim == 2 && tensor_is_contiguous(out));
    ENGINE_ASSERT(a->dtype == DT_BF16 && b->dtype == DT_BF16);
    int64_t m = out->shape.d[0], n = out->shape.d[1], k = a->shape.d[1];
    if (m == 0 || n == 0) return;
    Bf16Args args = {a, b, tensor_f32(out), n, k, accumulate};
    for_product_blocks(m, n, k, bf16_block, &args);
}

void cpu_matmul(Tensor *out, const Tensor *a, const Tensor *b, bool accumulate)
{
    int nd = out->shape.ndim, nbatch = nd - 2;
    int64_t m = out->shape.d[nd - 2], n = out->shape.d[nd - 1], k = a->shape.d[nd - 1];
    if (tensor_numel(out) == 0) return;
    if (k == 0) { /* an empty sum; the operands may have any strides (an empty tensor counts as contiguous) */
        if (!accumulate) memset(tensor_f32(out), 0, sizeof(float) * (size_t)tensor_numel(out));
        return;
    }
    MatrixLayout la, lb;
    ENGINE_ASSERT(blas_matrix_layout(m, k, a->strides[nd - 2], a->strides[nd - 1], &la));
    ENGINE_ASSERT(blas_matrix_layout(k, n, b->strides[nd - 2], b->strides[nd - 1], &lb));
    ENGINE_ASSERT(tensor_is_contiguous(out));
    float beta = accumulate ? 1.0f : 0.0f;
    const float *pa = tensor_f32(a), *pb = tensor_f32(b);
    float *po = tensor_f32(out);
    int64_t batch = 1;
    for (int d = 0; d < nbatch; d++) batch *= out->shape.d[d];

    if (batch == 1) {
        cpu_sgemm_parallel(la.transposed, lb.transposed, m, n, k, 1.0f, pa, la.ld, pb, lb.ld, beta, po, n);
        return;
    }
    int64_t rows_ld = folded_rows_ld(a, b, nbatch);
    if (rows_ld) {
        cpu_sgemm_parallel(false, lb.transposed, batch * m, n, k, 1.0f, pa, rows_ld, pb, lb.ld, beta, po, n);
        return;
    }
    /* Many products: split the batch across threads, unless there are too
     * few entries to keep the threads busy (then each product is split). */
    int threads = omp_get_max_threads();
    bool parallel = batch >= 2 * threads && batch * m * n * k > CPU_PARALLEL_GRAIN;
    if (!cpu_fork(parallel)) {
        for (int64_t i = 0; i < batch; i++)
            cpu_sgemm_parallel(la.transposed, lb.transposed, m, n, k, 1.0f, pa + batch_offset(a, nbatch, i), la.ld,
                               pb + batch_offset(b, nbatch, i), lb.ld, beta, po + i * m * n, n);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < batch; i++)
        cpu_sgemm(la.transposed, lb.transposed, m, n, k, 1.0f, pa + batch_offset(a, nbatch, i), la.ld,
                  pb + batch_offset(b, nbatch, i), lb.ld, beta, po + i * m * n, n);
}
