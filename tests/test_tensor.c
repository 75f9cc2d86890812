/* Tensors and random numbers: creation functions, dtype conversion, reading
 * values out of strided views, the generators' reproducibility and
 * distributions, and 6-dim shapes end to end. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "tests/support/check.h"

/* The out-of-memory test asks for 4 PiB: AddressSanitizer's allocator then
 * returns NULL, as the C library's does, instead of ending the run. */
#if defined(__SANITIZE_ADDRESS__)
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
#endif

/* The elements of t in row-major order as doubles (caller frees). */
static double *values_of(Tensor *t)
{
    int64_t n = tensor_numel(t);
    size_t es = dtype_size(t->dtype);
    char *raw = malloc(es * (size_t)(n + 1));
    double *out = malloc(sizeof(double) * (size_t)(n + 1));
    assert_non_null(raw);
    assert_non_null(out);
    assert_int_equal(tensor_copy_to_buffer(t, raw), 0);
    for (int64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case DT_F32: out[i] = ((float *)raw)[i]; break;
        case DT_I64: out[i] = (double)((int64_t *)raw)[i]; break;
        case DT_U8: out[i] = ((uint8_t *)raw)[i]; break;
        default: fail_msg("unknown dtype");
        }
    }
    free(raw);
    return out;
}

/* Asserts t has the given shape, dtype and exact values. */
static void expect_values(Tensor *t, Shape shape, DType dtype, const double *want, const char *label)
{
    REQUIRE_OK(t);
    if (!shape_equal(t->shape, shape)) fail_msg("%s: shape %s, expected %s", label, shape_str(t->shape), shape_str(shape));
    assert_int_equal(t->dtype, dtype);
    double *got = values_of(t);
    for (int64_t i = 0; i < shape_numel(shape); i++)
        if (got[i] != want[i]) fail_msg("%s: element %lld is %.9g, expected %.9g", label, (long long)i, got[i], want[i]);
    free(got);
}

/* Asserts t has the given shape and dtype and every element equals v. */
static void expect_all(Tensor *t, Shape shape, DType dtype, double v, const char *label)
{
    int64_t n = shape_numel(shape);
    double *want = malloc(sizeof(double) * (size_t)(n + 1));
    for (int64_t i = 0; i < n; i++) want[i] = v;
    expect_values(t, shape, dtype, want, label);
    free(want);
}

/* Asserts the call failed with a message containing piece. */
/* ---- creation ---- */

static void test_creation(void **state)
{
    scope_begin();
    const DType dtypes[] = {DT_F32, DT_I64, DT_U8};
    for (int k = 0; k < 3; k++) {
        DType dt = dtypes[k];
        expect_all(tensor_zeros(SHAPE(2, 3), dt, CPU), SHAPE(2, 3), dt, 0, "zeros");
        expect_all(tensor_ones(SHAPE(4), dt, CPU), SHAPE(4), dt, 1, "ones");
        expect_all(tensor_full(SHAPE(3, 1, 2), 7, dt, CPU), SHAPE(3, 1, 2), dt, 7, "full");
        Tensor *e = tensor_empty(SHAPE(5, 0, 2), dt, CPU);
        REQUIRE_OK(e);
        assert_int_equal(tensor_numel(e), 0);
        assert_int_equal(e->dtype, dt);
        Tensor *s = tensor_scalar(9, dt, CPU);
        REQUIRE_OK(s);
        assert_int_equal(tensor_dim(s), 0);
        assert_int_equal(tensor_numel(s), 1);
        assert_true(tensor_item(s) == 9);
    }
    expect_all(tensor_full(SHAPE(2, 2), -1.25, DT_F32, CPU), SHAPE(2, 2), DT_F32, -1.25, "full f32 -1.25");
    expect_all(tensor_full(SHAPE(3), -123456789012.0, DT_I64, CPU), SHAPE(3), DT_I64, -123456789012.0, "full i64");
    expect_all(tensor_full(SHAPE(3), 200, DT_U8, CPU), SHAPE(3), DT_U8, 200, "full u8");
    Tensor *e = tensor_empty(SHAPE(2, 3, 4), DT_F32, CPU);
    REQUIRE_OK(e);
    assert_true(tensor_is_contiguous(e));
    assert_int_equal(e->strides[0], 12);
    assert_int_equal(e->strides[1], 4);
    assert_int_equal(e->strides[2], 1);
    assert_int_equal(tensor_size(e, -1), 4);
    Tensor *z = tensor_zeros_like(e);
    expect_all(z, SHAPE(2, 3, 4), DT_F32, 0, "zeros_like");
    expect_error(tensor_empty(SHAPE(2, -1), DT_F32, CPU), "[2, -1]", NULL);
    scope_end();
}

