/* The CUDA backend's core against the CPU: the caching allocator and its
 * statistics, host <-> device copies, dtype conversion, fill, every
 * elementwise kernel forward and backward, and running out of device
 * memory. Without a CUDA build or device the GPU tests print
 * "SKIP: no CUDA device" and are reported as skipped. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/device.h"
#include "engine/memory.h"
#include "tests/support/check.h"
#include "tests/support/gpu_compare.h"

#define GPU CUDA(0)
/* GPU vs CPU: both run the same f32 formulas, but the GPU's expf/tanhf/...
 * and fused multiply-adds round differently in the last bits. */
#define GPU_TOL 1e-4

static Generator gen;

static MemoryStats gpu_stats(void)
{
    MemoryStats s;
    assert_int_equal(device_memory_stats(GPU, &s), 0);
    return s;
}

/* Asserts that two tensors hold the same dtype, shape and bytes. */
static void expect_same_bytes(Tensor *ours, Tensor *ref, const char *label)
{
    REQUIRE_OK(ours);
    REQUIRE_OK(ref);
    assert_int_equal(ours->dtype, ref->dtype);
    if (!shape_equal(ours->shape, ref->shape))
        fail_msg("%s: shape %s vs %s", label, shape_str(ours->shape), shape_str(ref->shape));
    size_t n = (size_t)tensor_numel(ref) * dtype_size(ref->dtype);
    char *a = malloc(n + 1), *b = malloc(n + 1);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(tensor_copy_to_buffer(ours, a), 0);
    assert_int_equal(tensor_copy_to_buffer(ref, b), 0);
    bool same = memcmp(a, b, n) == 0;
    free(a);
    free(b);
    print_message("  %-52s %s\n", label, same ? "exact" : "MISMATCH");
    if (!same) fail_msg("%s: bytes differ", label);
}

/* ---- runs with or without a device ---- */

static void test_memory_api_on_cpu_and_missing_devices(void **state)
{
    scope_begin();
    MemoryStats s = {1, 1, 1};
    assert_int_equal(device_memory_stats(CPU, &s), 0);
    assert_true(s.allocated == 0 && s.reserved == 0 && s.peak_allocated == 0);
    device_empty_cache(CPU);
    device_reset_peak(CPU);
    /* the backend runs on cuda:0 only, so cuda:1 is never valid */
    assert_int_equal(device_memory_stats(CUDA(1), &s), -1);
    print_message("  error: %s\n", engine_last_error());
    assert_non_null(strstr(engine_last_error(), "cuda:1"));
    engine_clear_error();
    if (device_cuda_count() == 0) {
        assert_int_equal(device_memory_stats(GPU, &s), -1);
        assert_non_null(strstr(engine_last_error(), "cuda:0"));
        engine_clear_error();
        assert_null(tensor_empty(SHAPE(4), DT_F32, GPU));
        print_message("  error: %s\n", engine_last_error());
        assert_non_null(strstr(engine_last_error(), "cuda:0"));
        engine_clear_error();
        device_empty_cache(GPU); /* no-ops without a device */
        device_reset_peak(GPU);
    }
    scope_end();
}

/* ---- allocator ---- */

static void test_runtime_handles_and_flags(void **state)
{
    REQUIRE_GPU();
    /* through the backend table, as the engine reaches the module */
    const Backend *cuda = backend_get(DEVICE_CUDA);
    assert_non_null(cuda);
    assert_string_equal(cuda->name, "cuda");
    assert_non_null(cuda->stream());
    assert_ptr_equal(cuda->stream(), cuda->stream());
    bool tf32 = device_tf32(), det = device_deterministic();
    device_set_tf32(true);
    assert_true(device_tf32());
    device_set_tf32(false);
    assert_false(device_tf32());
    device_set_deterministic(!det);
    assert_true(device_deterministic() == !det);
    device_set_deterministic(det);
    device_set_tf32(tf32);
    device_synchronize(GPU);
}

