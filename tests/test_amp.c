/* Mixed precision: bf16/f16 conversions bit-exact with torch's, the
 * autocast policy (output dtypes, values and gradients against
 * torch.autocast("cpu", bfloat16); f16 against torch computing on f16-rounded
 * inputs), ops on low-precision tensors (the dtypes of the ops off
 * autocast's lists against torch's), bf16 in safetensors, and the
 * GradScaler's skip/grow/backoff sequence (PyTorch's documented algorithm). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "engine/autocast.h"
#include "engine/backend.h"
#include "engine/nn/nn.h"
#include "engine/optim/grad_scaler.h"
#include "engine/optim/optim.h"
#include "engine/tensor_print.h"
#include "tests/support/check.h"
#include "tests/support/temp_dir.h"
#include "tests/support/torch_script.h"

#define SKIP_NO_TORCH(rc)                                                                                         \
    do {                                                                                                          \
        if ((rc) == 1) {                                                                                          \
            scope_end();                                                                                          \
            print_message("SKIP: PyTorch reference not available (python3-torch)\n");                          \
            skip();                                                                                               \
        }                                                                                                         \
        assert_int_equal((rc), 0);                                                                                \
    } while (0)

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- conversions ---- */

#define N_EDGE 40
#define N_RAND 4000

static void test_conversions_match_torch(void **state)
{
    (void)state;
    scope_begin();
    float x[N_EDGE + N_RAND];
    const uint32_t edge_bits[] = {
        0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x3f808000, /* bf16 tie, even below */
        0x3f818000,                                                 /* bf16 tie, odd below: rounds up */
        0x3f808001, 0x3f807fff, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, /* signalling NaN */
        0x7f7fffff,                                                                          /* FLT_MAX: bf16 inf */
        0x477fe000, /* 65504 */
        0x477fefff, 0x477ff000, /* 65520: f16 inf */
        0x47800000, 0x33800000, /* 2^-24: smallest f16 subnormal */
        0x33000000,             /* 2^-25: tie to 0 */
        0x33000001, 0x33c00000, /* 1.5 * 2^-24: tie to 2^-23 */
        0x38800000,             /* 2^-14: smallest f16 normal */
        0x387fe000, 0x387ff000, /* subnormal rounding up into the normals */
        0x00000001, 0x00800000, 0x80000001, 0x3f801000, 0x3f802000, 0x3f803000, /* f16 ties around 1 */
        0x3a800100, 0x38000001, 0xc77fe000, 0x4b000001, 0x3eaaaaab, 0x40490fdb, 0xbdcccccd, 0x7f000000,
        0x0c000000};
    for (int i = 0; i < N_EDGE; i++) x[i] = from_bits(edge_bits[i]);
    uint64_t s = 88172645463325252ull;
    for (int i = 0; i < N_RAND; i++) { /* bit patterns over the whole range, then values near 1 */
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[N_EDGE + i] = i < N_RAND / 2 ? from_bits((uint32_t)s) : (float)((double)(s >> 11) * 0x1p-53 * 8.0 - 4.0);
    }
    int64_t hb[65536], hh[65536];
    for (int i = 0; i < 65536; i++) hb[i] = hh[i] = i;
    Tensor *tx = tensor_from_data(x, SHAPE(N_EDGE + N_RAND), DT_F32, CPU);
    Tensor *thb = tensor_from_data(hb, SHAPE(65536), DT_I64, CPU);
    Tensor *thh = tensor_from_data(hh, SHAPE(65536), DT_I64, CPU);
    Safetensors *ref = NULL;
    int rc = torch_script_run("amp_ref.py", "amp_convert", 3, (const char *const[]){"x", "hb", "hh"},
                              (Tensor *const[]){tx, thb, thh}, "{\"task\": \"convert\"}", &ref);
    SKIP_NO_TORCH(rc);
    DType dts[2] = {DT_BF16, DT_F16};
    const char *names[2] = {"bf16", "f16"}, *back[2] = {"from_bf16", "from_f16"};
    for (int k = 0; k < 2; k++) {
        Tensor *low = tensor_to_dtype(tx, dts[k]);
        REQUIRE_OK(low);
        assert_int_equal(low->dtype, dts[k]);
        const uint16_t *ours = tensor_data(low);
        const int64_t *theirs = tensor_i64(safetensors_get(ref, names[k]));
        int bad = 0;
        int nan_inputs = 0;
        for (int i = 0; i < N_EDGE + N_RAND; i++) {
            if (isnan(x[i])) {
                /* NaN stays NaN; torch's vectorised bf16 path writes 0xffff, its
                 * scalar path (c10) 0x7fc0, as we do: only NaN-ness is compared */
                uint16_t exp_mask = k == 0 ? 0x7f80 : 0x7c00;
                bool ours_nan = (ours[i] & exp_mask) == exp_mask && (ours[i] & ~exp_mask & 0x7fff) != 0;
                bool theirs_nan = (theirs[i] & exp_mask) == exp_mask && (theirs[i] & ~exp_mask & 0x7fff) != 0;
                assert_true(ours_nan && theirs_nan);
                nan_inputs++;
                continue;
            }
            /* the tensor path (F16C rows where the build has them) and the
             * portable scalar conversion (strided rows) must both agree */
            uint16_t scalar = k == 0 ? f32_to_bf16(x[i]) : f32_to_f16(x[i]);
            if ((ours[i] != theirs[i] || scalar != theirs[i]) && bad++ < 5)
                print_message("%s of %a (0x%08x): ours 0x%04x torch 0x%04x\n", names[k], (double)x[i],
                              edge_bits[i < N_EDGE ? i : 0], ours[i], (unsigned)theirs[i]);
        }
        print_message("f32 -> %s: %d of %d values differ from torch's bits (%d NaN inputs stay NaN)\n", names[k], bad,
                      N_EDGE + N_RAND, nan_inputs);
        assert_int_equal(bad, 0);
        /* every 16-bit pattern back to f32 */
        Tensor *all = tensor_empty(SHAPE(65536), dts[k], CPU);
        REQUIRE_OK(all);
        for (int i = 0; i < 65536; i++) ((uint16_t *)tensor_data(all))[i] = (uint16_t)i;
        Tensor *f = tensor_to_dtype(all, DT_F32);
        REQUIRE_OK(f);
        const float *want = tensor_f32(safetensors_get(ref, back[k]));
        bad = 0;
        for (int i = 0; i < 65536; i++) {
            float a = tensor_f32(f)[i], b = want[i];
            float c = k == 0 ? bf16_to_f32((uint16_t)i) : f16_to_f32((uint16_t)i);
            bool same = isnan(a) ? isnan(b) && isnan(c) : memcmp(&a, &b, sizeof a) == 0 && memcmp(&c, &b, sizeof c) == 0;
            if (!same) bad++;
        }
        print_message("%s -> f32: %d of 65536 patterns differ\n", names[k], bad);
        assert_int_equal(bad, 0);
    }
    safetensors_free(ref);
    scope_end();
}