static void test_arange(void **state)
{
    scope_begin();
    expect_values(tensor_arange(0, 5, 1, DT_F32, CPU), SHAPE(5), DT_F32, (double[]){0, 1, 2, 3, 4}, "arange(5)");
    expect_values(tensor_arange(5, 0, -1, DT_I64, CPU), SHAPE(5), DT_I64, (double[]){5, 4, 3, 2, 1}, "arange(5, 0, -1)");
    expect_values(tensor_arange(-3, 4, 2, DT_I64, CPU), SHAPE(4), DT_I64, (double[]){-3, -1, 1, 3}, "arange(-3, 4, 2)");
    expect_values(tensor_arange(10, 0, -3, DT_F32, CPU), SHAPE(4), DT_F32, (double[]){10, 7, 4, 1}, "arange(10, 0, -3)");
    expect_values(tensor_arange(1, 2.5, 0.5, DT_F32, CPU), SHAPE(3), DT_F32, (double[]){1, 1.5, 2}, "arange(1, 2.5, .5)");
    expect_values(tensor_arange(0.5, -1, -0.25, DT_F32, CPU), SHAPE(6), DT_F32,
                  (double[]){0.5, 0.25, 0, -0.25, -0.5, -0.75}, "arange(.5, -1, -.25)");
    expect_values(tensor_arange(3, 10, 4, DT_U8, CPU), SHAPE(2), DT_U8, (double[]){3, 7}, "arange u8");
    /* float steps: the sizes PyTorch gives (ceil of the exact quotient in double) */
    double tenths[10], down[5];
    for (int i = 0; i < 10; i++) tenths[i] = (float)(i * 0.1);
    for (int i = 0; i < 5; i++) down[i] = (float)(-1 - i * 0.3);
    expect_values(tensor_arange(0, 1, 0.1, DT_F32, CPU), SHAPE(10), DT_F32, tenths, "arange(0, 1, .1)");
    expect_values(tensor_arange(-1, -2.2, -0.3, DT_F32, CPU), SHAPE(5), DT_F32, down, "arange(-1, -2.2, -.3)");
    Tensor *empty = tensor_arange(3, 3, 1, DT_F32, CPU);
    REQUIRE_OK(empty);
    assert_int_equal(tensor_numel(empty), 0);
    expect_error(tensor_arange(0, 5, 0, DT_F32, CPU), "step must be nonzero", NULL);
    expect_error(tensor_arange(0, 5, -1, DT_F32, CPU), "inconsistent with step sign", NULL);
    scope_end();
}

static void test_from_data(void **state)
{
    scope_begin();
    const float f[6] = {1.5f, -2, 0, 3.25f, 1e-7f, -1e30f};
    const int64_t i[4] = {INT64_MIN, -1, 0, (int64_t)1 << 53};
    const uint8_t u[5] = {0, 1, 127, 128, 255};
    Tensor *tf = tensor_from_data(f, SHAPE(2, 3), DT_F32, CPU);
    Tensor *ti = tensor_from_data(i, SHAPE(4), DT_I64, CPU);
    Tensor *tu = tensor_from_data(u, SHAPE(5, 1), DT_U8, CPU);
    REQUIRE_OK(tf);
    REQUIRE_OK(ti);
    REQUIRE_OK(tu);
    float fb[6];
    int64_t ib[4];
    uint8_t ub[5];
    assert_int_equal(tensor_copy_to_buffer(tf, fb), 0);
    assert_int_equal(tensor_copy_to_buffer(ti, ib), 0);
    assert_int_equal(tensor_copy_to_buffer(tu, ub), 0);
    assert_memory_equal(fb, f, sizeof f);
    assert_memory_equal(ib, i, sizeof i);
    assert_memory_equal(ub, u, sizeof u);
    assert_true(shape_equal(tu->shape, SHAPE(5, 1)));
    assert_int_equal(tu->dtype, DT_U8);
    scope_end();
}

/* ---- dtype conversion ---- */

