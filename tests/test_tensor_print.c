/* tensor_repr (engine/tensor_print.h) against PyTorch's own repr strings,
 * character for character, on many tensors: whole and fractional floats,
 * the ranges that switch to scientific notation, NaN and infinities,
 * scalars, 1-D to 4-D, long rows wrapped at the line width, summarised
 * tensors (more than 1000 elements, edge items in every dim), int64 values
 * beyond 2^53, uint8 with its dtype suffix, empty tensors, transposed views,
 * requires_grad and grad_fn suffixes (also wrapped to their own line), and
 * print options. A few fixed strings also check it without PyTorch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tests/support/check.h"
#include "tests/support/torch_script.h"

enum { MAX_CASES = 96 };

typedef struct {
    int n;
    Tensor *base[MAX_CASES]; /* what torch gets */
    Tensor *shown[MAX_CASES]; /* what we print: base, or a view of it, or an op on it */
    cJSON *list;
} Cases;

static Generator gen;

typedef struct {
    bool transpose, requires_grad;
    const char *op; /* NULL, "add_self" or "exp" */
    const TensorPrintOptions *options;
} Flags;

static TensorPrintOptions case_options[MAX_CASES];
static bool has_options[MAX_CASES];

static void add_case(Cases *c, Tensor *t, Flags f)
{
    REQUIRE_OK(t);
    assert_true(c->n < MAX_CASES);
    int k = c->n++;
    c->base[k] = t;
    Tensor *x = t;
    if (f.requires_grad) x = tensor_set_requires_grad(x, true);
    if (f.transpose) x = t_transpose(x, 0, 1);
    if (f.op && strcmp(f.op, "add_self") == 0) x = t_add(x, x);
    if (f.op && strcmp(f.op, "exp") == 0) x = t_exp(x);
    REQUIRE_OK(x);
    c->shown[k] = x;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddBoolToObject(e, "transpose", f.transpose);
    cJSON_AddBoolToObject(e, "requires_grad", f.requires_grad);
    if (f.op) cJSON_AddStringToObject(e, "op", f.op);
    if (f.options) {
        case_options[k] = *f.options;
        has_options[k] = true;
        cJSON *o = cJSON_AddObjectToObject(e, "options");
        cJSON_AddNumberToObject(o, "precision", f.options->precision);
        cJSON_AddNumberToObject(o, "threshold", (double)f.options->threshold);
        cJSON_AddNumberToObject(o, "edgeitems", f.options->edgeitems);
        cJSON_AddNumberToObject(o, "linewidth", f.options->linewidth);
        if (f.options->sci_mode < 0) cJSON_AddNullToObject(o, "sci_mode");
        else cJSON_AddBoolToObject(o, "sci_mode", f.options->sci_mode != 0);
    }
    cJSON_AddItemToArray(c->list, e);
}

static Tensor *floats(Shape s, const float *v) { return tensor_from_data(v, s, DT_F32, CPU); }

/* N(0, 1) * scale + shift */
static Tensor *randn(Shape s, double scale, double shift)
{
    return t_add_scalar(t_mul_scalar(tensor_randn(s, &gen, CPU), scale), shift);
}

static Tensor *int64s(Shape s, const int64_t *v) { return tensor_from_data(v, s, DT_I64, CPU); }

