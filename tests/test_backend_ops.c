/* One op test program for every backend: each op of the public op API
 * (engine/ops.h, and the casts and copies of engine/tensor.h) on random
 * inputs, forward and backward, contiguous, strided (transposed, sliced with
 * a step), broadcast (stride 0) and holding NaN/+-Inf.
 *
 *   test_backend_ops       the CPU checks, which need no other backend:
 *     - layouts: each strided, broadcast or non-finite variant of a case
 *       against the same op on contiguous copies of the same values
 *       (outputs and input gradients within a tight tolerance, integers
 *       exactly), so a wrong strided or broadcast path fails;
 *     - gradients: backward against central finite differences (f32 inputs,
 *       the weighted loss summed in double, small sizes);
 *     - bf16/f16: the op on rounded low-precision inputs against the f32 op
 *       on the same rounded values, its result rounded once; the output and
 *       the gradients in the low dtype (where PyTorch refuses f16, the op
 *       must refuse it too, naming the dtype);
 *     - errors: bad targets, indices and probabilities give the messages;
 *     - coverage: see below.
 *   test_backend_ops gpu   every case on the CUDA backend against the CPU
 *     with the same layouts and values, per-case tolerances, in
 *     deterministic and in atomic mode (and TF32 for the products and
 *     convolutions); deterministic convolutions and max pooling repeat bit
 *     for bit; every case that has a bf16/f16 check on the CPU also runs
 *     on bf16/f16 inputs on the GPU against the CPU, in both modes (output
 *     and gradient dtypes, values within the low dtype's rounding), and
 *     linear and conv2d must take the native bf16/f16 kernels where the
 *     device has them; conversions between all five dtypes give the CPU's
 *     values and signs of zeros. Without a CUDA build, module or device it prints
 *     "SKIP: no CUDA device (...)" and ctest reports it as skipped
 *     (tests/CMakeLists.txt registers it as test_gpu_backend_ops).
 *
 * Coverage, in two halves that a new op or kernel without a test fails:
 *   - test_coverage reads engine/ops.h, engine/tensor.h and engine/backend.h
 *     from the source tree the engine is built from (ENGINE_SOURCE_DIR), so
 *     nothing is listed twice by hand: every function ops.h declares
 *     returning Tensor * or int must be the .op of some case, every case's
 *     .op must be declared in ops.h or tensor.h (no stale entries), and every
 *     function-pointer slot of struct Backend between "---- kernels" and
 *     "} Backend;" must be counted by the spy table below or be listed in
 *     kernels_tested_elsewhere[] with the test that covers it (optimizers);
 *   - the CPU cases run through a copy of the CPU backend's table whose
 *     kernels count their calls (install_spy), and test_kernels_reached,
 *     run after them, fails for a counted kernel that no case called. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/autocast.h"
#include "engine/autograd.h"
#include "engine/backend.h"
#include "engine/device.h"
#include "tests/support/check.h"
#include "tests/support/gpu_compare.h"
#include "tests/support/oracle.h"

#define MAX_IN 6
#define MAX_CASES 512

/* ---------------- cases ---------------- */

typedef enum {
    IN_NONE,     /* a NULL argument (no weight, no bias) */
    IN_NORMAL,   /* N(0, 1) + offset */
    IN_POS,      /* |N(0, 1)| + 0.5: log, sqrt, divisors, variances */
    IN_PROB,     /* U(0.05, 0.95): probabilities */
    IN_GRID,     /* distinct multiples of 0.1 (offset by 0.05) in random order: away from kinks and ties */
    IN_SMALLINT, /* integers in [-2, 2] as f32: ties on purpose */
    IN_CAST,     /* fractions, negatives, values beyond u8's range (then converted to .dtype) */
    IN_INDEX,    /* int64 in [lo, hi) */
    IN_MASK,     /* uint8 0/1 */
    IN_I64,      /* int64 in [-50, 50) */
    IN_I64_BIG,  /* int64 beyond 32 and 53 bits, some near INT64_MAX (wrapping arithmetic) */
    IN_U8,       /* uint8 */
} InKind;

typedef struct {
    InKind kind;
    Shape shape;
    bool grad;       /* a leaf that requires grad */
    int64_t lo, hi;  /* IN_INDEX */
    double offset;   /* IN_NORMAL */
    DType dtype;     /* IN_CAST: the dtype the values are converted to */
    bool contiguous; /* always passed contiguous (arguments the op updates in place, or must view) */
    bool no_bcast;   /* never a stride-0 view (in-place destinations) */
    const char *pattern; /* the NaN/Inf variant: put_nonfinite's pattern instead of one NaN, +Inf and -Inf */
} InputSpec;

typedef enum {
    F_NO_FD = 1 << 0,     /* no finite-difference check (non-smooth, rounding, or large) */
    F_LOWP = 1 << 1,      /* also on bf16/f16 inputs (CPU: against f32; GPU: against the CPU) */
    F_NONFINITE = 1 << 2, /* also with NaN/+-Inf in the inputs */
    F_NF_GRAD = 1 << 3,   /* ... and in the output gradient */
    F_TF32 = 1 << 5,      /* products and convolutions: also with TF32 on the GPU */
    F_REPEAT = 1 << 6,    /* deterministic GPU mode must repeat bit for bit */
    F_DET_EXACT = 1 << 7, /* deterministic GPU mode must give the CPU's bits */
    F_NO_LAYOUTS = 1 << 8, /* only contiguous inputs (t_view needs viewable strides) */
    F_NO_BCAST = 1 << 9,   /* no stride-0 variant: equal values along the reduced dim make it 0/0 */
    F_GPU_ONLY = 1 << 10,  /* sizes for the GPU's algorithm choices, too slow for the CPU's checks */
    F_GPU_EXACT = 1 << 11, /* the GPU must give the CPU's bits (conversions, fill: nothing to round) */
    F_NO_F16 = 1 << 12     /* with F_LOWP: f16 must be refused with an error (PyTorch's CPU kernels refuse it) */
} CaseFlags;

typedef enum {
    FAM_ELEMENTWISE, FAM_REDUCE, FAM_LINALG, FAM_CONV, FAM_POOL, FAM_NORM, FAM_INDEX, FAM_LOSS, FAM_VIEW, FAM_CAST,
    N_FAMILIES
} Family;

static const char *family_name[N_FAMILIES] = {"elementwise", "reductions", "linear algebra", "convolution",
                                              "pooling", "norms, softmax, dropout", "indexing", "losses",
                                              "views and copies", "casts, fill and copy_"};

typedef struct OpCase OpCase;
typedef Tensor *(*RunFn)(Tensor **in, void *ctx); /* ctx: the OpCase */

struct OpCase {
    const char *op;   /* the public function under test (the coverage key) */
    const char *note; /* what else tells this case apart, for the printed label */
    RunFn run;
    int n_in;
    InputSpec in[MAX_IN];
    /* arguments, as each run function reads them */
    int dim, dims[4], n_dims;
    bool keepdim, flag;
    double a, b;
    Shape shape;
    ConvParams conv;
    PoolParams pool;
    int64_t pads[8];
    int n_pads;
    Reduction red;
    int64_t n; /* ignore_index, padding_idx, num_classes, integer scalars */
    DType dtype;
    /* checking */
    unsigned flags;
    double gpu_tol, layout_tol, fd_tol; /* 0: the defaults below */
    Family family;
};

#define GPU_TOL 1e-4    /* the GPU's expf/tanhf, fused multiply-adds and summation order */
#define LAYOUT_TOL 2e-6 /* the same kernels on a copy: only a different summation order */
#define FD_TOL 1e-2
#define FD_EPS 1e-3
#define FD_ELEMS 24
#define TF32_TOL 1e-2 /* operands rounded to 10 mantissa bits */

static OpCase cases[MAX_CASES];
static int n_cases;

static void add(OpCase c)
{
    if (n_cases == MAX_CASES) {
        fprintf(stderr, "test_backend_ops: more than %d cases\n", MAX_CASES);
        abort();
    }
    cases[n_cases++] = c;
}

/* Input specs, for the case tables. */
#define SPEC(kind_, grad_, ...) ((InputSpec){.kind = (kind_), .grad = (grad_), .shape = SHAPE(__VA_ARGS__)})
#define X(...) SPEC(IN_NORMAL, true, __VA_ARGS__)
#define GRID(...) SPEC(IN_GRID, true, __VA_ARGS__)
#define POS(...) SPEC(IN_POS, true, __VA_ARGS__)
#define PROB(...) SPEC(IN_PROB, true, __VA_ARGS__)
#define TIES(...) SPEC(IN_SMALLINT, false, __VA_ARGS__)
#define MASK(...) SPEC(IN_MASK, false, __VA_ARGS__)
#define I64(...) SPEC(IN_I64, false, __VA_ARGS__)
#define IDX(hi_, ...) ((InputSpec){.kind = IN_INDEX, .hi = (hi_), .shape = SHAPE(__VA_ARGS__)})
#define NONE ((InputSpec){.kind = IN_NONE})

static InputSpec fixed(InputSpec s) /* always contiguous */
{
    s.contiguous = true;
    return s;
}
static InputSpec no_grad(InputSpec s)
{
    s.grad = false;
    return s;
}
static InputSpec as_dtype(InputSpec s, DType dt)
{
    s.dtype = dt;
    return s;
}

static ConvParams conv_p(int sh, int sw, int ph, int pw, int dh, int dw, int groups, int oph, int opw)
{
    return (ConvParams){.stride = {sh, sw}, .padding = {ph, pw}, .dilation = {dh, dw}, .groups = groups,
                        .output_padding = {oph, opw}};
}

static PoolParams pool_p(int kh, int kw, int sh, int sw, int ph, int pw, bool ceil_mode, bool count_include_pad)
{
    return (PoolParams){.kernel = {kh, kw}, .stride = {sh, sw}, .padding = {ph, pw}, .ceil_mode = ceil_mode,
                        .count_include_pad = count_include_pad};
}

static const OpCase *ctx_case(void *ctx) { return ctx; }
static const int *dims_of(const OpCase *c) { return c->n_dims ? c->dims : NULL; }

/* ---------------- elementwise ---------------- */

static Tensor *run_neg(Tensor **in, void *ctx) { return t_neg(in[0]); }
static Tensor *run_exp(Tensor **in, void *ctx) { return t_exp(in[0]); }
static Tensor *run_log(Tensor **in, void *ctx) { return t_log(in[0]); }
static Tensor *run_sqrt(Tensor **in, void *ctx) { return t_sqrt(in[0]); }
static Tensor *run_abs(Tensor **in, void *ctx) { return t_abs(in[0]); }
static Tensor *run_relu(Tensor **in, void *ctx) { return t_relu(in[0]); }
static Tensor *run_sigmoid(Tensor **in, void *ctx) { return t_sigmoid(in[0]); }
static Tensor *run_tanh(Tensor **in, void *ctx) { return t_tanh(in[0]); }
static Tensor *run_leaky_relu(Tensor **in, void *ctx) { return t_leaky_relu(in[0], ctx_case(ctx)->a); }
static Tensor *run_gelu(Tensor **in, void *ctx) { return t_gelu(in[0], ctx_case(ctx)->flag); }
static Tensor *run_clamp(Tensor **in, void *ctx) { return t_clamp(in[0], ctx_case(ctx)->a, ctx_case(ctx)->b); }
static Tensor *run_pow(Tensor **in, void *ctx) { return t_pow_scalar(in[0], ctx_case(ctx)->a); }
static Tensor *run_add_scalar(Tensor **in, void *ctx) { return t_add_scalar(in[0], ctx_case(ctx)->a); }
static Tensor *run_mul_scalar(Tensor **in, void *ctx) { return t_mul_scalar(in[0], ctx_case(ctx)->a); }
static Tensor *run_add(Tensor **in, void *ctx) { return t_add(in[0], in[1]); }
static Tensor *run_sub(Tensor **in, void *ctx) { return t_sub(in[0], in[1]); }
static Tensor *run_mul(Tensor **in, void *ctx) { return t_mul(in[0], in[1]); }
static Tensor *run_div(Tensor **in, void *ctx) { return t_div(in[0], in[1]); }
static Tensor *run_eq(Tensor **in, void *ctx) { return t_eq(in[0], in[1]); }
static Tensor *run_ne(Tensor **in, void *ctx) { return t_ne(in[0], in[1]); }
static Tensor *run_gt(Tensor **in, void *ctx) { return t_gt(in[0], in[1]); }
static Tensor *run_lt(Tensor **in, void *ctx) { return t_lt(in[0], in[1]); }
static Tensor *run_ge(Tensor **in, void *ctx) { return t_ge(in[0], in[1]); }
static Tensor *run_le(Tensor **in, void *ctx) { return t_le(in[0], in[1]); }
static Tensor *run_where(Tensor **in, void *ctx) { return t_where(in[0], in[1], in[2]); }
static Tensor *run_masked_fill(Tensor **in, void *ctx) { return t_masked_fill(in[0], in[1], ctx_case(ctx)->a); }

/* In-place ops: the result is the updated destination (in[0]). */
static Tensor *done(Tensor *dst, int rc) { return rc == 0 ? dst : NULL; }
static Tensor *run_add_(Tensor **in, void *ctx) { return done(in[0], t_add_(in[0], in[1], ctx_case(ctx)->a)); }
static Tensor *run_sub_(Tensor **in, void *ctx) { return done(in[0], t_sub_(in[0], in[1], ctx_case(ctx)->a)); }
static Tensor *run_mul_(Tensor **in, void *ctx) { return done(in[0], t_mul_(in[0], in[1])); }
static Tensor *run_add_scalar_(Tensor **in, void *ctx) { return done(in[0], t_add_scalar_(in[0], ctx_case(ctx)->a)); }
static Tensor *run_sub_scalar_(Tensor **in, void *ctx) { return done(in[0], t_sub_scalar_(in[0], ctx_case(ctx)->a)); }
static Tensor *run_mul_scalar_(Tensor **in, void *ctx) { return done(in[0], t_mul_scalar_(in[0], ctx_case(ctx)->a)); }
static Tensor *run_add_int_(Tensor **in, void *ctx) { return done(in[0], t_add_int_(in[0], ctx_case(ctx)->n)); }
static Tensor *run_sub_int_(Tensor **in, void *ctx) { return done(in[0], t_sub_int_(in[0], ctx_case(ctx)->n)); }
static Tensor *run_mul_int_(Tensor **in, void *ctx) { return done(in[0], t_mul_int_(in[0], ctx_case(ctx)->n)); }

static void add_unary(const char *op, RunFn run, InputSpec x, double a, double b, bool flag, const char *note,
                      unsigned flags)
{
    add((OpCase){.op = op, .note = note, .run = run, .n_in = 1, .in = {x}, .a = a, .b = b, .flag = flag,
                 .flags = flags | F_LOWP | F_NONFINITE, .family = FAM_ELEMENTWISE});
}