static void test_dtype_conversion(void **state)
{
    scope_begin();
    Tensor *f = tensor_from_data((float[]){-2.7f, -0.5f, 0, 1.5f, 2.9f, 255}, SHAPE(6), DT_F32, CPU);
    /* float -> int truncates toward zero, as PyTorch's .long() */
    expect_values(tensor_to_dtype(f, DT_I64), SHAPE(6), DT_I64, (double[]){-2, 0, 0, 1, 2, 255}, "f32 -> i64");
    Tensor *fu = tensor_from_data((float[]){0, 1.9f, 128, 254.5f, 255}, SHAPE(5), DT_F32, CPU);
    expect_values(tensor_to_dtype(fu, DT_U8), SHAPE(5), DT_U8, (double[]){0, 1, 128, 254, 255}, "f32 -> u8");
    Tensor *i = tensor_from_data((int64_t[]){-3, 0, 7, (int64_t)1 << 40}, SHAPE(2, 2), DT_I64, CPU);
    expect_values(tensor_to_dtype(i, DT_F32), SHAPE(2, 2), DT_F32, (double[]){-3, 0, 7, 1099511627776.0}, "i64 -> f32");
    Tensor *iu = tensor_from_data((int64_t[]){0, 7, 200, 255}, SHAPE(4), DT_I64, CPU);
    expect_values(tensor_to_dtype(iu, DT_U8), SHAPE(4), DT_U8, (double[]){0, 7, 200, 255}, "i64 -> u8");
    Tensor *u = tensor_from_data((uint8_t[]){0, 1, 128, 255}, SHAPE(4), DT_U8, CPU);
    expect_values(tensor_to_dtype(u, DT_F32), SHAPE(4), DT_F32, (double[]){0, 1, 128, 255}, "u8 -> f32");
    expect_values(tensor_to_dtype(u, DT_I64), SHAPE(4), DT_I64, (double[]){0, 1, 128, 255}, "u8 -> i64");
    /* round trips and strided sources */
    expect_values(tensor_to_dtype(tensor_to_dtype(u, DT_I64), DT_U8), SHAPE(4), DT_U8, (double[]){0, 1, 128, 255},
                  "u8 -> i64 -> u8");
    Tensor *grid = t_transpose(t_reshape(tensor_arange(0, 6, 1, DT_I64, CPU), SHAPE(2, 3)), 0, 1);
    expect_values(tensor_to_dtype(grid, DT_F32), SHAPE(3, 2), DT_F32, (double[]){0, 3, 1, 4, 2, 5}, "strided i64 -> f32");
    assert_ptr_equal(tensor_to_dtype(f, DT_F32), f);
    /* a detour through integers cuts the graph */
    Tensor *x = tensor_set_requires_grad(tensor_from_data((float[]){1, 2}, SHAPE(2), DT_F32, CPU), true);
    Tensor *y = tensor_to_dtype(tensor_to_dtype(x, DT_I64), DT_F32);
    REQUIRE_OK(y);
    assert_false(y->requires_grad); /* integers carry no gradient */
    scope_end();
}

static void test_item(void **state)
{
    scope_begin();
    assert_true(tensor_item(tensor_scalar(-2.5, DT_F32, CPU)) == -2.5);
    assert_true(tensor_item(tensor_scalar(-40000000000.0, DT_I64, CPU)) == -40000000000.0);
    assert_true(tensor_item(tensor_scalar(250, DT_U8, CPU)) == 250);
    assert_true(tensor_item(tensor_full(SHAPE(1, 1, 1), 3, DT_F32, CPU)) == 3);
    /* a one-element view into a larger storage */
    Tensor *r = t_reshape(tensor_arange(0, 12, 1, DT_F32, CPU), SHAPE(3, 4));
    assert_true(tensor_item(t_select(t_select(r, 0, 2), 0, 1)) == 9);
    engine_clear_error();
    double v = tensor_item(tensor_zeros(SHAPE(2, 3), DT_F32, CPU));
    assert_true(isnan(v));
    print_message("  error: %s\n", engine_last_error());
    assert_non_null(strstr(engine_last_error(), "6 elements"));
    engine_clear_error();
    assert_true(isnan(tensor_item(NULL)));
    scope_end();
}

static void test_copy_buffers_on_strided_views(void **state)
{
    scope_begin();
    Tensor *base = t_reshape(tensor_arange(0, 24, 1, DT_F32, CPU), SHAPE(2, 3, 4));
    /* transposed: out[i][j][k] = base[k][j][i] */
    double want_t[24];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++) want_t[(i * 3 + j) * 2 + k] = k * 12 + j * 4 + i;
    expect_values(t_transpose(base, 0, 2), SHAPE(4, 3, 2), DT_F32, want_t, "transpose(0, 2)");
    expect_values(t_slice(base, 2, 1, 4, 2), SHAPE(2, 3, 2), DT_F32, (double[]){1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23},
                  "slice step 2");
    expect_values(t_select(base, 1, 2), SHAPE(2, 4), DT_F32, (double[]){8, 9, 10, 11, 20, 21, 22, 23}, "select");
    expect_values(t_narrow(t_select(base, 0, 1), 0, 1, 2), SHAPE(2, 4), DT_F32,
                  (double[]){16, 17, 18, 19, 20, 21, 22, 23}, "select + narrow");
    expect_values(t_expand(t_select(t_select(base, 0, 0), 0, 1), SHAPE(2, 4)), SHAPE(2, 4), DT_F32,
                  (double[]){4, 5, 6, 7, 4, 5, 6, 7}, "expand (stride 0)");
    Tensor *ib = t_transpose(t_reshape(tensor_arange(0, 6, 1, DT_I64, CPU), SHAPE(2, 3)), 0, 1);
    expect_values(ib, SHAPE(3, 2), DT_I64, (double[]){0, 3, 1, 4, 2, 5}, "i64 transpose");
    Tensor *ub = t_slice(tensor_arange(0, 10, 1, DT_U8, CPU), 0, 1, 10, 3);
    expect_values(ub, SHAPE(3), DT_U8, (double[]){1, 4, 7}, "u8 slice");
    /* copy_from_buffer writes a strided view's elements in row-major order */
    Tensor *dst = tensor_zeros(SHAPE(2, 3), DT_F32, CPU);
    assert_int_equal(tensor_copy_from_buffer(t_transpose(dst, 0, 1), (float[]){1, 2, 3, 4, 5, 6}), 0);
    expect_values(dst, SHAPE(2, 3), DT_F32, (double[]){1, 3, 5, 2, 4, 6}, "copy_from_buffer into transpose");
    scope_end();
}

