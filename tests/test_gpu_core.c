/* The CUDA backend's services, which are not ops: the caching allocator and
 * its statistics, the runtime's handles and numeric modes, host <-> device
 * transfers (strided device views, buffers larger than the pinned staging
 * chunks) and running out of device memory. The ops themselves (casts,
 * fill, copy_ and every kernel) are compared with the CPU by
 * tests/test_backend_ops.c. Without a CUDA build or device the GPU tests
 * print "SKIP: no CUDA device" and are reported as skipped. */
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

/* f32, i64, u8, bf16, f16 */
#define N_GPU_DTYPES DT_COUNT

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
        case DT_BF16: ((uint16_t *)tensor_data(t))[i] = f32_to_bf16((float)sin((double)i) * 100.0f); break;
        case DT_F16: ((uint16_t *)tensor_data(t))[i] = f32_to_f16((float)sin((double)i) * 100.0f); break;
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

int main(void)
{
    generator_seed(&gen, 7);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_api_on_cpu_and_missing_devices),
        cmocka_unit_test(test_runtime_handles_and_flags),
        cmocka_unit_test(test_allocator_reuses_blocks),
        cmocka_unit_test(test_out_of_memory_returns_null),
        cmocka_unit_test(test_host_device_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