static void build_cases(Cases *c)
{
    const Flags plain = {0};
    /* whole floats: "1." */
    add_case(c, floats(SHAPE(3), (float[]){1, 2, 3}), plain);
    add_case(c, floats(SHAPE(4), (float[]){-1, 0, 250, 7}), plain);
    add_case(c, floats(SHAPE(3), (float[]){1, -0.0f, 0}), plain);
    /* fractions: 4 digits */
    add_case(c, floats(SHAPE(2), (float[]){1.5f, 2.25f}), plain);
    add_case(c, floats(SHAPE(3), (float[]){0.03125f, -0.00015f, 1234.5678f}), plain);
    add_case(c, randn(SHAPE(2, 3), 1, 0), plain);
    add_case(c, randn(SHAPE(2, 3, 4), 3, 0), plain);
    add_case(c, randn(SHAPE(2, 2, 2, 3), 1, 0), plain);
    /* scientific: a range over 1000, a value over 1e8, one under 1e-4 */
    add_case(c, floats(SHAPE(2), (float[]){1e-5f, 1}), plain);
    add_case(c, floats(SHAPE(2), (float[]){1.5e9f, 1}), plain);
    add_case(c, floats(SHAPE(2), (float[]){1e9f, 2}), plain);       /* whole, but over 1e8 */
    add_case(c, floats(SHAPE(3), (float[]){1, 1000, 1001}), plain); /* whole, range just over 1000 */
    add_case(c, floats(SHAPE(3), (float[]){1, 1000, 999}), plain);  /* whole, range 1000 */
    add_case(c, floats(SHAPE(1), (float[]){5e-5f}), plain);
    add_case(c, floats(SHAPE(2, 2), (float[]){1e-8f, -3e20f, 0, 2}), plain);
    add_case(c, randn(SHAPE(3, 4), 1e6, 0), plain);
    add_case(c, floats(SHAPE(2), (float[]){123456.789f, 0.5f}), plain);
    add_case(c, floats(SHAPE(2), (float[]){99999999.0f, 100000000.0f}), plain);
    /* NaN and infinities: not measured, padded to the width */
    add_case(c, floats(SHAPE(4), (float[]){NAN, 1.5f, INFINITY, -INFINITY}), plain);
    add_case(c, floats(SHAPE(3), (float[]){NAN, 1, -INFINITY}), plain);
    add_case(c, floats(SHAPE(3), (float[]){NAN, 1e-7f, 2}), plain);
    add_case(c, floats(SHAPE(2), (float[]){-NAN, 0}), plain);
    add_case(c, floats(SHAPE(3), (float[]){INFINITY, NAN, 0}), plain);
    /* 0-dim */
    add_case(c, floats(SCALAR_SHAPE, (float[]){3}), plain);
    add_case(c, floats(SCALAR_SHAPE, (float[]){0.5f}), plain);
    add_case(c, floats(SCALAR_SHAPE, (float[]){NAN}), plain);
    add_case(c, floats(SCALAR_SHAPE, (float[]){-2e-9f}), plain);
    add_case(c, int64s(SCALAR_SHAPE, (int64_t[]){-42}), plain);
    /* rows wrapped at 80 columns, at every depth */
    add_case(c, randn(SHAPE(50), 1, 0), plain);
    add_case(c, randn(SHAPE(3, 30), 100, 0), plain);
    add_case(c, randn(SHAPE(2, 2, 25), 1e-3, 0), plain);
    add_case(c, tensor_arange(0, 100, 1, DT_F32, CPU), plain);
    /* summarised: more than 1000 elements */
    add_case(c, tensor_arange(0, 2000, 1, DT_F32, CPU), plain);
    add_case(c, randn(SHAPE(1001), 1, 0), plain);
    add_case(c, randn(SHAPE(40, 40), 1, 0), plain);
    add_case(c, randn(SHAPE(3, 400), 1, 0), plain);   /* only the last dim cut */
    add_case(c, randn(SHAPE(400, 3), 1, 0), plain);   /* only the first */
    add_case(c, randn(SHAPE(10, 10, 20), 1, 0), plain);
    add_case(c, randn(SHAPE(7, 8, 9, 10), 1, 5), plain);
    add_case(c, tensor_arange(0, 1000, 1, DT_F32, CPU), plain); /* exactly the threshold: whole */
    add_case(c, tensor_arange(-5000, 5000, 1, DT_I64, CPU), plain);
    /* int64: no dtype suffix; values beyond 2^53 exact */
    add_case(c, int64s(SHAPE(3), (int64_t[]){1, -20, 300}), plain);
    add_case(c, int64s(SHAPE(3), (int64_t[]){INT64_MAX, INT64_MIN, (INT64_C(1) << 53) + 1}), plain);
    add_case(c, tensor_randint(-1000000, 1000000, SHAPE(4, 30), &gen, CPU), plain);
    /* uint8: a dtype suffix */
    add_case(c, tensor_randint(0, 256, SHAPE(2, 5), &gen, CPU), plain);
    add_case(c, tensor_to_dtype(tensor_randint(0, 256, SHAPE(2, 5), &gen, CPU), DT_U8), plain);
    add_case(c, tensor_to_dtype(tensor_randint(0, 256, SHAPE(30, 40), &gen, CPU), DT_U8), plain);
    add_case(c, tensor_to_dtype(tensor_randint(0, 256, SHAPE(25), &gen, CPU), DT_U8), plain);
    /* empty: the size unless (0,), the dtype even for int64 */
    add_case(c, tensor_zeros(SHAPE(0), DT_F32, CPU), plain);
    add_case(c, tensor_zeros(SHAPE(2, 0), DT_F32, CPU), plain);
    add_case(c, tensor_zeros(SHAPE(0), DT_I64, CPU), plain);
    add_case(c, tensor_zeros(SHAPE(3, 0, 2), DT_U8, CPU), plain);
    /* views: printed in their own order */
    add_case(c, randn(SHAPE(3, 5), 1, 0), (Flags){.transpose = true});
    add_case(c, tensor_arange(0, 24, 1, DT_I64, CPU), plain);
    /* autograd suffixes, on the line or wrapped below it */
    add_case(c, randn(SHAPE(3), 1, 0), (Flags){.requires_grad = true});
    add_case(c, randn(SHAPE(2, 3), 1, 0), (Flags){.requires_grad = true, .op = "add_self"});
    add_case(c, randn(SHAPE(2, 3), 1, 0), (Flags){.requires_grad = true, .op = "exp"});
    add_case(c, randn(SHAPE(8), 1, 0), (Flags){.requires_grad = true});  /* 64 + 2 + 18 > 80 */
    add_case(c, randn(SHAPE(7), 1, 0), (Flags){.requires_grad = true});
    add_case(c, randn(SHAPE(6), 1, 0), (Flags){.requires_grad = true});
    add_case(c, randn(SHAPE(2000), 1, 0), (Flags){.requires_grad = true});
    add_case(c, randn(SHAPE(4, 5), 1, 0), (Flags){.requires_grad = true, .transpose = true, .op = "exp"});
    add_case(c, floats(SCALAR_SHAPE, (float[]){2}), (Flags){.requires_grad = true});
    add_case(c, tensor_to_dtype(tensor_randint(0, 256, SHAPE(14), &gen, CPU), DT_U8), plain); /* dtype wraps */
    add_case(c, tensor_to_dtype(tensor_randint(0, 256, SHAPE(13), &gen, CPU), DT_U8), plain);
    /* print options */
    static const TensorPrintOptions precise = {.precision = 8, .threshold = 1000, .edgeitems = 3, .linewidth = 80, .sci_mode = -1};
    static const TensorPrintOptions short_p = {.precision = 2, .threshold = 1000, .edgeitems = 2, .linewidth = 80, .sci_mode = -1};
    static const TensorPrintOptions sci_on = {.precision = 4, .threshold = 1000, .edgeitems = 3, .linewidth = 80, .sci_mode = 1};
    static const TensorPrintOptions sci_off = {.precision = 4, .threshold = 1000, .edgeitems = 3, .linewidth = 80, .sci_mode = 0};
    static const TensorPrintOptions narrow = {.precision = 3, .threshold = 5, .edgeitems = 1, .linewidth = 30, .sci_mode = -1};
    static const TensorPrintOptions wide = {.precision = 4, .threshold = 100000, .edgeitems = 4, .linewidth = 150, .sci_mode = -1};
    add_case(c, randn(SHAPE(2, 3), 1, 0), (Flags){.options = &precise});
    add_case(c, randn(SHAPE(20, 20), 1, 0), (Flags){.options = &short_p});
    add_case(c, randn(SHAPE(2, 3), 1, 0), (Flags){.options = &sci_on});
    add_case(c, floats(SHAPE(3), (float[]){1, 2, 3}), (Flags){.options = &sci_on});
    add_case(c, floats(SHAPE(2), (float[]){1e-5f, 1}), (Flags){.options = &sci_off});
    add_case(c, floats(SHAPE(2), (float[]){0, 0}), (Flags){.options = &sci_on}); /* no values: the option is not applied */
    add_case(c, randn(SHAPE(4, 6), 1, 0), (Flags){.options = &narrow, .requires_grad = true});
    add_case(c, tensor_arange(0, 30, 1, DT_I64, CPU), (Flags){.options = &narrow});
    add_case(c, randn(SHAPE(30, 30), 1, 0), (Flags){.options = &wide});
}