static void add_elementwise_cases(void)
{
    add_unary("t_neg", run_neg, X(5, 7), 0, 0, false, NULL, 0);
    add_unary("t_exp", run_exp, X(5, 7), 0, 0, false, NULL, 0);
    add_unary("t_log", run_log, POS(5, 7), 0, 0, false, NULL, 0);
    add_unary("t_sqrt", run_sqrt, POS(5, 7), 0, 0, false, NULL, 0);
    add_unary("t_abs", run_abs, GRID(5, 7), 0, 0, false, NULL, 0);
    add_unary("t_relu", run_relu, GRID(5, 7), 0, 0, false, NULL, 0);
    add_unary("t_leaky_relu", run_leaky_relu, GRID(5, 7), 0.1, 0, false, "slope 0.1", 0);
    add_unary("t_sigmoid", run_sigmoid, X(5, 7), 0, 0, false, NULL, 0);
    add_unary("t_tanh", run_tanh, X(5, 7), 0, 0, false, NULL, 0);
    add_unary("t_gelu", run_gelu, X(5, 7), 0, 0, false, "erf", 0);
    add_unary("t_gelu", run_gelu, X(5, 7), 0, 0, true, "tanh", 0);
    add_unary("t_clamp", run_clamp, GRID(5, 7), -0.5, 0.7, false, "[-0.5, 0.7]", 0);
    add_unary("t_clamp", run_clamp, GRID(5, 7), -0.3, INFINITY, false, "min only", 0);
    add_unary("t_pow_scalar", run_pow, X(5, 7), 2, 0, false, "^2", 0);
    add_unary("t_pow_scalar", run_pow, X(5, 7), 3, 0, false, "^3", 0);
    add_unary("t_pow_scalar", run_pow, POS(5, 7), 0.5, 0, false, "^0.5", 0);
    add_unary("t_pow_scalar", run_pow, POS(5, 7), -1.5, 0, false, "^-1.5", 0);
    add_unary("t_pow_scalar", run_pow, X(5, 7), 0, 0, false, "^0", 0);
    add_unary("t_add_scalar", run_add_scalar, X(5, 7), 2.5, 0, false, "+2.5", 0);
    add_unary("t_mul_scalar", run_mul_scalar, X(5, 7), -1.5, 0, false, "*-1.5", 0);
    add_unary("t_exp", run_exp, X(3, 3000), 0, 0, false, "long rows", F_NO_FD);

    /* binary ops over broadcasting shapes; divisors away from 0 */
    static const struct {
        const char *op;
        RunFn run;
    } binary[] = {{"t_add", run_add}, {"t_sub", run_sub}, {"t_mul", run_mul}, {"t_div", run_div}};
    const Shape shapes[][2] = {{SHAPE(3, 4), SHAPE(3, 4)}, {SHAPE(3, 4), SHAPE(4)}, {SHAPE(2, 1, 4), SHAPE(3, 1)},
                               {SHAPE(1), SHAPE(4, 3)}};
    for (int o = 0; o < 4; o++)
        for (int s = 0; s < 4; s++) {
            InputSpec a = {.kind = IN_NORMAL, .grad = true, .shape = shapes[s][0]};
            InputSpec b = {.kind = o == 3 ? IN_POS : IN_NORMAL, .grad = true, .shape = shapes[s][1]};
            add((OpCase){.op = binary[o].op, .run = binary[o].run, .n_in = 2, .in = {a, b},
                         .flags = F_LOWP | F_NONFINITE | F_NF_GRAD, .family = FAM_ELEMENTWISE});
        }
    /* comparisons: small integers so that ties occur, f32 and int64 */
    static const struct {
        const char *op;
        RunFn run;
    } cmp[] = {{"t_eq", run_eq}, {"t_ne", run_ne}, {"t_gt", run_gt}, {"t_lt", run_lt}, {"t_ge", run_ge}, {"t_le", run_le}};
    for (int k = 0; k < 6; k++) {
        add((OpCase){.op = cmp[k].op, .note = "f32", .run = cmp[k].run, .n_in = 2, .in = {TIES(4, 6), TIES(6)},
                     .flags = F_LOWP | F_NONFINITE, .family = FAM_ELEMENTWISE});
        add((OpCase){.op = cmp[k].op, .note = "int64", .run = cmp[k].run, .n_in = 2, .in = {I64(4, 6), I64(4, 1)},
                     .family = FAM_ELEMENTWISE});
    }
    add((OpCase){.op = "t_where", .run = run_where, .n_in = 3, .in = {MASK(4, 1), X(4, 6), X(6)},
                 .flags = F_LOWP | F_NONFINITE | F_NF_GRAD, .family = FAM_ELEMENTWISE});
    add((OpCase){.op = "t_masked_fill", .run = run_masked_fill, .n_in = 2, .in = {X(4, 6), MASK(4, 1)}, .a = -7.5,
                 .flags = F_LOWP | F_NONFINITE, .family = FAM_ELEMENTWISE});

    /* in place, no autograd: f32 and exact wrapping int64 */
    InputSpec dst_f = no_grad(X(6, 4)), dst_i = {.kind = IN_I64_BIG, .shape = SHAPE(7, 33)};
    dst_f.no_bcast = dst_i.no_bcast = true;
    InputSpec src_big = {.kind = IN_I64_BIG, .shape = SHAPE(33)}, src_u8 = {.kind = IN_U8, .shape = SHAPE(33)};
    const struct {
        const char *op, *note;
        RunFn run;
        InputSpec dst, src;
        double a;
        int64_t s;
    } inplace[] = {
        {"t_add_", "f32 += f32 * -0.75, broadcast", run_add_, dst_f, no_grad(X(4)), -0.75, 0},
        {"t_add_", "f32 += int64 * 0.5", run_add_, dst_f, I64(6, 4), 0.5, 0},
        {"t_add_", "int64 += int64 * 3, broadcast", run_add_, dst_i, src_big, 3, 0},
        {"t_add_", "int64 += uint8", run_add_, dst_i, src_u8, 1, 0},
        {"t_sub_", "int64 -= int64 * -2", run_sub_, dst_i, src_big, -2, 0},
        {"t_sub_", "f32 -= f32 * 2", run_sub_, dst_f, no_grad(X(6, 1)), 2, 0},
        {"t_mul_", "int64 *= int64 (wraps)", run_mul_, dst_i, src_big, 1, 0},
        {"t_mul_", "f32 *= f32, broadcast", run_mul_, dst_f, no_grad(X(6, 1)), 1, 0},
        {"t_add_scalar_", "int64 += 1", run_add_scalar_, dst_i, NONE, 1, 0},
        {"t_add_scalar_", "0-dim int64 += 1", run_add_scalar_, {.kind = IN_I64_BIG, .shape = SCALAR_SHAPE}, NONE, 1, 0},
        {"t_add_scalar_", "f32 += -2.25", run_add_scalar_, dst_f, NONE, -2.25, 0},
        {"t_sub_scalar_", "f32 -= 1.5", run_sub_scalar_, dst_f, NONE, 1.5, 0},
        {"t_mul_scalar_", "f32 *= 3.25", run_mul_scalar_, dst_f, NONE, 3.25, 0},
        {"t_mul_scalar_", "int64 *= -3", run_mul_scalar_, dst_i, NONE, -3, 0},
        {"t_add_int_", "int64 += 2^62 + 1", run_add_int_, dst_i, NONE, 0, (INT64_C(1) << 62) + 1},
        {"t_sub_int_", "int64 -= 2^62 + 1", run_sub_int_, dst_i, NONE, 0, (INT64_C(1) << 62) + 1},
        {"t_mul_int_", "int64 *= 2^53 + 3", run_mul_int_, dst_i, NONE, 0, (INT64_C(1) << 53) + 3},
    };
    for (size_t k = 0; k < sizeof inplace / sizeof inplace[0]; k++)
        add((OpCase){.op = inplace[k].op, .note = inplace[k].note, .run = inplace[k].run,
                     .n_in = inplace[k].src.kind == IN_NONE ? 1 : 2, .in = {inplace[k].dst, inplace[k].src},
                     .a = inplace[k].a, .n = inplace[k].s, .gpu_tol = 1e-6, .family = FAM_ELEMENTWISE});
}

/* ---------------- reductions ---------------- */

static Tensor *run_sum(Tensor **in, void *ctx)
{
    const OpCase *c = ctx;
    return t_sum(in[0], dims_of(c), c->n_dims, c->keepdim);
}
static Tensor *run_mean(Tensor **in, void *ctx)
{
    const OpCase *c = ctx;
    return t_mean(in[0], dims_of(c), c->n_dims, c->keepdim);
}
static Tensor *run_var(Tensor **in, void *ctx)
{
    const OpCase *c = ctx;
    return t_var(in[0], dims_of(c), c->n_dims, (int)c->a, c->keepdim);
}
static Tensor *run_std(Tensor **in, void *ctx)
{
    const OpCase *c = ctx;
    return t_std(in[0], dims_of(c), c->n_dims, (int)c->a, c->keepdim);
}
static Tensor *run_amax(Tensor **in, void *ctx)
{
    const OpCase *c = ctx;
    return t_amax(in[0], dims_of(c), c->n_dims, c->keepdim);
}
static Tensor *run_amin(Tensor **in, void *ctx)
{
    const OpCase *c = ctx;
    return t_amin(in[0], dims_of(c), c->n_dims, c->keepdim);
}
/* flag: the indices instead of the values */
static Tensor *run_max_dim(Tensor **in, void *ctx)
{
    const OpCase *c = ctx;
    Tensor *idx = NULL, *v = t_max_dim(in[0], c->dim, c->keepdim, &idx);
    return c->flag ? idx : v;
}
static Tensor *run_min_dim(Tensor **in, void *ctx)
{
    const OpCase *c = ctx;
    Tensor *idx = NULL, *v = t_min_dim(in[0], c->dim, c->keepdim, &idx);
    return c->flag ? idx : v;
}
static Tensor *run_argmax(Tensor **in, void *ctx) { return t_argmax(in[0], ctx_case(ctx)->dim, ctx_case(ctx)->keepdim); }
static Tensor *run_argmin(Tensor **in, void *ctx) { return t_argmin(in[0], ctx_case(ctx)->dim, ctx_case(ctx)->keepdim); }
static Tensor *run_argmax_all(Tensor **in, void *ctx) { return t_argmax_all(in[0]); }

static Tensor *run_count_in_top_k(Tensor **in, void *ctx)
{
    return t_count_in_top_k(in[0], in[1], (int)ctx_case(ctx)->n);
}

/* Ties, targets out of range, NaN and +-Inf rows (the counts against a
 * direct one: tests/test_metric.c). */
static void add_count_cases(void)
{
    const char *notes[] = {"k 1", "k 4", "k 7"};
    for (int k = 1, i = 0; k <= 7; k += 3, i++)
        add((OpCase){.op = "t_count_in_top_k", .note = notes[i], .run = run_count_in_top_k, .n_in = 2,
                     .in = {TIES(40, 7), {.kind = IN_INDEX, .lo = -1, .hi = 8, .shape = SHAPE(40)}}, .n = k,
                     .flags = F_NONFINITE | F_NO_FD, .family = FAM_REDUCE});
}

static void add_reduction_cases(void)
{
    static const struct {
        const char *op;
        RunFn run;
        double correction;
        bool grid; /* amax/amin: distinct values, so the gradient has one home */
    } ops[] = {{"t_sum", run_sum, 0, false}, {"t_mean", run_mean, 0, false}, {"t_var", run_var, 1, false},
               {"t_var", run_var, 0, false}, {"t_std", run_std, 1, false},   {"t_std", run_std, 0, false},
               {"t_amax", run_amax, 0, true}, {"t_amin", run_amin, 0, true}};
    const struct {
        Shape shape;
        int dims[4], n_dims;
        bool keepdim;
        const char *note;
    } configs[] = {{SHAPE(5, 6), {1}, 1, false, "dim 1"},
                   {SHAPE(5, 6), {0}, 1, true, "dim 0 keepdim"},
                   {SHAPE(2, 3, 4, 5), {0, 2, 3}, 3, true, "dims 0,2,3 keepdim"},
                   {SHAPE(2, 3, 4, 5), {1, -1}, 2, false, "dims 1,-1"},
                   {SHAPE(4, 5), {0}, 0, false, "all"}};
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
        for (size_t k = 0; k < sizeof configs / sizeof configs[0]; k++) {
            OpCase c = {.op = ops[o].op, .note = configs[k].note, .run = ops[o].run, .n_in = 1,
                        .in = {{.kind = ops[o].grid ? IN_GRID : IN_NORMAL, .grad = true, .shape = configs[k].shape}},
                        .n_dims = configs[k].n_dims, .keepdim = configs[k].keepdim, .a = ops[o].correction,
                        .flags = F_NONFINITE | F_LOWP, .family = FAM_REDUCE};
            memcpy(c.dims, configs[k].dims, sizeof c.dims);
            if (ops[o].correction == 1 || ops[o].run == run_var || ops[o].run == run_std)
                if (c.n_dims == 1 && c.dims[0] == 0) c.flags |= F_NO_BCAST;
            add(c);
        }
    /* the GPU's block-per-output, chunked and column layouts (no bf16/f16: those are CPU tensors) */
    const struct {
        const char *op;
        RunFn run;
        Shape shape;
        int dim; /* 9: all dims */
    } big[] = {{"t_sum", run_sum, SHAPE(4, 20000), 1},   {"t_var", run_var, SHAPE(200000, 3), 0},
               {"t_mean", run_mean, SHAPE(2000, 50), 0}, {"t_amax", run_amax, SHAPE(600000), 9},
               {"t_std", run_std, SHAPE(1000, 7), 1},    {"t_sum", run_sum, SHAPE(3, 3000), 9}};
    for (size_t k = 0; k < sizeof big / sizeof big[0]; k++)
        add((OpCase){.op = big[k].op, .note = "large", .run = big[k].run, .n_in = 1,
                     .in = {{.kind = IN_NORMAL, .grad = true, .shape = big[k].shape}}, .dims = {big[k].dim},
                     .n_dims = big[k].dim == 9 ? 0 : 1, .a = 1, .flags = F_NO_FD | F_NONFINITE | F_NO_BCAST,
                     .family = FAM_REDUCE});

    /* an empty reduced dim: sum 0, mean/var/std NaN */
    static const RunFn empty[] = {run_sum, run_mean, run_var, run_std};
    static const char *empty_ops[] = {"t_sum", "t_mean", "t_var", "t_std"};
    for (int k = 0; k < 4; k++)
        add((OpCase){.op = empty_ops[k], .note = "empty dim", .run = empty[k], .n_in = 1, .in = {X(0, 4)}, .dims = {0},
                     .n_dims = 1, .a = 1, .flags = F_NO_FD | F_LOWP, .family = FAM_REDUCE});

    /* max/min along a dim: values (differentiable) and indices (exact, first of ties) */
    static const struct {
        const char *op;
        RunFn run;
    } mm[] = {{"t_max_dim", run_max_dim}, {"t_min_dim", run_min_dim}};
    for (int k = 0; k < 2; k++) {
        add((OpCase){.op = mm[k].op, .note = "values dim 1", .run = mm[k].run, .n_in = 1, .in = {GRID(5, 6)}, .dim = 1,
                     .flags = F_NONFINITE | F_LOWP, .family = FAM_REDUCE});
        add((OpCase){.op = mm[k].op, .note = "values dim 1 keepdim", .run = mm[k].run, .n_in = 1,
                     .in = {GRID(6, 7, 8)}, .dim = 1, .keepdim = true, .flags = F_NONFINITE | F_LOWP,
                     .family = FAM_REDUCE});
        add((OpCase){.op = mm[k].op, .note = "indices, ties", .run = mm[k].run, .n_in = 1, .in = {TIES(20, 30)},
                     .dim = 1, .flag = true, .flags = F_NONFINITE | F_LOWP, .family = FAM_REDUCE});
        add((OpCase){.op = mm[k].op, .note = "indices, ties, dim 0", .run = mm[k].run, .n_in = 1, .in = {TIES(20, 30)},
                     .dim = 0, .flag = true, .flags = F_LOWP, .family = FAM_REDUCE});
        add((OpCase){.op = mm[k].op, .note = "values, long rows", .run = mm[k].run, .n_in = 1, .in = {X(3, 10000)},
                     .dim = 1, .flags = F_NO_FD, .family = FAM_REDUCE});
        add((OpCase){.op = mm[k].op, .note = "indices, long columns", .run = mm[k].run, .n_in = 1,
                     .in = {X(2, 50000, 3)}, .dim = 1, .flag = true, .family = FAM_REDUCE});
        add((OpCase){.op = mm[k].op, .note = "indices, ties across chunks", .run = mm[k].run, .n_in = 1,
                     .in = {TIES(2, 50000)}, .dim = 1, .flag = true, .family = FAM_REDUCE});
    }
    add((OpCase){.op = "t_argmax", .note = "ties", .run = run_argmax, .n_in = 1, .in = {TIES(6, 40)}, .dim = 1,
                 .flags = F_NONFINITE | F_LOWP, .family = FAM_REDUCE});
    add((OpCase){.op = "t_argmin", .note = "ties keepdim", .run = run_argmin, .n_in = 1, .in = {TIES(6, 40)}, .dim = 0,
                 .keepdim = true, .flags = F_NONFINITE | F_LOWP, .family = FAM_REDUCE});
    add((OpCase){.op = "t_argmax_all", .run = run_argmax_all, .n_in = 1, .in = {X(300, 70)}, .flags = F_NONFINITE,
                 .family = FAM_REDUCE});
}

