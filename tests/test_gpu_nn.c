/* The CUDA softmax, loss and indexing kernels against the CPU's: softmax
 * and log_softmax over every layout (rows per warp or per block, columns,
 * strided and broadcast input); nll_loss and cross_entropy (weights, ignore_index, label
 * smoothing, every reduction, spatial targets) and the pointwise losses;
 * gather (also with a broadcast index), scatter_add, index_select,
 * embedding (padding_idx), pad and one_hot, on strided inputs too, with the accumulating backward kernels in deterministic and in
 * atomic mode; and the errors the GPU's validation kernels report (bad
 * targets, BCE inputs outside [0, 1], indices out of range). Forward and
 * backward, relative error <= 1e-4, integer results exact. Skipped without
 * a CUDA device. */
#include <math.h>
#include <string.h>

#include "tests/support/gpu_compare.h"

static Generator gen;

#define TOL 1e-4

static Tensor *randint_cpu(int64_t low, int64_t high, Shape shape)
{
    Tensor *t = tensor_randint(low, high, shape, &gen, CPU);
    REQUIRE_OK(t);
    return t;
}

/* ---------------- softmax ---------------- */

typedef struct {
    int dim;
    bool log, transposed;
    Shape expand; /* ndim > 0: a broadcast (stride 0) view of the leaf with this shape */
} SoftmaxCtx;

static Tensor *softmax_fn(Tensor **in, void *ctx)
{
    const SoftmaxCtx *c = ctx;
    Tensor *x = c->transposed ? t_transpose(in[0], 0, -1) : in[0];
    if (c->expand.ndim > 0) x = t_expand(x, c->expand);
    return c->log ? f_log_softmax(x, c->dim) : f_softmax(x, c->dim);
}

static void test_softmax(void **state)
{
    REQUIRE_GPU();
    static const struct {
        Shape shape; /* of the leaf; transposed cases swap its first and last dims first */
        int dim;
        bool transposed;
    } cases[] = {
        {SHAPE(5, 10), 1, false},   /* a warp per row */
        {SHAPE(5, 10), 0, false},   /* columns */
        {SHAPE(3, 5000), -1, false}, /* a block per row */
        {SHAPE(4, 6, 7), 1, false},
        {SHAPE(2, 3, 4, 5), 0, false},
        {SHAPE(300, 33), 1, false},
        {SHAPE(7), 0, false},
        {SHAPE(9, 6), 1, true},     /* strided input, copied by the op */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int log = 0; log < 2; log++) {
            scope_begin();
            Tensor *x = t_mul_scalar(tensor_randn(cases[k].shape, &gen, CPU), 3.0);
            REQUIRE_OK(x);
            REQUIRE_OK(tensor_set_requires_grad(x, true));
            SoftmaxCtx ctx = {cases[k].dim, log != 0, cases[k].transposed, SCALAR_SHAPE};
            char label[128];
            snprintf(label, sizeof label, "%s %s dim %d%s", log ? "log_softmax" : "softmax", shape_str(cases[k].shape),
                     cases[k].dim, cases[k].transposed ? " (transposed)" : "");
            expect_gpu_matches_cpu(softmax_fn, &ctx, &x, 1, TOL, label);
            scope_end();
        }
    /* broadcast inputs (copied by the op): leaf [1, 12] seen as [5, 12], leaf [6, 1] as [6, 4] */
    static const struct {
        Shape leaf, seen;
        int dim;
    } bcast[] = {{SHAPE(1, 12), SHAPE(5, 12), 1}, {SHAPE(6, 1), SHAPE(6, 4), 0}};
    for (int k = 0; k < 2; k++)
        for (int log = 0; log < 2; log++) {
            scope_begin();
            Tensor *x = rand_leaf(bcast[k].leaf, &gen);
            SoftmaxCtx ctx = {bcast[k].dim, log != 0, false, bcast[k].seen};
            char label[128];
            snprintf(label, sizeof label, "%s %s (broadcast) dim %d", log ? "log_softmax" : "softmax",
                     shape_str(bcast[k].seen), bcast[k].dim);
            expect_gpu_matches_cpu(softmax_fn, &ctx, &x, 1, TOL, label);
            scope_end();
        }
}

/* ---------------- nll_loss and cross_entropy ---------------- */

typedef struct {
    Reduction reduction;
    int64_t ignore_index;
    double smoothing;
    bool cross_entropy;
    bool transposed; /* x is stored [C, N] and seen through a transpose */
} NllCtx;