static void test_repr_against_torch(void **state)
{
    scope_begin();
    generator_seed(&gen, 7);
    Cases c = {.list = cJSON_CreateArray()};
    memset(has_options, 0, sizeof has_options);
    build_cases(&c);
    cJSON *args = cJSON_CreateObject();
    cJSON_AddItemToObject(args, "cases", c.list);
    char *json = cJSON_PrintUnformatted(args);
    cJSON_Delete(args);
    char names[MAX_CASES][16];
    const char *name_ptrs[MAX_CASES];
    for (int k = 0; k < c.n; k++) {
        snprintf(names[k], sizeof names[k], "t%d", k);
        name_ptrs[k] = names[k];
    }
    Safetensors *ref = NULL;
    int rc = torch_script_run("tensor_repr_ref.py", "repr", c.n, name_ptrs, c.base, json, &ref);
    free(json);
    if (rc == 1) {
        scope_end();
        print_message("SKIP: PyTorch reference not available (python3-torch)\n");
        skip();
    }
    assert_int_equal(rc, 0);
    cJSON *result = cJSON_Parse(safetensors_meta(ref, "result"));
    const cJSON *reprs = cJSON_GetObjectItemCaseSensitive(result, "reprs");
    assert_int_equal(cJSON_GetArraySize(reprs), c.n);
    int failures = 0;
    for (int k = 0; k < c.n; k++) {
        const char *want = cJSON_GetArrayItem(reprs, k)->valuestring;
        char *ours = tensor_repr(c.shown[k], has_options[k] ? &case_options[k] : NULL);
        if (!ours) fail_engine("tensor_repr");
        if (strcmp(ours, want) != 0) {
            print_message("case %d differs:\n--- torch\n%s\n--- ours\n%s\n", k, want, ours);
            failures++;
        }
        free(ours);
    }
    print_message("  %d reprs compared with PyTorch's, %d differ\n", c.n, failures);
    cJSON_Delete(result);
    safetensors_free(ref);
    scope_end();
    assert_int_equal(failures, 0);
}