/* ---- random numbers ---- */

static bool same_values(Tensor *a, Tensor *b)
{
    REQUIRE_OK(a);
    REQUIRE_OK(b);
    if (!shape_equal(a->shape, b->shape) || a->dtype != b->dtype) return false;
    size_t nbytes = (size_t)tensor_numel(a) * dtype_size(a->dtype);
    char *x = malloc(nbytes + 1), *y = malloc(nbytes + 1);
    tensor_copy_to_buffer(a, x);
    tensor_copy_to_buffer(b, y);
    bool same = memcmp(x, y, nbytes) == 0;
    free(x);
    free(y);
    return same;
}

static void test_generator_same_seed_same_numbers(void **state)
{
    scope_begin();
    Generator a, b, c;
    generator_seed(&a, 123);
    generator_seed(&b, 123);
    generator_seed(&c, 124);
    assert_true(same_values(tensor_rand(SHAPE(50), &a, CPU), tensor_rand(SHAPE(50), &b, CPU)));
    assert_true(same_values(tensor_randn(SHAPE(3, 7), &a, CPU), tensor_randn(SHAPE(3, 7), &b, CPU)));
    assert_true(same_values(tensor_randint(0, 1000, SHAPE(9), &a, CPU), tensor_randint(0, 1000, SHAPE(9), &b, CPU)));
    assert_true(same_values(tensor_randperm(20, &a), tensor_randperm(20, &b)));
    /* another seed, other numbers */
    generator_seed(&a, 123);
    assert_false(same_values(tensor_rand(SHAPE(50), &a, CPU), tensor_rand(SHAPE(50), &c, CPU)));
    /* successive draws differ */
    assert_false(same_values(tensor_rand(SHAPE(50), &a, CPU), tensor_rand(SHAPE(50), &a, CPU)));
    /* the default generator and NULL are the same one */
    manual_seed(77);
    Tensor *x = tensor_rand(SHAPE(16), NULL, CPU);
    manual_seed(77);
    assert_true(same_values(x, tensor_rand(SHAPE(16), generator_default(), CPU)));
    scope_end();
}

static void test_generator_state_roundtrip(void **state)
{
    scope_begin();
    Generator g, h;
    generator_seed(&g, 2024);
    tensor_rand(SHAPE(10), &g, CPU);
    uint64_t saved[2];
    generator_get_state(&g, saved);
    Tensor *b = tensor_randn(SHAPE(7), &g, CPU);
    Tensor *c = tensor_randint(-5, 5, SHAPE(11), &g, CPU);
    Tensor *d = tensor_randperm(9, &g);
    Tensor *e = tensor_rand(SHAPE(3), &g, CPU);
    uint64_t after[2];
    generator_get_state(&g, after);
    assert_true(after[1] > saved[1]);
    /* restoring continues exactly, on the same or on another generator */
    generator_set_state(&g, saved);
    assert_true(same_values(b, tensor_randn(SHAPE(7), &g, CPU)));
    assert_true(same_values(c, tensor_randint(-5, 5, SHAPE(11), &g, CPU)));
    assert_true(same_values(d, tensor_randperm(9, &g)));
    assert_true(same_values(e, tensor_rand(SHAPE(3), &g, CPU)));
    generator_seed(&h, 1);
    generator_set_state(&h, saved);
    assert_true(same_values(b, tensor_randn(SHAPE(7), &h, CPU)));
    uint64_t now[2];
    generator_get_state(&g, now);
    assert_memory_equal(now, after, sizeof now);
    /* in-place draws advance the state the same way */
    Tensor *t = tensor_empty(SHAPE(5), DT_F32, CPU);
    generator_set_state(&g, saved);
    assert_int_equal(tensor_normal_(t, 0, 1, &g), 0);
    assert_true(same_values(t_narrow(b, 0, 0, 5), t));
    scope_end();
}

static void test_explicit_generators_are_independent(void **state)
{
    scope_begin();
    manual_seed(11);
    Tensor *first = tensor_rand(SHAPE(8), NULL, CPU);
    Tensor *second = tensor_rand(SHAPE(8), NULL, CPU);
    manual_seed(11);
    uint64_t before[2], after[2];
    generator_get_state(generator_default(), before);
    Generator e;
    generator_seed(&e, 11);
    Tensor *explicit_draw = tensor_rand(SHAPE(8), &e, CPU);
    tensor_randn(SHAPE(100), &e, CPU);
    generator_get_state(generator_default(), after);
    assert_memory_equal(before, after, sizeof before);
    assert_true(same_values(first, explicit_draw)); /* same seed, same stream */
    assert_true(same_values(first, tensor_rand(SHAPE(8), NULL, CPU)));
    /* drawing from the default one does not move the explicit one */
    Generator f;
    generator_seed(&f, 99);
    Tensor *f1 = tensor_rand(SHAPE(8), &f, CPU);
    generator_seed(&f, 99);
    tensor_rand(SHAPE(1000), NULL, CPU);
    assert_true(same_values(f1, tensor_rand(SHAPE(8), &f, CPU)));
    (void)second;
    scope_end();
}

