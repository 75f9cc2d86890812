/* conv2d and conv_transpose2d: forward and backward (input, weight, bias)
 * against PyTorch over strides, padding, dilation, groups, non-square and
 * 1x1 kernels, output_padding, non-contiguous operands and batch sizes 1 and
 * more; finite differences; error messages; conv2d fused with max_pool2d
 * against the two ops. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "engine/cpu/conv.h"
#include "engine/cpu/conv_dnnl.h"
#include "tests/support/check.h"
#include "tests/support/oracle.h"

static Generator gen;

typedef struct {
    int64_t n, c, h, w; /* input */
    int64_t o;          /* output channels */
    int64_t kh, kw;
    int stride[2], padding[2], dilation[2], groups, output_padding[2];
    bool bias, contig_x, contig_w;
} ConvCase;

static ConvParams params_of(const ConvCase *c)
{
    ConvParams p = conv_params_default();
    for (int i = 0; i < 2; i++) {
        p.stride[i] = c->stride[i];
        p.padding[i] = c->padding[i];
        p.dilation[i] = c->dilation[i];
        p.output_padding[i] = c->output_padding[i];
    }
    p.groups = c->groups;
    return p;
}

static Shape weight_shape(const ConvCase *c, bool transposed)
{
    return transposed ? SHAPE(c->c, c->o / c->groups, c->kh, c->kw) : SHAPE(c->o, c->c / c->groups, c->kh, c->kw);
}

static const char *args_json(const ConvCase *c, char *buf, size_t size)
{
    snprintf(buf, size,
             "{\"stride\": [%d, %d], \"padding\": [%d, %d], \"dilation\": [%d, %d], \"groups\": %d, "
             "\"output_padding\": [%d, %d]}",
             c->stride[0], c->stride[1], c->padding[0], c->padding[1], c->dilation[0], c->dilation[1], c->groups,
             c->output_padding[0], c->output_padding[1]);
    return buf;
}

static const char *describe(const ConvCase *c, bool transposed, char *buf, size_t size)
{
    snprintf(buf, size, "%s x[%lld,%lld,%lld,%lld]%s k%lldx%lld s%d,%d p%d,%d d%d,%d g%d%s%s%s",
             transposed ? "convT" : "conv", (long long)c->n, (long long)c->c, (long long)c->h, (long long)c->w,
             c->contig_x ? "" : "T", (long long)c->kh, (long long)c->kw, c->stride[0], c->stride[1], c->padding[0],
             c->padding[1], c->dilation[0], c->dilation[1], c->groups,
             transposed && (c->output_padding[0] || c->output_padding[1]) ? " op" : "", c->bias ? " +b" : "",
             c->contig_w ? "" : " wT");
    return buf;
}

typedef struct {
    int id;
    Tensor *out, *x, *w, *b;
    char label[128];
} Result;