static void test_allocator_reuses_blocks(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    device_empty_cache(GPU);
    MemoryStats s0 = gpu_stats();
    assert_true(s0.reserved == s0.allocated); /* nothing cached */

    /* 4000 bytes round up to 8 blocks of 512 */
    Tensor *t = tensor_persist(tensor_empty(SHAPE(1000), DT_F32, GPU));
    REQUIRE_OK(t);
    void *p = tensor_data(t);
    MemoryStats s1 = gpu_stats();
    assert_true(s1.allocated == s0.allocated + 4096);
    assert_true(s1.reserved == s0.reserved + 4096);
    assert_true(s1.peak_allocated >= s1.allocated);
    tensor_free(t);
    MemoryStats s2 = gpu_stats();
    assert_true(s2.allocated == s0.allocated);
    assert_true(s2.reserved == s1.reserved); /* kept in the cache */

    /* the same size, and a size in the same bucket, get the cached block back */
    t = tensor_persist(tensor_empty(SHAPE(1000), DT_F32, GPU));
    assert_ptr_equal(tensor_data(t), p);
    tensor_free(t);
    t = tensor_persist(tensor_empty(SHAPE(3700), DT_U8, GPU));
    assert_ptr_equal(tensor_data(t), p);
    assert_true(gpu_stats().reserved == s1.reserved);
    tensor_free(t);

    /* scoped tensors go back to the cache when their scope ends */
    scope_begin();
    Tensor *scoped = tensor_empty(SHAPE(1000), DT_F32, GPU);
    assert_ptr_equal(tensor_data(scoped), p);
    scope_end();
    assert_true(gpu_stats().allocated == s0.allocated);

    /* cached blocks go back to the driver: a large one leaves no reserved bytes behind */
    device_empty_cache(GPU);
    MemoryStats before_big = gpu_stats();
    Tensor *one_off = tensor_persist(tensor_empty(SHAPE((int64_t)64 << 20), DT_U8, GPU));
    REQUIRE_OK(one_off);
    assert_true(gpu_stats().reserved == before_big.reserved + ((size_t)64 << 20));
    tensor_free(one_off);
    device_empty_cache(GPU);
    MemoryStats after_big = gpu_stats();
    assert_true(after_big.allocated == before_big.allocated && after_big.reserved == before_big.reserved);

    /* large blocks round up to 2 MiB; peak follows and resets */
    device_reset_peak(GPU);
    assert_true(gpu_stats().peak_allocated == s0.allocated);
    Tensor *big = tensor_persist(tensor_empty(SHAPE(3 << 20), DT_U8, GPU));
    REQUIRE_OK(big);
    MemoryStats s3 = gpu_stats();
    assert_true(s3.allocated == s0.allocated + ((size_t)4 << 20));
    tensor_free(big);
    MemoryStats s4 = gpu_stats();
    assert_true(s4.allocated == s0.allocated);
    assert_true(s4.peak_allocated == s3.allocated);
    device_reset_peak(GPU);
    assert_true(gpu_stats().peak_allocated == s4.allocated);

    /* zero elements still give a valid, distinct block */
    Tensor *empty = tensor_persist(tensor_empty(SHAPE(0), DT_F32, GPU));
    REQUIRE_OK(empty);
    assert_non_null(empty->storage->data);
    assert_true(gpu_stats().allocated == s0.allocated + 512);
    tensor_free(empty);

    /* empty_cache returns every cached block */
    device_empty_cache(GPU);
    MemoryStats s5 = gpu_stats();
    print_message("  after empty_cache: allocated %zu, reserved %zu (was %zu)\n", s5.allocated, s5.reserved,
                  s4.reserved);
    assert_true(s5.allocated == s0.allocated && s5.reserved == s5.allocated);
    assert_true(s4.reserved > s5.reserved);
    scope_end();
}

static void test_out_of_memory_returns_null(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    engine_clear_error();
    Tensor *warm = tensor_ones(SHAPE(16), DT_F32, GPU);
    REQUIRE_OK(warm);
    MemoryStats before = gpu_stats();
    /* 4 TiB: more than any device has */
    Tensor *huge = tensor_empty(SHAPE((int64_t)1 << 40), DT_F32, GPU);
    assert_null(huge);
    print_message("  error: %s\n", engine_last_error());
    assert_non_null(strstr(engine_last_error(), "out of memory"));
    assert_non_null(strstr(engine_last_error(), "cuda:0"));
    assert_non_null(strstr(engine_last_error(), "4398046511104 bytes"));
    engine_clear_error();
    MemoryStats after = gpu_stats();
    assert_true(after.allocated == before.allocated);
    /* the device still works: kernels launch and results come back */
    Tensor *sum = t_add(warm, warm);
    REQUIRE_OK(sum);
    expect_same_bytes(tensor_to(sum, CPU), tensor_full(SHAPE(16), 2.0, DT_F32, CPU), "2 after the failed allocation");
    assert_false(engine_has_error());
    scope_end();
}