/* ---- autocast against torch ---- */

typedef struct {
    const char *name;
    Shape shape;
} Leaf;

static const Leaf leaves[] = {{"x", {2, {4, 8}}},        {"w", {2, {3, 8}}},        {"b", {1, {3}}},
                              {"a", {3, {2, 4, 5}}},     {"m", {3, {2, 5, 6}}},     {"cx", {4, {2, 3, 6, 6}}},
                              {"cw", {4, {4, 3, 3, 3}}}, {"cb", {1, {4}}}};
#define N_LEAVES 8
#define N_OUTS 8
static const char *const out_names[N_OUTS] = {"lin", "mm", "bmm", "conv", "relu", "nll", "vm", "dot"};

static void run_autocast_case(DType dt, int n_outs, double tol_value, double tol_grad)
{
    scope_begin();
    Generator gen;
    generator_seed(&gen, 77);
    Tensor *L[N_LEAVES];
    for (int i = 0; i < N_LEAVES; i++) REQUIRE_OK(L[i] = rand_leaf(leaves[i].shape, &gen));
    Tensor *target = tensor_from_data((int64_t[]){0, 1, 2, 0}, SHAPE(4), DT_I64, CPU);
    AutocastState prev;
    assert_int_equal(autocast_begin(dt, &prev), 0);
    Tensor *outs[N_OUTS];
    ConvParams cp = conv_params_default();
    cp.padding[0] = cp.padding[1] = 1;
    outs[0] = f_linear(L[0], L[1], L[2]);
    outs[1] = t_matmul(L[0], t_transpose(L[1], 0, 1));
    outs[2] = t_bmm(L[3], L[4]);
    outs[3] = f_conv2d(L[5], L[6], L[7], cp);
    outs[4] = t_relu(outs[0]);
    outs[5] = f_nll_loss(f_log_softmax(tensor_to_dtype(outs[0], DT_F32), 1), target, NULL, -100, REDUCTION_MEAN);
    Tensor *x0 = t_select(L[0], 0, 0), *x1 = t_select(L[0], 0, 1);
    outs[6] = t_matmul(x0, t_transpose(L[1], 0, 1)); /* vector @ matrix: matmul, low precision */
    outs[7] = t_dot(x0, x1);                         /* dot is on neither list: f32 */
    autocast_restore(prev);
    for (int i = 0; i < n_outs; i++) REQUIRE_OK(outs[i]);
    /* output weights, the same in both programs */
    Tensor *names_t[N_LEAVES + N_OUTS];
    const char *names[N_LEAVES + N_OUTS];
    char rnames[N_OUTS][16];
    Tensor *total = NULL;
    for (int i = 0; i < N_LEAVES; i++) names_t[i] = L[i], names[i] = leaves[i].name;
    for (int i = 0; i < n_outs; i++) {
        Tensor *r = tensor_randn(outs[i]->shape, &gen, CPU);
        snprintf(rnames[i], sizeof rnames[i], "r_%s", out_names[i]);
        names_t[N_LEAVES + i] = r, names[N_LEAVES + i] = rnames[i];
        Tensor *term = t_sum(t_mul(tensor_to_dtype(outs[i], DT_F32), r), NULL, 0, false);
        total = total ? t_add(total, term) : term;
    }
    REQUIRE_OK(total);
    assert_int_equal(tensor_backward(total, NULL), 0);
    Safetensors *ref = NULL;
    int rc = torch_script_run("amp_ref.py", dt == DT_BF16 ? "amp_bf16" : "amp_f16", N_LEAVES + n_outs, names,
                              names_t, dt == DT_BF16 ? "{\"task\": \"autocast\"}" : "{\"task\": \"autocast\", \"fp16\": true}",
                              &ref);
    SKIP_NO_TORCH(rc);
    cJSON *dtypes = cJSON_Parse(safetensors_meta(ref, "result"));
    assert_non_null(dtypes);
    for (int i = 0; i < n_outs; i++) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(dtypes, out_names[i]);
        assert_true(cJSON_IsString(d));
        print_message("%-5s ours %-8s torch %-8s\n", out_names[i], dtype_name(outs[i]->dtype), d->valuestring);
        assert_string_equal(dtype_name(outs[i]->dtype), d->valuestring);
        Tensor *o = tensor_to_dtype(tensor_detach(outs[i]), DT_F32);
        expect_close(o, safetensors_get(ref, out_names[i]), tol_value, out_names[i]);
    }
    for (int i = 0; i < N_LEAVES; i++) {
        char g[16];
        snprintf(g, sizeof g, "g_%s", leaves[i].name);
        assert_non_null(L[i]->grad);
        assert_int_equal(L[i]->grad->dtype, DT_F32); /* f32 leaves get f32 gradients */
        expect_close(L[i]->grad, safetensors_get(ref, g), tol_grad, g);
    }
    cJSON_Delete(dtypes);
    safetensors_free(ref);
    scope_end();
}

/* bf16 has 8 significant bits: one rounding step is 2^-8 relative, so the
 * tolerances allow about one bf16 ulp of the outputs' scale (accumulation
 * order differs from oneDNN's) and a few for gradients (rounded twice). */
static void test_autocast_bf16_matches_torch(void **state)
{
    (void)state;
    run_autocast_case(DT_BF16, N_OUTS, 1.0 / 128, 1.0 / 64);
}

static void test_autocast_f16_matches_rounded_reference(void **state)
{
    (void)state;
    run_autocast_case(DT_F16, 4, 1.0 / 1024, 1.0 / 256);
}

/* ---- native bf16 products (oneDNN on a CPU with AVX512-BF16 or AMX) ---- */

enum { NB_LEAVES = 5 };

/* A linear layer and an mm on a transposed (strided) operand under autocast
 * bf16, and an mm of bf16 tensors outside it, with the native products on
 * or off: the outputs (as f32), the leaves' gradients of a weighted sum, and
 * the dtype the linear's product node took its input in (bf16 only when the
 * native kernel ran). The same seed gives the same leaves every call. */