/* conv2d and conv_transpose2d cases in one oracle run each. */
static void run_against_torch(const ConvCase *cases, int n_cases, bool transposed, double tol)
{
    scope_begin();
    Oracle *o = oracle_new(transposed ? "conv_transpose2d" : "conv2d");
    Result res[24];
    assert_true(n_cases <= 24);
    for (int i = 0; i < n_cases; i++) {
        const ConvCase *c = &cases[i];
        Tensor *x = c->contig_x ? rand_leaf(SHAPE(c->n, c->c, c->h, c->w), &gen)
                                : noncontig_leaf(SHAPE(c->n, c->c, c->h, c->w), &gen);
        Shape ws = weight_shape(c, transposed);
        Tensor *w = c->contig_w ? rand_leaf(ws, &gen) : noncontig_leaf(ws, &gen);
        Tensor *b = c->bias ? rand_leaf(SHAPE(c->o), &gen) : NULL;
        Tensor *y = transposed ? f_conv_transpose2d(x, w, b, params_of(c)) : f_conv2d(x, w, b, params_of(c));
        REQUIRE_OK(y);
        assert_string_equal(y->grad_fn->name, "ConvolutionBackward0");
        Tensor *gout = tensor_randn(y->shape, &gen, CPU);
        assert_int_equal(tensor_backward(y, gout), 0);
        char args[256];
        res[i] = (Result){.out = y, .x = x, .w = w, .b = b};
        res[i].id = oracle_add(o, transposed ? "conv_transpose2d" : "conv2d", args_json(c, args, sizeof args), 3,
                               (Tensor *[]){x, w, b}, gout);
        describe(c, transposed, res[i].label, sizeof res[i].label);
    }
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n_cases; i++) {
        expect_close(res[i].out, oracle_output(o, res[i].id, 0), tol, res[i].label);
        expect_close(res[i].x->grad, oracle_grad(o, res[i].id, 0), tol, "  grad input");
        expect_close(res[i].w->grad, oracle_grad(o, res[i].id, 1), tol, "  grad weight");
        if (res[i].b) expect_close(res[i].b->grad, oracle_grad(o, res[i].id, 2), tol, "  grad bias");
    }
    oracle_free(o);
    scope_end();
}

#define ONE {1, 1}
#define ZERO {0, 0}

static const ConvCase conv_cases[] = {
    /* n  c   h   w   o  kh kw stride  padding dilation g op    bias  cx     cw */
    {2, 3, 7, 7, 4, 3, 3, ONE, ZERO, ONE, 1, ZERO, true, true, true},
    {1, 2, 8, 9, 3, 3, 2, {2, 2}, ONE, ONE, 1, ZERO, true, false, true},
    {3, 4, 10, 10, 6, 3, 3, ONE, {2, 2}, {2, 2}, 2, ZERO, false, true, true},
    {2, 6, 9, 7, 4, 2, 3, {2, 1}, {1, 2}, {1, 2}, 2, ZERO, true, false, false},
    {2, 5, 4, 6, 3, 1, 1, ONE, ZERO, ONE, 1, ZERO, true, true, true},      /* pointwise: the unfold is x */
    {2, 4, 7, 6, 8, 1, 1, {2, 2}, ZERO, ONE, 1, ZERO, true, false, true},  /* 1x1 but strided */
    {2, 4, 6, 6, 8, 3, 3, ONE, ONE, ONE, 4, ZERO, true, true, true},       /* depthwise */
    {4, 10, 12, 12, 20, 5, 5, ONE, ZERO, ONE, 1, ZERO, true, true, true},  /* MnistModel conv2 */
    {16, 1, 28, 28, 10, 5, 5, ONE, ZERO, ONE, 1, ZERO, true, true, true},  /* MnistModel conv1 */
    {2, 3, 5, 5, 2, 5, 5, ONE, {2, 2}, ONE, 1, ZERO, true, true, true},    /* kernel the size of the input */
    {1, 3, 11, 9, 4, 4, 3, {3, 2}, {2, 1}, ONE, 1, ZERO, true, false, true},
    {2, 2, 11, 8, 3, 3, 3, {2, 1}, {1, 0}, {2, 1}, 1, ZERO, true, true, true}, /* row phases with dilation */
    {2, 3, 7, 5, 4, 3, 1, ONE, ZERO, ONE, 1, ZERO, true, false, true},        /* 3x1: the unfold is x itself */
    /* the direct forward (engine/cpu/conv.c): a partial last vector of
     * positions, output-channel blocks not full, strides, padding, dilation
     * and groups; batches of more than 8 samples for the weight gradient's
     * partial sums by slot of samples */
    {35, 2, 9, 7, 6, 3, 3, {2, 1}, ONE, ONE, 1, ZERO, true, true, true},
    {3, 4, 13, 11, 6, 3, 3, ONE, ONE, ONE, 2, ZERO, true, true, false},
    {33, 3, 6, 6, 7, 2, 2, ONE, ZERO, {2, 2}, 1, ZERO, false, true, true},
    /* the full im2col over chunks of samples (more than 256 taps, at most 64
     * positions): chunks of 4 and 16 samples with a partial last one,
     * strides, padding, dilation, a non-square kernel, a strided 1x1 */
    {37, 32, 6, 5, 9, 3, 3, ONE, ONE, ONE, 1, ZERO, true, true, true},
    {19, 30, 9, 9, 7, 3, 3, {2, 2}, ONE, ONE, 1, ZERO, false, false, true},
    {5, 29, 7, 8, 6, 3, 4, {2, 1}, {1, 2}, {2, 1}, 1, ZERO, true, true, false},
    {18, 300, 4, 4, 5, 1, 1, {2, 2}, ZERO, ONE, 1, ZERO, true, true, true},
    /* 64 channels and more on both sides: oneDNN's kernels where the build
     * has them (engine/cpu/conv_dnnl.c): a strided 3x3 (asymmetric
     * padding), a 1x1 at stride 2 on an even size (the last row reaches no
     * output: negative right padding), groups with dilation */
    {3, 64, 9, 8, 64, 3, 3, {2, 2}, ONE, ONE, 1, ZERO, true, true, true},
    {2, 64, 8, 8, 128, 1, 1, {2, 2}, ZERO, ONE, 1, ZERO, false, false, true},
    {2, 128, 7, 6, 128, 3, 2, ONE, {2, 1}, {2, 1}, 2, ZERO, true, true, false},
    {2, 64, 5, 5, 64, 3, 3, ONE, ONE, ONE, 1, ZERO, false, true, true},
};