/* ---- copies ---- */

/* f32, i64, u8: bf16/f16 tensors are CPU-only (engine/autocast.h) */
#define N_GPU_DTYPES (DT_U8 + 1)

/* A CPU tensor of shape with recognisable values of dtype dt. */
static Tensor *sample(Shape shape, DType dt)
{
    Tensor *t = tensor_empty(shape, dt, CPU);
    int64_t n = tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        switch (dt) {
        case DT_F32: tensor_f32(t)[i] = (float)sin((double)i) * 100.0f; break;
        case DT_I64: tensor_i64(t)[i] = (i - n / 2) * 123456789012345LL; break; /* beyond 32 and 53 bits */
        case DT_U8: tensor_u8(t)[i] = (uint8_t)(i * 37 + 11); break;
        default: fail();
        }
    }
    return t;
}

static void test_host_device_round_trips(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    for (int dt = 0; dt < N_GPU_DTYPES; dt++) {
        char label[96];
        const char *name = dtype_name((DType)dt);
        Tensor *h = sample(SHAPE(6, 7), (DType)dt);
        Tensor *d = tensor_to(h, GPU);
        snprintf(label, sizeof label, "%s to cuda and back", name);
        expect_same_bytes(tensor_to(d, CPU), h, label);
        snprintf(label, sizeof label, "%s from_data on cuda", name);
        expect_same_bytes(tensor_from_data(tensor_data(h), h->shape, (DType)dt, GPU), h, label);
        /* strided device views read back through cuda_copy */
        snprintf(label, sizeof label, "%s transposed view", name);
        expect_same_bytes(t_transpose(d, 0, 1), t_transpose(h, 0, 1), label);
        snprintf(label, sizeof label, "%s slice with step 2", name);
        expect_same_bytes(t_slice(d, 1, 1, 7, 2), t_slice(h, 1, 1, 7, 2), label);
        snprintf(label, sizeof label, "%s broadcast (stride 0) view", name);
        expect_same_bytes(t_expand(t_narrow(d, 0, 2, 1), SHAPE(5, 7)), t_expand(t_narrow(h, 0, 2, 1), SHAPE(5, 7)),
                          label);
        /* a host buffer into a non-contiguous device view */
        Tensor *dv = t_transpose(tensor_empty(SHAPE(7, 6), (DType)dt, GPU), 0, 1);
        assert_int_equal(tensor_copy_from_buffer(dv, tensor_data(h)), 0);
        snprintf(label, sizeof label, "%s host buffer into a transposed view", name);
        expect_same_bytes(dv, h, label);
    }
    /* larger than both pinned staging chunks together, with an odd tail,
     * twice in a row and interleaved with reads (the buffers alternate) */
    Tensor *h = tensor_randn(SHAPE(3000001), &gen, CPU);
    Tensor *h2 = tensor_randn(SHAPE(3000001), &gen, CPU);
    Tensor *d = tensor_to(h, GPU), *d2 = tensor_to(h2, GPU);
    expect_same_bytes(d, h, "12 MB f32 round trip");
    expect_same_bytes(d2, h2, "second 12 MB f32 round trip");
    scope_end();
}