/* inputs: x, target, weight (may be NULL) */
static Tensor *nll_fn(Tensor **in, void *ctx)
{
    const NllCtx *c = ctx;
    Tensor *x = c->transposed ? t_transpose(in[0], 0, 1) : in[0];
    if (c->cross_entropy) return f_cross_entropy(x, in[1], in[2], c->ignore_index, c->reduction, c->smoothing);
    return f_nll_loss(x, in[1], in[2], c->ignore_index, c->reduction);
}

static const char *reduction_name[] = {"mean", "sum", "none"};

static void test_nll_and_cross_entropy(void **state)
{
    REQUIRE_GPU();
    static const struct {
        Shape input, target;
    } shapes[] = {
        {SHAPE(8, 5), SHAPE(8)},
        {SHAPE(4, 3, 5, 6), SHAPE(4, 5, 6)}, /* spatial targets */
        {SHAPE(5), SCALAR_SHAPE},            /* one sample */
        {SHAPE(4096, 10), SHAPE(4096)},      /* sums over many blocks */
    };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int64_t C = shapes[k].input.d[shapes[k].input.ndim == 1 ? 0 : 1];
        for (int red = 0; red < 3; red++)
            for (int variant = 0; variant < 4; variant++) {
                scope_begin();
                bool weighted = variant & 1, ce = variant >= 2;
                Tensor *in[3] = {rand_leaf(shapes[k].input, &gen), randint_cpu(0, C, shapes[k].target),
                                 weighted ? tensor_rand(SHAPE(C), &gen, CPU) : NULL};
                /* class 1 is ignored: some targets count 0 */
                NllCtx ctx = {(Reduction)red, 1, ce && weighted ? 0.1 : 0.0, ce, false};
                char label[128];
                snprintf(label, sizeof label, "%s %s %s%s%s", ce ? "cross_entropy" : "nll_loss",
                         shape_str(shapes[k].input), reduction_name[red], weighted ? " weighted" : "",
                         ctx.smoothing > 0 ? " smoothing 0.1" : "");
                expect_gpu_matches_cpu(nll_fn, &ctx, in, 3, TOL, label);
                scope_end();
            }
    }
}

/* A non-contiguous input (the ops copy it), every reduction. */
static void test_nll_and_cross_entropy_strided(void **state)
{
    REQUIRE_GPU();
    for (int red = 0; red < 3; red++)
        for (int ce = 0; ce < 2; ce++) {
            scope_begin();
            Tensor *in[3] = {rand_leaf(SHAPE(6, 9), &gen), randint_cpu(0, 6, SHAPE(9)), tensor_rand(SHAPE(6), &gen, CPU)};
            NllCtx ctx = {(Reduction)red, 2, ce ? 0.2 : 0.0, ce != 0, true};
            char label[128];
            snprintf(label, sizeof label, "%s [9, 6] (transposed) %s weighted", ce ? "cross_entropy" : "nll_loss",
                     reduction_name[red]);
            expect_gpu_matches_cpu(nll_fn, &ctx, in, 3, TOL, label);
            scope_end();
        }
}

static void test_nll_bad_target(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    Tensor *t = randint_cpu(0, 7, SHAPE(3000));
    tensor_i64(t)[1700] = 9; /* the first bad target is the one reported */
    tensor_i64(t)[2500] = -4;
    Tensor *x = leaf_on(tensor_randn(SHAPE(3000, 7), &gen, CPU), GPU_DEVICE);
    Tensor *tg = leaf_on(t, GPU_DEVICE);
    expect_error(f_nll_loss(x, tg, NULL, -100, REDUCTION_MEAN), "target 9 is out of bounds", NULL);
    tensor_i64(t)[1700] = 0;
    tg = leaf_on(t, GPU_DEVICE);
    expect_error(f_cross_entropy(x, tg, NULL, -100, REDUCTION_SUM, 0.0), "target -4 is out of bounds", NULL);
    /* an ignored value is not a bad one */
    REQUIRE_OK(f_nll_loss(x, tg, NULL, -4, REDUCTION_MEAN));
    scope_end();
}

/* ---------------- pointwise losses ---------------- */

typedef enum { L_MSE, L_L1, L_BCE, L_BCE_LOGITS, N_POINTWISE } PointwiseKind;
static const char *pointwise_name[] = {"mse", "l1", "bce", "bce_with_logits"};