static void bf16_products(bool native, Tensor **outs, Tensor **grads, DType *product_input)
{
    Generator gen;
    generator_seed(&gen, 404);
    Tensor *x = rand_leaf(SHAPE(37, 300), &gen), *w = rand_leaf(SHAPE(129, 300), &gen);
    Tensor *b = rand_leaf(SHAPE(129), &gen), *at = rand_leaf(SHAPE(300, 37), &gen);
    Tensor *m = rand_leaf(SHAPE(300, 65), &gen);
    Tensor *nb_leaves[NB_LEAVES] = {x, w, b, at, m};
    autocast_set_native_lowp(native);
    AutocastState prev;
    assert_int_equal(autocast_begin(DT_BF16, &prev), 0);
    outs[0] = f_linear(x, w, b);
    outs[1] = t_mm(t_transpose(at, 0, 1), m);
    autocast_restore(prev);
    outs[2] = t_mm(tensor_to_dtype(t_transpose(at, 0, 1), DT_BF16), tensor_to_dtype(m, DT_BF16));
    for (int i = 0; i < 3; i++) REQUIRE_OK(outs[i]);
    /* outs[0] is the cast of the product's f32 result: its node's input */
    Node *product = outs[0]->grad_fn->inputs[0]->grad_fn;
    assert_non_null(product);
    assert_string_equal(product->name, "AddmmBackward0");
    *product_input = product->inputs[0]->dtype;
    Tensor *total = NULL;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(outs[i]->dtype, DT_BF16);
        Tensor *r = tensor_randn(outs[i]->shape, &gen, CPU);
        Tensor *term = t_sum(t_mul(tensor_to_dtype(outs[i], DT_F32), r), NULL, 0, false);
        total = total ? t_add(total, term) : term;
        outs[i] = tensor_to_dtype(tensor_detach(outs[i]), DT_F32);
    }
    assert_int_equal(tensor_backward(total, NULL), 0);
    autocast_set_native_lowp(true);
    for (int i = 0; i < NB_LEAVES; i++) {
        assert_non_null(nb_leaves[i]->grad);
        assert_int_equal(nb_leaves[i]->grad->dtype, DT_F32);
        grads[i] = nb_leaves[i]->grad;
    }
}

/* The native products give the emulation's values: both sum products of
 * the same bf16 values in f32 and round once, in another order, so outputs
 * agree within a bf16 rounding step of their scale and gradients (rounded
 * twice) within a few; a wrong layout or a missed accumulation is off by
 * the values' whole size. */
static void test_native_bf16_products_match_emulation(void **state)
{
    (void)state;
    if (!backend_get(DEVICE_CPU)->matmul_lowp_native(DT_BF16)) {
        print_message("SKIP: no native bf16 products here (oneDNN and AVX512-BF16 or AMX needed)\n");
        skip();
    }
    scope_begin();
    Tensor *native[3], *emulated[3], *g_native[NB_LEAVES], *g_emulated[NB_LEAVES];
    DType native_input, emulated_input;
    bf16_products(true, native, g_native, &native_input);
    bf16_products(false, emulated, g_emulated, &emulated_input);
    assert_int_equal(native_input, DT_BF16); /* the native kernel ran */
    assert_int_equal(emulated_input, DT_F32);
    static const char *const outs[3] = {"linear", "mm (strided)", "mm of bf16 tensors"};
    static const char *const grad_names[NB_LEAVES] = {"g_x", "g_w", "g_b", "g_at", "g_m"};
    for (int i = 0; i < 3; i++) expect_close(native[i], emulated[i], 1.0 / 128, outs[i]);
    for (int i = 0; i < NB_LEAVES; i++) expect_close(g_native[i], g_emulated[i], 1.0 / 64, grad_names[i]);
    scope_end();
}

/* A 64 -> 64 channel convolution (a layer oneDNN takes) with bias, at
 * stride 1 and at stride 2 (padding 1, odd sizes), under autocast bf16 with
 * the native kernels on or off: outputs, gradients of x, w and b, and the
 * dtype the convolution node took its input in. */
static void bf16_convolutions(bool native, int stride, Tensor **outs, Tensor **grads, DType *node_input)
{
    Generator gen;
    generator_seed(&gen, 505);
    Tensor *x = rand_leaf(SHAPE(3, 64, 9, 7), &gen), *w = rand_leaf(SHAPE(64, 64, 3, 3), &gen);
    Tensor *b = rand_leaf(SHAPE(64), &gen);
    ConvParams cp = conv_params_default();
    cp.padding[0] = cp.padding[1] = 1;
    cp.stride[0] = cp.stride[1] = stride;
    autocast_set_native_lowp(native);
    AutocastState prev;
    assert_int_equal(autocast_begin(DT_BF16, &prev), 0);
    Tensor *y = f_conv2d(x, w, b, cp);
    autocast_restore(prev);
    REQUIRE_OK(y);
    assert_int_equal(y->dtype, DT_BF16);
    Node *conv = y->grad_fn->inputs[0]->grad_fn;
    assert_non_null(conv);
    assert_string_equal(conv->name, "ConvolutionBackward0");
    *node_input = conv->inputs[0]->dtype;
    Tensor *r = tensor_randn(y->shape, &gen, CPU);
    assert_int_equal(tensor_backward(t_sum(t_mul(tensor_to_dtype(y, DT_F32), r), NULL, 0, false), NULL), 0);
    autocast_set_native_lowp(true);
    outs[0] = tensor_to_dtype(tensor_detach(y), DT_F32);
    grads[0] = x->grad, grads[1] = w->grad, grads[2] = b->grad;
    for (int i = 0; i < 3; i++) assert_non_null(grads[i]);
}

/* As the products: the same sums of bf16 products in f32, rounded once, in
 * another order. */
static void test_native_bf16_convolutions_match_emulation(void **state)
{
    (void)state;
    scope_begin();
    Tensor *probe_x = tensor_zeros(SHAPE(1, 64, 4, 4), DT_F32, CPU);
    Tensor *probe_w = tensor_zeros(SHAPE(64, 64, 3, 3), DT_F32, CPU);
    if (!backend_get(DEVICE_CPU)->conv2d_lowp_native(probe_x, probe_w, conv_params_default(), DT_BF16)) {
        scope_end();
        print_message("SKIP: no native bf16 convolutions here (oneDNN and AVX512-BF16 or AMX needed)\n");
        skip();
    }
    static const char *const names[4] = {"y", "g_x", "g_w", "g_b"};
    for (int stride = 1; stride <= 2; stride++) {
        Tensor *native[1], *emulated[1], *g_native[3], *g_emulated[3];
        DType native_input, emulated_input;
        bf16_convolutions(true, stride, native, g_native, &native_input);
        bf16_convolutions(false, stride, emulated, g_emulated, &emulated_input);
        assert_int_equal(native_input, DT_BF16); /* the native kernels ran */
        assert_int_equal(emulated_input, DT_F32);
        print_message("stride %d:\n", stride);
        expect_close(native[0], emulated[0], 1.0 / 128, names[0]);
        for (int i = 0; i < 3; i++) expect_close(g_native[i], g_emulated[i], 1.0 / 64, names[i + 1]);
    }
    scope_end();
}