/* ---------------- linear algebra ---------------- */

static Tensor *run_mm(Tensor **in, void *ctx) { return t_mm(in[0], in[1]); }
static Tensor *run_bmm(Tensor **in, void *ctx) { return t_bmm(in[0], in[1]); }
static Tensor *run_dot(Tensor **in, void *ctx) { return t_dot(in[0], in[1]); }
static Tensor *run_matmul(Tensor **in, void *ctx) { return t_matmul(in[0], in[1]); }
static Tensor *run_linear(Tensor **in, void *ctx) { return f_linear(in[0], in[1], in[2]); }

static void add_product(const char *op, RunFn run, InputSpec a, InputSpec b, InputSpec c, unsigned flags)
{
    add((OpCase){.op = op, .run = run, .n_in = run == run_linear ? 3 : 2, .in = {a, b, c},
                 .layout_tol = 1e-5, .flags = flags | F_LOWP | F_TF32, .family = FAM_LINALG});
}

static void add_linalg_cases(void)
{
    add_product("t_mm", run_mm, X(5, 7), X(7, 3), NONE, 0);
    add_product("t_mm", run_mm, X(1, 9), X(9, 1), NONE, 0);
    add_product("t_mm", run_mm, X(130, 257), X(257, 65), NONE, F_NO_FD);
    /* one operand strided, the other contiguous: each transposition flag alone */
    add_product("t_mm", run_mm, X(6, 4), fixed(X(4, 8)), NONE, 0);
    add_product("t_mm", run_mm, fixed(X(6, 4)), X(4, 8), NONE, 0);
    add_product("t_mm", run_mm, fixed(X(130, 257)), X(257, 65), NONE, F_NO_FD);
    add_product("t_bmm", run_bmm, X(4, 5, 6), X(4, 6, 3), NONE, 0);
    add_product("t_dot", run_dot, X(37), X(37), NONE, 0);
    add_product("t_matmul", run_matmul, X(2, 3, 4, 5), X(5, 6), NONE, 0);  /* the batch folds into rows */
    add_product("t_matmul", run_matmul, X(4, 5), X(2, 3, 5, 6), NONE, 0);  /* left operand broadcast */
    add_product("t_matmul", run_matmul, X(3, 1, 4, 5), X(2, 5, 6), NONE, 0); /* batch dims without one stride */
    add_product("t_matmul", run_matmul, X(2, 1, 3, 4, 5), X(1, 4, 1, 5, 2), NONE, 0);
    add_product("t_matmul", run_matmul, X(6, 16, 32), X(6, 32, 16), NONE, F_NO_FD);
    add_product("t_matmul", run_matmul, X(5), X(5, 3), NONE, 0);
    add_product("t_matmul", run_matmul, X(2, 4, 5), X(5), NONE, 0);
    add_product("t_matmul", run_matmul, X(3, 0), X(0, 4), NONE, 0); /* an empty sum: zeros */
    add_product("f_linear", run_linear, X(8, 20), X(10, 20), X(10), 0);
    add_product("f_linear", run_linear, X(2, 3, 20), X(7, 20), NONE, 0);
    add_product("f_linear", run_linear, X(64, 320), X(50, 320), X(50), F_NO_FD);
}

/* ---------------- convolution ---------------- */

static Tensor *run_conv2d(Tensor **in, void *ctx) { return f_conv2d(in[0], in[1], in[2], ctx_case(ctx)->conv); }
static Tensor *run_conv_transpose2d(Tensor **in, void *ctx)
{
    return f_conv_transpose2d(in[0], in[1], in[2], ctx_case(ctx)->conv);
}

static void add_conv(const char *op, Shape x, Shape w, bool bias, ConvParams p, const char *note, unsigned flags)
{
    bool transposed = strcmp(op, "f_conv_transpose2d") == 0;
    int64_t out_channels = transposed ? w.d[1] * p.groups : w.d[0];
    InputSpec b = bias ? X(out_channels) : NONE;
    add((OpCase){.op = op, .note = note, .run = transposed ? run_conv_transpose2d : run_conv2d, .n_in = 3,
                 .in = {{.kind = IN_NORMAL, .grad = true, .shape = x}, {.kind = IN_NORMAL, .grad = true, .shape = w}, b},
                 .conv = p, .layout_tol = 1e-5, .fd_tol = 2e-2,
                 .flags = flags | F_LOWP | F_TF32 | F_REPEAT, .family = FAM_CONV});
}

static void add_conv_cases(void)
{
    const char *c2 = "f_conv2d", *ct = "f_conv_transpose2d";
    add_conv(c2, SHAPE(2, 3, 8, 8), SHAPE(4, 3, 3, 3), true, conv_p(1, 1, 1, 1, 1, 1, 1, 0, 0), "s1 p1", 0);
    add_conv(c2, SHAPE(2, 3, 9, 9), SHAPE(5, 3, 3, 3), true, conv_p(2, 2, 1, 1, 1, 1, 1, 0, 0), "s2 p1", 0);
    add_conv(c2, SHAPE(1, 4, 10, 10), SHAPE(6, 4, 3, 3), false, conv_p(1, 1, 2, 2, 2, 2, 1, 0, 0), "p2 d2", 0);
    add_conv(c2, SHAPE(2, 4, 7, 7), SHAPE(6, 2, 3, 3), true, conv_p(1, 1, 0, 0, 1, 1, 2, 0, 0), "groups 2", 0);
    add_conv(c2, SHAPE(3, 6, 8, 8), SHAPE(6, 1, 3, 3), true, conv_p(2, 2, 1, 1, 1, 1, 6, 0, 0), "depthwise", 0);
    add_conv(c2, SHAPE(2, 5, 6, 6), SHAPE(7, 5, 1, 1), true, conv_p(1, 1, 0, 0, 1, 1, 1, 0, 0), "1x1", 0);
    add_conv(c2, SHAPE(2, 3, 12, 12), SHAPE(4, 3, 5, 5), false, conv_p(3, 3, 2, 2, 2, 2, 1, 0, 0), "k5 s3 p2 d2", 0);
    add_conv(c2, SHAPE(2, 3, 9, 7), SHAPE(4, 3, 3, 2), true, conv_p(2, 1, 1, 0, 1, 2, 1, 0, 0), "k3x2 s2,1 d1,2", 0);
    add_conv(c2, SHAPE(64, 10, 12, 12), SHAPE(20, 10, 5, 5), true, conv_p(1, 1, 0, 0, 1, 1, 1, 0, 0),
             "MnistModel conv2", F_NO_FD);
    add_conv(c2, SHAPE(64, 1, 28, 28), SHAPE(10, 1, 5, 5), true, conv_p(1, 1, 0, 0, 1, 1, 1, 0, 0),
             "MnistModel conv1", F_NO_FD);
    add_conv(c2, SHAPE(8, 32, 28, 28), SHAPE(64, 32, 3, 3), true, conv_p(1, 1, 1, 1, 1, 1, 1, 0, 0),
             "wide, with workspace", F_NO_FD | F_GPU_ONLY);
    add_conv(ct, SHAPE(2, 4, 8, 8), SHAPE(4, 3, 3, 3), true, conv_p(1, 1, 1, 1, 1, 1, 1, 0, 0), "s1 p1", 0);
    add_conv(ct, SHAPE(2, 5, 9, 9), SHAPE(5, 3, 3, 3), true, conv_p(2, 2, 1, 1, 1, 1, 1, 0, 0), "s2 p1", 0);
    add_conv(ct, SHAPE(2, 6, 7, 7), SHAPE(6, 2, 3, 3), true, conv_p(1, 1, 0, 0, 1, 1, 2, 0, 0), "groups 2", 0);
    add_conv(ct, SHAPE(3, 6, 8, 8), SHAPE(6, 1, 3, 3), false, conv_p(2, 2, 1, 1, 1, 1, 6, 0, 0), "depthwise", 0);
    add_conv(ct, SHAPE(2, 4, 5, 6), SHAPE(4, 3, 3, 3), true, conv_p(2, 3, 1, 1, 1, 1, 1, 1, 2), "output_padding", 0);
    add_conv(ct, SHAPE(2, 4, 5, 5), SHAPE(4, 3, 3, 3), true, conv_p(2, 2, 0, 1, 1, 1, 2, 1, 0),
             "groups 2, output_padding", 0);
    /* output_padding past the stride (allowed below the dilation): staged output on the GPU */
    add_conv(ct, SHAPE(2, 3, 6, 5), SHAPE(3, 4, 3, 2), true, conv_p(1, 1, 1, 0, 3, 2, 1, 2, 1),
             "output_padding past the stride", 0);
}

/* conv2d then max_pool2d, fused where the backend fuses them; inputs that
 * need a gradient and inputs that do not (a network's first layer). */
static Tensor *run_conv2d_max_pool2d(Tensor **in, void *ctx)
{
    return f_conv2d_max_pool2d(in[0], in[1], in[2], ctx_case(ctx)->conv, ctx_case(ctx)->pool);
}

/* Not on bf16/f16 inputs: rounding the convolution's output makes ties
 * in the windows, which the f32 reference settles elsewhere (a gradient on
 * another cell); not fused there either. No finite differences: a window
 * whose two largest outputs lie closer than the step has a kink there, and
 * random convolution outputs have some (test_conv.c checks the fused op
 * bit for bit against conv2d and max_pool2d, which are checked here). */
static void add_conv_pool(Shape x, bool x_grad, Shape w, bool bias, ConvParams cp, PoolParams pp, const char *note)
{
    InputSpec b = bias ? X(w.d[0]) : NONE;
    add((OpCase){.op = "f_conv2d_max_pool2d", .note = note, .run = run_conv2d_max_pool2d, .n_in = 3,
                 .in = {{.kind = IN_NORMAL, .grad = x_grad, .shape = x}, {.kind = IN_NORMAL, .grad = true, .shape = w}, b},
                 .conv = cp, .pool = pp, .layout_tol = 1e-5, .flags = F_NO_FD, .family = FAM_CONV});
}

static void add_conv_pool_cases(void)
{
    ConvParams plain = conv_p(1, 1, 0, 0, 1, 1, 1, 0, 0);
    add_conv_pool(SHAPE(6, 1, 28, 28), false, SHAPE(10, 1, 5, 5), true, plain, pool_p(2, 2, 2, 2, 0, 0, false, true),
                  "MnistModel conv1, k2 s2");
    add_conv_pool(SHAPE(2, 3, 9, 9), true, SHAPE(4, 3, 3, 3), true, conv_p(1, 1, 1, 1, 1, 1, 1, 0, 0),
                  pool_p(3, 3, 2, 2, 1, 1, false, true), "input gradient, k3 s2 p1 (overlapping)");
    add_conv_pool(SHAPE(3, 2, 11, 10), false, SHAPE(5, 2, 3, 2), true, conv_p(2, 1, 1, 0, 1, 2, 1, 0, 0),
                  pool_p(3, 2, 2, 1, 1, 0, true, true), "conv s2,1 d1,2, pool k3x2 s2x1 p1x0 ceil");
    add_conv_pool(SHAPE(2, 4, 9, 9), false, SHAPE(6, 2, 3, 3), false, conv_p(1, 1, 0, 0, 1, 1, 2, 0, 0),
                  pool_p(2, 2, 2, 2, 0, 0, false, true), "groups 2, no bias, odd planes");
    add_conv_pool(SHAPE(2, 20, 8, 8), false, SHAPE(3, 20, 5, 5), true, plain, pool_p(2, 2, 2, 2, 0, 0, false, true),
                  "500 taps: not fused");
}

/* ---------------- pooling ---------------- */

static Tensor *run_max_pool2d(Tensor **in, void *ctx) { return f_max_pool2d(in[0], ctx_case(ctx)->pool); }
/* The indices the op saves for its backward (flat within each plane). */
static Tensor *run_max_pool2d_indices(Tensor **in, void *ctx)
{
    Tensor *y = f_max_pool2d(in[0], ctx_case(ctx)->pool);
    if (!y || !y->grad_fn) return NULL;
    return y->grad_fn->saved[0];
}
static Tensor *run_avg_pool2d(Tensor **in, void *ctx) { return f_avg_pool2d(in[0], ctx_case(ctx)->pool); }
static Tensor *run_adaptive_avg_pool2d(Tensor **in, void *ctx)
{
    return f_adaptive_avg_pool2d(in[0], ctx_case(ctx)->shape.d[0], ctx_case(ctx)->shape.d[1]);
}

static void add_pool_cases(void)
{
    const struct {
        PoolParams p;
        const char *note;
    } max_cases[] = {{pool_p(2, 2, 2, 2, 0, 0, false, true), "k2 s2"},
                     {pool_p(3, 3, 2, 2, 1, 1, false, true), "k3 s2 p1"},
                     {pool_p(3, 3, 1, 1, 1, 1, false, true), "k3 s1 p1 (overlapping)"},
                     {pool_p(3, 2, 2, 1, 1, 0, true, true), "k3x2 s2x1 p1x0 ceil"},
                     {pool_p(2, 2, 2, 2, 0, 0, true, true), "k2 s2 ceil (partial windows)"}};
    for (size_t k = 0; k < sizeof max_cases / sizeof max_cases[0]; k++) {
        add((OpCase){.op = "f_max_pool2d", .note = max_cases[k].note, .run = run_max_pool2d, .n_in = 1,
                     .in = {GRID(2, 3, 9, 7)}, .pool = max_cases[k].p,
                     .flags = F_LOWP | F_NONFINITE | F_REPEAT | F_DET_EXACT, .family = FAM_POOL});
        add((OpCase){.op = "f_max_pool2d", .note = "indices, ties", .run = run_max_pool2d_indices, .n_in = 1,
                     .in = {SPEC(IN_SMALLINT, true, 2, 3, 9, 7)}, .pool = max_cases[k].p, .flags = F_NONFINITE | F_NO_FD,
                     .family = FAM_POOL});
    }
    /* few distinct values: overlapping windows share maxima, and their gradients add up */
    add((OpCase){.op = "f_max_pool2d", .note = "ties, overlapping", .run = run_max_pool2d, .n_in = 1,
                 .in = {SPEC(IN_SMALLINT, true, 2, 4, 11, 10)}, .pool = pool_p(3, 3, 1, 1, 1, 1, false, true),
                 .flags = F_NO_FD | F_REPEAT | F_DET_EXACT, .family = FAM_POOL});
    const struct {
        PoolParams p;
        const char *note;
    } avg_cases[] = {{pool_p(2, 2, 2, 2, 0, 0, false, true), "k2 s2"},
                     {pool_p(3, 3, 2, 2, 1, 1, false, true), "k3 s2 p1 counting padding"},
                     {pool_p(3, 3, 2, 2, 1, 1, false, false), "k3 s2 p1 not counting padding"},
                     {pool_p(3, 2, 1, 2, 1, 1, true, true), "k3x2 s1x2 p1 ceil counting padding"},
                     {pool_p(3, 3, 2, 2, 1, 1, true, false), "k3 s2 p1 ceil not counting padding"}};
    for (size_t k = 0; k < sizeof avg_cases / sizeof avg_cases[0]; k++)
        add((OpCase){.op = "f_avg_pool2d", .note = avg_cases[k].note, .run = run_avg_pool2d, .n_in = 1,
                     .in = {X(2, 3, 10, 9)}, .pool = avg_cases[k].p, .flags = F_LOWP | F_NONFINITE,
                     .family = FAM_POOL});
    const int64_t adaptive[][4] = {{7, 7, 3, 3}, {5, 9, 2, 4}, {3, 3, 5, 5}, {6, 4, 1, 1}, {8, 8, 8, 8}, {10, 3, 4, 7}};
    for (int k = 0; k < 6; k++)
        add((OpCase){.op = "f_adaptive_avg_pool2d", .run = run_adaptive_avg_pool2d, .n_in = 1,
                     .in = {X(2, 3, adaptive[k][0], adaptive[k][1])}, .shape = SHAPE(adaptive[k][2], adaptive[k][3]),
                     .flags = F_LOWP | F_NONFINITE, .family = FAM_POOL});
}

/* ---------------- norms, softmax, dropout ---------------- */