static const ConvCase transpose_cases[] = {
    {2, 3, 5, 5, 4, 3, 3, {2, 2}, ONE, ONE, 1, ONE, true, true, true},
    {1, 4, 4, 6, 6, 2, 3, {2, 1}, {0, 1}, {1, 2}, 2, {1, 0}, false, false, true},
    {2, 2, 5, 4, 3, 3, 3, ONE, ONE, {2, 2}, 1, ONE, true, true, true}, /* output_padding < dilation */
    {2, 4, 3, 5, 6, 1, 1, ONE, ZERO, ONE, 2, ZERO, true, false, true},  /* pointwise, grouped */
    {3, 4, 6, 6, 2, 4, 4, {2, 2}, {1, 1}, ONE, 2, ZERO, true, true, false},
    {2, 3, 5, 4, 2, 3, 1, ONE, ZERO, ONE, 1, ZERO, true, true, true}, /* 3x1: the unfold is x itself */
    {17, 6, 4, 5, 30, 3, 3, {2, 2}, ONE, ONE, 1, ONE, true, true, true}, /* input grad by im2col chunks */
    {2, 64, 5, 4, 64, 3, 3, {2, 2}, ONE, ONE, 1, ONE, false, true, true},  /* oneDNN's gradients */
};

/* f32 sums (up to 250 products per output, 16 * 576 terms per weight and
 * bias gradient) in a different order than PyTorch's oneDNN kernels: the
 * largest difference measured is 3e-6 of the output's scale (a bias
 * gradient), so 1e-5 holds with room. */
#define CONV_TOL 1e-5

static void test_conv2d_against_torch(void **state)
{
    run_against_torch(conv_cases, (int)(sizeof conv_cases / sizeof conv_cases[0]), false, CONV_TOL);
}

static void test_conv_transpose2d_against_torch(void **state)
{
    run_against_torch(transpose_cases, (int)(sizeof transpose_cases / sizeof transpose_cases[0]), true, CONV_TOL);
}

/* ---- finite differences ---- */

typedef struct {
    ConvParams p;
    bool transposed;
} FdCtx;

static Tensor *fd_conv(Tensor **in, void *ctx)
{
    const FdCtx *c = ctx;
    return c->transposed ? f_conv_transpose2d(in[0], in[1], in[2], c->p) : f_conv2d(in[0], in[1], in[2], c->p);
}