/* The convolution kernels given bf16 inputs on a layer oneDNN does not take
 * (3 channels) fall back to our own kernels on exact f32 copies: the same
 * bits as those kernels on the rounded values in f32. */
static void test_bf16_convolution_kernels_fall_back_exactly(void **state)
{
    (void)state;
    scope_begin();
    Generator gen;
    generator_seed(&gen, 606);
    Tensor *x = tensor_to_dtype(tensor_randn(SHAPE(2, 3, 8, 8), &gen, CPU), DT_BF16);
    Tensor *w = tensor_to_dtype(tensor_randn(SHAPE(4, 3, 3, 3), &gen, CPU), DT_BF16);
    Tensor *gy = tensor_to_dtype(tensor_randn(SHAPE(2, 4, 6, 6), &gen, CPU), DT_BF16);
    Tensor *xf = tensor_to_dtype(x, DT_F32), *wf = tensor_to_dtype(w, DT_F32), *gyf = tensor_to_dtype(gy, DT_F32);
    ConvParams p = conv_params_default();
    const Backend *cpu = backend_get(DEVICE_CPU);
    Tensor *y[2], *gx[2], *gw[2];
    for (int k = 0; k < 2; k++) {
        y[k] = tensor_empty(gy->shape, DT_F32, CPU);
        gx[k] = tensor_empty(x->shape, DT_F32, CPU);
        gw[k] = tensor_empty(w->shape, DT_F32, CPU);
        cpu->conv2d(y[k], k ? xf : x, k ? wf : w, NULL, p);
        cpu->conv2d_transpose(gx[k], k ? gyf : gy, k ? wf : w, NULL, p);
        cpu->conv2d_weight_grad(gw[k], k ? xf : x, k ? gyf : gy, p);
    }
    expect_equal(y[0], y[1], "conv2d");
    expect_equal(gx[0], gx[1], "conv2d_transpose");
    expect_equal(gw[0], gw[1], "conv2d_weight_grad");
    scope_end();
}

/* The backend's bf16 product kernel against sgemm on the same (exact) values
 * in f32: written and accumulated, with a transposed operand, at sizes the
 * threads split by rows and by columns. It runs oneDNN where the CPU has bf16
 * instructions and its f32 fallback elsewhere: either way the same sums up
 * to their order. */
static void test_bf16_product_kernel_matches_f32(void **state)
{
    (void)state;
    scope_begin();
    Generator gen;
    generator_seed(&gen, 707);
    const Backend *cpu = backend_get(DEVICE_CPU);
    static const int64_t sizes[2][3] = {{70, 130, 300}, {150, 40, 90}}; /* m, n, k: split by columns, by rows */
    for (int s = 0; s < 2; s++) {
        int64_t m = sizes[s][0], n = sizes[s][1], k = sizes[s][2];
        Tensor *a = tensor_to_dtype(tensor_randn(SHAPE(m, k), &gen, CPU), DT_BF16);
        Tensor *bt = tensor_to_dtype(tensor_randn(SHAPE(n, k), &gen, CPU), DT_BF16);
        Tensor *b = t_transpose(bt, 0, 1); /* [k, n], column-major */
        Tensor *start = tensor_randn(SHAPE(m, n), &gen, CPU);
        for (int accumulate = 0; accumulate < 2; accumulate++) {
            Tensor *ours = tensor_empty(SHAPE(m, n), DT_F32, CPU), *ref = tensor_empty(SHAPE(m, n), DT_F32, CPU);
            REQUIRE_OK(ours);
            assert_int_equal(tensor_copy_(ours, start), 0);
            assert_int_equal(tensor_copy_(ref, start), 0);
            cpu->matmul_lowp(ours, a, b, accumulate);
            cpu->matmul(ref, tensor_to_dtype(a, DT_F32), t_contiguous(tensor_to_dtype(b, DT_F32)), accumulate);
            expect_close(ours, ref, 1e-5, accumulate ? "accumulated" : "written");
        }
    }
    scope_end();
}

/* ---- the policy without torch: dtypes of outputs ---- */