/* Fixed strings (PyTorch 1.13's), so the basics are checked without torch too. */
static void test_fixed_strings(void **state)
{
    scope_begin();
    struct {
        Tensor *t;
        const char *want;
    } cases[] = {
        {floats(SHAPE(3), (float[]){1, 2, 3}), "tensor([1., 2., 3.])"},
        {floats(SHAPE(2, 2), (float[]){1, 2.5f, 3, 4}), "tensor([[1.0000, 2.5000],\n        [3.0000, 4.0000]])"},
        {floats(SHAPE(2), (float[]){1e-5f, 1000}), "tensor([1.0000e-05, 1.0000e+03])"},
        {floats(SHAPE(2), (float[]){NAN, 1.5f}), "tensor([   nan, 1.5000])"},
        {tensor_arange(0, 1001, 1, DT_I64, CPU), "tensor([   0,    1,    2,  ...,  998,  999, 1000])"},
        {int64s(SHAPE(2), (int64_t[]){INT64_MAX, -1}), "tensor([9223372036854775807,                  -1])"},
        {tensor_zeros(SHAPE(2), DT_U8, CPU), "tensor([0, 0], dtype=torch.uint8)"},
        {tensor_zeros(SHAPE(0), DT_I64, CPU), "tensor([], dtype=torch.int64)"},
        {tensor_zeros(SHAPE(2, 0), DT_F32, CPU), "tensor([], size=(2, 0))"},
        {floats(SCALAR_SHAPE, (float[]){0.5f}), "tensor(0.5000)"},
        {tensor_set_requires_grad(floats(SHAPE(1), (float[]){2}), true), "tensor([2.], requires_grad=True)"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *s = tensor_repr(cases[k].t, NULL);
        if (!s) fail_engine("tensor_repr");
        if (strcmp(s, cases[k].want) != 0) fail_msg("expected\n%s\ngot\n%s", cases[k].want, s);
        free(s);
    }
    Tensor *leaf = tensor_set_requires_grad(floats(SHAPE(2), (float[]){1, 2}), true);
    char *s = tensor_repr(t_mul(leaf, leaf), NULL);
    assert_non_null(s);
    assert_string_equal(s, "tensor([1., 4.], grad_fn=<MulBackward0>)");
    free(s);
    scope_end();
}

/* tensor_print writes the repr and a newline; bad arguments are errors. */
static void test_print_and_errors(void **state)
{
    scope_begin();
    char buf[256] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    assert_non_null(f);
    assert_int_equal(tensor_print(floats(SHAPE(2), (float[]){0.25f, 1}), f), 0);
    fclose(f);
    assert_string_equal(buf, "tensor([0.2500, 1.0000])\n");
    expect_error(tensor_repr(NULL, NULL), "tensor_repr", "NULL");
    TensorPrintOptions bad = tensor_print_defaults();
    bad.precision = -1;
    expect_error(tensor_repr(tensor_zeros(SHAPE(1), DT_F32, CPU), &bad), "tensor_repr", "precision -1");
    assert_int_equal(tensor_print(NULL, stdout), -1);
    engine_clear_error();
    scope_end();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repr_against_torch),
        cmocka_unit_test(test_fixed_strings),
        cmocka_unit_test(test_print_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