static void test_finite_differences(void **state)
{
    static const ConvCase cases[] = {
        {2, 4, 6, 5, 4, 3, 2, {2, 1}, {1, 2}, {1, 2}, 2, ZERO, true, false, true},
        {1, 2, 5, 5, 3, 3, 3, ONE, ZERO, ONE, 1, ZERO, true, true, true},
        {3, 30, 4, 3, 2, 3, 3, ONE, ONE, ONE, 1, ZERO, true, true, true}, /* im2col chunks */
    };
    for (int t = 0; t < 2; t++)
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            scope_begin();
            ConvCase c = cases[k];
            if (t) c.output_padding[0] = 1; /* stride 2 or dilation 2 allows it */
            if (t && k >= 1) c.stride[0] = 2;
            FdCtx ctx = {params_of(&c), t == 1};
            Tensor *x = c.contig_x ? rand_leaf(SHAPE(c.n, c.c, c.h, c.w), &gen)
                                   : noncontig_leaf(SHAPE(c.n, c.c, c.h, c.w), &gen);
            Tensor *in[3] = {x, rand_leaf(weight_shape(&c, t == 1), &gen), rand_leaf(SHAPE(c.o), &gen)};
            char label[128];
            snprintf(label, sizeof label, "fd %s", describe(&c, t == 1, (char[128]){0}, 128));
            assert_true(fd_gradcheck(fd_conv, &ctx, in, 3, 1e-3, 48, label) < 1e-2);
            scope_end();
        }
}

/* ---- threads ---- */

/* y, gx, gw and gb of conv2d on `threads` threads, into out (4 tensors). */
static void conv_on_threads(const ConvCase *c, int threads, Tensor **out)
{
    int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    Generator g;
    generator_seed(&g, 5);
    Tensor *x = rand_leaf(SHAPE(c->n, c->c, c->h, c->w), &g);
    Tensor *w = rand_leaf(weight_shape(c, false), &g);
    Tensor *b = rand_leaf(SHAPE(c->o), &g);
    Tensor *y = f_conv2d(x, w, b, params_of(c));
    REQUIRE_OK(y);
    assert_int_equal(tensor_backward(y, tensor_randn(y->shape, &g, CPU)), 0);
    out[0] = y;
    out[1] = x->grad;
    out[2] = w->grad;
    out[3] = b->grad;
    omp_set_num_threads(before);
}

/* The CPU kernels split work by shapes, not by threads: 1 and 2 threads give
 * the same bits (resuming on another thread count stays exact). */
static void test_threads_give_identical_bits(void **state)
{
    static const ConvCase cases[] = {
        {70, 1, 28, 28, 10, 5, 5, ONE, ZERO, ONE, 1, ZERO, true, true, true},  /* MnistModel conv1 */
        {70, 10, 12, 12, 20, 5, 5, ONE, ZERO, ONE, 1, ZERO, true, true, true}, /* MnistModel conv2 */
        {41, 3, 15, 13, 7, 3, 3, {2, 1}, ONE, ONE, 1, ZERO, true, true, true},
        {37, 40, 6, 6, 12, 3, 3, ONE, ONE, ONE, 1, ZERO, true, true, true},   /* im2col chunks of 2 */
        {35, 36, 9, 7, 10, 3, 3, {2, 2}, ONE, ONE, 1, ZERO, true, true, true}, /* chunks of 4, strided */
        {35, 64, 8, 8, 64, 3, 3, ONE, ONE, ONE, 1, ZERO, true, true, true},    /* oneDNN where built */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        scope_begin();
        Tensor *one[4], *two[4];
        conv_on_threads(&cases[k], 1, one);
        conv_on_threads(&cases[k], 2, two);
        for (int i = 0; i < 4; i++) {
            assert_int_equal(tensor_numel(one[i]), tensor_numel(two[i]));
            if (memcmp(tensor_f32(one[i]), tensor_f32(two[i]), sizeof(float) * (size_t)tensor_numel(one[i])) != 0)
                fail_msg("case %zu: result %d differs between 1 and 2 threads", k, i);
        }
        scope_end();
    }
}