/* in: x, weight, bias, running_mean, running_var; flag: training */
static Tensor *run_batch_norm(Tensor **in, void *ctx)
{
    return f_batch_norm(in[0], in[3], in[4], in[1], in[2], ctx_case(ctx)->flag, 0.1, 1e-5);
}
/* The running statistics after one training call, side by side. */
static Tensor *run_batch_norm_running(Tensor **in, void *ctx)
{
    if (!f_batch_norm(in[0], in[3], in[4], in[1], in[2], true, 0.1, 1e-5)) return NULL;
    return t_cat((Tensor *[]){in[3], in[4]}, 2, 0);
}
static Tensor *run_layer_norm(Tensor **in, void *ctx) { return f_layer_norm(in[0], ctx_case(ctx)->shape, in[1], in[2], 1e-5); }
static Tensor *run_softmax(Tensor **in, void *ctx) { return f_softmax(in[0], ctx_case(ctx)->dim); }
static Tensor *run_log_softmax(Tensor **in, void *ctx) { return f_log_softmax(in[0], ctx_case(ctx)->dim); }
/* A generator seeded the same for every call: the same mask on every run and device. */
static Tensor *run_dropout(Tensor **in, void *ctx)
{
    Generator g;
    generator_seed(&g, 99);
    return f_dropout(in[0], ctx_case(ctx)->a, ctx_case(ctx)->flag, &g);
}
static Tensor *run_dropout2d(Tensor **in, void *ctx)
{
    Generator g;
    generator_seed(&g, 99);
    return f_dropout2d(in[0], ctx_case(ctx)->a, ctx_case(ctx)->flag, &g);
}

static void add_batch_norm(Shape x, bool training, bool affine, bool running, double offset, unsigned flags,
                           const char *note)
{
    int64_t c = x.d[1];
    InputSpec xs = {.kind = IN_NORMAL, .grad = true, .shape = x, .offset = offset};
    InputSpec mean = fixed(no_grad(X(c))), var = fixed(no_grad(POS(c)));
    add((OpCase){.op = "f_batch_norm", .note = note, .run = run_batch_norm, .n_in = 5,
                 .in = {xs, affine ? X(c) : NONE, affine ? X(c) : NONE, running ? mean : NONE, running ? var : NONE},
                 .flag = training, .flags = flags | F_LOWP | F_NONFINITE, .family = FAM_NORM});
}

static void add_norm_cases(void)
{
    add_batch_norm(SHAPE(8, 6, 5, 7), true, true, true, 0, 0, "train, affine, running");
    add_batch_norm(SHAPE(16, 10), true, false, true, 0, 0, "train [N, C]");
    add_batch_norm(SHAPE(4, 3, 4), true, true, false, 0, 0, "train [N, C, L]");
    add_batch_norm(SHAPE(6, 5, 40), true, true, false, 100, F_NO_FD, "train, mean 100");
    add_batch_norm(SHAPE(32, 16, 24, 24), true, true, true, 0, F_NO_FD, "train, large");
    add_batch_norm(SHAPE(2048, 64), true, true, true, 0, F_NO_FD, "train [N, C], large");
    add_batch_norm(SHAPE(8, 6, 5, 7), false, true, true, 0, 0, "eval, affine");
    add_batch_norm(SHAPE(16, 10), false, false, true, 0, 0, "eval [N, C]");
    add((OpCase){.op = "f_batch_norm", .note = "running statistics after training", .run = run_batch_norm_running,
                 .n_in = 5, .in = {no_grad(X(8, 6, 5)), NONE, NONE, fixed(no_grad(X(6))), fixed(no_grad(POS(6)))},
                 .family = FAM_NORM});

    const struct {
        Shape x, normalized;
        bool weight, bias;
        unsigned flags;
    } ln[] = {{SHAPE(6, 10), SHAPE(10), true, true, 0},           {SHAPE(2, 3, 4, 5), SHAPE(4, 5), true, true, 0},
              {SHAPE(7, 33), SHAPE(33), true, false, 0},          {SHAPE(9), SHAPE(9), true, true, 0},
              {SHAPE(5, 3000), SHAPE(3000), false, false, F_NO_FD}, {SHAPE(300, 64), SHAPE(64), true, true, F_NO_FD}};
    for (size_t k = 0; k < sizeof ln / sizeof ln[0]; k++)
        add((OpCase){.op = "f_layer_norm", .run = run_layer_norm, .n_in = 3,
                     .in = {{.kind = IN_NORMAL, .grad = true, .shape = ln[k].x},
                            ln[k].weight ? (InputSpec){.kind = IN_NORMAL, .grad = true, .shape = ln[k].normalized} : NONE,
                            ln[k].bias ? (InputSpec){.kind = IN_NORMAL, .grad = true, .shape = ln[k].normalized} : NONE},
                     .shape = ln[k].normalized, .flags = ln[k].flags | F_LOWP | F_NONFINITE, .family = FAM_NORM});

    const struct {
        Shape x;
        int dim;
        unsigned flags;
    } sm[] = {{SHAPE(5, 10), 1, 0},      {SHAPE(5, 10), 0, 0},        {SHAPE(4, 6, 7), 1, 0}, {SHAPE(2, 3, 4, 5), 0, 0},
              {SHAPE(7), 0, 0},          {SHAPE(3, 5000), -1, F_NO_FD}, {SHAPE(300, 33), 1, F_NO_FD}};
    for (size_t k = 0; k < sizeof sm / sizeof sm[0]; k++)
        for (int log = 0; log < 2; log++)
            add((OpCase){.op = log ? "f_log_softmax" : "f_softmax", .run = log ? run_log_softmax : run_softmax,
                         .n_in = 1, .in = {{.kind = IN_NORMAL, .grad = true, .shape = sm[k].x}}, .dim = sm[k].dim,
                         .flags = sm[k].flags | F_LOWP | F_NONFINITE, .family = FAM_NORM});

    /* rows of 6: clean, NaN, +Inf, two +Inf, -Inf, all -Inf, +Inf and -Inf */
    InputSpec rows = X(7, 6);
    rows.pattern = "........n....+....+...+....-..------+-....";
    for (int log = 0; log < 2; log++)
        add((OpCase){.op = log ? "f_log_softmax" : "f_softmax", .note = "NaN/Inf rows", .run = log ? run_log_softmax : run_softmax,
                     .n_in = 1, .in = {rows}, .dim = -1, .flags = F_NONFINITE, .family = FAM_NORM});

    for (int training = 0; training < 2; training++) {
        add((OpCase){.op = "f_dropout", .note = training ? "training p 0.3" : "eval", .run = run_dropout, .n_in = 1,
                     .in = {X(6, 7)}, .a = training ? 0.3 : 0.5, .flag = training, .flags = F_NONFINITE,
                     .family = FAM_NORM});
        add((OpCase){.op = "f_dropout2d", .note = training ? "training p 0.5" : "eval", .run = run_dropout2d,
                     .n_in = 1, .in = {X(2, 6, 4, 5)}, .a = 0.5, .flag = training, .flags = F_NONFINITE,
                     .family = FAM_NORM});
    }
}

/* ---------------- indexing ---------------- */

static Tensor *run_embedding(Tensor **in, void *ctx) { return f_embedding(in[0], in[1], ctx_case(ctx)->n); }
static Tensor *run_pad(Tensor **in, void *ctx)
{
    const OpCase *c = ctx;
    return f_pad(in[0], c->pads, c->n_pads, c->a);
}
static Tensor *run_one_hot(Tensor **in, void *ctx) { return f_one_hot(in[0], ctx_case(ctx)->n); }
static Tensor *run_gather(Tensor **in, void *ctx) { return t_gather(in[0], ctx_case(ctx)->dim, in[1]); }
/* The index expanded (stride 0) along the gathered dim: its lines add into one element in backward. */
static Tensor *run_gather_expanded(Tensor **in, void *ctx)
{
    return t_gather(in[0], ctx_case(ctx)->dim, t_expand(in[1], ctx_case(ctx)->shape));
}
static Tensor *run_scatter_add(Tensor **in, void *ctx) { return t_scatter_add(in[0], ctx_case(ctx)->dim, in[1], in[2]); }
static Tensor *run_index_select(Tensor **in, void *ctx) { return t_index_select(in[0], ctx_case(ctx)->dim, in[1]); }

static void add_index(OpCase c)
{
    c.family = FAM_INDEX;
    c.flags |= F_NONFINITE | F_NF_GRAD;
    add(c);
}

static void add_index_cases(void)
{
    add_index((OpCase){.op = "f_embedding", .note = "no padding_idx", .run = run_embedding, .n_in = 2,
                       .in = {IDX(50, 6, 9), X(50, 16)}, .n = -1, .flags = F_LOWP});
    add_index((OpCase){.op = "f_embedding", .note = "padding_idx 3", .run = run_embedding, .n_in = 2,
                       .in = {IDX(50, 6, 9), X(50, 16)}, .n = 3, .flags = F_LOWP});
    add_index((OpCase){.op = "f_embedding", .note = "8192 indices, long runs", .run = run_embedding, .n_in = 2,
                       .in = {IDX(1000, 8192), X(1000, 64)}, .n = -1, .flags = F_NO_FD});
    const struct {
        int64_t pads[4];
        int n;
        double value;
        const char *note;
    } pads[] = {{{1, 2, 0, 3}, 4, 0.5, "grow"}, {{-1, 2, 2, -1}, 4, -1.0, "crop and grow"}, {{3, 0}, 2, 0, "last dim"}};
    for (int k = 0; k < 3; k++) {
        OpCase c = {.op = "f_pad", .note = pads[k].note, .run = run_pad, .n_in = 1, .in = {X(2, 3, 4, 5)},
                    .n_pads = pads[k].n, .a = pads[k].value, .flags = F_LOWP};
        memcpy(c.pads, pads[k].pads, sizeof pads[k].pads);
        add_index(c);
    }
    add_index((OpCase){.op = "f_pad", .note = "int64", .run = run_pad, .n_in = 1, .in = {I64(3, 4)},
                       .pads = {1, 2, 0, 3}, .n_pads = 4, .a = 7});
    add_index((OpCase){.op = "f_pad", .note = "uint8", .run = run_pad, .n_in = 1,
                       .in = {{.kind = IN_U8, .shape = SHAPE(3, 4)}}, .pads = {-1, 2, 2, -1}, .n_pads = 4, .a = 9});
    add_index((OpCase){.op = "f_one_hot", .note = "inferred classes", .run = run_one_hot, .n_in = 1,
                       .in = {IDX(7, 4, 5)}, .n = -1});
    add_index((OpCase){.op = "f_one_hot", .note = "10 classes", .run = run_one_hot, .n_in = 1, .in = {IDX(7, 4, 5)},
                       .n = 10});
    const struct {
        Shape src, index;
        int dim;
        const char *note;
    } gather[] = {{SHAPE(5, 6), SHAPE(3, 6), 0, NULL},
                  {SHAPE(5, 6), SHAPE(5, 4), 1, NULL},
                  {SHAPE(4, 5, 6), SHAPE(4, 7, 6), 1, "repeated indices"},
                  {SHAPE(4, 100), SHAPE(4, 64), 1, "long lines"}};
    for (int k = 0; k < 4; k++)
        add_index((OpCase){.op = "t_gather", .note = gather[k].note, .run = run_gather, .n_in = 2,
                           .in = {{.kind = IN_NORMAL, .grad = true, .shape = gather[k].src},
                                  {.kind = IN_INDEX, .hi = gather[k].src.d[gather[k].dim], .shape = gather[k].index}},
                           .dim = gather[k].dim, .flags = F_LOWP});
    add_index((OpCase){.op = "t_gather", .note = "index [5, 1] expanded to [5, 40]", .run = run_gather_expanded,
                       .n_in = 2, .in = {X(5, 6), IDX(6, 5, 1)}, .dim = 1, .shape = SHAPE(5, 40)});
    add_index((OpCase){.op = "t_scatter_add", .note = "larger src", .run = run_scatter_add, .n_in = 3,
                       .in = {X(5, 6), IDX(5, 4, 6), X(6, 7)}, .dim = 0, .flags = F_LOWP});
    add_index((OpCase){.op = "t_scatter_add", .note = "lines of 200", .run = run_scatter_add, .n_in = 3,
                       .in = {X(3, 8), IDX(8, 3, 200), X(3, 200)}, .dim = 1, .flags = F_NO_FD});
    add_index((OpCase){.op = "t_scatter_add", .note = "int64", .run = run_scatter_add, .n_in = 3,
                       .in = {I64(4, 9), IDX(9, 4, 40), I64(4, 40)}, .dim = 1});
    add_index((OpCase){.op = "t_index_select", .note = "repeated indices", .run = run_index_select, .n_in = 2,
                       .in = {X(10, 7), IDX(10, 25)}, .dim = 0, .flags = F_LOWP});
    add_index((OpCase){.op = "t_index_select", .run = run_index_select, .n_in = 2, .in = {X(4, 9, 3), IDX(9, 12)},
                       .dim = 1});
}

/* ---------------- losses ---------------- */

/* in: input, target, weight */
static Tensor *run_nll_loss(Tensor **in, void *ctx)
{
    const OpCase *c = ctx;
    return f_nll_loss(in[0], in[1], in[2], c->n, c->red);
}
static Tensor *run_cross_entropy(Tensor **in, void *ctx)
{
    const OpCase *c = ctx;
    return f_cross_entropy(in[0], in[1], in[2], c->n, c->red, c->a);
}
static Tensor *run_mse_loss(Tensor **in, void *ctx) { return f_mse_loss(in[0], in[1], ctx_case(ctx)->red); }
static Tensor *run_l1_loss(Tensor **in, void *ctx) { return f_l1_loss(in[0], in[1], ctx_case(ctx)->red); }
static Tensor *run_bce(Tensor **in, void *ctx) { return f_binary_cross_entropy(in[0], in[1], in[2], ctx_case(ctx)->red); }
/* in: input, target, weight, pos_weight */
static Tensor *run_bce_logits(Tensor **in, void *ctx)
{
    return f_binary_cross_entropy_with_logits(in[0], in[1], in[2], in[3], ctx_case(ctx)->red);
}

static const char *reduction_name[] = {"mean", "sum", "none"};

static void add_loss(OpCase c)
{
    c.family = FAM_LOSS;
    c.flags |= F_LOWP;
    if (c.run == run_bce_logits) c.flags |= F_NO_F16; /* PyTorch's CPU has bf16 logits only */
    add(c);
}