/* Mean and standard deviation of t in double. */
static void moments(Tensor *t, double *mean, double *std, double *lo, double *hi)
{
    double *v = values_of(t);
    int64_t n = tensor_numel(t);
    double s = 0, s2 = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        s += v[i];
        *lo = fmin(*lo, v[i]);
        *hi = fmax(*hi, v[i]);
    }
    *mean = s / (double)n;
    for (int64_t i = 0; i < n; i++) s2 += (v[i] - *mean) * (v[i] - *mean);
    *std = sqrt(s2 / (double)(n - 1));
    free(v);
}

static void test_distributions(void **state)
{
    const int64_t n = 100000;
    scope_begin();
    Generator g;
    generator_seed(&g, 5);
    double mean, std, lo, hi;
    moments(tensor_rand(SHAPE(n), &g, CPU), &mean, &std, &lo, &hi);
    print_message("  rand: mean %.4f std %.4f min %.2g max %.6f\n", mean, std, lo, hi);
    assert_true(lo >= 0 && hi < 1);
    assert_true(lo < 1e-3 && hi > 1 - 1e-3);
    assert_true(fabs(mean - 0.5) < 0.01 && fabs(std - sqrt(1.0 / 12)) < 0.01);
    moments(tensor_randn(SHAPE(n), &g, CPU), &mean, &std, &lo, &hi);
    print_message("  randn: mean %.4f std %.4f min %.2f max %.2f\n", mean, std, lo, hi);
    /* standard errors: 0.003 for the mean, 0.002 for the std */
    assert_true(fabs(mean) < 0.015 && fabs(std - 1) < 0.015);
    assert_true(lo < -3.5 && hi > 3.5 && isfinite(lo) && isfinite(hi));
    Tensor *t = tensor_empty(SHAPE(n), DT_F32, CPU);
    assert_int_equal(tensor_normal_(t, 2, 3, &g), 0);
    moments(t, &mean, &std, &lo, &hi);
    assert_true(fabs(mean - 2) < 0.05 && fabs(std - 3) < 0.05);
    assert_int_equal(tensor_uniform_(t, -2, 6, &g), 0);
    moments(t, &mean, &std, &lo, &hi);
    assert_true(lo >= -2 && hi < 6 && fabs(mean - 2) < 0.05);
    assert_int_equal(tensor_bernoulli_(t, 0.3, &g), 0);
    moments(t, &mean, &std, &lo, &hi);
    assert_true(lo == 0 && hi == 1 && fabs(mean - 0.3) < 0.01);
    scope_end();
}

/* Uniform draws stay below high even for the largest word, which lands
 * on a rounding tie with high in float at (seed 0, block 2330056, word 2). */
static void test_uniform_excludes_high(void **state)
{
    scope_begin();
    Generator g;
    const uint64_t top_word[2] = {0, 2330056};
    generator_set_state(&g, top_word);
    double *u = values_of(tensor_rand(SHAPE(4), &g, CPU));
    print_message("  rand at the largest word: %.9g\n", u[2]);
    assert_true(u[2] > 0.9999999 && u[2] < 1);
    free(u);
    const double ranges[][2] = {{1, 2}, {-3, -2}, {0.5, 1}, {-1, 1}};
    for (int k = 0; k < 4; k++) {
        Tensor *t = tensor_empty(SHAPE(4), DT_F32, CPU);
        generator_set_state(&g, top_word);
        assert_int_equal(tensor_uniform_(t, ranges[k][0], ranges[k][1], &g), 0);
        double *v = values_of(t);
        print_message("  uniform_(%g, %g) at the largest word: %.9g\n", ranges[k][0], ranges[k][1], v[2]);
        for (int i = 0; i < 4; i++) assert_true(v[i] >= ranges[k][0] && v[i] < ranges[k][1]);
        free(v);
    }
    scope_end();
}

