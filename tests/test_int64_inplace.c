/* In-place arithmetic (add_, sub_, mul_, tensor and scalar operands) against
 * PyTorch, above all on int64 tensors, where it must be exact integer
 * arithmetic: values beyond 2^53 (where a trip through double would round),
 * overflow wrapping around as PyTorch's int64 does, broadcast and
 * transposed operands, the parallel path, the float32 forms, and PyTorch's
 * errors for results that cannot be written into an int64 tensor. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tests/support/check.h"
#include "tests/support/torch_script.h"

typedef enum { OP_ADD, OP_SUB, OP_MUL } Op;
static const char *const op_names[] = {"add_", "sub_", "mul_"};

typedef struct {
    const char *label;
    Op op;
    DType dst_dtype;
    Shape dst_shape;
    bool transpose; /* the op writes through dst transposed (dims 0 and 1) */
    bool has_src;
    DType src_dtype;
    Shape src_shape;
    bool has_alpha; /* tensor ops: alpha given (else 1) */
    double alpha;
    bool scalar_is_int; /* scalar ops: through t_*_int_ with scalar_i, else t_*_scalar_ with scalar_d */
    int64_t scalar_i;
    double scalar_d;
    const char *error; /* NULL, or what both our message and PyTorch's contain */
} Case;

#define I64 DT_I64
#define F32 DT_F32
#define TENSOR(o, dt, ds, st, ss) .op = (o), .dst_dtype = (dt), .dst_shape = ds, .has_src = true, .src_dtype = (st), .src_shape = ss
#define SCALAR_I(o, ds, v) .op = (o), .dst_dtype = I64, .dst_shape = ds, .scalar_is_int = true, .scalar_i = (v)
#define SCALAR_D(o, dt, ds, v) .op = (o), .dst_dtype = (dt), .dst_shape = ds, .scalar_d = (v)
#define CAST_ERROR "can't be cast to the desired output type Long"