/* ---- conv2d fused with max_pool2d ---- */

typedef struct {
    ConvCase conv;
    PoolParams pool;
    bool x_grad;  /* the input needs a gradient (every layer but a network's first) */
    bool fused;   /* the CPU fuses this layer */
    bool frozen;  /* the weight needs none: the input gradient alone */
} ConvPoolCase;

/* out, gx, gw, gb of max_pool2d(conv2d(x)) on `threads` threads, the two ops
 * fused or one after the other, from seed 9's values; the fused call must
 * take the fused kernels exactly when c->fused. */
static void conv_pool_on_threads(const ConvPoolCase *c, bool fuse, int threads, Tensor **out)
{
    int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    Generator g;
    generator_seed(&g, 9);
    const ConvCase *cc = &c->conv;
    Tensor *x = tensor_randn(SHAPE(cc->n, cc->c, cc->h, cc->w), &g, CPU);
    Tensor *w = rand_leaf(weight_shape(cc, false), &g), *b = cc->bias ? rand_leaf(SHAPE(cc->o), &g) : NULL;
    REQUIRE_OK(x);
    tensor_set_requires_grad(x, c->x_grad);
    tensor_set_requires_grad(w, !c->frozen);
    ConvParams p = params_of(cc);
    Tensor *y = fuse ? f_conv2d_max_pool2d(x, w, b, p, c->pool) : f_max_pool2d(f_conv2d(x, w, b, p), c->pool);
    REQUIRE_OK(y);
    if (fuse) assert_int_equal(strcmp(y->grad_fn->name, "ConvolutionMaxPool2DBackward") == 0, c->fused);
    assert_int_equal(tensor_backward(y, tensor_randn(y->shape, &g, CPU)), 0);
    Tensor *res[4] = {y, x->grad, w->grad, b ? b->grad : NULL};
    memcpy(out, res, sizeof res);
    omp_set_num_threads(before);
}

static void expect_same_bits(Tensor *a, Tensor *b, const char *what, size_t k)
{
    assert_true((a == NULL) == (b == NULL));
    if (!a) return;
    assert_int_equal(tensor_numel(a), tensor_numel(b));
    if (memcmp(tensor_f32(a), tensor_f32(b), sizeof(float) * (size_t)tensor_numel(a)) != 0)
        fail_msg("case %zu: %s differs", k, what);
}

/* The fused op against conv2d then max_pool2d (themselves checked against
 * PyTorch above and in test_pool): the output, the input and weight
 * gradients bit for bit, the bias gradient to rounding (it sums the pooled
 * gradient instead of the expanded one); the fused kernels on 1 and 2
 * threads bit for bit; and without grad, the output alone. */