static void add_loss_cases(void)
{
    const struct {
        Shape input, target;
        unsigned flags;
    } nll_shapes[] = {{SHAPE(8, 5), SHAPE(8), 0},
                      {SHAPE(4, 3, 5, 6), SHAPE(4, 5, 6), 0}, /* spatial targets */
                      {SHAPE(4096, 10), SHAPE(4096), F_NO_FD}};
    for (int s = 0; s < 3; s++) {
        Shape in = nll_shapes[s].input;
        int64_t classes = in.d[1];
        for (int red = 0; red < 3; red++)
            for (int variant = 0; variant < 4; variant++) {
                bool weighted = variant & 1, ce = variant >= 2;
                /* class 1 is ignored, so some targets count 0 */
                add_loss((OpCase){.op = ce ? "f_cross_entropy" : "f_nll_loss",
                                  .note = weighted ? (ce ? "weighted, smoothing 0.1" : "weighted") : reduction_name[red],
                                  .run = ce ? run_cross_entropy : run_nll_loss, .n_in = 3,
                                  .in = {{.kind = IN_NORMAL, .grad = true, .shape = in},
                                         {.kind = IN_INDEX, .hi = classes, .shape = nll_shapes[s].target},
                                         weighted ? fixed(no_grad(POS(classes))) : NONE},
                                  .red = (Reduction)red, .n = 1, .a = ce && weighted ? 0.1 : 0.0,
                                  .flags = nll_shapes[s].flags | F_NONFINITE});
            }
    }
    /* one sample: input [C], a 0-dim target */
    add_loss((OpCase){.op = "f_nll_loss", .note = "one sample", .run = run_nll_loss, .n_in = 3,
                      .in = {X(5), {.kind = IN_INDEX, .hi = 5, .shape = SCALAR_SHAPE}, NONE}, .n = -100});
    add_loss((OpCase){.op = "f_cross_entropy", .note = "one sample", .run = run_cross_entropy, .n_in = 3,
                      .in = {X(5), {.kind = IN_INDEX, .hi = 5, .shape = SCALAR_SHAPE}, NONE}, .n = -100});
    for (int red = 0; red < 3; red++) {
        Reduction r = (Reduction)red;
        const char *rn = reduction_name[red];
        add_loss((OpCase){.op = "f_mse_loss", .note = rn, .run = run_mse_loss, .n_in = 2, .in = {X(6, 5), X(6, 5)},
                          .red = r, .flags = F_NONFINITE});
        add_loss((OpCase){.op = "f_l1_loss", .note = rn, .run = run_l1_loss, .n_in = 2, .in = {GRID(6, 5), X(6, 5)},
                          .red = r, .flags = F_NONFINITE});
        add_loss((OpCase){.op = "f_binary_cross_entropy", .note = rn, .run = run_bce, .n_in = 3,
                          .in = {PROB(6, 5), PROB(6, 5), NONE}, .red = r});
        add_loss((OpCase){.op = "f_binary_cross_entropy", .note = "weighted", .run = run_bce, .n_in = 3,
                          .in = {PROB(6, 5), PROB(6, 5), no_grad(PROB(5))}, .red = r});
        add_loss((OpCase){.op = "f_binary_cross_entropy_with_logits", .note = rn, .run = run_bce_logits, .n_in = 4,
                          .in = {X(6, 5), PROB(6, 5), NONE, NONE}, .red = r, .flags = F_NONFINITE});
        add_loss((OpCase){.op = "f_binary_cross_entropy_with_logits", .note = "weight, pos_weight",
                          .run = run_bce_logits, .n_in = 4, .in = {X(6, 5), PROB(6, 5), no_grad(PROB(5)), no_grad(POS(5))},
                          .red = r, .flags = F_NONFINITE});
        add_loss((OpCase){.op = "f_mse_loss", .note = "large", .run = run_mse_loss, .n_in = 2,
                          .in = {X(3000, 7), X(3000, 7)}, .red = r, .flags = F_NO_FD});
        add_loss((OpCase){.op = "f_binary_cross_entropy", .note = "large, weighted", .run = run_bce, .n_in = 3,
                          .in = {PROB(3000, 7), PROB(3000, 7), no_grad(PROB(7))}, .red = r, .flags = F_NO_FD});
        add_loss((OpCase){.op = "f_binary_cross_entropy_with_logits", .note = "large, pos_weight",
                          .run = run_bce_logits, .n_in = 4, .in = {X(3000, 7), PROB(3000, 7), NONE, no_grad(POS(7))},
                          .red = r, .flags = F_NO_FD});
    }
}

/* ---------------- views and copies ---------------- */

static Tensor *run_view(Tensor **in, void *ctx) { return t_view(in[0], ctx_case(ctx)->shape); }
static Tensor *run_reshape(Tensor **in, void *ctx) { return t_reshape(in[0], ctx_case(ctx)->shape); }
static Tensor *run_flatten(Tensor **in, void *ctx) { return t_flatten(in[0], ctx_case(ctx)->dims[0], ctx_case(ctx)->dims[1]); }
static Tensor *run_transpose(Tensor **in, void *ctx) { return t_transpose(in[0], ctx_case(ctx)->dims[0], ctx_case(ctx)->dims[1]); }
static Tensor *run_permute(Tensor **in, void *ctx) { return t_permute(in[0], ctx_case(ctx)->dims); }
static Tensor *run_squeeze(Tensor **in, void *ctx) { return t_squeeze(in[0], ctx_case(ctx)->dim); }
static Tensor *run_squeeze_all(Tensor **in, void *ctx) { return t_squeeze_all(in[0]); }
static Tensor *run_unsqueeze(Tensor **in, void *ctx) { return t_unsqueeze(in[0], ctx_case(ctx)->dim); }
static Tensor *run_expand(Tensor **in, void *ctx) { return t_expand(in[0], ctx_case(ctx)->shape); }
static Tensor *run_narrow(Tensor **in, void *ctx) { return t_narrow(in[0], ctx_case(ctx)->dim, 1, 3); }
static Tensor *run_slice(Tensor **in, void *ctx) { return t_slice(in[0], ctx_case(ctx)->dim, 1, 100, 2); }
static Tensor *run_select(Tensor **in, void *ctx) { return t_select(in[0], ctx_case(ctx)->dim, 2); }
static Tensor *run_diagonal(Tensor **in, void *ctx)
{
    const OpCase *c = ctx;
    return t_diagonal(in[0], (int64_t)c->a, c->dims[0], c->dims[1]);
}
static Tensor *run_flip(Tensor **in, void *ctx) { return t_flip(in[0], ctx_case(ctx)->dims, ctx_case(ctx)->n_dims); }
/* The chunks weighted differently, so that each one's gradient must land in its own place. */
static Tensor *run_chunk(Tensor **in, void *ctx)
{
    Tensor *parts[4];
    int n = t_chunk(in[0], 3, ctx_case(ctx)->dim, parts);
    if (n < 0) return NULL;
    for (int i = 0; i < n; i++) parts[i] = t_mul_scalar(parts[i], i + 1.0);
    return t_cat(parts, n, ctx_case(ctx)->dim);
}
static Tensor *run_contiguous(Tensor **in, void *ctx) { return t_contiguous(in[0]); }
static Tensor *run_clone(Tensor **in, void *ctx) { return t_clone(in[0]); }
static Tensor *run_cat(Tensor **in, void *ctx) { return t_cat(in, 3, ctx_case(ctx)->dim); }
static Tensor *run_stack(Tensor **in, void *ctx) { return t_stack(in, 3, ctx_case(ctx)->dim); }
static Tensor *run_sum_to_shape(Tensor **in, void *ctx) { return t_sum_to_shape(in[0], ctx_case(ctx)->shape); }

static void add_view(OpCase c)
{
    c.family = FAM_VIEW;
    c.flags |= F_NONFINITE | F_LOWP;
    add(c);
}

static void add_view_cases(void)
{
    add_view((OpCase){.op = "t_view", .run = run_view, .n_in = 1, .in = {X(4, 6)}, .shape = SHAPE(3, -1),
                      .flags = F_NO_LAYOUTS});
    add_view((OpCase){.op = "t_reshape", .run = run_reshape, .n_in = 1, .in = {X(4, 6)}, .shape = SHAPE(2, 12)});
    add_view((OpCase){.op = "t_flatten", .run = run_flatten, .n_in = 1, .in = {X(2, 3, 4)}, .dims = {1, 2}});
    add_view((OpCase){.op = "t_transpose", .run = run_transpose, .n_in = 1, .in = {X(2, 3, 4)}, .dims = {0, 2}});
    add_view((OpCase){.op = "t_permute", .run = run_permute, .n_in = 1, .in = {X(2, 3, 4)}, .dims = {2, 0, 1}});
    add_view((OpCase){.op = "t_squeeze", .run = run_squeeze, .n_in = 1, .in = {X(3, 1, 4)}, .dim = 1});
    add_view((OpCase){.op = "t_squeeze_all", .run = run_squeeze_all, .n_in = 1, .in = {X(3, 1, 4, 1)}});
    add_view((OpCase){.op = "t_unsqueeze", .run = run_unsqueeze, .n_in = 1, .in = {X(3, 4)}, .dim = -1});
    add_view((OpCase){.op = "t_expand", .run = run_expand, .n_in = 1, .in = {X(3, 1)}, .shape = SHAPE(2, 3, 5)});
    add_view((OpCase){.op = "t_narrow", .run = run_narrow, .n_in = 1, .in = {X(4, 6)}, .dim = 1});
    add_view((OpCase){.op = "t_slice", .note = "step 2", .run = run_slice, .n_in = 1, .in = {X(4, 7)}, .dim = -1});
    add_view((OpCase){.op = "t_select", .run = run_select, .n_in = 1, .in = {X(4, 5, 3)}, .dim = 1});
    add_view((OpCase){.op = "t_diagonal", .note = "offset 1", .run = run_diagonal, .n_in = 1, .in = {X(2, 4, 5)},
                      .a = 1, .dims = {1, 2}});
    add_view((OpCase){.op = "t_diagonal", .note = "offset -1", .run = run_diagonal, .n_in = 1, .in = {X(4, 5)},
                      .a = -1, .dims = {0, 1}});
    add_view((OpCase){.op = "t_flip", .run = run_flip, .n_in = 1, .in = {X(3, 4, 5)}, .dims = {0, 2}, .n_dims = 2});
    add_view((OpCase){.op = "t_chunk", .run = run_chunk, .n_in = 1, .in = {X(4, 7)}, .dim = 1});
    add_view((OpCase){.op = "t_contiguous", .run = run_contiguous, .n_in = 1, .in = {X(4, 5)}});
    add_view((OpCase){.op = "t_clone", .run = run_clone, .n_in = 1, .in = {X(4, 5)}});
    add_view((OpCase){.op = "t_cat", .run = run_cat, .n_in = 3, .in = {X(2, 3), X(4, 3), X(1, 3)}, .dim = 0});
    add_view((OpCase){.op = "t_cat", .note = "dim 1, int64", .run = run_cat, .n_in = 3,
                      .in = {I64(2, 3), I64(2, 1), I64(2, 4)}, .dim = 1});
    add_view((OpCase){.op = "t_stack", .run = run_stack, .n_in = 3, .in = {X(2, 3), X(2, 3), X(2, 3)}, .dim = 1});
    add_view((OpCase){.op = "t_sum_to_shape", .run = run_sum_to_shape, .n_in = 1, .in = {X(3, 4, 5)},
                      .shape = SHAPE(4, 1)});
}

/* ---------------- casts, fill and copy_ ---------------- */

static Tensor *run_to_dtype(Tensor **in, void *ctx) { return tensor_to_dtype(in[0], ctx_case(ctx)->dtype); }
/* Through a low-precision dtype and back: differentiable (the gradient passes straight through). */
static Tensor *run_round_trip(Tensor **in, void *ctx)
{
    return tensor_to_dtype(tensor_to_dtype(in[0], ctx_case(ctx)->dtype), DT_F32);
}
/* in[0] broadcast into a new [3, ...] tensor of another dtype. */
static Tensor *run_copy_(Tensor **in, void *ctx)
{
    Shape s = in[0]->shape;
    memmove(s.d + 1, s.d, sizeof(int64_t) * (size_t)s.ndim);
    s.d[0] = 3;
    s.ndim++;
    Tensor *dst = tensor_zeros(s, ctx_case(ctx)->dtype, tensor_device(in[0]));
    return dst && tensor_copy_(dst, in[0]) == 0 ? dst : NULL;
}
/* Fills a strided part of a copy of in[0]: the elements around it stay. */
static Tensor *run_fill_(Tensor **in, void *ctx)
{
    Tensor *t = t_clone(tensor_detach(in[0]));
    if (!t) return NULL;
    Tensor *part = t_slice(t_transpose(t, 0, 1), 0, 1, 7, 2);
    return part && tensor_fill_(part, ctx_case(ctx)->a) == 0 ? t : NULL;
}

static void add_cast_cases(void)
{
    /* every dtype to every dtype: both devices convert with engine/dtype.h's
     * rounding, so the GPU must give the CPU's bits */
    const DType types[] = {DT_F32, DT_I64, DT_U8, DT_BF16, DT_F16};
    enum { N_TYPES = sizeof types / sizeof types[0] };
    for (int s = 0; s < N_TYPES; s++)
        for (int d = 0; d < N_TYPES; d++) {
            InputSpec x = as_dtype(SPEC(IN_CAST, false, 2, 7), types[s]);
            add((OpCase){.op = "tensor_to_dtype", .note = dtype_name(types[d]), .run = run_to_dtype, .n_in = 1,
                         .in = {x}, .dtype = types[d], .flags = F_GPU_EXACT, .family = FAM_CAST});
            add((OpCase){.op = "tensor_copy_", .note = dtype_name(types[d]), .run = run_copy_, .n_in = 1,
                         .in = {x}, .dtype = types[d], .flags = F_GPU_EXACT, .family = FAM_CAST});
        }
    const DType lowp[] = {DT_BF16, DT_F16};
    for (int k = 0; k < 2; k++)
        add((OpCase){.op = "tensor_to_dtype", .note = "round trip, gradient", .run = run_round_trip, .n_in = 1,
                     .in = {X(4, 6)}, .dtype = lowp[k], .flags = F_NO_FD | F_NONFINITE | F_GPU_EXACT,
                     .family = FAM_CAST});
    const double fills[] = {0.0, 1.5, -1.0, 300.0};
    for (int d = 0; d < N_TYPES; d++)
        for (int v = 0; v < 4; v++)
            add((OpCase){.op = "tensor_fill_", .note = dtype_name(types[d]), .run = run_fill_, .n_in = 1,
                         .in = {as_dtype(SPEC(IN_CAST, false, 6, 8), types[d])}, .a = fills[v],
                         .flags = F_GPU_EXACT, .family = FAM_CAST});
}

static void build_cases(void)
{
    add_elementwise_cases();
    add_reduction_cases();
    add_linalg_cases();
    add_conv_cases();
    add_pool_cases();
    add_norm_cases();
    add_index_cases();
    add_loss_cases();
    add_view_cases();
    add_cast_cases();
    /* cases added later go last: a case's values come from its position */
    add_conv_pool_cases();
    add_count_cases();
}

/* ---------------- inputs ---------------- */

static void fill_int64_big(Tensor *t, uint64_t seed)
{
    uint64_t s = seed;
    for (int64_t i = 0; i < tensor_numel(t); i++) {
        uint64_t z = (s += 0x9e3779b97f4a7c15u); /* splitmix64 */
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        z ^= z >> 31;
        tensor_i64(t)[i] = i % 3 ? (int64_t)z : INT64_MAX - (int64_t)(z % 5);
    }
}

/* Distinct values 0.1 apart (none within 0.05 of 0 or of another) in random order. */
static Tensor *grid_values(Shape shape, Generator *g)
{
    int64_t n = shape_numel(shape);
    Tensor *perm = tensor_randperm(n, g);
    return t_reshape(t_mul_scalar(t_add_scalar(tensor_to_dtype(perm, DT_F32), 0.5 - (double)(n / 2)), 0.1), shape);
}

/* Contiguous CPU values for one input. */
static Tensor *input_values(const InputSpec *s, Generator *g, uint64_t seed)
{
    /* finite in every float dtype (an f16 infinity has no integer value both
     * devices agree on), with ties of bf16 (1 + 2^-8) and f16 (2049)
     * rounding, an f16 subnormal and -0 */
    static const float cast_values[] = {-3.7f, -1.0f, 0.0f,     0.5f,  2.9f,  255.0f,         256.4f,
                                        300.2f, -129.5f, 6e4f, -0.0f, 2049.0f, 1.00390625f, 1e-6f};
    enum { N_CAST_VALUES = sizeof cast_values / sizeof cast_values[0] };
    Tensor *t = NULL;
    switch (s->kind) {
    case IN_NONE: return NULL;
    case IN_NORMAL: t = t_add_scalar(tensor_randn(s->shape, g, CPU), s->offset); break;
    case IN_POS: t = t_add_scalar(t_abs(tensor_randn(s->shape, g, CPU)), 0.5); break;
    case IN_PROB: t = t_add_scalar(t_mul_scalar(tensor_rand(s->shape, g, CPU), 0.9), 0.05); break;
    case IN_GRID: t = grid_values(s->shape, g); break;
    case IN_SMALLINT: t = tensor_to_dtype(tensor_randint(-2, 3, s->shape, g, CPU), DT_F32); break;
    case IN_INDEX: t = tensor_randint(s->lo, s->hi, s->shape, g, CPU); break;
    case IN_MASK: t = tensor_to_dtype(tensor_randint(0, 2, s->shape, g, CPU), DT_U8); break;
    case IN_I64: t = tensor_randint(-50, 50, s->shape, g, CPU); break;
    case IN_U8: t = tensor_to_dtype(tensor_randint(0, 256, s->shape, g, CPU), DT_U8); break;
    case IN_I64_BIG:
        t = tensor_empty(s->shape, DT_I64, CPU);
        if (t) fill_int64_big(t, seed);
        break;
    case IN_CAST:
        t = tensor_empty(s->shape, DT_F32, CPU);
        for (int64_t i = 0; t && i < tensor_numel(t); i++) tensor_f32(t)[i] = cast_values[i % N_CAST_VALUES];
        if (s->dtype != DT_F32) t = tensor_to_dtype(t, s->dtype);
        break;
    }
    REQUIRE_OK(t);
    return t;
}