static void test_copy_converts_dtypes(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    /* fractions, negatives and values outside u8's range: truncation toward
     * zero and wrap-around must match the CPU */
    const float values[] = {-3.7f, -1.0f, 0.0f, 0.5f, 2.9f, 255.0f, 256.4f, 300.2f, -129.5f, 1e6f};
    Tensor *base = tensor_from_data(values, SHAPE(2, 5), DT_F32, CPU);
    for (int s = 0; s < N_GPU_DTYPES; s++) {
        Tensor *src_h = tensor_to_dtype(base, (DType)s);
        Tensor *src_d = tensor_to(src_h, GPU);
        for (int d = 0; d < N_GPU_DTYPES; d++) {
            char label[96];
            snprintf(label, sizeof label, "%s -> %s", dtype_name((DType)s), dtype_name((DType)d));
            expect_same_bytes(tensor_to_dtype(src_d, (DType)d), tensor_to_dtype(src_h, (DType)d), label);
            snprintf(label, sizeof label, "%s -> %s, transposed source", dtype_name((DType)s), dtype_name((DType)d));
            expect_same_bytes(tensor_to_dtype(t_transpose(src_d, 0, 1), (DType)d),
                              tensor_to_dtype(t_transpose(src_h, 0, 1), (DType)d), label);
            /* broadcast copy_ into another dtype */
            Tensor *dst_d = tensor_zeros(SHAPE(3, 2, 5), (DType)d, GPU), *dst_h = tensor_zeros(SHAPE(3, 2, 5), (DType)d, CPU);
            assert_int_equal(tensor_copy_(dst_d, src_d), 0);
            assert_int_equal(tensor_copy_(dst_h, src_h), 0);
            snprintf(label, sizeof label, "%s -> %s, broadcast copy_", dtype_name((DType)s), dtype_name((DType)d));
            expect_same_bytes(dst_d, dst_h, label);
        }
    }
    scope_end();
}

static void test_fill(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    /* 0 and (for i64) -1 and (for u8) anything are memsets; the rest a kernel */
    const double values[] = {0.0, 1.5, -1.0, -2.0, 300.0, 7.0};
    for (int dt = 0; dt < N_GPU_DTYPES; dt++)
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            char label[96];
            snprintf(label, sizeof label, "full(%g) %s", values[v], dtype_name((DType)dt));
            expect_same_bytes(tensor_full(SHAPE(3, 65), values[v], (DType)dt, GPU),
                              tensor_full(SHAPE(3, 65), values[v], (DType)dt, CPU), label);
            /* filling a strided view leaves the elements around it alone */
            Tensor *d = tensor_to(sample(SHAPE(6, 8), (DType)dt), GPU), *h = sample(SHAPE(6, 8), (DType)dt);
            assert_int_equal(tensor_fill_(t_slice(t_transpose(d, 0, 1), 0, 1, 7, 2), values[v]), 0);
            assert_int_equal(tensor_fill_(t_slice(t_transpose(h, 0, 1), 0, 1, 7, 2), values[v]), 0);
            snprintf(label, sizeof label, "fill_(%g) %s, strided view", values[v], dtype_name((DType)dt));
            expect_same_bytes(d, h, label);
        }
    scope_end();
}

/* ---- elementwise kernels ---- */

typedef struct {
    UnaryOp op;
    const char *name;
    double alpha, beta;
    bool positive; /* the op needs x > 0 */
} UnaryKernelCase;

static const UnaryKernelCase unary_kernel_cases[] = {
    {UN_ADD_SCALAR, "add_scalar", 2.5, 0, false}, {UN_MUL_SCALAR, "mul_scalar", -1.5, 0, false},
    {UN_NEG, "neg", 0, 0, false},                 {UN_POW, "pow 2", 2.0, 0, false},
    {UN_POW, "pow 3", 3.0, 0, false},             {UN_POW, "pow 0.5", 0.5, 0, true},
    {UN_POW, "pow 0", 0.0, 0, false},             {UN_EXP, "exp", 0, 0, false},
    {UN_LOG, "log", 0, 0, true},                  {UN_SQRT, "sqrt", 0, 0, true},
    {UN_ABS, "abs", 0, 0, false},                 {UN_CLAMP, "clamp", -0.5, 0.7, false},
    {UN_RELU, "relu", 0, 0, false},               {UN_LEAKY_RELU, "leaky_relu", 0.1, 0, false},
    {UN_SIGMOID, "sigmoid", 0, 0, false},         {UN_TANH, "tanh", 0, 0, false},
    {UN_GELU, "gelu", 0, 0, false},               {UN_GELU, "gelu tanh", 1, 0, false},
    {UN_SIGN, "sign", 0, 0, false},
};
#define N_UNARY_KERNEL (int)(sizeof unary_kernel_cases / sizeof unary_kernel_cases[0])