static void test_policy_dtypes(void **state)
{
    (void)state;
    scope_begin();
    Generator gen;
    generator_seed(&gen, 5);
    Tensor *x = rand_leaf(SHAPE(4, 8), &gen), *w = rand_leaf(SHAPE(3, 8), &gen);
    /* autocast off: everything stays f32 */
    assert_int_equal(f_linear(x, w, NULL)->dtype, DT_F32);
    AutocastState prev;
    assert_int_equal(autocast_begin(DT_BF16, &prev), 0);
    Tensor *y = f_linear(x, w, NULL);
    REQUIRE_OK(y);
    assert_int_equal(y->dtype, DT_BF16);
    assert_int_equal(t_relu(y)->dtype, DT_BF16);                           /* keeps its input's dtype */
    assert_int_equal(t_sum(y, NULL, 0, false)->dtype, DT_BF16);            /* reduction: f32 accumulation, bf16 out */
    assert_int_equal(t_add(y, tensor_to_dtype(y, DT_F32))->dtype, DT_F32); /* promotion */
    assert_int_equal(f_log_softmax(y, 1)->dtype, DT_F32);                  /* f32 list */
    assert_int_equal(f_softmax(y, 1)->dtype, DT_F32);
    assert_int_equal(f_max_pool2d(t_reshape(y, SHAPE(1, 1, 4, 3)), pool_params(2, 0, 0))->dtype, DT_BF16);
    assert_int_equal(f_mse_loss(y, tensor_zeros(SHAPE(4, 3), DT_F32, CPU), REDUCTION_MEAN)->dtype, DT_F32);
    assert_int_equal(t_argmax(y, 1, false)->dtype, DT_I64);
    autocast_restore(prev);
    assert_false(autocast_state().enabled);
    /* a bf16 tensor outside autocast: ops keep bf16 (softmax too, as torch does) */
    assert_int_equal(f_softmax(y, 1)->dtype, DT_BF16);
    assert_int_equal(t_mm(y, t_transpose(y, 0, 1))->dtype, DT_BF16);
    /* relu on bf16 values equals relu in f32 rounded once */
    float v[4] = {-1.5f, 0.1f, 3.14159f, -0.0f};
    Tensor *t = tensor_to_dtype(tensor_from_data(v, SHAPE(4), DT_F32, CPU), DT_BF16);
    Tensor *r = tensor_to_dtype(t_relu(t), DT_F32);
    assert_float_equal(tensor_f32(r)[0], 0.0f, 0.0f);
    assert_float_equal(tensor_f32(r)[2], bf16_to_f32(f32_to_bf16(3.14159f)), 0.0f);
    /* printed like torch's repr */
    char *repr = tensor_repr(tensor_to_dtype(tensor_from_data((float[]){1.5f, -2.25f, 3.14159f}, SHAPE(3), DT_F32, CPU),
                                             DT_BF16),
                             NULL);
    assert_non_null(repr);
    assert_string_equal(repr, "tensor([ 1.5000, -2.2500,  3.1406], dtype=torch.bfloat16)");
    free(repr);
    /* a bf16 intermediate used twice: its gradients (bf16) add up, the leaf's arrive in f32 */
    assert_int_equal(autocast_begin(DT_BF16, &prev), 0);
    Tensor *y2 = f_linear(x, w, NULL);
    Tensor *z = t_sum(t_add(t_relu(y2), t_mul(y2, y2)), NULL, 0, false);
    autocast_restore(prev);
    REQUIRE_OK(z);
    assert_int_equal(z->dtype, DT_BF16);
    assert_int_equal(tensor_backward(tensor_to_dtype(z, DT_F32), NULL), 0);
    assert_non_null(x->grad);
    assert_int_equal(x->grad->dtype, DT_F32);
    assert_int_equal(w->grad->dtype, DT_F32);
    /* bad dtype */
    expect_failure(autocast_begin(DT_I64, &prev) != 0, "autocast", "int64");
    DType d;
    assert_true(autocast_parse_dtype("bf16", &d) && d == DT_BF16);
    assert_true(autocast_parse_dtype("fp16", &d) && d == DT_F16);
    assert_false(autocast_parse_dtype("fp8", &d));
    scope_end();
}

/* ---- ops off the autocast lists, against torch ----
 * An op on neither list keeps its inputs' dtype: on bf16/f16 it computes in
 * f32 and rounds its result (autocast.h); binary_cross_entropy_with_logits
 * is on the f32 list. Each op runs on inputs of each mode's dtype, with and
 * without autocast, and its output's dtype, its gradient's dtype, a refusal
 * and its values must be torch's (tests/ref/amp_ref.py, task keep_ops). */

typedef struct {
    Tensor *x, *y, *cond, *target, *weight, *pos_weight, *emb, *idx; /* f32, cond u8, idx i64 */
} KeepInputs;

typedef struct {
    const char *name; /* as in amp_ref.py's keep_op_table */
    Tensor *(*run)(Tensor *leaf, const KeepInputs *in, DType dt);
    bool on_emb; /* the differentiated input is the embedding table, not x */
} KeepOp;

static Tensor *as(Tensor *t, DType dt) { return tensor_to_dtype(t, dt); }
static Tensor *k_where(Tensor *x, const KeepInputs *in, DType dt) { return t_where(in->cond, x, as(in->y, dt)); }
static Tensor *k_where_f32_other(Tensor *x, const KeepInputs *in, DType dt) { return t_where(in->cond, x, in->y); }
static Tensor *k_masked_fill(Tensor *x, const KeepInputs *in, DType dt) { return t_masked_fill(x, in->cond, -7.5); }
static Tensor *k_var(Tensor *x, const KeepInputs *in, DType dt) { return t_var(x, (int[]){1}, 1, 1, false); }
static Tensor *k_std(Tensor *x, const KeepInputs *in, DType dt) { return t_std(x, NULL, 0, 1, false); }
static Tensor *k_amax(Tensor *x, const KeepInputs *in, DType dt) { return t_amax(x, (int[]){0}, 1, true); }
static Tensor *k_amin(Tensor *x, const KeepInputs *in, DType dt) { return t_amin(x, NULL, 0, false); }
static Tensor *k_max_values(Tensor *x, const KeepInputs *in, DType dt)
{
    Tensor *idx = NULL;
    return t_max_dim(x, 1, false, &idx);
}
static Tensor *k_max_indices(Tensor *x, const KeepInputs *in, DType dt)
{
    Tensor *idx = NULL;
    return t_max_dim(x, 1, false, &idx) ? idx : NULL;
}
static Tensor *k_min_values(Tensor *x, const KeepInputs *in, DType dt)
{
    Tensor *idx = NULL;
    return t_min_dim(x, 0, true, &idx);
}
static Tensor *k_min_indices(Tensor *x, const KeepInputs *in, DType dt)
{
    Tensor *idx = NULL;
    return t_min_dim(x, 0, true, &idx) ? idx : NULL;
}
static Tensor *k_argmin(Tensor *x, const KeepInputs *in, DType dt) { return t_argmin(x, 1, false); }
static Tensor *k_embedding(Tensor *w, const KeepInputs *in, DType dt) { return f_embedding(in->idx, w, -1); }
static Tensor *k_embedding_padding(Tensor *w, const KeepInputs *in, DType dt) { return f_embedding(in->idx, w, 2); }
static Tensor *k_bce_logits(Tensor *x, const KeepInputs *in, DType dt)
{
    return f_binary_cross_entropy_with_logits(x, as(in->target, dt), as(in->weight, dt), as(in->pos_weight, dt),
                                              REDUCTION_MEAN);
}
static Tensor *k_bce_logits_none(Tensor *x, const KeepInputs *in, DType dt)
{
    return f_binary_cross_entropy_with_logits(x, as(in->target, dt), NULL, NULL, REDUCTION_NONE);
}