typedef struct {
    PointwiseKind kind;
    Reduction reduction;
    bool transposed; /* x is stored transposed and seen through a transpose */
} PointwiseCtx;

/* inputs: x, target, weight, pos_weight (the last two may be NULL) */
static Tensor *pointwise_fn(Tensor **in, void *ctx)
{
    const PointwiseCtx *c = ctx;
    Tensor *x = c->transposed ? t_transpose(in[0], 0, 1) : in[0];
    switch (c->kind) {
    case L_MSE: return f_mse_loss(x, in[1], c->reduction);
    case L_L1: return f_l1_loss(x, in[1], c->reduction);
    case L_BCE: return f_binary_cross_entropy(x, in[1], in[2], c->reduction);
    default: return f_binary_cross_entropy_with_logits(x, in[1], in[2], in[3], c->reduction);
    }
}

/* A leaf of values in (0, 1), away from the ends. */
static Tensor *probability_leaf(Shape shape)
{
    Tensor *p = t_add_scalar(t_mul_scalar(tensor_rand(shape, &gen, CPU), 0.9), 0.05);
    REQUIRE_OK(p);
    return tensor_set_requires_grad(p, true);
}

static void test_pointwise_losses(void **state)
{
    REQUIRE_GPU();
    const Shape shapes[] = {SHAPE(6, 5), SHAPE(3000, 7)};
    for (int s = 0; s < 2; s++)
        for (int kind = 0; kind < N_POINTWISE; kind++)
            for (int red = 0; red < 3; red++)
                for (int weighted = 0; weighted < 2; weighted++) {
                    if (weighted && kind < L_BCE) continue; /* mse and l1 take no weights */
                    scope_begin();
                    Shape sh = shapes[s];
                    int64_t C = sh.d[1];
                    bool pos_weighted = weighted && kind == L_BCE_LOGITS;
                    Tensor *in[4] = {kind == L_BCE ? probability_leaf(sh) : rand_leaf(sh, &gen), probability_leaf(sh),
                                     weighted ? tensor_rand(SHAPE(C), &gen, CPU) : NULL,
                                     pos_weighted ? t_mul_scalar(tensor_rand(SHAPE(C), &gen, CPU), 3.0) : NULL};
                    PointwiseCtx ctx = {(PointwiseKind)kind, (Reduction)red, false};
                    char label[128];
                    snprintf(label, sizeof label, "%s %s %s%s", pointwise_name[kind], shape_str(sh),
                             reduction_name[red], weighted ? " weighted" : "");
                    expect_gpu_matches_cpu(pointwise_fn, &ctx, in, 4, TOL, label);
                    scope_end();
                }
}

/* A non-contiguous input, and a weight broadcast over the rows. */
static void test_pointwise_losses_strided(void **state)
{
    REQUIRE_GPU();
    for (int kind = 0; kind < N_POINTWISE; kind++)
        for (int red = 0; red < 3; red++) {
            scope_begin();
            bool weighted = kind >= L_BCE;
            Tensor *in[4] = {kind == L_BCE ? probability_leaf(SHAPE(5, 8)) : rand_leaf(SHAPE(5, 8), &gen),
                             probability_leaf(SHAPE(8, 5)), weighted ? tensor_rand(SHAPE(5), &gen, CPU) : NULL,
                             kind == L_BCE_LOGITS ? t_add_scalar(tensor_rand(SHAPE(5), &gen, CPU), 0.5) : NULL};
            PointwiseCtx ctx = {(PointwiseKind)kind, (Reduction)red, true};
            char label[128];
            snprintf(label, sizeof label, "%s [8, 5] (transposed) %s%s", pointwise_name[kind], reduction_name[red],
                     weighted ? " weighted" : "");
            expect_gpu_matches_cpu(pointwise_fn, &ctx, in, 4, TOL, label);
            scope_end();
        }
}

static void test_bce_input_out_of_range(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    Tensor *x = tensor_rand(SHAPE(2000), &gen, CPU);
    REQUIRE_OK(x);
    tensor_f32(x)[1234] = 1.5f;
    Tensor *t = leaf_on(tensor_rand(SHAPE(2000), &gen, CPU), GPU_DEVICE);
    for (int red = 0; red < 3; red++)
        expect_error(f_binary_cross_entropy(leaf_on(x, GPU_DEVICE), t, NULL, (Reduction)red),
                     "all elements of input should be between 0 and 1", NULL);
    scope_end();
}