static const Case cases[] = {
    {"i64 += i64", TENSOR(OP_ADD, I64, SHAPE(64), I64, SHAPE(64))},
    {"i64 += i64 * 3, broadcast", TENSOR(OP_ADD, I64, SHAPE(5, 7), I64, SHAPE(7)), .has_alpha = true, .alpha = 3},
    {"i64 -= i64 * -2, transposed", TENSOR(OP_SUB, I64, SHAPE(6, 4), I64, SHAPE(4, 6)), .transpose = true,
     .has_alpha = true, .alpha = -2},
    {"i64 -= i64 column, transposed", TENSOR(OP_SUB, I64, SHAPE(6, 4), I64, SHAPE(4, 1)), .transpose = true},
    {"i64 *= i64 (wraps)", TENSOR(OP_MUL, I64, SHAPE(3, 11), I64, SHAPE(3, 11))},
    {"i64 *= i64 0-dim", TENSOR(OP_MUL, I64, SHAPE(2, 9), I64, SCALAR_SHAPE)},
    {"i64 += u8", TENSOR(OP_ADD, I64, SHAPE(4, 8), DT_U8, SHAPE(8))},
    {"i64 += i64 * -7, parallel", TENSOR(OP_ADD, I64, SHAPE(300, 401), I64, SHAPE(401)), .has_alpha = true, .alpha = -7},
    {"i64 *= i64, parallel", TENSOR(OP_MUL, I64, SHAPE(200, 300), I64, SHAPE(200, 300))},
    {"0-dim i64 += 1 (num_batches_tracked)", SCALAR_D(OP_ADD, I64, SCALAR_SHAPE, 1)},
    {"i64 += 1", SCALAR_D(OP_ADD, I64, SHAPE(40), 1)},
    {"i64 -= 7", SCALAR_D(OP_SUB, I64, SHAPE(5, 6), 7)},
    {"i64 *= -3", SCALAR_D(OP_MUL, I64, SHAPE(5, 6), -3)},
    {"i64 *= 5, transposed", SCALAR_D(OP_MUL, I64, SHAPE(3, 5), 5), .transpose = true},
    {"i64 += 2^62 + 1 (int)", SCALAR_I(OP_ADD, SHAPE(20), (INT64_C(1) << 62) + 1)},
    {"i64 -= INT64_MIN (int)", SCALAR_I(OP_SUB, SHAPE(20), INT64_MIN)},
    {"i64 *= 2^53 + 3 (int)", SCALAR_I(OP_MUL, SHAPE(20), (INT64_C(1) << 53) + 3)},
    {"i64 += 1, parallel", SCALAR_D(OP_ADD, I64, SHAPE(100000), 1)},
    {"f32 += i64", TENSOR(OP_ADD, F32, SHAPE(3, 5), I64, SHAPE(5))},
    {"f32 *= f32, broadcast", TENSOR(OP_MUL, F32, SHAPE(4, 6), F32, SHAPE(4, 1))},
    {"f32 -= f32 * 0.5, transposed", TENSOR(OP_SUB, F32, SHAPE(3, 7), F32, SHAPE(7, 3)), .transpose = true,
     .has_alpha = true, .alpha = 0.5},
    {"f32 *= u8", TENSOR(OP_MUL, F32, SHAPE(9), DT_U8, SHAPE(9))},
    {"f32 -= 2.25", SCALAR_D(OP_SUB, F32, SHAPE(10), 2.25)},
    {"f32 += 0.75", SCALAR_D(OP_ADD, F32, SHAPE(10), 0.75)},
    {"i64 += f32: error", TENSOR(OP_ADD, I64, SHAPE(4), F32, SHAPE(4)), .error = CAST_ERROR},
    {"i64 *= f32: error", TENSOR(OP_MUL, I64, SHAPE(4), F32, SHAPE(4)), .error = CAST_ERROR},
    {"i64 += 1.5: error", SCALAR_D(OP_ADD, I64, SHAPE(4), 1.5), .error = CAST_ERROR},
    {"i64 *= 0.5: error", SCALAR_D(OP_MUL, I64, SHAPE(4), 0.5), .error = CAST_ERROR},
    {"i64 += i64 * 1.5: error", TENSOR(OP_ADD, I64, SHAPE(4), I64, SHAPE(4)), .has_alpha = true, .alpha = 1.5,
     .error = "alpha must not be a floating point number"},
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

/* splitmix64: full-range int64 values that no float type holds exactly */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t next_u64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* A mix of huge values, values around 2^53 and 2^63, and small ones. */
static int64_t test_i64(int64_t i)
{
    static const int64_t special[] = {INT64_MAX, INT64_MIN, (INT64_C(1) << 53) + 1, -(INT64_C(1) << 53) - 1,
                                       INT64_C(1) << 62, 0, -1};
    switch (i % 4) {
    case 0: return special[(i / 4) % 7];
    case 1: return (int64_t)(next_u64() % 201) - 100;
    default: return (int64_t)next_u64();
    }
}

static Tensor *make_values(DType dt, Shape s)
{
    Tensor *t = tensor_empty(s, dt, CPU);
    REQUIRE_OK(t);
    int64_t n = tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        if (dt == DT_I64) tensor_i64(t)[i] = test_i64(i);
        else if (dt == DT_U8) tensor_u8(t)[i] = (uint8_t)next_u64();
        else tensor_f32(t)[i] = (float)((int64_t)(next_u64() % 20001) - 10000) / 1000.0f;
    }
    return t;
}

static void add_number(cJSON *obj, const char *key, bool is_int, int64_t i, double d)
{
    /* integers as JSON integers, so PyTorch sees a Python int (exact beyond 2^53) */
    char buf[64];
    if (is_int) snprintf(buf, sizeof buf, "%" PRId64, i);
    else if (d == (double)(int64_t)d) snprintf(buf, sizeof buf, "%" PRId64, (int64_t)d);
    else snprintf(buf, sizeof buf, "%.17g", d);
    cJSON_AddRawToObject(obj, key, buf);
}

