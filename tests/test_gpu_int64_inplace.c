/* The CUDA twin of tests/test_int64_inplace.c: in-place add_, sub_ and mul_
 * (tensor and scalar operands, broadcast and transposed) run on the GPU
 * from the same values as on the CPU must give the same int64 results bit
 * for bit (exact, wrapping arithmetic on both), and float32 results to
 * rounding. Skipped visibly without a CUDA build or device. */
#include <inttypes.h>
#include <stdio.h>

#include "tests/support/gpu_compare.h"

typedef enum { ADD, SUB, MUL, ADD_SCALAR, SUB_INT, MUL_INT } Kind;

typedef struct {
    const char *label;
    Kind kind;
    DType dtype, src_dtype;
    Shape dst, src;
    bool transpose;
    double alpha;
    int64_t scalar;
} Case;

static const Case cases[] = {
    {"i64 += i64 * 3, broadcast", ADD, DT_I64, DT_I64, SHAPE(70, 33), SHAPE(33), false, 3, 0},
    {"i64 -= i64 * -2, transposed", SUB, DT_I64, DT_I64, SHAPE(40, 50), SHAPE(50, 40), true, -2, 0},
    {"i64 *= i64 (wraps)", MUL, DT_I64, DT_I64, SHAPE(1000), SHAPE(1000), false, 1, 0},
    {"i64 += u8", ADD, DT_I64, DT_U8, SHAPE(8, 9), SHAPE(9), false, 1, 0},
    {"i64 += 1", ADD_SCALAR, DT_I64, DT_I64, SHAPE(3000), SCALAR_SHAPE, false, 1, 0},
    {"0-dim i64 += 1", ADD_SCALAR, DT_I64, DT_I64, SCALAR_SHAPE, SCALAR_SHAPE, false, 1, 0},
    {"i64 -= 2^62 + 1", SUB_INT, DT_I64, DT_I64, SHAPE(300), SCALAR_SHAPE, false, 0, (INT64_C(1) << 62) + 1},
    {"i64 *= 2^53 + 3, transposed", MUL_INT, DT_I64, DT_I64, SHAPE(20, 30), SCALAR_SHAPE, true, 0,
     (INT64_C(1) << 53) + 3},
    {"f32 *= f32, broadcast", MUL, DT_F32, DT_F32, SHAPE(64, 17), SHAPE(64, 1), false, 1, 0},
    {"f32 += i64 * 0.5", ADD, DT_F32, DT_I64, SHAPE(100), SHAPE(100), false, 0.5, 0},
    {"f32 -= 2.25", ADD_SCALAR, DT_F32, DT_F32, SHAPE(100), SCALAR_SHAPE, false, -2.25, 0},
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

static uint64_t state = 12345;
static uint64_t next_u64(void)
{
    uint64_t z = (state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static Tensor *values(DType dt, Shape s)
{
    Tensor *t = tensor_empty(s, dt, CPU);
    REQUIRE_OK(t);
    for (int64_t i = 0; i < tensor_numel(t); i++) {
        uint64_t r = next_u64();
        if (dt == DT_I64) tensor_i64(t)[i] = i % 3 ? (int64_t)r : INT64_MAX - (int64_t)(r % 5);
        else if (dt == DT_U8) tensor_u8(t)[i] = (uint8_t)r;
        else tensor_f32(t)[i] = (float)((int64_t)(r % 20001) - 10000) / 1000.0f;
    }
    return t;
}

static int run(const Case *c, Tensor *dst, Tensor *src)
{
    Tensor *d = c->transpose ? t_transpose(dst, 0, 1) : dst;
    switch (c->kind) {
    case ADD: return t_add_(d, src, c->alpha);
    case SUB: return t_sub_(d, src, c->alpha);
    case MUL: return t_mul_(d, src);
    case ADD_SCALAR: return t_add_scalar_(d, c->alpha);
    case SUB_INT: return t_sub_int_(d, c->scalar);
    default: return t_mul_int_(d, c->scalar);
    }
}

static void test_gpu_inplace_matches_cpu(void **unused)
{
    REQUIRE_GPU();
    for (int k = 0; k < N_CASES; k++) {
        const Case *c = &cases[k];
        scope_begin();
        Tensor *dst = values(c->dtype, c->dst), *src = values(c->src_dtype, c->src);
        Tensor *dst_d = tensor_to(dst, GPU_DEVICE), *src_d = tensor_to(src, GPU_DEVICE);
        REQUIRE_OK(dst_d);
        REQUIRE_OK(src_d);
        if (run(c, dst, src) != 0 || run(c, dst_d, src_d) != 0) fail_engine(c->label);
        Tensor *back = tensor_to(dst_d, CPU);
        REQUIRE_OK(back);
        if (c->dtype == DT_I64) {
            int64_t bad = 0;
            for (int64_t i = 0; i < tensor_numel(dst); i++) bad += tensor_i64(dst)[i] != tensor_i64(back)[i];
            print_message("  %-40s %s\n", c->label, bad ? "MISMATCH" : "exact");
            if (bad) fail_msg("%s: %" PRId64 " elements differ between the GPU and the CPU", c->label, bad);
        } else {
            expect_close(back, dst, 1e-6, c->label);
        }
        scope_end();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_gpu_inplace_matches_cpu)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