static const KeepOp keep_ops[] = {
    {"where", k_where, false},           {"where_f32_other", k_where_f32_other, false},
    {"masked_fill", k_masked_fill, false}, {"var", k_var, false},
    {"std", k_std, false},               {"amax", k_amax, false},
    {"amin", k_amin, false},             {"max_values", k_max_values, false},
    {"max_indices", k_max_indices, false}, {"min_values", k_min_values, false},
    {"min_indices", k_min_indices, false}, {"argmin", k_argmin, false},
    {"embedding", k_embedding, true},    {"embedding_padding", k_embedding_padding, true},
    {"bce_logits", k_bce_logits, false}, {"bce_logits_none", k_bce_logits_none, false},
};
#define N_KEEP_OPS (int)(sizeof keep_ops / sizeof keep_ops[0])

/* as amp_ref.py's KEEP_MODES: the inputs' dtype, and autocast bf16 on */
static const struct {
    const char *name;
    DType dt;
    bool autocast;
} keep_modes[] = {{"bf16", DT_BF16, false},
                  {"f16", DT_F16, false},
                  {"autocast_bf16", DT_BF16, true},
                  {"autocast_f32", DT_F32, true},
                  {"autocast_f16", DT_F16, true}};
#define N_KEEP_MODES (int)(sizeof keep_modes / sizeof keep_modes[0])

static KeepInputs keep_inputs(Generator *g)
{
    /* x: distinct quarters, exact in bf16 and f16, so that maxima and their
     * indices do not depend on the rounding */
    float xv[24];
    for (int i = 0; i < 24; i++) xv[i] = (float)(((i * 7) % 24) - 12) * 0.25f;
    uint8_t cv[24];
    for (int i = 0; i < 24; i++) cv[i] = (uint8_t)((i * 5) % 3 == 0);
    return (KeepInputs){
        .x = tensor_from_data(xv, SHAPE(4, 6), DT_F32, CPU),
        .y = tensor_randn(SHAPE(4, 6), g, CPU),
        .cond = tensor_from_data(cv, SHAPE(4, 6), DT_U8, CPU),
        .target = t_add_scalar(t_mul_scalar(tensor_rand(SHAPE(4, 6), g, CPU), 0.9), 0.05),
        .weight = t_add_scalar(tensor_rand(SHAPE(6), g, CPU), 0.5),
        .pos_weight = t_add_scalar(tensor_rand(SHAPE(6), g, CPU), 0.5),
        .emb = tensor_randn(SHAPE(10, 3), g, CPU),
        .idx = tensor_from_data((int64_t[]){1, 2, 9, 2, 0}, SHAPE(5), DT_I64, CPU),
    };
}

/* Runs op on inputs of dtype dt (under autocast bf16 when asked) and
 * backward from the sum of its f32 output. Returns the output (NULL when the
 * op refused, then with an error naming dt) and the names of its dtype
 * ("error" for a refusal) and of the gradient's (NULL: none). */
static Tensor *run_keep_op(const KeepOp *op, const KeepInputs *in, DType dt, bool autocast, const char **out_dt,
                           const char **grad_dt)
{
    bool mode = no_grad_begin();
    Tensor *leaf = t_clone(tensor_to_dtype(op->on_emb ? in->emb : in->x, dt));
    grad_mode_restore(mode);
    REQUIRE_OK(tensor_set_requires_grad(leaf, true));
    AutocastState prev;
    if (autocast) assert_int_equal(autocast_begin(DT_BF16, &prev), 0);
    engine_clear_error();
    Tensor *o = op->run(leaf, in, dt);
    if (autocast) autocast_restore(prev);
    *grad_dt = NULL;
    if (!o) {
        *out_dt = "error";
        print_message("  %-18s refused: %s\n", op->name, engine_last_error());
        assert_non_null(strstr(engine_last_error(), dtype_name(dt)));
        engine_clear_error();
        return NULL;
    }
    *out_dt = dtype_name(o->dtype);
    if (dtype_is_floating(o->dtype)) {
        assert_int_equal(tensor_backward(t_sum(tensor_to_dtype(o, DT_F32), NULL, 0, false), NULL), 0);
        assert_non_null(leaf->grad);
        *grad_dt = dtype_name(leaf->grad->dtype);
    }
    return o;
}

/* Whether our dtype names (output, gradient) are torch's [output, gradient]. */
static bool same_dtypes(const cJSON *theirs, const char *out_dt, const char *grad_dt)
{
    const cJSON *o = cJSON_GetArrayItem(theirs, 0), *g = cJSON_GetArrayItem(theirs, 1);
    if (!cJSON_IsString(o) || strcmp(o->valuestring, out_dt) != 0) return false;
    return grad_dt ? cJSON_IsString(g) && strcmp(g->valuestring, grad_dt) == 0 : cJSON_IsNull(g);
}

/* A few units in the last place of the output's dtype, relative to its
 * scale: we compute in f32 and round once, torch's bf16 loss rounds some of
 * its steps on the way (2 units seen). Indices must match exactly. */
static double keep_tolerance(const Tensor *out)
{
    switch (out->dtype) {
    case DT_BF16: return 1.0 / 64;
    case DT_F16: return 1.0 / 512;
    case DT_F32: return 1e-5;
    default: return 0;
    }
}

static void test_keep_ops_match_torch(void **state)
{
    (void)state;
    scope_begin();
    Generator gen;
    generator_seed(&gen, 21);
    KeepInputs in = keep_inputs(&gen);
    const char *names[] = {"x", "y", "cond", "target", "weight", "pos_weight", "emb", "idx"};
    Tensor *tensors[] = {in.x, in.y, in.cond, in.target, in.weight, in.pos_weight, in.emb, in.idx};
    Safetensors *ref = NULL;
    int rc = torch_script_run("amp_ref.py", "amp_keep", 8, names, tensors, "{\"task\": \"keep_ops\"}", &ref);
    SKIP_NO_TORCH(rc);
    cJSON *result = cJSON_Parse(safetensors_meta(ref, "result"));
    assert_non_null(result);
    int mismatches = 0;
    for (int m = 0; m < N_KEEP_MODES; m++) {
        print_message("%s:\n", keep_modes[m].name);
        const cJSON *theirs = cJSON_GetObjectItemCaseSensitive(result, keep_modes[m].name);
        for (int k = 0; k < N_KEEP_OPS; k++) {
            const char *out_dt, *grad_dt;
            Tensor *o = run_keep_op(&keep_ops[k], &in, keep_modes[m].dt, keep_modes[m].autocast, &out_dt, &grad_dt);
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(theirs, keep_ops[k].name);
            bool same = same_dtypes(t, out_dt, grad_dt);
            char *tstr = cJSON_PrintUnformatted(t);
            print_message("  %-18s ours [%s, %s] torch %s%s\n", keep_ops[k].name, out_dt, grad_dt ? grad_dt : "null",
                          tstr, same ? "" : "  MISMATCH");
            free(tstr);
            if (!same) mismatches++;
            if (!o || !same) continue;
            char key[64];
            snprintf(key, sizeof key, "%s.%s", keep_modes[m].name, keep_ops[k].name);
            expect_close(tensor_to_dtype(tensor_detach(o), DT_F32), safetensors_get(ref, key), keep_tolerance(o), key);
        }
    }
    assert_int_equal(mismatches, 0);
    cJSON_Delete(result);
    safetensors_free(ref);
    scope_end();
}