typedef enum { L_CONTIG, L_TRANSPOSED, L_SLICED, L_BROADCAST } Layout;

/* A tensor on device with v's values (contiguous, CPU) in the given layout:
 * the last two dims stored swapped and seen through a transpose, every
 * other element of a longer last dim, or (L_BROADCAST, for values that
 * repeat along dim 0) one row expanded with stride 0. */
static Tensor *in_layout(Tensor *v, Layout layout, Device device)
{
    Shape s = v->shape;
    Tensor *t = NULL;
    if (layout == L_TRANSPOSED) {
        Tensor *base = tensor_to(t_contiguous(t_transpose(v, -1, -2)), device);
        t = t_transpose(base, -1, -2);
    } else if (layout == L_SLICED) {
        Shape wide = s;
        wide.d[s.ndim - 1] = 2 * s.d[s.ndim - 1] + 1;
        Tensor *base = tensor_full(wide, 7.0, v->dtype, device); /* the skipped elements hold 7: a read of one shows */
        t = t_slice(base, -1, 1, wide.d[s.ndim - 1], 2);
        if (t && tensor_copy_(t, v) != 0) t = NULL;
    } else if (layout == L_BROADCAST) {
        t = t_expand(tensor_to(t_contiguous(t_narrow(v, 0, 0, 1)), device), s);
    } else {
        t = tensor_to(v, device);
        if (t == v) t = t_clone(v); /* a leaf of its own */
    }
    REQUIRE_OK(t);
    return t;
}

/* The layout input i of c gets in variant `layout`. */
static Layout input_layout(const OpCase *c, int i, Layout layout, const Tensor *v)
{
    const InputSpec *s = &c->in[i];
    if (c->flags & F_NO_LAYOUTS || s->contiguous || v->shape.ndim == 0) return L_CONTIG;
    if (layout == L_BROADCAST)
        return !s->no_bcast && !(c->flags & F_NO_BCAST) && v->shape.d[0] > 1 ? L_BROADCAST : L_CONTIG;
    if (layout == L_TRANSPOSED && v->shape.ndim < 2) return L_SLICED;
    return layout;
}

/* ---------------- running a case ---------------- */

typedef enum { V_CONTIG, V_TRANSPOSED, V_SLICED, V_BROADCAST, V_NONFINITE, N_VARIANTS } Variant;
static const char *variant_name[N_VARIANTS] = {"contiguous", "transposed", "sliced", "broadcast", "NaN/Inf"};

static Layout variant_layout(Variant v)
{
    switch (v) {
    case V_TRANSPOSED:
    case V_NONFINITE: return L_TRANSPOSED;
    case V_SLICED: return L_SLICED;
    case V_BROADCAST: return L_BROADCAST;
    default: return L_CONTIG;
    }
}

/* The values of every input of c for variant v (contiguous, CPU). */
static void case_values(const OpCase *c, Variant v, uint64_t seed, Tensor **values)
{
    Generator g;
    generator_seed(&g, seed);
    for (int i = 0; i < c->n_in; i++) {
        values[i] = input_values(&c->in[i], &g, seed + (uint64_t)i);
        if (!values[i]) continue;
        if (v == V_BROADCAST && input_layout(c, i, L_BROADCAST, values[i]) == L_BROADCAST)
            values[i] = t_contiguous(t_expand(t_narrow(values[i], 0, 0, 1), values[i]->shape));
        bool float_input = c->in[i].kind == IN_NORMAL || c->in[i].kind == IN_GRID;
        if (v == V_NONFINITE && float_input && c->in[i].grad) {
            if (c->in[i].pattern) put_nonfinite(values[i], c->in[i].pattern);
            else sprinkle_nonfinite(values[i], 1, 1, 1, &g);
        }
        REQUIRE_OK(values[i]);
    }
}

typedef struct {
    Tensor *out;
    Tensor *grads[MAX_IN];
} Result;

/* The inputs a low-precision run rounds: the op's data (what takes a
 * gradient, and the ties that comparisons and arg-reductions read), not
 * the f32 loss weights. */
static bool rounds_in_lowp(const OpCase *c, int i) { return c->in[i].grad || c->in[i].kind == IN_SMALLINT; }

/* Runs c on device with the values in the given layout (each floating
 * input of rounds_in_lowp first rounded to lowp unless lowp is DT_F32), then backward from a
 * fixed random output gradient (with NaN/Inf in it when nf_grad; rounded
 * through grad_dtype first, so that an f32 reference sees the gradient a
 * low-precision run gets). NULL out with the engine's message recorded when
 * the op failed. */
static Result run_case(const OpCase *c, Tensor **values, Layout layout, Device device, DType lowp, bool nf_grad,
                       DType grad_dtype, uint64_t seed)
{
    Result r = {0};
    Tensor *in[MAX_IN] = {0};
    bool mode = no_grad_begin();
    for (int i = 0; i < c->n_in; i++) {
        if (!values[i]) continue;
        Tensor *v = values[i];
        if (lowp != DT_F32 && v->dtype == DT_F32 && rounds_in_lowp(c, i)) v = tensor_to_dtype(v, lowp);
        in[i] = in_layout(v, input_layout(c, i, layout, v), device);
    }
    grad_mode_restore(mode);
    for (int i = 0; i < c->n_in; i++)
        if (in[i] && c->in[i].grad && dtype_is_floating(in[i]->dtype)) REQUIRE_OK(tensor_set_requires_grad(in[i], true));
    r.out = c->run(in, (void *)c);
    if (!r.out || !r.out->requires_grad) return r;
    Generator g;
    generator_seed(&g, seed ^ 0x5eed);
    Tensor *grad = tensor_randn(r.out->shape, &g, CPU);
    if (nf_grad && tensor_numel(grad) >= 3) sprinkle_nonfinite(grad, 1, 1, 1, &g);
    grad = tensor_to(tensor_to_dtype(tensor_to_dtype(grad, grad_dtype), r.out->dtype), device);
    if (tensor_backward(r.out, grad) != 0) {
        r.out = NULL;
        return r;
    }
    for (int i = 0; i < c->n_in; i++) r.grads[i] = in[i] ? in[i]->grad : NULL;
    return r;
}

/* ---------------- comparing ---------------- */

static bool same_bytes(Tensor *a, Tensor *b)
{
    size_t n = (size_t)tensor_numel(b) * dtype_size(b->dtype);
    char *x = malloc(n + 1), *y = malloc(n + 1);
    assert_non_null(x);
    assert_non_null(y);
    bool same = tensor_copy_to_buffer(a, x) == 0 && tensor_copy_to_buffer(b, y) == 0 && memcmp(x, y, n) == 0;
    free(x);
    free(y);
    return same;
}

static double *f64_values(Tensor *t)
{
    Tensor *f = tensor_to_dtype(t, DT_F32);
    float *buf = malloc(sizeof(float) * (size_t)(tensor_numel(t) + 1));
    double *d = malloc(sizeof(double) * (size_t)(tensor_numel(t) + 1));
    assert_non_null(buf);
    assert_non_null(d);
    assert_int_equal(tensor_copy_to_buffer(f, buf), 0);
    for (int64_t i = 0; i < tensor_numel(t); i++) d[i] = buf[i];
    free(buf);
    return d;
}

/* max |ours - ref| relative to the largest finite |ref|: 0 for equal
 * integer tensors; INFINITY when the shapes or dtypes differ, integers
 * differ, or a NaN or infinity is not exactly where ref has it. */
static double difference(Tensor *ours, Tensor *ref)
{
    if (!ours || !ref) return ours == ref ? 0 : INFINITY;
    if (ours->dtype != ref->dtype || !shape_equal(ours->shape, ref->shape)) return INFINITY;
    bool mode = no_grad_begin();
    double result;
    if (!dtype_is_floating(ref->dtype)) {
        result = same_bytes(ours, ref) ? 0 : INFINITY;
    } else {
        double *a = f64_values(ours), *b = f64_values(ref), max_diff = 0, scale = 1e-12;
        for (int64_t i = 0; i < tensor_numel(ref); i++) {
            double d;
            if (!isfinite(a[i]) || !isfinite(b[i]))
                d = (isnan(a[i]) && isnan(b[i])) || a[i] == b[i] ? 0 : INFINITY;
            else d = fabs(a[i] - b[i]);
            if (d > max_diff) max_diff = d;
            if (isfinite(b[i]) && fabs(b[i]) > scale) scale = fabs(b[i]);
        }
        free(a);
        free(b);
        result = max_diff / scale;
    }
    grad_mode_restore(mode);
    return result;
}

/* Whether floating a and b have the same sign bit everywhere (difference()
 * sees -0 and +0 as equal; NaN payloads may differ: the CPU's F16C
 * conversions keep them, engine/dtype.h's do not). */
static bool same_signs(Tensor *a, Tensor *b)
{
    if (!dtype_is_floating(b->dtype) || a->dtype != b->dtype || !shape_equal(a->shape, b->shape)) return true;
    bool mode = no_grad_begin();
    double *x = f64_values(a), *y = f64_values(b);
    bool same = true;
    for (int64_t i = 0; i < tensor_numel(b) && same; i++)
        same = isnan(x[i]) || isnan(y[i]) || signbit(x[i]) == signbit(y[i]);
    free(x);
    free(y);
    grad_mode_restore(mode);
    return same;
}

/* The worst difference between two results: the outputs and each gradient. */
static double result_difference(const OpCase *c, Result *ours, Result *ref)
{
    double worst = difference(ours->out, ref->out);
    for (int i = 0; i < c->n_in; i++) {
        double d = difference(ours->grads[i], ref->grads[i]);
        if (d > worst || isnan(d)) worst = d;
    }
    return worst;
}

/* Casts a reference result to the dtypes of ours (the low-precision check). */
static void round_like(const OpCase *c, Result *ref, const Result *ours)
{
    bool mode = no_grad_begin();
    if (ref->out && ours->out) ref->out = tensor_to_dtype(ref->out, ours->out->dtype);
    for (int i = 0; i < c->n_in; i++)
        if (ref->grads[i] && ours->grads[i]) ref->grads[i] = tensor_to_dtype(ref->grads[i], ours->grads[i]->dtype);
    grad_mode_restore(mode);
}

static int failures;

static void label_of(const OpCase *c, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s", c->op);
    for (int i = 0; i < c->n_in && n < (int)size; i++)
        n += snprintf(buf + n, size - (size_t)n, " %s", c->in[i].kind == IN_NONE ? "-" : shape_str(c->in[i].shape));
    if (c->note && n < (int)size) snprintf(buf + n, size - (size_t)n, " (%s)", c->note);
}

/* Records a failed check (the test goes on, so that one run lists them all). */
static void expect_within(const OpCase *c, const char *what, double err, double tol)
{
    if (err <= tol) return;
    char label[200];
    label_of(c, label, sizeof label);
    print_message("  FAIL %s [%s]: error %.3g > %.0e%s%s\n", label, what, err, tol, engine_has_error() ? ": " : "",
                  engine_has_error() ? engine_last_error() : "");
    engine_clear_error();
    failures++;
}

static uint64_t case_seed(const OpCase *c) { return 1000 + (uint64_t)(c - cases) * 7919; }

/* ---------------- CPU checks ---------------- */

static bool has_grad_input(const OpCase *c)
{
    for (int i = 0; i < c->n_in; i++)
        if (c->in[i].grad && c->in[i].kind != IN_NONE) return true;
    return false;
}

/* Each strided, broadcast and non-finite variant against contiguous copies. */
static double check_layouts(const OpCase *c)
{
    double worst = 0, tol = c->layout_tol > 0 ? c->layout_tol : LAYOUT_TOL;
    for (int v = V_TRANSPOSED; v < N_VARIANTS; v++) {
        if (c->flags & F_NO_LAYOUTS) break;
        if (v == V_NONFINITE && !(c->flags & F_NONFINITE)) continue;
        scope_begin();
        Tensor *values[MAX_IN];
        uint64_t seed = case_seed(c);
        case_values(c, (Variant)v, seed, values);
        bool nf_grad = v == V_NONFINITE && (c->flags & F_NF_GRAD);
        Result ref = run_case(c, values, L_CONTIG, CPU, DT_F32, nf_grad, DT_F32, seed);
        Result ours = run_case(c, values, variant_layout((Variant)v), CPU, DT_F32, nf_grad, DT_F32, seed);
        double err = ref.out && ours.out ? result_difference(c, &ours, &ref) : INFINITY;
        expect_within(c, variant_name[v], err, tol);
        if (err > worst) worst = err;
        scope_end();
    }
    return worst;
}

/* Backward against central differences, on contiguous f32 inputs. */
static double check_gradients(const OpCase *c)
{
    if (c->flags & F_NO_FD || !has_grad_input(c)) return -1;
    scope_begin();
    Tensor *values[MAX_IN], *in[MAX_IN] = {0};
    case_values(c, V_CONTIG, case_seed(c), values);
    for (int i = 0; i < c->n_in; i++) {
        if (!values[i]) continue;
        in[i] = t_clone(values[i]);
        if (c->in[i].grad) REQUIRE_OK(tensor_set_requires_grad(in[i], true));
    }
    bool mode = no_grad_begin();
    Tensor *probe = c->run(in, (void *)c);
    grad_mode_restore(mode);
    if (probe && !dtype_is_floating(probe->dtype)) { /* indices: nothing to differentiate */
        scope_end();
        return -1;
    }
    char label[200];
    label_of(c, label, sizeof label);
    double err = fd_gradcheck(c->run, (void *)c, in, c->n_in, FD_EPS, FD_ELEMS, label);
    expect_within(c, "finite differences", err, c->fd_tol > 0 ? c->fd_tol : FD_TOL);
    scope_end();
    return err;
}

/* An F_NO_F16 case on f16 inputs must fail with an error naming the dtype,
 * as PyTorch's CPU kernels do, rather than compute. */
static void check_lowp_refused(const OpCase *c, DType lowp)
{
    scope_begin();
    Tensor *values[MAX_IN];
    case_values(c, V_CONTIG, case_seed(c), values);
    engine_clear_error();
    Result ours = run_case(c, values, L_CONTIG, CPU, lowp, false, DT_F32, case_seed(c));
    if (ours.out || !engine_has_error() || !strstr(engine_last_error(), dtype_name(lowp))) {
        char label[200];
        label_of(c, label, sizeof label);
        print_message("  FAIL %s [%s]: expected an error naming %s, got %s\n", label, dtype_name(lowp),
                      dtype_name(lowp), ours.out ? "a result" : engine_last_error());
        failures++;
    }
    engine_clear_error();
    scope_end();
}

/* Whether a low-precision run's floating output and its inputs' gradients
 * are in lowp: with autocast off every op keeps its inputs' dtype
 * (autocast.h), as PyTorch's do, and a gradient takes its input's. A
 * wrong dtype is recorded as a failure. */
static void expect_lowp_dtypes(const OpCase *c, const Result *ours, DType lowp)
{
    const char *wrong = NULL;
    if (ours->out && dtype_is_floating(ours->out->dtype) && ours->out->dtype != lowp) wrong = "output";
    for (int i = 0; i < c->n_in && !wrong; i++)
        if (ours->grads[i] && ours->grads[i]->dtype != lowp) wrong = "gradient";
    if (!wrong) return;
    char label[200];
    label_of(c, label, sizeof label);
    print_message("  FAIL %s [%s]: the %s is not %s\n", label, dtype_name(lowp), wrong, dtype_name(lowp));
    failures++;
}

/* On bf16/f16 inputs against the f32 op on the same rounded values, its
 * results rounded once: the kernels compute in f32 and round their outputs.
 * -1 when the case has no such check (or, F_NO_F16, checks a refusal). */