static void test_randint_and_randperm(void **state)
{
    scope_begin();
    Generator g;
    generator_seed(&g, 9);
    Tensor *r = tensor_randint(-3, 4, SHAPE(100, 100), &g, CPU);
    REQUIRE_OK(r);
    assert_int_equal(r->dtype, DT_I64);
    double *v = values_of(r);
    int counts[7] = {0};
    for (int i = 0; i < 10000; i++) {
        assert_true(v[i] >= -3 && v[i] < 4 && v[i] == floor(v[i]));
        counts[(int)v[i] + 3]++;
    }
    free(v);
    for (int k = 0; k < 7; k++) assert_true(counts[k] > 1200 && counts[k] < 1660); /* 1429 expected */
    expect_all(tensor_randint(5, 6, SHAPE(20), &g, CPU), SHAPE(20), DT_I64, 5, "randint(5, 6)");
    /* a range wider than INT64_MAX: both signs show up */
    Tensor *wide = tensor_randint(INT64_MIN, INT64_MAX, SHAPE(64), &g, CPU);
    REQUIRE_OK(wide);
    int64_t wv[64], negatives = 0;
    tensor_copy_to_buffer(wide, wv);
    for (int i = 0; i < 64; i++) negatives += wv[i] < 0;
    assert_true(negatives > 10 && negatives < 54);
    expect_error(tensor_randint(3, 3, SHAPE(2), &g, CPU), "low < high", NULL);

    const int64_t n = 1000;
    Tensor *p = tensor_randperm(n, &g);
    REQUIRE_OK(p);
    assert_int_equal(p->dtype, DT_I64);
    double *pv = values_of(p);
    bool *seen = calloc((size_t)n, sizeof(bool));
    int64_t fixed = 0;
    for (int64_t i = 0; i < n; i++) {
        assert_true(pv[i] >= 0 && pv[i] < n);
        assert_false(seen[(int64_t)pv[i]]);
        seen[(int64_t)pv[i]] = true;
        fixed += pv[i] == (double)i;
    }
    assert_true(fixed < 10); /* a shuffle, not the identity (about 1 expected) */
    free(seen);
    free(pv);
    Tensor *p0 = tensor_randperm(0, &g), *p1 = tensor_randperm(1, &g);
    REQUIRE_OK(p0);
    assert_int_equal(tensor_numel(p0), 0);
    expect_values(p1, SHAPE(1), DT_I64, (double[]){0}, "randperm(1)");
    expect_error(tensor_randperm(-1, &g), "non-negative", NULL);
    scope_end();
}

static void test_random_independent_of_thread_count(void **state)
{
    scope_begin();
    int max_threads = omp_get_max_threads();
    Generator g;
    generator_seed(&g, 31);
    omp_set_num_threads(1);
    Tensor *a = tensor_randn(SHAPE(200000), &g, CPU);
    omp_set_num_threads(2);
    generator_seed(&g, 31);
    Tensor *b = tensor_randn(SHAPE(200000), &g, CPU);
    omp_set_num_threads(max_threads);
    assert_true(same_values(a, b));
    scope_end();
}

/* Element i of a draw depends on the seed, the offset and i only: a short
 * draw, whole Philox blocks or not, is the start of a longer one from the
 * same state (uniform, Bernoulli and normal, whose blocks hold 2). */
static void test_random_draws_are_prefixes(void **state)
{
    scope_begin();
    const int64_t sizes[] = {1, 3, 4, 7, 1283};
    for (int kind = 0; kind < 3; kind++) {
        Generator g;
        generator_seed(&g, 77);
        Tensor *whole = tensor_empty(SHAPE(4000), DT_F32, CPU);
        REQUIRE_OK(whole);
        if (kind == 0) assert_int_equal(tensor_uniform_(whole, -1, 2, &g), 0);
        if (kind == 1) assert_int_equal(tensor_bernoulli_(whole, 0.3, &g), 0);
        if (kind == 2) assert_int_equal(tensor_normal_(whole, 0.5, 2, &g), 0);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            generator_seed(&g, 77);
            Tensor *part = tensor_empty(SHAPE(sizes[k]), DT_F32, CPU);
            REQUIRE_OK(part);
            if (kind == 0) assert_int_equal(tensor_uniform_(part, -1, 2, &g), 0);
            if (kind == 1) assert_int_equal(tensor_bernoulli_(part, 0.3, &g), 0);
            if (kind == 2) assert_int_equal(tensor_normal_(part, 0.5, 2, &g), 0);
            if (!same_values(part, t_contiguous(t_narrow(whole, 0, 0, sizes[k]))))
                fail_msg("draw kind %d: %lld values differ from the start of 4000", kind, (long long)sizes[k]);
        }
    }
    scope_end();
}

/* ---- sizes that overflow, and memory that runs out ---- */

/* Element counts and byte sizes are computed with overflow checks; a zero
 * size does not make huge other sizes valid (strides still multiply them). */
static void test_checked_sizes(void **state)
{
    (void)state;
    int64_t numel;
    size_t nbytes;
    assert_true(shape_numel_checked(SHAPE(2, 3, 4), &numel));
    assert_int_equal(numel, 24);
    assert_true(shape_nbytes_checked(SHAPE(2, 3, 4), 8, &nbytes));
    assert_int_equal(nbytes, 192);
    assert_true(shape_numel_checked(SHAPE(INT64_MAX), &numel));
    assert_true(shape_numel_checked(SHAPE(5, 0, 2), &numel));
    assert_int_equal(numel, 0);
    assert_false(shape_numel_checked(SHAPE(64, 8006399337547549, 7, 7), &numel));
    assert_false(shape_numel_checked(SHAPE(0, 1LL << 40, 1LL << 40), &numel));
    assert_false(shape_numel_checked(SHAPE(2, -3), &numel));
    assert_true(shape_nbytes_checked(SHAPE(1LL << 60), 4, &nbytes));
    assert_false(shape_nbytes_checked(SHAPE(1LL << 61), 4, &nbytes));
    assert_false(shape_nbytes_checked(SHAPE(0, 1LL << 61), 4, &nbytes));
}