/* In-place add_/sub_/mul_ on bf16 and f16 tensors (tensor, broadcast,
 * scalar and f32 operands) against PyTorch's, which computes each op in
 * f32 and rounds once: the same roundings, so within one unit in the last
 * place of the dtype (f32 fused multiply-adds may differ from PyTorch's
 * in the last f32 bit before the rounding). */
static void test_inplace_low_precision_matches_torch(void **state)
{
    (void)state;
    scope_begin();
    Generator gen;
    generator_seed(&gen, 31);
    Tensor *a = tensor_randn(SHAPE(6, 5), &gen, CPU), *b = tensor_randn(SHAPE(6, 5), &gen, CPU);
    Tensor *row = tensor_randn(SHAPE(5), &gen, CPU);
    const char *names[] = {"a", "b", "row"};
    Tensor *tensors[] = {a, b, row};
    Safetensors *ref = NULL;
    int rc = torch_script_run("amp_ref.py", "amp_inplace", 3, names, tensors, "{\"task\": \"inplace\"}", &ref);
    SKIP_NO_TORCH(rc);
    const DType dts[] = {DT_BF16, DT_F16};
    const char *keys[] = {"bf16", "f16"};
    const double ulp[] = {1.0 / 128, 1.0 / 1024};
    for (int k = 0; k < 2; k++) {
        Tensor *x = tensor_to_dtype(a, dts[k]), *bd = tensor_to_dtype(b, dts[k]);
        REQUIRE_OK(x);
        REQUIRE_OK(bd);
        assert_int_equal(t_add_(x, bd, 0.3), 0);
        assert_int_equal(t_sub_(x, tensor_to_dtype(row, dts[k]), 1.0), 0);
        assert_int_equal(t_mul_(x, bd), 0);
        assert_int_equal(t_add_scalar_(x, 2.5), 0);
        assert_int_equal(t_mul_scalar_(x, 0.7), 0);
        assert_int_equal(t_add_(x, b, 1.0), 0);
        assert_int_equal(t_sub_(x, b, 2.0), 0);
        assert_int_equal(x->dtype, dts[k]);
        expect_close(tensor_to_dtype(x, DT_F32), safetensors_get(ref, keys[k]), ulp[k], keys[k]);
    }
    safetensors_free(ref);
    scope_end();
}

static void test_safetensors_bf16_roundtrip(void **state)
{
    (void)state;
    scope_begin();
    char dir[256], path[300];
    temp_dir_make(dir, sizeof dir, "amp_st");
    snprintf(path, sizeof path, "%s/t.safetensors", dir);
    float v[5] = {1.0f, -2.5f, 1e-3f, 65504.0f, 3.0e38f};
    Tensor *src = tensor_from_data(v, SHAPE(5), DT_F32, CPU);
    Tensor *b = tensor_to_dtype(src, DT_BF16), *h = tensor_to_dtype(src, DT_F16);
    assert_int_equal(safetensors_save(path, 2, (const char *const[]){"b", "h"}, (Tensor *const[]){b, h}, 0, NULL, NULL), 0);
    Safetensors *st = safetensors_load(path);
    REQUIRE_OK(st);
    Tensor *b2 = safetensors_get(st, "b"), *h2 = safetensors_get(st, "h");
    assert_int_equal(b2->dtype, DT_BF16);
    assert_int_equal(h2->dtype, DT_F16);
    assert_memory_equal(tensor_data(b2), tensor_data(b), 10);
    assert_memory_equal(tensor_data(h2), tensor_data(h), 10);
    assert_true(isinf(tensor_item(t_narrow(h2, 0, 4, 1)))); /* 3e38 overflows f16 */
    safetensors_free(st);
    temp_dir_remove(dir);
    scope_end();
}

/* ---- GradScaler ---- */

#define N_STEPS 16
static const bool found_inf_seq[N_STEPS] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0};