/* The layouts an input may arrive in: contiguous, transposed, broadcast. */
static Tensor *layout_view(Tensor *base, int layout)
{
    if (layout == 1) return t_transpose(base, 0, 1);
    if (layout == 2) return t_expand(t_narrow(base, 0, 0, 1), SHAPE(9, 33));
    return base;
}

/* Every UnaryOp code, forward and backward, straight through the kernels
 * (some codes, like UN_SIGN, have no public op of their own). */
static void check_unary_kernel(const UnaryKernelCase *c, int layout)
{
    Shape base_shape = layout == 1 ? SHAPE(33, 9) : SHAPE(9, 33);
    Tensor *xb = tensor_randn(base_shape, &gen, CPU);
    if (c->positive) xb = t_add_scalar(t_abs(xb), 0.5);
    Tensor *gb = tensor_randn(base_shape, &gen, CPU);
    Tensor *x_h = layout_view(xb, layout), *g_h = layout_view(gb, layout);
    Tensor *x_d = layout_view(tensor_to(xb, GPU), layout), *g_d = layout_view(tensor_to(gb, GPU), layout);
    Tensor *y_h = tensor_empty(SHAPE(9, 33), DT_F32, CPU), *y_d = tensor_empty(SHAPE(9, 33), DT_F32, GPU);
    backend_of(y_h)->unary(c->op, y_h, x_h, c->alpha, c->beta);
    backend_of(y_d)->unary(c->op, y_d, x_d, c->alpha, c->beta);
    Tensor *gi_h = tensor_empty(SHAPE(9, 33), DT_F32, CPU), *gi_d = tensor_empty(SHAPE(9, 33), DT_F32, GPU);
    backend_of(gi_h)->unary_backward(c->op, gi_h, g_h, x_h, y_h, c->alpha, c->beta);
    backend_of(gi_d)->unary_backward(c->op, gi_d, g_d, x_d, y_d, c->alpha, c->beta);
    static const char *layouts[] = {"contiguous", "transposed", "broadcast"};
    char label[96];
    snprintf(label, sizeof label, "%s forward, %s", c->name, layouts[layout]);
    expect_close(y_d, y_h, GPU_TOL, label);
    snprintf(label, sizeof label, "%s backward, %s", c->name, layouts[layout]);
    expect_close(gi_d, gi_h, GPU_TOL, label);
}

static void test_unary_kernels_match_cpu(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    for (int c = 0; c < N_UNARY_KERNEL; c++)
        for (int layout = 0; layout < 3; layout++) check_unary_kernel(&unary_kernel_cases[c], layout);
    scope_end();
}

/* A leaf on the GPU with x's values (and layout when transposed). */
static Tensor *gpu_leaf_like(Tensor *x, bool transposed)
{
    bool mode = no_grad_begin();
    Tensor *base = tensor_to(t_contiguous(transposed ? t_transpose(x, -1, -2) : x), GPU);
    grad_mode_restore(mode);
    Tensor *v = transposed ? t_transpose(base, -1, -2) : tensor_detach(base);
    return tensor_set_requires_grad(v, true);
}

typedef Tensor *(*UnaryFn)(Tensor *);
static Tensor *f_gelu_tanh(Tensor *a) { return t_gelu(a, true); }
static Tensor *f_pow3(Tensor *a) { return t_pow_scalar(a, 3.0); }
static Tensor *f_clamp(Tensor *a) { return t_clamp(a, -0.5, 0.7); }
static Tensor *f_leaky(Tensor *a) { return t_leaky_relu(a, 0.1); }
static Tensor *f_affine(Tensor *a) { return t_add_scalar(t_mul_scalar(a, -1.5), 2.5); }
static Tensor *f_log_sqrt(Tensor *a) { return t_add(t_log(t_add_scalar(t_abs(a), 0.5)), t_sqrt(t_add_scalar(t_abs(a), 0.5))); }
static Tensor *f_neg_exp(Tensor *a) { return t_exp(t_neg(a)); }
static Tensor *f_relu(Tensor *a) { return t_relu(a); }
static Tensor *f_sigmoid(Tensor *a) { return t_sigmoid(a); }
static Tensor *f_tanh(Tensor *a) { return t_tanh(a); }