static void test_fused_conv_max_pool_matches_the_two_ops(void **state)
{
    PoolParams k2 = pool_params(2, 0, 0), k3s2p1 = pool_params(3, 2, 1), ceil = pool_params(3, 2, 0);
    ceil.ceil_mode = true;
    static const ConvCase mnist1 = {70, 1, 28, 28, 10, 5, 5, ONE, ZERO, ONE, 1, ZERO, true, true, true};
    static const ConvCase strided = {5, 2, 13, 11, 7, 3, 2, {2, 1}, {1, 0}, {1, 2}, 1, ZERO, true, true, true};
    static const ConvCase grouped = {3, 4, 9, 9, 6, 3, 3, ONE, ZERO, ONE, 2, ZERO, false, true, true};
    static const ConvCase mnist2 = {70, 10, 12, 12, 20, 5, 5, ONE, ZERO, ONE, 1, ZERO, true, true, true};
    static const ConvCase wide = {3, 20, 8, 8, 3, 5, 5, ONE, ZERO, ONE, 1, ZERO, true, true, true}; /* 500 taps */
    const ConvPoolCase cases[] = {
        {mnist1, k2, false, true, false}, {mnist2, k2, true, true, false},  {mnist1, k3s2p1, true, true, false},
        {strided, ceil, false, true, false}, {strided, ceil, true, true, true}, {grouped, k2, false, true, false},
        {grouped, k3s2p1, true, true, false}, {grouped, k2, true, true, true}, {wide, k2, false, false, false},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        scope_begin();
        Tensor *fused[4], *two_ops[4], *fused1[4];
        conv_pool_on_threads(&cases[k], true, 2, fused);
        conv_pool_on_threads(&cases[k], false, 2, two_ops);
        conv_pool_on_threads(&cases[k], true, 1, fused1);
        const char *what[3] = {"the output", "the input gradient", "the weight gradient"};
        for (int i = 0; i < 3; i++) expect_same_bits(fused[i], two_ops[i], what[i], k);
        if (fused[3]) expect_close(fused[3], two_ops[3], 1e-5, "bias gradient, fused against the two ops");
        for (int i = 0; i < 4; i++) expect_same_bits(fused[i], fused1[i], "1 and 2 threads", k);
        bool mode = no_grad_begin();
        Generator g;
        generator_seed(&g, 9);
        const ConvCase *cc = &cases[k].conv;
        Tensor *x = tensor_randn(SHAPE(cc->n, cc->c, cc->h, cc->w), &g, CPU), *w = tensor_randn(weight_shape(cc, false), &g, CPU);
        Tensor *b = cc->bias ? tensor_randn(SHAPE(cc->o), &g, CPU) : NULL;
        Tensor *eval = f_conv2d_max_pool2d(x, w, b, params_of(cc), cases[k].pool);
        grad_mode_restore(mode);
        REQUIRE_OK(eval);
        expect_same_bits(eval, fused[0], "the output without grad", k);
        scope_end();
    }
}

/* Ties and NaNs in the fused pooling: a weight with whole output channels
 * zero (every window of their planes a tie, at the bias) and NaNs in the
 * input. The output, the window codes (through the input and weight
 * gradients) and the NaNs' places must be those of conv2d then max_pool2d. */
static void test_fused_pooling_settles_ties_and_nans_as_max_pool2d(void **state)
{
    static const ConvCase cases[] = {
        {21, 1, 28, 28, 10, 5, 5, ONE, ZERO, ONE, 1, ZERO, true, true, true},  /* MnistModel conv1 */
        {19, 10, 12, 12, 20, 5, 5, ONE, ZERO, ONE, 1, ZERO, true, true, true}, /* MnistModel conv2 */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        scope_begin();
        const ConvCase *c = &cases[k];
        Tensor *res[2][3];
        for (int fuse = 0; fuse < 2; fuse++) {
            Generator g;
            generator_seed(&g, 5);
            Tensor *x = tensor_randn(SHAPE(c->n, c->c, c->h, c->w), &g, CPU);
            Tensor *w = tensor_randn(weight_shape(c, false), &g, CPU), *b = tensor_randn(SHAPE(c->o), &g, CPU);
            REQUIRE_OK(x);
            REQUIRE_OK(w);
            REQUIRE_OK(b);
            float *pw = tensor_f32(w), *px = tensor_f32(x);
            int64_t per_o = tensor_numel(w) / c->o;
            for (int64_t o = 0; o < c->o; o += 2) memset(pw + o * per_o, 0, sizeof(float) * (size_t)per_o);
            px[3 * c->w + 7] = NAN;                    /* sample 0 */
            px[tensor_numel(x) - 5 * c->w - 2] = NAN; /* the last sample */
            tensor_set_requires_grad(x, true);
            tensor_set_requires_grad(w, true);
            PoolParams pool = pool_params(2, 0, 0);
            Tensor *y = fuse ? f_conv2d_max_pool2d(x, w, b, params_of(c), pool)
                             : f_max_pool2d(f_conv2d(x, w, b, params_of(c)), pool);
            REQUIRE_OK(y);
            Generator gg;
            generator_seed(&gg, 6);
            assert_int_equal(tensor_backward(y, tensor_randn(y->shape, &gg, CPU)), 0);
            res[fuse][0] = y, res[fuse][1] = x->grad, res[fuse][2] = w->grad;
        }
        expect_same_bits(res[1][0], res[0][0], "the output with ties and NaNs", k);
        expect_same_bits(res[1][1], res[0][1], "the input gradient with ties and NaNs", k);
        expect_same_bits(res[1][2], res[0][2], "the weight gradient with ties and NaNs", k);
        scope_end();
    }
}