static double check_lowp(const OpCase *c, DType lowp)
{
    if (!(c->flags & F_LOWP)) return -1;
    if (lowp == DT_F16 && c->flags & F_NO_F16) {
        check_lowp_refused(c, lowp);
        return -1;
    }
    scope_begin();
    Tensor *values[MAX_IN], *rounded[MAX_IN];
    uint64_t seed = case_seed(c);
    case_values(c, V_CONTIG, seed, values);
    bool mode = no_grad_begin();
    for (int i = 0; i < c->n_in; i++)
        rounded[i] = values[i] && values[i]->dtype == DT_F32 && rounds_in_lowp(c, i)
                         ? tensor_to_dtype(tensor_to_dtype(values[i], lowp), DT_F32)
                         : values[i];
    grad_mode_restore(mode);
    Result ours = run_case(c, values, L_CONTIG, CPU, lowp, false, DT_F32, seed);
    expect_lowp_dtypes(c, &ours, lowp);
    Result ref = run_case(c, rounded, L_CONTIG, CPU, DT_F32, false, ours.out ? ours.out->dtype : DT_F32, seed);
    round_like(c, &ref, &ours);
    double err = ref.out && ours.out ? result_difference(c, &ours, &ref) : INFINITY;
    /* Mostly bit for bit. The f32 arguments that take no gradient (loss
     * weights) stay f32 here while a low-precision op rounds them too: a few
     * units in the last place of the output's scale. A wrong kernel is off
     * by far more. */
    expect_within(c, dtype_name(lowp), err, lowp == DT_BF16 ? 2e-2 : 3e-3);
    scope_end();
    return err;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void run_cpu_family(Family family)
{
    failures = 0;
    int n = 0;
    double start = seconds_now();
    for (int k = 0; k < n_cases; k++) {
        const OpCase *c = &cases[k];
        if (c->family != family || c->flags & F_GPU_ONLY) continue;
        double case_start = seconds_now();
        double layouts = check_layouts(c), fd = check_gradients(c);
        double bf16 = check_lowp(c, DT_BF16), f16 = check_lowp(c, DT_F16);
        char label[200], extra[96] = "";
        label_of(c, label, sizeof label);
        int m = 0;
        if (fd >= 0) m += snprintf(extra + m, sizeof extra - (size_t)m, "  fd %.1e", fd);
        if (bf16 >= 0 && f16 >= 0) snprintf(extra + m, sizeof extra - (size_t)m, "  bf16 %.1e f16 %.1e", bf16, f16);
        else if (bf16 >= 0) snprintf(extra + m, sizeof extra - (size_t)m, "  bf16 %.1e f16 refused", bf16);
        print_message("  %-72s layouts %.1e%s  %.2f s\n", label, layouts, extra, seconds_now() - case_start);
        n++;
    }
    print_message("  %d cases of %s in %.1f s, %d failed checks\n", n, family_name[family], seconds_now() - start,
                  failures);
    assert_int_equal(failures, 0);
}

static void test_cpu(void **state) { run_cpu_family(*(Family *)*state); }

/* ---------------- errors ---------------- */

typedef struct {
    const char *op, *message;
    Tensor *(*make)(Device d, Generator *g);
} ErrorCase;

static Tensor *on(Tensor *t, Device d)
{
    REQUIRE_OK(t);
    return tensor_to(t, d);
}

static Tensor *nll_target_too_large(Device d, Generator *g)
{
    Tensor *t = tensor_randint(0, 7, SHAPE(3000), g, CPU);
    tensor_i64(t)[1700] = 9; /* the first bad target is the one reported */
    tensor_i64(t)[2500] = -4;
    return f_nll_loss(on(tensor_randn(SHAPE(3000, 7), g, CPU), d), on(t, d), NULL, -100, REDUCTION_MEAN);
}
static Tensor *ce_target_negative(Device d, Generator *g)
{
    Tensor *t = tensor_randint(0, 7, SHAPE(3000), g, CPU);
    tensor_i64(t)[2500] = -4;
    return f_cross_entropy(on(tensor_randn(SHAPE(3000, 7), g, CPU), d), on(t, d), NULL, -100, REDUCTION_SUM, 0.0);
}
static Tensor *bce_input_above_one(Device d, Generator *g)
{
    Tensor *x = tensor_rand(SHAPE(2000), g, CPU);
    tensor_f32(x)[1234] = 1.5f;
    return f_binary_cross_entropy(on(x, d), on(tensor_rand(SHAPE(2000), g, CPU), d), NULL, REDUCTION_MEAN);
}
static Tensor *index_too_large(Device d, Generator *g)
{
    Tensor *idx = tensor_randint(0, 5, SHAPE(2000), g, CPU);
    tensor_i64(idx)[1500] = 9;
    return t_index_select(on(tensor_randn(SHAPE(5, 6), g, CPU), d), 0, on(idx, d));
}
static Tensor *index_negative(Device d, Generator *g)
{
    Tensor *idx = tensor_randint(0, 5, SHAPE(2000), g, CPU);
    tensor_i64(idx)[1500] = -2;
    return t_index_select(on(tensor_randn(SHAPE(5, 6), g, CPU), d), 0, on(idx, d));
}
static Tensor *one_hot_negative(Device d, Generator *g)
{
    return f_one_hot(on(tensor_randint(-3, -1, SHAPE(4), g, CPU), d), 5);
}
static Tensor *add_into_expanded(Device d, Generator *g)
{
    Tensor *dst = t_expand(on(tensor_zeros(SHAPE(1, 4), DT_F32, CPU), d), SHAPE(3, 4));
    return t_add_(dst, on(tensor_ones(SHAPE(3, 4), DT_F32, CPU), d), 1.0) == 0 ? dst : NULL;
}
static Tensor *int64_plus_fraction(Device d, Generator *g)
{
    Tensor *dst = on(tensor_zeros(SHAPE(4), DT_I64, CPU), d);
    return t_add_scalar_(dst, 0.5) == 0 ? dst : NULL;
}

static const ErrorCase error_cases[] = {
    {"f_nll_loss", "target 9 is out of bounds", nll_target_too_large},
    {"f_cross_entropy", "target -4 is out of bounds", ce_target_negative},
    {"f_binary_cross_entropy", "all elements of input should be between 0 and 1", bce_input_above_one},
    {"t_index_select", "index 9 is out of bounds for dimension 0 with size 5", index_too_large},
    {"t_index_select", "index -2 is out of bounds", index_negative},
    {"f_one_hot", "Class values must be non-negative", one_hot_negative},
    {"t_add_", "single memory location", add_into_expanded},
    {"t_add_scalar_", "can't be cast to the desired output type Long", int64_plus_fraction},
};

static void check_errors(Device d)
{
    Generator g;
    generator_seed(&g, 5);
    for (size_t k = 0; k < sizeof error_cases / sizeof error_cases[0]; k++) {
        scope_begin();
        engine_clear_error();
        Tensor *r = error_cases[k].make(d, &g);
        print_message("  %-24s on %s: %s\n", error_cases[k].op, device_name(d), r ? "no error" : engine_last_error());
        if (r || !strstr(engine_last_error(), error_cases[k].message))
            fail_msg("%s on %s: expected an error with \"%s\"", error_cases[k].op, device_name(d),
                     error_cases[k].message);
        engine_clear_error();
        scope_end();
    }
}

static void test_cpu_errors(void **state) { check_errors(CPU); }

/* ---------------- coverage ---------------- */

/* A copy of the CPU backend's table whose kernels count their calls before
 * calling the real ones: the kernel coverage check asks which slots the CPU
 * cases reached. */
static const Backend *real_cpu;
static Backend spy_cpu;

typedef struct {
    const char *slot;
    long hits;
} SlotHits;

static SlotHits slot_hits[64];
static int n_slot_hits;

static long *hits_of(const char *slot)
{
    for (int i = 0; i < n_slot_hits; i++)
        if (strcmp(slot_hits[i].slot, slot) == 0) return &slot_hits[i].hits;
    assert_true(n_slot_hits < (int)(sizeof slot_hits / sizeof slot_hits[0]));
    slot_hits[n_slot_hits].slot = slot;
    return &slot_hits[n_slot_hits++].hits;
}

/* spy_<slot>: counts, then calls the CPU's kernel. */
#define SPY(slot, params, args)                                                                                    \
    static void spy_##slot params                                                                                  \
    {                                                                                                              \
        (*hits_of(#slot))++;                                                                                       \
        real_cpu->slot args;                                                                                       \
    }
#define SPY_RET(type, slot, params, args)                                                                          \
    static type spy_##slot params                                                                                  \
    {                                                                                                              \
        (*hits_of(#slot))++;                                                                                       \
        return real_cpu->slot args;                                                                                \
    }

typedef const Tensor CT;
SPY(binary, (BinaryOp op, Tensor *out, CT *a, CT *b), (op, out, a, b))
SPY(unary, (UnaryOp op, Tensor *out, CT *a, double alpha, double beta), (op, out, a, alpha, beta))
SPY(unary_backward, (UnaryOp op, Tensor *gi, CT *g, CT *x, CT *y, double alpha, double beta),
    (op, gi, g, x, y, alpha, beta))
SPY(where, (Tensor *out, CT *cond, CT *a, CT *b), (out, cond, a, b))
SPY(axpy, (Tensor *dst, CT *src, double alpha), (dst, src, alpha))
SPY(inplace_i64, (BinaryOp op, Tensor *dst, CT *src, int64_t alpha), (op, dst, src, alpha))
SPY(sum, (Tensor *out, CT *in, const bool *reduce), (out, in, reduce))
SPY(mean, (Tensor *out, CT *in, const bool *reduce), (out, in, reduce))
SPY(var, (Tensor *out, CT *in, const bool *reduce, int correction, bool take_sqrt),
    (out, in, reduce, correction, take_sqrt))
SPY(amax, (Tensor *out, CT *in, const bool *reduce), (out, in, reduce))
SPY(amin, (Tensor *out, CT *in, const bool *reduce), (out, in, reduce))
SPY(max_dim, (Tensor *values, Tensor *indices, CT *in, int dim, bool is_max), (values, indices, in, dim, is_max))
SPY(count_in_top_k, (Tensor *out, CT *scores, CT *target, int k), (out, scores, target, k))
SPY(put_along_dim, (Tensor *dst, CT *src, CT *indices, int dim), (dst, src, indices, dim))
SPY(index_range, (CT *index, int64_t *min, int64_t *max), (index, min, max))
SPY(gather, (Tensor *out, CT *src, int dim, CT *index), (out, src, dim, index))
SPY(scatter_add, (Tensor *out, int dim, CT *index, CT *src), (out, dim, index, src))
SPY(index_add, (Tensor *out, int dim, CT *index, CT *src, int64_t skip), (out, dim, index, src, skip))
SPY(pad, (Tensor *out, CT *in, const int64_t *before, double value), (out, in, before, value))
SPY(one_hot, (Tensor *out, CT *indices), (out, indices))
SPY(matmul, (Tensor *out, CT *a, CT *b, bool accumulate), (out, a, b, accumulate))
SPY(conv2d, (Tensor *y, CT *x, CT *w, CT *bias, ConvParams p), (y, x, w, bias, p))
SPY(conv2d_transpose, (Tensor *x, CT *y, CT *w, CT *bias, ConvParams p), (x, y, w, bias, p))
SPY(conv2d_weight_grad, (Tensor *gw, CT *x, CT *gy, ConvParams p), (gw, x, gy, p))
SPY_RET(bool, conv2d_max_pool2d_fused, (CT *x, CT *w, Shape y, ConvParams cp, PoolParams pp), (x, w, y, cp, pp))
SPY(conv2d_max_pool2d, (Tensor *out, Tensor *codes, CT *x, CT *w, CT *bias, Shape y, ConvParams cp, PoolParams pp),
    (out, codes, x, w, bias, y, cp, pp))
SPY(conv2d_max_pool2d_backward,
    (Tensor *gx, Tensor *gw, CT *x, CT *w, CT *g, CT *codes, Shape y, ConvParams cp, PoolParams pp),
    (gx, gw, x, w, g, codes, y, cp, pp))
SPY(max_pool2d, (Tensor *out, Tensor *indices, CT *x, PoolParams p), (out, indices, x, p))
SPY(max_pool2d_backward, (Tensor *gx, CT *g, CT *indices, PoolParams p), (gx, g, indices, p))
SPY(avg_pool2d, (Tensor *out, CT *x, PoolParams p), (out, x, p))
SPY(avg_pool2d_backward, (Tensor *gx, CT *g, PoolParams p), (gx, g, p))
SPY(adaptive_avg_pool2d, (Tensor *out, CT *x), (out, x))
SPY(adaptive_avg_pool2d_backward, (Tensor *gx, CT *g), (gx, g))
SPY(softmax, (Tensor *out, CT *x, int dim, bool log_out), (out, x, dim, log_out))
SPY(softmax_backward, (Tensor *gi, CT *g, CT *y, int dim, bool log_out), (gi, g, y, dim, log_out))
SPY(batch_norm_stats, (CT *x, Tensor *mean, Tensor *var, Tensor *invstd, double eps), (x, mean, var, invstd, eps))
SPY(batch_norm_apply, (Tensor *out, CT *x, CT *mean, CT *invstd, CT *weight, CT *bias),
    (out, x, mean, invstd, weight, bias))
SPY(batch_norm_backward_reduce, (Tensor *sum_g, Tensor *sum_g_xhat, CT *g, CT *x, CT *mean, CT *invstd),
    (sum_g, sum_g_xhat, g, x, mean, invstd))
SPY(batch_norm_backward_input,
    (Tensor *gi, CT *g, CT *x, CT *mean, CT *invstd, CT *weight, CT *sum_g, CT *sum_g_xhat),
    (gi, g, x, mean, invstd, weight, sum_g, sum_g_xhat))
SPY(layer_norm, (Tensor *out, Tensor *mean, Tensor *rstd, CT *x, CT *weight, CT *bias, int64_t cols, double eps),
    (out, mean, rstd, x, weight, bias, cols, eps))
SPY(layer_norm_backward_input, (Tensor *gi, CT *g, CT *x, CT *mean, CT *rstd, CT *weight, int64_t cols),
    (gi, g, x, mean, rstd, weight, cols))
SPY(layer_norm_backward_params, (Tensor *gw, Tensor *gb, CT *g, CT *x, CT *mean, CT *rstd, int64_t cols),
    (gw, gb, g, x, mean, rstd, cols))
SPY_RET(bool, nll_loss_bad_target, (CT *target, int64_t n_classes, int64_t ignore_index, int64_t *bad),
        (target, n_classes, ignore_index, bad))
SPY(nll_loss, (Tensor *out, Tensor *tw, CT *input, CT *target, CT *weight, int64_t ignore_index, Reduction r),
    (out, tw, input, target, weight, ignore_index, r))
SPY(nll_loss_backward, (Tensor *gi, CT *g, CT *target, CT *weight, CT *tw, int64_t ignore_index, Reduction r),
    (gi, g, target, weight, tw, ignore_index, r))
SPY_RET(bool, pointwise_loss,
        (PointwiseLoss kind, Tensor *out, CT *x, CT *target, CT *weight, CT *pos_weight, Reduction r),
        (kind, out, x, target, weight, pos_weight, r))
SPY(pointwise_loss_backward,
    (PointwiseLoss kind, Tensor *gx, Tensor *gt, CT *g, CT *x, CT *target, CT *weight, CT *pos_weight, Reduction r),
    (kind, gx, gt, g, x, target, weight, pos_weight, r))

/* The slots whose kernels the spy table counts. */
static const char *spied_slots[64];
static int n_spied;
#define SPIED(slot) (spy_cpu.slot = spy_##slot, spied_slots[n_spied++] = #slot)

/* Registers the counting copy of the CPU table (before any case runs). */
static void install_spy(void)
{
    real_cpu = backend_get(DEVICE_CPU);
    spy_cpu = *real_cpu;
    SPIED(binary), SPIED(unary), SPIED(unary_backward), SPIED(where), SPIED(axpy), SPIED(inplace_i64);
    SPIED(sum), SPIED(mean), SPIED(var), SPIED(amax), SPIED(amin), SPIED(max_dim), SPIED(put_along_dim);
    SPIED(count_in_top_k);
    SPIED(index_range), SPIED(gather), SPIED(scatter_add), SPIED(index_add), SPIED(pad), SPIED(one_hot);
    SPIED(matmul), SPIED(conv2d), SPIED(conv2d_transpose), SPIED(conv2d_weight_grad);
    SPIED(conv2d_max_pool2d_fused), SPIED(conv2d_max_pool2d), SPIED(conv2d_max_pool2d_backward);
    SPIED(max_pool2d), SPIED(max_pool2d_backward), SPIED(avg_pool2d), SPIED(avg_pool2d_backward);
    SPIED(adaptive_avg_pool2d), SPIED(adaptive_avg_pool2d_backward), SPIED(softmax), SPIED(softmax_backward);
    SPIED(batch_norm_stats), SPIED(batch_norm_apply), SPIED(batch_norm_backward_reduce);
    SPIED(batch_norm_backward_input), SPIED(layer_norm), SPIED(layer_norm_backward_input);
    SPIED(layer_norm_backward_params), SPIED(nll_loss_bad_target), SPIED(nll_loss), SPIED(nll_loss_backward);
    SPIED(pointwise_loss), SPIED(pointwise_loss_backward);
    if (backend_register(&spy_cpu) != 0) fail_engine("registering the counting CPU table");
}

static long slot_calls(const char *slot)
{
    for (int i = 0; i < n_slot_hits; i++)
        if (strcmp(slot_hits[i].slot, slot) == 0) return slot_hits[i].hits;
    return 0;
}

/* Kernel slots that are not ops of ops.h, and the tests that cover them. */
static const struct {
    const char *slot, *where;
} kernels_tested_elsewhere[] = {
    {"sgd_step", "tests/test_optim.c, tests/test_gpu_optim.c"},
    {"adam_step", "tests/test_optim.c, tests/test_gpu_optim.c"},
    {"rmsprop_step", "tests/test_optim.c, tests/test_gpu_optim.c"},
    {"adagrad_step", "tests/test_optim.c, tests/test_gpu_optim.c"},
    {"adadelta_step", "tests/test_optim.c, tests/test_gpu_optim.c"},
    {"optim_step_multi", "tests/test_gpu_optim.c"},
    {"tensor_norm", "tests/test_optim.c (clip_grad_norm_), tests/test_gpu_optim.c"},
    {"matmul_lowp_native", "tests/test_amp.c (native bf16 products against the f32 emulation and torch); "
                           "the GPU's bf16/f16 in test_backend_ops gpu"},
    {"matmul_lowp", "tests/test_amp.c (native bf16 products against the f32 emulation and torch); "
                    "the GPU's bf16/f16 in test_backend_ops gpu"},
    {"conv2d_lowp_native", "tests/test_amp.c (native bf16 convolutions against the f32 emulation); "
                           "the GPU's bf16/f16 in test_backend_ops gpu"},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_NAMES 256

typedef struct {
    char names[MAX_NAMES][64];
    int n;
} NameList;

static bool listed(const NameList *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0) return true;
    return false;
}

static void append(NameList *l, const char *start, size_t len)
{
    assert_true(l->n < MAX_NAMES && len > 0 && len < sizeof l->names[0]);
    memcpy(l->names[l->n], start, len);
    l->names[l->n++][len] = '\0';
}

static size_t identifier_length(const char *p)
{
    size_t n = 0;
    while (p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= '0' && p[n] <= '9'))
        n++;
    return n;
}

static FILE *open_header(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", ENGINE_SOURCE_DIR, name);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot read %s", path);
    return f;
}

/* The functions a header declares at the start of a line returning Tensor * or int. */
static void declared_functions(const char *header, NameList *out)
{
    FILE *f = open_header(header);
    char line[512];
    while (fgets(line, sizeof line, f)) {
        const char *p = strncmp(line, "Tensor *", 8) == 0 ? line + 8 : strncmp(line, "int ", 4) == 0 ? line + 4 : NULL;
        size_t n = p ? identifier_length(p) : 0;
        if (n > 0 && p[n] == '(') append(out, p, n);
    }
    fclose(f);
}

/* The function-pointer slots of struct Backend between "---- kernels" and its end. */
static void kernel_slots(NameList *out)
{
    FILE *f = open_header("backend.h");
    char line[512];
    bool in_kernels = false;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "---- kernels")) in_kernels = true;
        if (strstr(line, "} Backend;")) break;
        const char *p = in_kernels ? strstr(line, "(*") : NULL;
        if (!p) continue;
        size_t n = identifier_length(p + 2);
        if (n > 0 && p[2 + n] == ')') append(out, p + 2, n);
    }
    fclose(f);
}