static void test_unary_ops_forward_backward_match_cpu(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    const struct {
        const char *name;
        UnaryFn fn;
    } cases[] = {{"gelu(tanh)", f_gelu_tanh}, {"pow 3", f_pow3},     {"clamp", f_clamp},       {"leaky_relu", f_leaky},
                 {"mul/add scalar", f_affine}, {"log+sqrt|x|", f_log_sqrt}, {"exp(-x)", f_neg_exp}, {"relu", f_relu},
                 {"sigmoid", f_sigmoid},       {"tanh", f_tanh}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int transposed = 0; transposed < 2; transposed++) {
            Tensor *x_h = rand_leaf(SHAPE(5, 7), &gen), *x_d = gpu_leaf_like(x_h, transposed);
            Tensor *y_h = cases[c].fn(x_h), *y_d = cases[c].fn(x_d);
            REQUIRE_OK(y_d);
            Tensor *g = tensor_randn(SHAPE(5, 7), &gen, CPU);
            assert_int_equal(tensor_backward(y_h, g), 0);
            assert_int_equal(tensor_backward(y_d, tensor_to(g, GPU)), 0);
            char label[96];
            snprintf(label, sizeof label, "%s forward%s", cases[c].name, transposed ? ", transposed" : "");
            expect_close(y_d, y_h, GPU_TOL, label);
            snprintf(label, sizeof label, "%s backward%s", cases[c].name, transposed ? ", transposed" : "");
            expect_close(x_d->grad, x_h->grad, GPU_TOL, label);
        }
    scope_end();
}

typedef Tensor *(*BinaryFn)(Tensor *, Tensor *);

static void test_binary_ops_forward_backward_match_cpu(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    const struct {
        const char *name;
        BinaryFn fn;
    } ops[] = {{"add", t_add}, {"sub", t_sub}, {"mul", t_mul}, {"div", t_div}};
    const Shape shapes[][2] = {{SHAPE(3, 4), SHAPE(3, 4)}, {SHAPE(3, 4), SHAPE(4)}, {SHAPE(2, 1, 4), SHAPE(3, 1)},
                               {SHAPE(1), SHAPE(4, 3)}};
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            bool transposed = shapes[s][0].ndim >= 2;
            Tensor *a_h = rand_leaf(shapes[s][0], &gen), *b_h = rand_leaf(shapes[s][1], &gen);
            if (o == 3) { /* keep divisors away from 0 */
                bool mode = no_grad_begin();
                tensor_copy_(b_h, t_add_scalar(t_abs(b_h), 0.5));
                grad_mode_restore(mode);
            }
            Tensor *a_d = gpu_leaf_like(a_h, transposed), *b_d = gpu_leaf_like(b_h, false);
            Tensor *y_h = ops[o].fn(a_h, b_h), *y_d = ops[o].fn(a_d, b_d);
            REQUIRE_OK(y_d);
            Tensor *g = tensor_randn(y_h->shape, &gen, CPU);
            assert_int_equal(tensor_backward(y_h, g), 0);
            assert_int_equal(tensor_backward(y_d, tensor_to(g, GPU)), 0);
            char label[128];
            snprintf(label, sizeof label, "%s %s x %s forward", ops[o].name, shape_str(shapes[s][0]), shape_str(shapes[s][1]));
            expect_close(y_d, y_h, GPU_TOL, label);
            snprintf(label, sizeof label, "%s grad a", ops[o].name);
            expect_close(a_d->grad, a_h->grad, GPU_TOL, label);
            snprintf(label, sizeof label, "%s grad b", ops[o].name);
            expect_close(b_d->grad, b_h->grad, GPU_TOL, label);
        }
    scope_end();
}