/* ---------------- indexing ---------------- */

typedef struct {
    int dim;
    bool transposed;
    Shape expand_index; /* ndim > 0: the index is a broadcast (stride 0) view of this shape */
} GatherCtx;

/* inputs: src, index */
static Tensor *gather_fn(Tensor **in, void *ctx)
{
    const GatherCtx *c = ctx;
    Tensor *index = c->expand_index.ndim > 0 ? t_expand(in[1], c->expand_index) : in[1];
    return t_gather(c->transposed ? t_transpose(in[0], 0, -1) : in[0], c->dim, index);
}

/* inputs: self, index, src */
static Tensor *scatter_add_fn(Tensor **in, void *ctx) { return t_scatter_add(in[0], *(int *)ctx, in[1], in[2]); }

/* The same with src stored transposed and seen through a transpose. */
static Tensor *scatter_add_src_transposed_fn(Tensor **in, void *ctx)
{
    return t_scatter_add(in[0], *(int *)ctx, in[1], t_transpose(in[2], 0, 1));
}

/* inputs: x, index */
static Tensor *index_select_fn(Tensor **in, void *ctx) { return t_index_select(in[0], *(int *)ctx, in[1]); }

/* The same on x stored transposed and seen through a transpose. */
static Tensor *index_select_transposed_fn(Tensor **in, void *ctx)
{
    return t_index_select(t_transpose(in[0], 0, 1), *(int *)ctx, in[1]);
}

/* inputs: indices, weight */
static Tensor *embedding_fn(Tensor **in, void *ctx) { return f_embedding(in[0], in[1], *(int64_t *)ctx); }

/* Runs check() with deterministic accumulation and with atomics. */
static void in_both_modes(void (*check)(const char *mode))
{
    gpu_set_modes(false, true);
    check("deterministic");
    gpu_set_modes(false, false);
    check("atomic");
    gpu_set_modes(false, true);
}

static void check_gather(const char *mode)
{
    static const struct {
        Shape src, index;
        int dim;
        bool transposed;
    } cases[] = {
        {SHAPE(5, 6), SHAPE(3, 6), 0, false},
        {SHAPE(5, 6), SHAPE(5, 4), 1, false},
        {SHAPE(4, 5, 6), SHAPE(4, 7, 6), 1, false}, /* indices repeat: the backward accumulates */
        {SHAPE(4, 100), SHAPE(4, 64), 1, false},    /* long lines: the atomic scatter path */
        {SHAPE(6, 5), SHAPE(5, 4), 1, true},        /* strided source */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        scope_begin();
        Shape src = cases[k].src, seen = src;
        if (cases[k].transposed) {
            seen.d[0] = src.d[src.ndim - 1];
            seen.d[src.ndim - 1] = src.d[0];
        }
        Tensor *in[2] = {rand_leaf(src, &gen), randint_cpu(0, seen.d[cases[k].dim], cases[k].index)};
        GatherCtx ctx = {cases[k].dim, cases[k].transposed, SCALAR_SHAPE};
        char label[128];
        snprintf(label, sizeof label, "gather %s dim %d index %s%s, %s", shape_str(seen), cases[k].dim,
                 shape_str(cases[k].index), cases[k].transposed ? " (strided)" : "", mode);
        expect_gpu_matches_cpu(gather_fn, &ctx, in, 2, TOL, label);
        scope_end();
    }
    /* a broadcast index: [1, 6] seen as [4, 6] (dim 0), [5, 1] seen as [5, 9] (dim 1, one value per row
     * repeated along dim: the backward's lines add into one element) */
    static const struct {
        Shape index, seen;
        int dim;
    } bcast[] = {{SHAPE(1, 6), SHAPE(4, 6), 0}, {SHAPE(5, 1), SHAPE(5, 40), 1}};
    for (int k = 0; k < 2; k++) {
        scope_begin();
        Tensor *in[2] = {rand_leaf(SHAPE(5, 6), &gen), randint_cpu(0, bcast[k].dim ? 6 : 5, bcast[k].index)};
        GatherCtx ctx = {bcast[k].dim, false, bcast[k].seen};
        char label[128];
        snprintf(label, sizeof label, "gather [5, 6] dim %d index %s (broadcast), %s", bcast[k].dim,
                 shape_str(bcast[k].seen), mode);
        expect_gpu_matches_cpu(gather_fn, &ctx, in, 2, TOL, label);
        scope_end();
    }
}