/* Runs case c on our side; returns the API's result. */
static int run_ours(const Case *c, Tensor *dst, Tensor *src)
{
    Tensor *target = c->transpose ? t_transpose(dst, 0, 1) : dst;
    REQUIRE_OK(target);
    if (c->has_src) {
        double alpha = c->has_alpha ? c->alpha : 1.0;
        switch (c->op) {
        case OP_ADD: return t_add_(target, src, alpha);
        case OP_SUB: return t_sub_(target, src, alpha);
        default: return t_mul_(target, src);
        }
    }
    if (c->scalar_is_int) {
        switch (c->op) {
        case OP_ADD: return t_add_int_(target, c->scalar_i);
        case OP_SUB: return t_sub_int_(target, c->scalar_i);
        default: return t_mul_int_(target, c->scalar_i);
        }
    }
    switch (c->op) {
    case OP_ADD: return t_add_scalar_(target, c->scalar_d);
    case OP_SUB: return t_sub_scalar_(target, c->scalar_d);
    default: return t_mul_scalar_(target, c->scalar_d);
    }
}

/* Exact element-for-element equality of two int64 tensors. */
static void expect_same_i64(Tensor *ours, Tensor *ref, const char *label)
{
    assert_int_equal(ours->dtype, DT_I64);
    assert_int_equal(ref->dtype, DT_I64);
    assert_true(shape_equal(ours->shape, ref->shape));
    int64_t n = tensor_numel(ours), bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++)
        if (tensor_i64(ours)[i] != tensor_i64(ref)[i] && bad++ == 0) first = i;
    print_message("  %-48s %s\n", label, bad ? "MISMATCH" : "exact");
    if (bad)
        fail_msg("%s: %" PRId64 " of %" PRId64 " elements differ; first at %" PRId64 ": ours %" PRId64 ", torch %" PRId64,
                 label, bad, n, first, tensor_i64(ours)[first], tensor_i64(ref)[first]);
}

static void test_inplace_against_torch(void **state)
{
    scope_begin();
    Tensor *dst[N_CASES], *src[N_CASES], *tensors[2 * N_CASES];
    char names[2 * N_CASES][16];
    const char *name_ptrs[2 * N_CASES];
    int n = 0;
    cJSON *args = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(args, "cases");
    for (int k = 0; k < N_CASES; k++) {
        const Case *c = &cases[k];
        dst[k] = make_values(c->dst_dtype, c->dst_shape);
        src[k] = c->has_src ? make_values(c->src_dtype, c->src_shape) : NULL;
        snprintf(names[n], sizeof names[n], "d%d", k);
        name_ptrs[n] = names[n];
        tensors[n++] = dst[k];
        if (src[k]) {
            snprintf(names[n], sizeof names[n], "s%d", k);
            name_ptrs[n] = names[n];
            tensors[n++] = src[k];
        }
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "op", op_names[c->op]);
        cJSON_AddBoolToObject(e, "transpose", c->transpose);
        if (c->has_alpha) add_number(e, "alpha", false, 0, c->alpha);
        if (!c->has_src) add_number(e, "scalar", c->scalar_is_int, c->scalar_i, c->scalar_d);
        cJSON_AddItemToArray(list, e);
    }
    char *json = cJSON_PrintUnformatted(args);
    cJSON_Delete(args);
    Safetensors *ref = NULL;
    int rc = torch_script_run("inplace_ref.py", "inplace", n, name_ptrs, tensors, json, &ref);
    free(json);
    if (rc == 1) {
        scope_end();
        print_message("SKIP: PyTorch reference not available (python3-torch)\n");
        skip();
    }
    assert_int_equal(rc, 0);
    cJSON *result = cJSON_Parse(safetensors_meta(ref, "result"));
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(result, "errors");
    assert_int_equal(cJSON_GetArraySize(errors), N_CASES);

    for (int k = 0; k < N_CASES; k++) {
        const Case *c = &cases[k];
        const cJSON *torch_error = cJSON_GetArrayItem(errors, k);
        int ours = run_ours(c, dst[k], src[k]);
        if (c->error) {
            /* both refuse, saying the same thing */
            assert_true(cJSON_IsString(torch_error));
            print_message("  %-48s torch: %s\n", c->label, torch_error->valuestring);
            assert_non_null(strstr(torch_error->valuestring, c->error));
            expect_failure(ours != 0, c->error, op_names[c->op]);
            continue;
        }
        if (!cJSON_IsNull(torch_error)) fail_msg("%s: PyTorch failed: %s", c->label, torch_error->valuestring);
        if (ours != 0) fail_engine(c->label);
        char key[16];
        snprintf(key, sizeof key, "r%d", k);
        Tensor *want = safetensors_get(ref, key);
        REQUIRE_OK(want);
        if (c->dst_dtype == DT_I64) expect_same_i64(dst[k], want, c->label);
        else expect_close(dst[k], want, 1e-6, c->label);
    }
    cJSON_Delete(result);
    safetensors_free(ref);
    scope_end();
}