static int hook_calls;static int hook_calls;
static Tensor *count_conv_output(Module *m, Tensor *input, Tensor *output, void *ctx)
{
    (void)m, (void)input, (void)ctx;
    assert_int_equal(output->shape.d[2], 24); /* the convolution's output, not the pooled one */
    hook_calls++;
    return NULL;
}

/* nn_conv2d_max_pool2d fuses a Conv2d, unless a hook would see its output. */
static void test_fused_layer_respects_hooks(void **state)
{
    scope_begin();
    Module *conv = nn_conv2d(1, 4, 5, 5, conv_params_default(), true);
    REQUIRE_OK(conv);
    Tensor *x = tensor_randn(SHAPE(2, 1, 28, 28), &gen, CPU);
    Tensor *fused = nn_conv2d_max_pool2d(conv, x, pool_params(2, 0, 0));
    REQUIRE_OK(fused);
    assert_string_equal(fused->grad_fn->name, "ConvolutionMaxPool2DBackward");
    assert_true(module_register_forward_hook(conv, count_conv_output, NULL) >= 0);
    Tensor *hooked = nn_conv2d_max_pool2d(conv, x, pool_params(2, 0, 0));
    REQUIRE_OK(hooked);
    assert_int_equal(hook_calls, 1);
    assert_string_equal(hooked->grad_fn->name, "MaxPool2DWithIndicesBackward0");
    expect_same_bits(hooked, fused, "the output with a hook", 0);
    expect_error(nn_conv2d_max_pool2d(conv, tensor_randn(SHAPE(2, 3, 28, 28), &gen, CPU), pool_params(2, 0, 0)),
                 "expected input", "3 channels");
    /* the fused op's own checks: the convolution's, then the pooling's */
    Tensor *w = module_get_parameter(conv, "weight");
    expect_error(f_conv2d_max_pool2d(tensor_randn(SHAPE(2, 3, 28, 28), &gen, CPU), w, NULL, conv_params_default(),
                                     pool_params(2, 0, 0)),
                 "conv2d", "3 channels");
    expect_error(f_conv2d_max_pool2d(x, w, NULL, conv_params_default(), pool_params(0, 0, 0)), "max_pool2d",
                 "kernel size should be greater than zero");
    expect_error(f_conv2d_max_pool2d(x, w, NULL, conv_params_default(), pool_params(30, 0, 0)), "max_pool2d",
                 "too small");
    module_free(conv);
    scope_end();
}

/* ---- errors ---- */