static bool op_has_case(const char *op)
{
    for (int k = 0; k < n_cases; k++)
        if (strcmp(cases[k].op, op) == 0) return true;
    return false;
}

static bool tested_elsewhere(const char *slot)
{
    for (size_t k = 0; k < N_OF(kernels_tested_elsewhere); k++)
        if (strcmp(kernels_tested_elsewhere[k].slot, slot) == 0) return true;
    return false;
}

static bool spied(const char *slot)
{
    for (int k = 0; k < n_spied; k++)
        if (strcmp(spied_slots[k], slot) == 0) return true;
    return false;
}

/* Every op of ops.h has a case, every case names a declared function, and
 * every kernel slot of struct Backend is counted or tested elsewhere. */
static void test_coverage(void **state)
{
    NameList ops = {0}, tensor_fns = {0}, slots = {0};
    declared_functions("ops.h", &ops);
    declared_functions("tensor.h", &tensor_fns);
    kernel_slots(&slots);
    print_message("  engine/ops.h declares %d ops, struct Backend has %d kernel slots; %d cases\n", ops.n, slots.n,
                  n_cases);
    assert_true(ops.n > 50 && slots.n > 30); /* the parser still understands the headers */
    int missing = 0;
    for (int i = 0; i < ops.n; i++)
        if (!op_has_case(ops.names[i])) {
            print_message("  MISSING: %s (engine/ops.h) has no case in tests/test_backend_ops.c\n", ops.names[i]);
            missing++;
        }
    for (int k = 0; k < n_cases; k++)
        if (!listed(&ops, cases[k].op) && !listed(&tensor_fns, cases[k].op)) {
            print_message("  STALE: case of %s, which engine/ops.h and engine/tensor.h do not declare\n", cases[k].op);
            missing++;
        }
    for (int i = 0; i < slots.n; i++)
        if (!spied(slots.names[i]) && !tested_elsewhere(slots.names[i])) {
            print_message("  MISSING: kernel slot %s (engine/backend.h) is neither counted (install_spy) nor in "
                          "kernels_tested_elsewhere[]\n", slots.names[i]);
            missing++;
        }
    for (size_t k = 0; k < N_OF(kernels_tested_elsewhere); k++)
        if (!listed(&slots, kernels_tested_elsewhere[k].slot)) {
            print_message("  STALE: kernels_tested_elsewhere[] entry %s\n", kernels_tested_elsewhere[k].slot);
            missing++;
        }
    assert_int_equal(missing, 0);
}

/* After the CPU cases: every counted kernel was called by some case. */
static void test_kernels_reached(void **state)
{
    int unreached = 0;
    for (int k = 0; k < n_spied; k++) {
        long calls = slot_calls(spied_slots[k]);
        print_message("  %-30s %8ld calls\n", spied_slots[k], calls);
        if (calls == 0) {
            print_message("  MISSING: no case reaches the kernel slot %s\n", spied_slots[k]);
            unreached++;
        }
    }
    assert_int_equal(unreached, 0);
}

/* ---------------- GPU against CPU ---------------- */

/* One variant of c on the GPU against the CPU with the same layout and values. */
static void compare_gpu(const OpCase *c, Variant v, double tol, bool repeat, const char *mode)
{
    scope_begin();
    Tensor *values[MAX_IN];
    uint64_t seed = case_seed(c);
    case_values(c, v, seed, values);
    Layout layout = variant_layout(v);
    bool nf_grad = v == V_NONFINITE && (c->flags & F_NF_GRAD);
    Result ref = run_case(c, values, layout, CPU, DT_F32, nf_grad, DT_F32, seed);
    Result ours = run_case(c, values, layout, GPU_DEVICE, DT_F32, nf_grad, DT_F32, seed);
    char what[96];
    snprintf(what, sizeof what, "GPU %s, %s", variant_name[v], mode);
    expect_within(c, what, ref.out && ours.out ? result_difference(c, &ours, &ref) : INFINITY, tol);
    if (c->flags & F_GPU_EXACT && ref.out && ours.out && !same_signs(ours.out, ref.out)) {
        snprintf(what, sizeof what, "GPU %s, %s: the signs of zeros", variant_name[v], mode);
        expect_within(c, what, INFINITY, 0);
    }
    if (repeat && ours.out) {
        Result again = run_case(c, values, layout, GPU_DEVICE, DT_F32, nf_grad, DT_F32, seed);
        snprintf(what, sizeof what, "GPU %s, %s: second run bit for bit", variant_name[v], mode);
        expect_within(c, what, again.out ? result_difference(c, &again, &ours) : INFINITY, 0);
    }
    scope_end();
}

/* c on bf16/f16 inputs on the GPU against the CPU on the same inputs: the
 * dtypes of the output and gradients, and the values within a few roundings
 * to the low dtype (both compute in f32 and round once, but where the GPU
 * runs cuBLAS's bf16/f16 products and cuDNN's convolutions the CPU may
 * emulate them, in another order). */
static void compare_gpu_lowp(const OpCase *c, DType lowp, const char *mode)
{
    scope_begin();
    Tensor *values[MAX_IN];
    uint64_t seed = case_seed(c);
    case_values(c, V_CONTIG, seed, values);
    Result ref = run_case(c, values, L_CONTIG, CPU, lowp, false, DT_F32, seed);
    Result ours = run_case(c, values, L_CONTIG, GPU_DEVICE, lowp, false, DT_F32, seed);
    expect_lowp_dtypes(c, &ours, lowp);
    char what[96];
    snprintf(what, sizeof what, "GPU %s, %s", dtype_name(lowp), mode);
    expect_within(c, what, ref.out && ours.out ? result_difference(c, &ours, &ref) : INFINITY,
                  lowp == DT_BF16 ? 2e-2 : 3e-3);
    scope_end();
}

static void run_gpu_family(Family family)
{
    failures = 0;
    int n = 0;
    for (int det = 1; det >= 0; det--) {
        gpu_set_modes(false, det);
        const char *mode = det ? "deterministic" : "atomic";
        for (int k = 0; k < n_cases; k++) {
            const OpCase *c = &cases[k];
            if (c->family != family) continue;
            double tol = c->gpu_tol > 0 ? c->gpu_tol : GPU_TOL;
            if (c->flags & F_GPU_EXACT || (det && c->flags & F_DET_EXACT)) tol = 0;
            for (int v = V_CONTIG; v < N_VARIANTS; v++) {
                if (v > V_CONTIG && c->flags & F_NO_LAYOUTS) break;
                if (v == V_NONFINITE && !(c->flags & F_NONFINITE)) continue;
                compare_gpu(c, (Variant)v, tol, det && (c->flags & F_REPEAT), mode);
            }
            if (c->flags & F_LOWP) {
                compare_gpu_lowp(c, DT_BF16, mode);
                if (!(c->flags & F_NO_F16)) compare_gpu_lowp(c, DT_F16, mode);
            }
            n += det;
        }
    }
    gpu_set_modes(true, false);
    for (int k = 0; k < n_cases; k++)
        if (cases[k].family == family && cases[k].flags & F_TF32) compare_gpu(&cases[k], V_CONTIG, TF32_TOL, false, "TF32");
    gpu_set_modes(false, false);
    print_message("  %d cases of %s on the GPU, %d failed checks\n", n, family_name[family], failures);
    assert_int_equal(failures, 0);
}

static void test_gpu(void **state)
{
    REQUIRE_GPU();
    run_gpu_family(*(Family *)*state);
}

/* autocast's native kernels are the ones that run on the GPU (the
 * emulation would pass the comparisons too): the product and convolution
 * nodes take their inputs in the low dtype wherever the device says it
 * runs them natively, and the values match the CPU's. */
static void test_gpu_native_lowp(void **state)
{
    (void)state;
    REQUIRE_GPU();
    const Backend *gpu = backend_get(DEVICE_CUDA);
    const DType lowp[] = {DT_BF16, DT_F16};
    for (int k = 0; k < 2; k++) {
        DType dt = lowp[k];
        if (!gpu->matmul_lowp_native || !gpu->matmul_lowp_native(dt)) {
            print_message("  %s: no native products on this GPU (compute capability below 8.0)\n", dtype_name(dt));
            continue;
        }
        scope_begin();
        Generator g;
        generator_seed(&g, 77);
        Tensor *x = tensor_to(tensor_randn(SHAPE(5, 64, 9, 7), &g, CPU), GPU_DEVICE);
        Tensor *w = tensor_to(tensor_randn(SHAPE(32, 64, 3, 3), &g, CPU), GPU_DEVICE);
        Tensor *lw = tensor_to(tensor_randn(SHAPE(10, 64), &g, CPU), GPU_DEVICE);
        Tensor *lx = tensor_to(tensor_randn(SHAPE(7, 64), &g, CPU), GPU_DEVICE);
        Tensor *leaves[] = {x, w, lw, lx};
        for (int i = 0; i < 4; i++) REQUIRE_OK(tensor_set_requires_grad(leaves[i], true));
        AutocastState prev;
        assert_int_equal(autocast_begin(dt, &prev), 0);
        Tensor *y = f_conv2d(x, w, NULL, conv_params_default()), *z = f_linear(lx, lw, NULL);
        autocast_restore(prev);
        REQUIRE_OK(y);
        REQUIRE_OK(z);
        /* the results are casts of the nodes' f32 outputs; the nodes' inputs tell the path */
        Node *conv = y->grad_fn ? y->grad_fn->inputs[0]->grad_fn : NULL;
        Node *prod = z->grad_fn ? z->grad_fn->inputs[0]->grad_fn : NULL;
        if (!conv || !prod || conv->inputs[0]->dtype != dt || prod->inputs[0]->dtype != dt) {
            print_message("  FAIL %s: the native path did not run (convolution input %s, product input %s)\n",
                          dtype_name(dt), conv ? dtype_name(conv->inputs[0]->dtype) : "-",
                          prod ? dtype_name(prod->inputs[0]->dtype) : "-");
            fail();
        }
        scope_end();
    }
}

static void test_gpu_errors(void **state)
{
    REQUIRE_GPU();
    check_errors(GPU_DEVICE);
}

/* ---------------- main ---------------- */

static Family families[N_FAMILIES];
static char cpu_names[N_FAMILIES][64], gpu_names[N_FAMILIES][64];

/* "test_backend_ops" runs the CPU checks; "test_backend_ops gpu" the GPU
 * against the CPU (skipped without a device). One cmocka test per family. */
int main(int argc, char **argv)
{
    build_cases();
    install_spy();
    struct CMUnitTest cpu_tests[N_FAMILIES + 3] = {cmocka_unit_test(test_coverage)};
    struct CMUnitTest gpu_tests[N_FAMILIES + 2];
    for (int f = 0; f < N_FAMILIES; f++) {
        families[f] = (Family)f;
        snprintf(cpu_names[f], sizeof cpu_names[f], "cpu: %s", family_name[f]);
        snprintf(gpu_names[f], sizeof gpu_names[f], "gpu: %s", family_name[f]);
        cpu_tests[f + 1] = (struct CMUnitTest){.name = cpu_names[f], .test_func = test_cpu, .initial_state = &families[f]};
        gpu_tests[f] = (struct CMUnitTest){.name = gpu_names[f], .test_func = test_gpu, .initial_state = &families[f]};
    }
    cpu_tests[N_FAMILIES + 1] = (struct CMUnitTest)cmocka_unit_test(test_cpu_errors);
    cpu_tests[N_FAMILIES + 2] = (struct CMUnitTest)cmocka_unit_test(test_kernels_reached);
    gpu_tests[N_FAMILIES] = (struct CMUnitTest)cmocka_unit_test(test_gpu_errors);
    gpu_tests[N_FAMILIES + 1] = (struct CMUnitTest)cmocka_unit_test(test_gpu_native_lowp);
    if (argc > 1 && strcmp(argv[1], "gpu") == 0) return cmocka_run_group_tests(gpu_tests, NULL, NULL);
    return cmocka_run_group_tests(cpu_tests, NULL, NULL);
}