/* The reason for exact arithmetic, independent of PyTorch: a counter at
 * 2^53 still counts, and INT64_MAX + 1 wraps to INT64_MIN. */
static void test_counter_beyond_2_53(void **state)
{
    scope_begin();
    int64_t start = INT64_C(1) << 53;
    Tensor *counter = tensor_from_data(&start, SCALAR_SHAPE, DT_I64, CPU);
    REQUIRE_OK(counter);
    for (int i = 0; i < 3; i++) assert_int_equal(t_add_scalar_(counter, 1), 0);
    assert_true(tensor_i64(counter)[0] == start + 3);
    assert_int_equal(t_sub_int_(counter, 2), 0);
    assert_true(tensor_i64(counter)[0] == start + 1);
    int64_t max = INT64_MAX;
    Tensor *edge = tensor_from_data(&max, SHAPE(1), DT_I64, CPU);
    REQUIRE_OK(edge);
    assert_int_equal(t_add_int_(edge, 1), 0);
    assert_true(tensor_i64(edge)[0] == INT64_MIN);
    scope_end();
}

/* Refusals PyTorch has no twin for: an expanded destination, uint8
 * destinations (not implemented here), scalars beyond int64, mixed devices
 * are covered by the GPU tests. */
static void test_errors(void **state)
{
    scope_begin();
    Tensor *row = tensor_zeros(SHAPE(1, 4), DT_I64, CPU);
    Tensor *expanded = t_expand(row, SHAPE(3, 4));
    REQUIRE_OK(expanded);
    expect_failure(t_add_scalar_(expanded, 1) != 0, "add_", "more than one element of the written-to tensor");
    expect_failure(t_mul_(expanded, row) != 0, "mul_", "single memory location");
    Tensor *bytes = tensor_zeros(SHAPE(4), DT_U8, CPU);
    expect_failure(t_add_scalar_(bytes, 1) != 0, "add_", "not implemented for dtype uint8");
    Tensor *longs = tensor_zeros(SHAPE(4), DT_I64, CPU);
    expect_failure(t_add_scalar_(longs, 1e19) != 0, "add_", "does not fit in int64");
    expect_failure(t_mul_scalar_(longs, NAN) != 0, "mul_", "can't be cast");
    expect_failure(t_add_(longs, tensor_zeros(SHAPE(5), DT_I64, CPU), 1) != 0, "add_", "cannot be broadcast");
    expect_failure(t_sub_(longs, tensor_zeros(SHAPE(2, 4), DT_I64, CPU), 1) != 0, "sub_", "cannot be broadcast");
    /* a failed op leaves dst as it was */
    for (int i = 0; i < 4; i++) assert_true(tensor_i64(longs)[i] == 0);
    scope_end();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inplace_against_torch),
        cmocka_unit_test(test_counter_beyond_2_53),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