static void check_scatter_add(const char *mode)
{
    scope_begin();
    int dim0 = 0, dim1 = 1;
    Tensor *in[3] = {rand_leaf(SHAPE(5, 6), &gen), randint_cpu(0, 5, SHAPE(4, 6)), rand_leaf(SHAPE(6, 7), &gen)};
    char label[96];
    snprintf(label, sizeof label, "scatter_add [5, 6] dim 0, larger src, %s", mode);
    expect_gpu_matches_cpu(scatter_add_fn, &dim0, in, 3, TOL, label);
    Tensor *in2[3] = {rand_leaf(SHAPE(3, 8), &gen), randint_cpu(0, 8, SHAPE(3, 200)), rand_leaf(SHAPE(3, 200), &gen)};
    snprintf(label, sizeof label, "scatter_add [3, 8] dim 1, lines of 200, %s", mode);
    expect_gpu_matches_cpu(scatter_add_fn, &dim1, in2, 3, TOL, label);
    Tensor *in3[3] = {rand_leaf(SHAPE(3, 8), &gen), randint_cpu(0, 8, SHAPE(3, 50)), rand_leaf(SHAPE(50, 3), &gen)};
    snprintf(label, sizeof label, "scatter_add [3, 8] dim 1, transposed src, %s", mode);
    expect_gpu_matches_cpu(scatter_add_src_transposed_fn, &dim1, in3, 3, TOL, label);
    /* integers add exactly */
    Tensor *self = randint_cpu(-5, 5, SHAPE(4, 9)), *index = randint_cpu(0, 9, SHAPE(4, 40));
    Tensor *src = randint_cpu(-100, 100, SHAPE(4, 40));
    Tensor *g_out = t_scatter_add(leaf_on(self, GPU_DEVICE), 1, leaf_on(index, GPU_DEVICE), leaf_on(src, GPU_DEVICE));
    REQUIRE_OK(g_out);
    snprintf(label, sizeof label, "scatter_add int64, %s", mode);
    expect_equal(tensor_to(g_out, CPU), t_scatter_add(self, 1, index, src), label);
    scope_end();
}

static void check_index_select(const char *mode)
{
    scope_begin();
    int dim0 = 0, dim1 = 1;
    Tensor *in[2] = {rand_leaf(SHAPE(10, 7), &gen), randint_cpu(0, 10, SHAPE(25))};
    char label[96];
    snprintf(label, sizeof label, "index_select [10, 7] dim 0, repeated indices, %s", mode);
    expect_gpu_matches_cpu(index_select_fn, &dim0, in, 2, TOL, label);
    Tensor *in2[2] = {rand_leaf(SHAPE(4, 9, 3), &gen), randint_cpu(0, 9, SHAPE(12))};
    snprintf(label, sizeof label, "index_select [4, 9, 3] dim 1, %s", mode);
    expect_gpu_matches_cpu(index_select_fn, &dim1, in2, 2, TOL, label);
    Tensor *in3[2] = {rand_leaf(SHAPE(7, 10), &gen), randint_cpu(0, 10, SHAPE(15))};
    snprintf(label, sizeof label, "index_select [10, 7] (transposed) dim 0, %s", mode);
    expect_gpu_matches_cpu(index_select_transposed_fn, &dim0, in3, 2, TOL, label);
    scope_end();
}

static void check_embedding(const char *mode)
{
    scope_begin();
    int64_t pads[] = {-1, 3};
    for (int k = 0; k < 2; k++) {
        Tensor *in[2] = {randint_cpu(0, 50, SHAPE(6, 9)), rand_leaf(SHAPE(50, 16), &gen)};
        char label[96];
        snprintf(label, sizeof label, "embedding [50, 16] padding_idx %lld, %s", (long long)pads[k], mode);
        expect_gpu_matches_cpu(embedding_fn, &pads[k], in, 2, TOL, label);
    }
    /* many indices over a larger table: the sorted accumulation with long runs */
    Tensor *in[2] = {randint_cpu(0, 1000, SHAPE(8192)), rand_leaf(SHAPE(1000, 64), &gen)};
    char label[96];
    snprintf(label, sizeof label, "embedding [1000, 64] with 8192 indices, %s", mode);
    expect_gpu_matches_cpu(embedding_fn, &pads[0], in, 2, TOL, label);
    scope_end();
}