/* Shapes whose element count or bytes overflow are errors naming the shape,
 * never a small buffer that kernels then write past. */
static void test_overflowing_shapes(void **state)
{
    (void)state;
    scope_begin();
    expect_error(tensor_empty(SHAPE(64, 8006399337547549, 7, 7), DT_F32, CPU),
                 "empty: shape [64, 8006399337547549, 7, 7] has too many elements (overflows 64-bit size)", NULL);
    expect_error(tensor_zeros(SHAPE(64, 8006399337547549, 3, 3), DT_F32, CPU), "[64, 8006399337547549, 3, 3]",
                 "overflows 64-bit size");
    expect_error(tensor_empty(SHAPE(0, 1LL << 40, 1LL << 40), DT_U8, CPU), "[0, 1099511627776, 1099511627776]",
                 "too many elements");
    expect_error(tensor_empty(SHAPE(1LL << 62), DT_F32, CPU), "[4611686018427387904]", "overflows 64-bit size");
    expect_error(tensor_arange(0, 1e300, 1, DT_F32, CPU), "arange", "overflows 64-bit size");

    Tensor *x = tensor_ones(SHAPE(1, 1), DT_F32, CPU);
    REQUIRE_OK(x);
    expect_error(t_expand(x, SHAPE(1LL << 40, 1LL << 40)), "expand: shape [1099511627776, 1099511627776]",
                 "overflows 64-bit size");
    expect_error(t_view(x, SHAPE(1LL << 40, 1LL << 40, 0)), "view: shape [1099511627776, 1099511627776, 0]",
                 "overflows 64-bit size");
    expect_error(t_reshape(x, SHAPE(-1, 1LL << 40, 1LL << 40)), "reshape", "overflows 64-bit size");
    Tensor *empty = tensor_empty(SHAPE(0, 1LL << 62), DT_U8, CPU);
    REQUIRE_OK(empty);
    expect_error(t_cat((Tensor *[]){empty, empty}, 2, 1), "cat: the sizes in dimension 1", "int64");
    scope_end();
}

/* Index arithmetic near the int64 limit: huge steps, lengths and sizes. */
static void test_huge_view_arguments(void **state)
{
    (void)state;
    scope_begin();
    Tensor *x = t_transpose(t_reshape(tensor_arange(0, 12, 1, DT_F32, CPU), SHAPE(3, 4)), 0, 1); /* strides 1, 4 */
    REQUIRE_OK(x);
    Tensor *one = t_slice(x, 1, 1, 3, INT64_MAX);
    expect_values(one, SHAPE(4, 1), DT_F32, (double[]){4, 5, 6, 7}, "slice with a huge step");
    expect_error(t_narrow(x, 0, 1, INT64_MAX), "narrow: start (1) + length (9223372036854775807) exceeds", NULL);
    /* chunks of a view with nearly 2^63 elements (stride 0: no memory) */
    Tensor *wide = t_expand(tensor_zeros(SHAPE(1), DT_U8, CPU), SHAPE(INT64_MAX));
    REQUIRE_OK(wide);
    Tensor *parts[2];
    assert_int_equal(t_chunk(wide, 2, 0, parts), 2);
    assert_int_equal(parts[0]->shape.d[0], (INT64_MAX - 1) / 2 + 1);
    assert_int_equal(parts[1]->shape.d[0], INT64_MAX - parts[0]->shape.d[0]);
    scope_end();
}

/* Running out of memory names the size, dtype, shape and device, and what
 * may help. A 4 PiB request fails at once everywhere (it exceeds the
 * address space) without touching memory. */
static void test_out_of_memory_message(void **state)
{
    (void)state;
    scope_begin();
    expect_error(tensor_empty(SHAPE(1LL << 48, 4), DT_F32, CPU),
                 "out of memory: cannot allocate 4.0 PiB (4503599627370496 bytes) for a float32 tensor of shape "
                 "[281474976710656, 4] on cpu",
                 "(a smaller batch size or model may help)");
    /* the next allocation works: the failure left nothing behind */
    REQUIRE_OK(tensor_zeros(SHAPE(3), DT_F32, CPU));
    scope_end();
}

/* ---- six dims end to end ---- */

/* The first error wins; context goes in front of it and keeps the cause. */
static void test_error_context(void **state)
{
    (void)state;
    engine_clear_error();
    engine_error_context("loader %d", 1);
    assert_string_equal(engine_last_error(), "loader 1");
    engine_clear_error();
    engine_error("cause %s", "here");
    engine_error("a later error");
    engine_error_context("inner");
    engine_error_context("outer %s", "call");
    assert_string_equal(engine_last_error(), "outer call: inner: cause here");
    engine_clear_error();
}