static void test_compare_where_and_in_place_match_cpu(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    BinaryFn cmps[] = {t_eq, t_ne, t_gt, t_lt, t_ge, t_le};
    const char *names[] = {"eq", "ne", "gt", "lt", "ge", "le"};
    /* small integers so that ties (equal elements) occur */
    Tensor *a_h = tensor_to_dtype(tensor_randint(-2, 3, SHAPE(4, 6), &gen, CPU), DT_F32);
    Tensor *b_h = tensor_to_dtype(tensor_randint(-2, 3, SHAPE(6), &gen, CPU), DT_F32);
    for (int dt = 0; dt < 2; dt++) {
        DType type = dt ? DT_I64 : DT_F32;
        Tensor *a = tensor_to_dtype(a_h, type), *b = tensor_to_dtype(b_h, type);
        Tensor *a_d = t_transpose(tensor_to(t_contiguous(t_transpose(a, 0, 1)), GPU), 0, 1), *b_d = tensor_to(b, GPU);
        for (int c = 0; c < 6; c++) {
            char label[96];
            snprintf(label, sizeof label, "%s %s, broadcast", names[c], dtype_name(type));
            expect_same_bytes(tensor_to(cmps[c](a_d, b_d), CPU), cmps[c](a, b), label);
        }
    }
    /* where with broadcast condition and operands, forward and backward */
    Tensor *cond_h = t_gt(tensor_randn(SHAPE(4, 1), &gen, CPU), tensor_zeros(SHAPE(1), DT_F32, CPU));
    Tensor *x_h = rand_leaf(SHAPE(4, 6), &gen), *y_h = rand_leaf(SHAPE(6), &gen);
    Tensor *x_d = gpu_leaf_like(x_h, true), *y_d = gpu_leaf_like(y_h, false), *cond_d = tensor_to(cond_h, GPU);
    Tensor *w_h = t_where(cond_h, x_h, y_h), *w_d = t_where(cond_d, x_d, y_d);
    Tensor *g = tensor_randn(SHAPE(4, 6), &gen, CPU);
    assert_int_equal(tensor_backward(w_h, g), 0);
    assert_int_equal(tensor_backward(w_d, tensor_to(g, GPU)), 0);
    expect_close(w_d, w_h, GPU_TOL, "where forward");
    expect_close(x_d->grad, x_h->grad, GPU_TOL, "where grad a");
    expect_close(y_d->grad, y_h->grad, GPU_TOL, "where grad b");
    expect_close(t_masked_fill(w_d, cond_d, -7.5), t_masked_fill(w_h, cond_h, -7.5), GPU_TOL, "masked_fill");
    /* axpy (add_) with a broadcast source into a strided destination, and mul_ in place */
    Tensor *acc_h = tensor_randn(SHAPE(6, 4), &gen, CPU), *src_h = tensor_randn(SHAPE(4), &gen, CPU);
    Tensor *acc_d = tensor_to(acc_h, GPU), *src_d = tensor_to(src_h, GPU);
    assert_int_equal(t_add_(t_transpose(acc_h, 0, 1), t_unsqueeze(src_h, 1), -0.75), 0);
    assert_int_equal(t_add_(t_transpose(acc_d, 0, 1), t_unsqueeze(src_d, 1), -0.75), 0);
    expect_close(acc_d, acc_h, GPU_TOL, "add_ (axpy) broadcast, transposed dst");
    assert_int_equal(t_mul_scalar_(acc_h, 3.25), 0);
    assert_int_equal(t_mul_scalar_(acc_d, 3.25), 0);
    expect_close(acc_d, acc_h, GPU_TOL, "mul_ in place");
    scope_end();
}

int main(void)
{
    generator_seed(&gen, 7);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_api_on_cpu_and_missing_devices),
        cmocka_unit_test(test_runtime_handles_and_flags),
        cmocka_unit_test(test_allocator_reuses_blocks),
        cmocka_unit_test(test_out_of_memory_returns_null),
        cmocka_unit_test(test_host_device_round_trips),
        cmocka_unit_test(test_copy_converts_dtypes),
        cmocka_unit_test(test_fill),
        cmocka_unit_test(test_unary_kernels_match_cpu),
        cmocka_unit_test(test_unary_ops_forward_backward_match_cpu),
        cmocka_unit_test(test_binary_ops_forward_backward_match_cpu),
        cmocka_unit_test(test_compare_where_and_in_place_match_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