static void test_gather(void **state)
{
    REQUIRE_GPU();
    in_both_modes(check_gather);
}

static void test_scatter_add(void **state)
{
    REQUIRE_GPU();
    in_both_modes(check_scatter_add);
}

static void test_index_select_and_embedding(void **state)
{
    REQUIRE_GPU();
    in_both_modes(check_index_select);
    in_both_modes(check_embedding);
}

typedef struct {
    const int64_t *pads;
    int n_pads;
    double value;
    bool transposed; /* the input's last two dims stored swapped, seen through a transpose */
} PadCtx;

static Tensor *pad_fn(Tensor **in, void *ctx)
{
    const PadCtx *c = ctx;
    return f_pad(c->transposed ? t_transpose(in[0], -1, -2) : in[0], c->pads, c->n_pads, c->value);
}

static void test_pad(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    static const int64_t grow[] = {1, 2, 0, 3}, crop[] = {-1, 2, 2, -1}, last[] = {3, 0};
    const PadCtx cases[] = {{grow, 4, 0.5, false}, {crop, 4, -1.0, false}, {last, 2, 0.0, false},
                            {grow, 4, 0.5, true},  {crop, 4, -1.0, true}};
    for (int k = 0; k < 5; k++) {
        Tensor *x = rand_leaf(cases[k].transposed ? SHAPE(2, 3, 5, 4) : SHAPE(2, 3, 4, 5), &gen);
        char label[64];
        snprintf(label, sizeof label, "pad [2, 3, 4, 5]%s case %d", cases[k].transposed ? " (transposed)" : "", k);
        expect_gpu_matches_cpu(pad_fn, (void *)&cases[k], &x, 1, TOL, label);
    }
    /* other dtypes, exactly */
    Tensor *xi = randint_cpu(-50, 50, SHAPE(3, 4));
    expect_equal(tensor_to(f_pad(leaf_on(xi, GPU_DEVICE), grow, 4, 7.0), CPU), f_pad(xi, grow, 4, 7.0), "pad int64");
    Tensor *xu = tensor_to_dtype(randint_cpu(0, 255, SHAPE(3, 4)), DT_U8);
    expect_equal(tensor_to(f_pad(leaf_on(xu, GPU_DEVICE), crop, 4, 9.0), CPU), f_pad(xu, crop, 4, 9.0), "pad uint8");
    scope_end();
}

static void test_one_hot(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    Tensor *idx = randint_cpu(0, 7, SHAPE(4, 5));
    Tensor *idx_g = leaf_on(idx, GPU_DEVICE);
    expect_equal(tensor_to(f_one_hot(idx_g, -1), CPU), f_one_hot(idx, -1), "one_hot [4, 5] inferred classes");
    expect_equal(tensor_to(f_one_hot(idx_g, 10), CPU), f_one_hot(idx, 10), "one_hot [4, 5] 10 classes");
    scope_end();
}

static void test_index_errors(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    Tensor *x = leaf_on(tensor_randn(SHAPE(5, 6), &gen, CPU), GPU_DEVICE);
    Tensor *idx = randint_cpu(0, 5, SHAPE(2000));
    tensor_i64(idx)[1500] = 9;
    expect_error(t_index_select(x, 0, leaf_on(idx, GPU_DEVICE)), "index 9 is out of bounds for dimension 0 with size 5",
                 NULL);
    tensor_i64(idx)[1500] = -2;
    expect_error(t_index_select(x, 0, leaf_on(idx, GPU_DEVICE)), "index -2 is out of bounds", NULL);
    Tensor *neg = leaf_on(randint_cpu(-3, -1, SHAPE(4)), GPU_DEVICE);
    expect_error(f_one_hot(neg, 5), "Class values must be non-negative", NULL);
    scope_end();
}

int main(void)
{
    generator_seed(&gen, 23);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_nll_and_cross_entropy),
        cmocka_unit_test(test_nll_and_cross_entropy_strided),
        cmocka_unit_test(test_nll_bad_target),
        cmocka_unit_test(test_pointwise_losses),
        cmocka_unit_test(test_pointwise_losses_strided),
        cmocka_unit_test(test_bce_input_out_of_range),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_scatter_add),
        cmocka_unit_test(test_index_select_and_embedding),
        cmocka_unit_test(test_pad),
        cmocka_unit_test(test_one_hot),
        cmocka_unit_test(test_index_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