static void test_errors_name_the_shapes(void **state)
{
    scope_begin();
    engine_clear_error();
    ConvParams p = conv_params_default();
    Tensor *x = tensor_zeros(SHAPE(2, 3, 8, 8), DT_F32, CPU);
    Tensor *w = tensor_zeros(SHAPE(4, 3, 3, 3), DT_F32, CPU);
    expect_error(f_conv2d(tensor_zeros(SHAPE(3, 8, 8), DT_F32, CPU), w, NULL, p), "4-D", "[3, 8, 8]");
    expect_error(f_conv2d(x, tensor_zeros(SHAPE(4, 2, 3, 3), DT_F32, CPU), NULL, p), "[4, 2, 3, 3]", "[2, 3, 8, 8]");
    ConvParams g2 = p;
    g2.groups = 2;
    expect_error(f_conv2d(tensor_zeros(SHAPE(1, 2, 8, 8), DT_F32, CPU), tensor_zeros(SHAPE(5, 1, 3, 3), DT_F32, CPU),
                          NULL, g2),
                 "divisible by 2", "[5, 1, 3, 3]");
    expect_error(f_conv2d(tensor_zeros(SHAPE(1, 1, 4, 4), DT_F32, CPU), tensor_zeros(SHAPE(1, 1, 5, 5), DT_F32, CPU),
                          NULL, p),
                 "[1, 1, 4, 4]", "kernel size (5 x 5)");
    expect_error(f_conv2d(x, w, tensor_zeros(SHAPE(3), DT_F32, CPU), p), "bias", "[3]");
    ConvParams bad = p;
    bad.stride[1] = 0;
    expect_error(f_conv2d(x, w, NULL, bad), "stride", NULL);
    ConvParams op = p;
    op.stride[0] = op.stride[1] = 2;
    op.output_padding[0] = 2;
    expect_error(f_conv_transpose2d(x, tensor_zeros(SHAPE(3, 4, 3, 3), DT_F32, CPU), NULL, op), "output padding",
                 NULL);
    expect_error(f_conv_transpose2d(x, tensor_zeros(SHAPE(4, 4, 3, 3), DT_F32, CPU), NULL, p), "[4, 4, 3, 3]",
                 "[2, 3, 8, 8]");
    expect_error(f_conv2d(x, tensor_zeros(SHAPE(4, 3, 3, 3), DT_I64, CPU), NULL, p), "int64", NULL);
    assert_null(f_conv2d(NULL, w, NULL, p));
    assert_false(engine_has_error());
    scope_end();
}

/* More shapes than oneDNN's primitive cache holds (64), each run twice in
 * turn: entries are dropped and made again while the results stay those of
 * our own kernels (within float rounding). */
static void test_onednn_cache_turnover(void **state)
{
    print_message("oneDNN in this build: %s\n", dnnl_conv_available() ? "yes" : "no (our kernels only)");
    enum { SHAPES = 70 };
    ConvParams p = conv_params_default();
    for (int pass = 0; pass < 2; pass++)
        for (int64_t width = 1; width <= SHAPES; width++) {
            scope_begin();
            Tensor *x = tensor_randn(SHAPE(1, 64, 2, width), &gen, CPU), *w = tensor_randn(SHAPE(64, 64, 1, 1), &gen, CPU);
            Tensor *y = tensor_empty(SHAPE(1, 64, 2, width), DT_F32, CPU), *ref = tensor_empty(y->shape, DT_F32, CPU);
            REQUIRE_OK(y);
            REQUIRE_OK(ref);
            cpu_conv2d(y, x, w, NULL, p);
            cpu_conv2d_own(ref, x, w, NULL, p);
            const float *a = tensor_f32(y), *b = tensor_f32(ref);
            for (int64_t i = 0; i < tensor_numel(y); i++)
                if (!(fabsf(a[i] - b[i]) <= 1e-5f * (1.0f + fabsf(b[i]))))
                    fail_msg("pass %d, width %lld, element %lld: %g, our kernel %g", pass, (long long)width,
                             (long long)i, a[i], b[i]);
            scope_end();
        }
}

int main(void)
{
    generator_seed(&gen, 11);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_against_torch),
        cmocka_unit_test(test_conv_transpose2d_against_torch),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_threads_give_identical_bits),
        cmocka_unit_test(test_fused_conv_max_pool_matches_the_two_ops),
        cmocka_unit_test(test_fused_pooling_settles_ties_and_nans_as_max_pool2d),
        cmocka_unit_test(test_fused_layer_respects_hooks),
        cmocka_unit_test(test_errors_name_the_shapes),
        cmocka_unit_test(test_onednn_cache_turnover),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