static void test_six_dims(void **state)
{
    scope_begin();
    const Shape s = SHAPE(2, 3, 1, 4, 2, 3);
    const int64_t n = shape_numel(s);
    Tensor *x = tensor_set_requires_grad(t_reshape(tensor_arange(0, (double)n, 1, DT_F32, CPU), s), true);
    REQUIRE_OK(x);
    assert_int_equal(tensor_dim(x), 6);
    /* view to 3 dims and back */
    Tensor *v = t_view(t_view(x, SHAPE(6, 4, 6)), s);
    REQUIRE_OK(v);
    assert_true(shape_equal(v->shape, s));
    /* permute: p[a0..a5] = x[idx] with idx[perm[k]] = a_k */
    const int perm[6] = {5, 3, 0, 4, 1, 2};
    Tensor *p = t_permute(v, perm);
    REQUIRE_OK(p);
    assert_true(shape_equal(p->shape, SHAPE(3, 4, 2, 2, 3, 1)));
    int64_t strides[6];
    shape_contiguous_strides(s, strides);
    double *pv = values_of(p);
    int64_t flat = 0;
    for (int64_t a0 = 0; a0 < 3; a0++)
        for (int64_t a1 = 0; a1 < 4; a1++)
            for (int64_t a2 = 0; a2 < 2; a2++)
                for (int64_t a3 = 0; a3 < 2; a3++)
                    for (int64_t a4 = 0; a4 < 3; a4++, flat++) {
                        int64_t a[6] = {a0, a1, a2, a3, a4, 0}, src = 0;
                        for (int k = 0; k < 6; k++) src += a[k] * strides[perm[k]];
                        if (pv[flat] != (double)src) fail_msg("permute: element %lld is %g, expected %lld",
                                                              (long long)flat, pv[flat], (long long)src);
                    }
    free(pv);
    /* sum over dims 1, 3 and 5 of the permuted view = sums of x over its dims 3, 1 and 2 */
    Tensor *sum = t_sum(p, (int[]){1, 3, 5}, 3, false);
    REQUIRE_OK(sum);
    assert_true(shape_equal(sum->shape, SHAPE(3, 2, 3)));
    double *sv = values_of(sum);
    for (int64_t a0 = 0; a0 < 3; a0++)
        for (int64_t a2 = 0; a2 < 2; a2++)
            for (int64_t a4 = 0; a4 < 3; a4++) {
                double want = 0;
                for (int64_t a1 = 0; a1 < 4; a1++)
                    for (int64_t a3 = 0; a3 < 2; a3++) {
                        int64_t a[6] = {a0, a1, a2, a3, a4, 0}, src = 0;
                        for (int k = 0; k < 6; k++) src += a[k] * strides[perm[k]];
                        want += (double)src;
                    }
                assert_true(sv[(a0 * 2 + a2) * 3 + a4] == want);
            }
    free(sv);
    Tensor *keep = t_sum(p, (int[]){0, -1}, 2, true);
    REQUIRE_OK(keep);
    assert_true(shape_equal(keep->shape, SHAPE(1, 4, 2, 2, 3, 1)));
    /* the whole chain is differentiable: d sum(sum * w) / dx broadcasts w back */
    Tensor *loss = t_sum(t_mul(sum, tensor_full(SHAPE(3, 2, 3), 2, DT_F32, CPU)), NULL, 0, false);
    assert_int_equal(tensor_backward(loss, NULL), 0);
    REQUIRE_OK(x->grad);
    expect_all(x->grad, s, DT_F32, 2, "grad through view/permute/sum");
    assert_true(tensor_item(t_sum(t_contiguous(p), NULL, 0, false)) == (double)(n * (n - 1) / 2));
    scope_end();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_creation),
        cmocka_unit_test(test_arange),
        cmocka_unit_test(test_from_data),
        cmocka_unit_test(test_dtype_conversion),
        cmocka_unit_test(test_item),
        cmocka_unit_test(test_copy_buffers_on_strided_views),
        cmocka_unit_test(test_generator_same_seed_same_numbers),
        cmocka_unit_test(test_generator_state_roundtrip),
        cmocka_unit_test(test_explicit_generators_are_independent),
        cmocka_unit_test(test_distributions),
        cmocka_unit_test(test_uniform_excludes_high),
        cmocka_unit_test(test_randint_and_randperm),
        cmocka_unit_test(test_random_independent_of_thread_count),
        cmocka_unit_test(test_random_draws_are_prefixes),
        cmocka_unit_test(test_six_dims),
        cmocka_unit_test(test_error_context),
        cmocka_unit_test(test_checked_sizes),
        cmocka_unit_test(test_overflowing_shapes),
        cmocka_unit_test(test_huge_view_arguments),
        cmocka_unit_test(test_out_of_memory_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