static void test_grad_scaler_sequence(void **state)
{
    (void)state;
    scope_begin();
    Tensor *p = tensor_persist(tensor_set_requires_grad(tensor_zeros(SHAPE(3), DT_F32, CPU), true));
    Tensor *params[1] = {p};
    SGDOptions so = sgd_defaults();
    so.lr = 0.5;
    Optimizer *opt = optim_sgd(params, 1, so);
    REQUIRE_OK(opt);
    GradScaler s;
    grad_scaler_init(&s, true);
    assert_int_equal(grad_scaler_configure(&s, 65536.0, 2.0, 0.5, 3), 0);
    double scales[N_STEPS];
    int trackers[N_STEPS], n_skipped = 0;
    for (int k = 0; k < N_STEPS; k++) {
        scope_begin();
        float before[3];
        assert_int_equal(tensor_copy_to_buffer(p, before), 0);
        /* the scaled loss 2 * sum(p) ... gives grad 2 * scale; inf on the bad steps */
        Tensor *loss = grad_scaler_scale(&s, t_mul_scalar(t_sum(p, NULL, 0, false), found_inf_seq[k] ? INFINITY : 2.0));
        REQUIRE_OK(loss);
        optimizer_zero_grad(opt, true);
        assert_int_equal(tensor_backward(loss, NULL), 0);
        assert_int_equal(grad_scaler_unscale(&s, opt), 0);
        expect_failure(grad_scaler_unscale(&s, opt) != 0, "unscale_", "already");
        if (!found_inf_seq[k]) assert_float_equal(tensor_f32(p->grad)[1], 2.0f, 0.0f); /* unscaled exactly */
        bool stepped;
        assert_int_equal(grad_scaler_step(&s, opt, &stepped), 0);
        assert_int_equal(stepped, !found_inf_seq[k]);
        float after[3];
        assert_int_equal(tensor_copy_to_buffer(p, after), 0);
        if (found_inf_seq[k]) {
            assert_memory_equal(before, after, sizeof before); /* skipped: untouched */
            n_skipped++;
        } else {
            assert_float_equal(after[0], before[0] - 1.0f, 0.0f); /* lr 0.5 * grad 2 */
        }
        grad_scaler_update(&s);
        scales[k] = s.scale;
        trackers[k] = s.growth_tracker;
        scope_end();
    }
    assert_int_equal(n_skipped, 3);
    /* against the reference rule */
    char args[512];
    int len = snprintf(args, sizeof args, "{\"task\": \"scaler\", \"growth_interval\": 3, \"found_inf\": [");
    for (int k = 0; k < N_STEPS; k++)
        len += snprintf(args + len, sizeof args - (size_t)len, "%s%s", k ? ", " : "", found_inf_seq[k] ? "true" : "false");
    snprintf(args + len, sizeof args - (size_t)len, "]}");
    Tensor *dummy = tensor_zeros(SHAPE(1), DT_F32, CPU);
    Safetensors *ref = NULL;
    int rc = torch_script_run("amp_ref.py", "amp_scaler", 1, (const char *const[]){"d"}, (Tensor *const[]){dummy}, args,
                              &ref);
    if (rc == 1) {
        optimizer_free(opt);
        tensor_free(p);
    }
    SKIP_NO_TORCH(rc);
    cJSON *res = cJSON_Parse(safetensors_meta(ref, "result"));
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(res, "scales"), *rt = cJSON_GetObjectItemCaseSensitive(res, "trackers");
    assert_int_equal(cJSON_GetArraySize(rs), N_STEPS);
    for (int k = 0; k < N_STEPS; k++) {
        print_message("step %2d inf %d: scale %8g tracker %d (reference %8g %d)\n", k, found_inf_seq[k], scales[k],
                      trackers[k], cJSON_GetArrayItem(rs, k)->valuedouble, cJSON_GetArrayItem(rt, k)->valueint);
        assert_true(scales[k] == cJSON_GetArrayItem(rs, k)->valuedouble);
        assert_int_equal(trackers[k], cJSON_GetArrayItem(rt, k)->valueint);
    }
    cJSON_Delete(res);
    safetensors_free(ref);
    /* state round trip, and bad states */
    char *json = grad_scaler_state_json(&s);
    assert_non_null(json);
    GradScaler t;
    grad_scaler_init(&t, true);
    assert_int_equal(grad_scaler_load_json(&t, json), 0);
    assert_true(t.scale == s.scale && t.growth_tracker == s.growth_tracker && t.growth_interval == 3);
    free(json);
    expect_failure(grad_scaler_load_json(&t, "{\"scale\": 1}") != 0, "GradScaler state", "growth_factor");
    expect_failure(grad_scaler_load_json(&t, "{\"scale\": 1, \"growth_factor\": 2, \"backoff_factor\": 0.5, "
                                             "\"growth_interval\": 3, \"_growth_tracker\": 7}") != 0,
                   "_growth_tracker", NULL);
    optimizer_free(opt);
    tensor_free(p);
    scope_end();
}

/* f16 overflow through the real autocast path. Batch 0's forward overflows
 * (4 * 1000 * 100 = 4e5 > 65504): the loss is inf. The sane batch's forward
 * is fine (y = 4), but its scaled gradient dloss/dy = y * scale reaches the
 * f16 tensor y as inf while scale * 4 > 65504 (at 32768 and at 16384, where
 * 65536 rounds to inf), as it would in PyTorch. So the scaler skips 3 steps,
 * backing off 65536 -> 32768 -> 16384 -> 8192, and steps at 8192. */
static void test_f16_overflow_skips_step(void **state)
{
    (void)state;
    scope_begin();
    Tensor *w = tensor_persist(tensor_set_requires_grad(tensor_full(SHAPE(1, 4), 100.0, DT_F32, CPU), true));
    SGDOptions so = sgd_defaults();
    so.lr = 1e-4;
    Optimizer *opt = optim_sgd((Tensor *[]){w}, 1, so);
    REQUIRE_OK(opt);
    GradScaler s;
    grad_scaler_init(&s, true);
    const double want_scale[4] = {32768.0, 16384.0, 8192.0, 8192.0};
    for (int k = 0; k < 4; k++) {
        scope_begin();
        AutocastState prev;
        assert_int_equal(autocast_begin(DT_F16, &prev), 0);
        Tensor *y = f_linear(tensor_full(SHAPE(2, 4), k == 0 ? 1000.0 : 0.01, DT_F32, CPU), w, NULL);
        Tensor *loss = f_mse_loss(y, tensor_zeros(SHAPE(2, 1), DT_F32, CPU), REDUCTION_MEAN);
        autocast_restore(prev);
        REQUIRE_OK(loss);
        assert_int_equal(y->dtype, DT_F16);
        assert_int_equal(loss->dtype, DT_F32);
        assert_true(k == 0 ? isinf(tensor_item(loss)) : isfinite(tensor_item(loss)));
        optimizer_zero_grad(opt, true);
        assert_int_equal(tensor_backward(grad_scaler_scale(&s, loss), NULL), 0);
        bool stepped;
        assert_int_equal(grad_scaler_step(&s, opt, &stepped), 0);
        grad_scaler_update(&s);
        print_message("step %d: %s, scale now %g\n", k, stepped ? "stepped" : "skipped", s.scale);
        assert_int_equal(stepped, k == 3);
        assert_true(s.scale == want_scale[k]);
        float w0 = tensor_f32(w)[0];
        if (k < 3) assert_float_equal(w0, 100.0f, 0.0f); /* untouched */
        else assert_true(w0 < 100.0f && s.growth_tracker == 1); /* d(mean y^2)/dw = 2 y x / 2 > 0 */
        scope_end();
    }
    optimizer_free(opt);
    tensor_free(w);
    scope_end();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conversions_match_torch),
        cmocka_unit_test(test_autocast_bf16_matches_torch),
        cmocka_unit_test(test_autocast_f16_matches_rounded_reference),
        cmocka_unit_test(test_native_bf16_products_match_emulation),
        cmocka_unit_test(test_native_bf16_convolutions_match_emulation),
        cmocka_unit_test(test_bf16_convolution_kernels_fall_back_exactly),
        cmocka_unit_test(test_bf16_product_kernel_matches_f32),
        cmocka_unit_test(test_policy_dtypes),
        cmocka_unit_test(test_keep_ops_match_torch),
        cmocka_unit_test(test_inplace_low_precision_matches_torch),
        cmocka_unit_test(test_safetensors_bf16_roundtrip),
        cmocka_unit_test(test_grad_scaler_sequence),
        cmocka_unit_test(test_f16_overflow_skips_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
