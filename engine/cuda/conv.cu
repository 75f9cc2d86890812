/* CUDA 2-D convolution over cuDNN. The three kernels are cuDNN's three
 * convolution directions: forward (conv2d), backward data (conv2d's input
 * gradient and conv_transpose2d's forward) and backward filter (the weight
 * gradient of both ops).
 *
 * Every distinct configuration (direction, shapes, parameters, numeric
 * modes) gets a plan, made once and kept in a hash table as
 * torch.backends.cudnn.benchmark does: the descriptors and the algorithm,
 * found by timing every algorithm on the call's own buffers
 * (cudnnFind*AlgorithmEx), or, when deterministic algorithms are required,
 * the first deterministic one in cuDNN's heuristic order (cudnnGet*_v7, a
 * choice that does not depend on timing). Without TF32 only FMA math is
 * allowed, so results stay within float rounding of the CPU's. Workspace
 * comes from the caching allocator and goes back to it once the call is
 * queued (the one stream orders its reuse).
 *
 * Low precision (autocast's native path, conv2d_lowp_native): the inputs
 * may be bf16 or f16 (x and w, or the output gradient and w, or x and the
 * output gradient); cuDNN computes in f32 on tensor cores and writes the
 * input dtype, which is widened into the f32 output (exactly), and a bias
 * is added there in f32, as PyTorch's cuDNN path rounds the product before
 * its bias too. Those plans are keyed by dtype and may use tensor-core math.
 *
 * The output side's size comes from its tensor, and a transposed
 * convolution's output_padding can make the input side larger than the
 * convolution formula needs. While output_padding < stride the formula's
 * floor absorbs the difference and cuDNN takes the shapes as they are; past
 * it (possible when output_padding < dilation) the output side is staged in
 * a buffer of the size cuDNN expects, zero beyond the tensor's rows and
 * columns, which changes nothing in the sums. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cuda/check.h"
#include "engine/cuda/launch.cuh"

extern "C" {
#include "engine/cuda/allocator.h"
#include "engine/cuda/conv.h"
#include "engine/cuda/runtime.h"
}

enum ConvDir { DIR_FORWARD, DIR_BACKWARD_DATA, DIR_BACKWARD_FILTER };

/* Sizes of one call: x [n, c, h, w], w [o, c / groups, kh, kw], and the
 * output side [n, o, oh, ow] as cuDNN computes it (full) and as the tensor
 * has it. */
struct ConvGeom {
    int64_t n, c, h, w, o, kh, kw, groups;
    int64_t oh_full, ow_full, oh, ow;
    bool staged; /* the tensor's output side is smaller than cuDNN's */
};

static ConvGeom conv_geom(const Tensor *x, const Tensor *y, const Tensor *w, const ConvParams &p)
{
    ConvGeom g;
    g.n = x->shape.d[0], g.c = x->shape.d[1], g.h = x->shape.d[2], g.w = x->shape.d[3];
    g.o = w->shape.d[0], g.kh = w->shape.d[2], g.kw = w->shape.d[3], g.groups = p.groups;
    g.oh = y->shape.d[2], g.ow = y->shape.d[3];
    ENGINE_ASSERT(y->shape.d[0] == g.n && y->shape.d[1] == g.o && g.groups > 0 && g.c % g.groups == 0 &&
                  g.o % g.groups == 0 && w->shape.d[1] == g.c / g.groups);
    ENGINE_ASSERT(tensor_is_contiguous(x) && tensor_is_contiguous(y) && tensor_is_contiguous(w));
    int64_t span_h = (int64_t)p.dilation[0] * (g.kh - 1) + 1, span_w = (int64_t)p.dilation[1] * (g.kw - 1) + 1;
    g.oh_full = (g.h + 2 * p.padding[0] - span_h) / p.stride[0] + 1;
    g.ow_full = (g.w + 2 * p.padding[1] - span_w) / p.stride[1] + 1;
    ENGINE_ASSERT(g.h + 2 * p.padding[0] >= span_h && g.w + 2 * p.padding[1] >= span_w && g.oh_full >= g.oh &&
                  g.ow_full >= g.ow);
    g.staged = g.oh_full != g.oh || g.ow_full != g.ow;
    return g;
}

static int as_int(int64_t v)
{
    ENGINE_ASSERT(v >= 0 && v <= INT_MAX);
    return (int)v;
}

static cudnnHandle_t handle(void) { return (cudnnHandle_t)cuda_cudnn(); }
static cudaStream_t stream(void) { return (cudaStream_t)cuda_stream(); }

/* ======================= plans ======================= */

enum { KEY_LEN = 20 };

struct ConvPlan {
    int64_t key[KEY_LEN];
    cudnnTensorDescriptor_t x_desc, y_desc, bias_desc;
    cudnnFilterDescriptor_t w_desc;
    cudnnConvolutionDescriptor_t conv_desc;
    cudnnMathType_t math;
    bool lowp;         /* bf16/f16 data, f32 compute: tensor-core math allowed */
    int algo;          /* as the direction's algorithm enum */
    size_t workspace;  /* bytes algo needs */
    int fallback_algo; /* one that needs no workspace, or -1 */
    cudnnMathType_t fallback_math; /* the math it was measured with */
};

/* Open addressing over plan pointers (plans never move once made). Only
 * the thread that drives the device uses it, as with the cuDNN handle. */
static ConvPlan **plan_table;
static size_t plan_capacity, plan_count;

static uint64_t key_hash(const int64_t *key)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the key's bytes */
    const unsigned char *b = (const unsigned char *)key;
    for (size_t i = 0; i < sizeof(int64_t) * KEY_LEN; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static ConvPlan **plan_slot(ConvPlan **table, size_t capacity, const int64_t *key)
{
    size_t i = (size_t)key_hash(key) & (capacity - 1);
    while (table[i] && memcmp(table[i]->key, key, sizeof(int64_t) * KEY_LEN) != 0) i = (i + 1) & (capacity - 1);
    return &table[i];
}

static void plan_insert(ConvPlan *plan)
{
    if (2 * (plan_count + 1) > plan_capacity) {
        size_t capacity = plan_capacity ? 2 * plan_capacity : 64;
        ConvPlan **table = (ConvPlan **)calloc(capacity, sizeof *table);
        ENGINE_ASSERT(table != NULL);
        for (size_t i = 0; i < plan_capacity; i++)
            if (plan_table[i]) *plan_slot(table, capacity, plan_table[i]->key) = plan_table[i];
        free(plan_table);
        plan_table = table;
        plan_capacity = capacity;
    }
    *plan_slot(plan_table, plan_capacity, plan->key) = plan;
    plan_count++;
}

/* The largest power of two up to 16 that divides every buffer's address:
 * cuDNN's vectorised kernels need aligned buffers, so a plan found with
 * aligned ones must not serve misaligned ones (views at odd offsets). */
static int64_t buffers_alignment(const void *const *ptrs, int n)
{
    int64_t align = 16;
    for (int i = 0; i < n; i++)
        while (ptrs[i] && align > 1 && (uintptr_t)ptrs[i] % (uintptr_t)align != 0) align /= 2;
    return align;
}

static void make_key(int64_t *key, ConvDir dir, const ConvGeom &g, const ConvParams &p, int64_t alignment,
                     cudnnDataType_t data)
{
    int64_t v[KEY_LEN] = {dir, g.n, g.c, g.h, g.w, g.o, g.kh, g.kw, g.groups,
                          p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1],
                          cuda_tf32(), cuda_deterministic(), alignment, (int64_t)data, 0};
    memcpy(key, v, sizeof v);
}

/* FMA: no tensor cores, results within float rounding of the CPU's;
 * DEFAULT lets cuDNN use TF32 tensor cores (Ampere and later); bf16/f16
 * data is what tensor cores are for. */
static cudnnMathType_t default_math(bool lowp)
{
    if (lowp) return CUDNN_TENSOR_OP_MATH;
    return cuda_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}

/* cuDNN's name for the data of an input of dtype dt. */
static cudnnDataType_t cudnn_data(DType dt)
{
    return dt == DT_BF16 ? CUDNN_DATA_BFLOAT16 : dt == DT_F16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
}

static void describe(ConvPlan *plan, ConvDir dir, const ConvGeom &g, const ConvParams &p, cudnnDataType_t data)
{
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->x_desc));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->y_desc));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->bias_desc));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&plan->w_desc));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&plan->conv_desc));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->x_desc, CUDNN_TENSOR_NCHW, data, as_int(g.n), as_int(g.c),
                                           as_int(g.h), as_int(g.w)));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->y_desc, CUDNN_TENSOR_NCHW, data, as_int(g.n), as_int(g.o),
                                           as_int(g.oh_full), as_int(g.ow_full)));
    /* the bias belongs to the direction's output: y forward, x backward data
     * (f32 plans only: a low-precision plan's bias is added after widening) */
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->bias_desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1,
                                           as_int(dir == DIR_BACKWARD_DATA ? g.c : g.o), 1, 1));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w_desc, data, CUDNN_TENSOR_NCHW, as_int(g.o),
                                           as_int(g.c / g.groups), as_int(g.kh), as_int(g.kw)));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(plan->conv_desc, p.padding[0], p.padding[1], p.stride[0],
                                                p.stride[1], p.dilation[0], p.dilation[1], CUDNN_CROSS_CORRELATION,
                                                CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionGroupCount(plan->conv_desc, as_int(g.groups)));
    plan->lowp = data != CUDNN_DATA_FLOAT;
    plan->math = default_math(plan->lowp);
    CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv_desc, plan->math));
}

/* The buffers of one call, as the direction sees them. */
struct ConvBuffers {
    const void *x, *w, *y; /* inputs (the one written is NULL here) */
    void *out;             /* the direction's output */
};

/* Workspace bytes algo needs, or SIZE_MAX when it does not apply. */
static size_t algo_workspace(const ConvPlan *plan, ConvDir dir, int algo)
{
    size_t bytes = 0;
    cudnnStatus_t st;
    if (dir == DIR_FORWARD)
        st = cudnnGetConvolutionForwardWorkspaceSize(handle(), plan->x_desc, plan->w_desc, plan->conv_desc,
                                                     plan->y_desc, (cudnnConvolutionFwdAlgo_t)algo, &bytes);
    else if (dir == DIR_BACKWARD_DATA)
        st = cudnnGetConvolutionBackwardDataWorkspaceSize(handle(), plan->w_desc, plan->y_desc, plan->conv_desc,
                                                          plan->x_desc, (cudnnConvolutionBwdDataAlgo_t)algo, &bytes);
    else
        st = cudnnGetConvolutionBackwardFilterWorkspaceSize(handle(), plan->x_desc, plan->y_desc, plan->conv_desc,
                                                            plan->w_desc, (cudnnConvolutionBwdFilterAlgo_t)algo,
                                                            &bytes);
    return st == CUDNN_STATUS_SUCCESS ? bytes : SIZE_MAX;
}

static int algo_count(ConvDir dir)
{
    return dir == DIR_FORWARD         ? (int)CUDNN_CONVOLUTION_FWD_ALGO_COUNT
           : dir == DIR_BACKWARD_DATA ? (int)CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT
                                      : (int)CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
}

/* The largest workspace the timed search offers: every algorithm's need up
 * to this cap (bigger ones are left out rather than hold that much). */
#define SEARCH_WORKSPACE_CAP ((size_t)1 << 30)

/* The first usable result (cuDNN orders them best first) and the first of
 * those that needs no workspace. The three directions' result structs have
 * the same fields. */
template <typename Perf> static void choose(ConvPlan *plan, const Perf *perf, int count, size_t offered)
{
    bool deterministic = cuda_deterministic(), any_math = cuda_tf32() || plan->lowp;
    plan->algo = plan->fallback_algo = -1;
    for (int i = 0; i < count; i++) {
        const Perf &r = perf[i];
        if (r.status != CUDNN_STATUS_SUCCESS || r.memory > offered) continue;
        if (deterministic && r.determinism != CUDNN_DETERMINISTIC) continue;
        if (!any_math && r.mathType != CUDNN_FMA_MATH) continue;
        if (plan->algo < 0) {
            plan->algo = (int)r.algo;
            plan->workspace = r.memory;
            if (any_math) plan->math = r.mathType;
        }
        if (r.memory == 0 && plan->fallback_algo < 0) {
            plan->fallback_algo = (int)r.algo;
            plan->fallback_math = r.mathType;
        }
    }
}

/* Times every algorithm on the call's buffers. */
static void search_timed(ConvPlan *plan, ConvDir dir, const ConvBuffers &b)
{
    size_t want = 0;
    for (int a = 0; a < algo_count(dir); a++) {
        size_t need = algo_workspace(plan, dir, a);
        if (need != SIZE_MAX && need <= SEARCH_WORKSPACE_CAP && need > want) want = need;
    }
    void *ws = NULL;
    while (want > 0 && !(ws = cuda_caching_alloc(want))) want /= 2; /* take what the device has */
    int n = 0;
    if (dir == DIR_FORWARD) {
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(handle(), plan->x_desc, b.x, plan->w_desc, b.w,
                                                           plan->conv_desc, plan->y_desc, b.out,
                                                           CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf, ws, want));
        choose(plan, perf, n, want);
    } else if (dir == DIR_BACKWARD_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(handle(), plan->w_desc, b.w, plan->y_desc, b.y,
                                                                plan->conv_desc, plan->x_desc, b.out,
                                                                CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf, ws,
                                                                want));
        choose(plan, perf, n, want);
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(handle(), plan->x_desc, b.x, plan->y_desc, b.y,
                                                                  plan->conv_desc, plan->w_desc, b.out,
                                                                  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf,
                                                                  ws, want));
        choose(plan, perf, n, want);
    }
    /* the search tries algorithms with workspaces up to SEARCH_WORKSPACE_CAP;
     * the chosen one usually needs far less, so the block goes back to the
     * driver rather than staying reserved (and counted) in the cache */
    cuda_caching_free_to_driver(ws);
}

/* cuDNN's heuristic order, without timing: the same choice on every run. */
static void search_heuristic(ConvPlan *plan, ConvDir dir)
{
    int n = 0;
    if (dir == DIR_FORWARD) {
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle(), plan->x_desc, plan->w_desc, plan->conv_desc,
                                                           plan->y_desc, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
        choose(plan, perf, n, SIZE_MAX);
    } else if (dir == DIR_BACKWARD_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle(), plan->w_desc, plan->y_desc,
                                                                plan->conv_desc, plan->x_desc,
                                                                CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
        choose(plan, perf, n, SIZE_MAX);
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle(), plan->x_desc, plan->y_desc,
                                                                  plan->conv_desc, plan->w_desc,
                                                                  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf));
        choose(plan, perf, n, SIZE_MAX);
    }
}

/* The implicit-GEMM algorithms: deterministic, supported for every
 * configuration (FMA math for f32, tensor-op math allowed for bf16/f16);
 * the last resort when a search returns nothing usable. */
static void choose_default(ConvPlan *plan, ConvDir dir)
{
    plan->algo = dir == DIR_FORWARD         ? (int)CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM
                 : dir == DIR_BACKWARD_DATA ? (int)CUDNN_CONVOLUTION_BWD_DATA_ALGO_1
                                            : (int)CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;
    plan->math = default_math(plan->lowp);
    CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv_desc, plan->math));
    plan->workspace = algo_workspace(plan, dir, plan->algo);
    if (plan->workspace == SIZE_MAX) cuda_fail("cuDNN", "algorithm search", "no algorithm supports this convolution",
                                               __FILE__, __LINE__);
}

static ConvPlan *plan_for(ConvDir dir, const ConvGeom &g, const ConvParams &p, const ConvBuffers &b,
                          cudnnDataType_t data)
{
    int64_t key[KEY_LEN];
    const void *ptrs[4] = {b.x, b.w, b.y, b.out};
    make_key(key, dir, g, p, buffers_alignment(ptrs, 4), data);
    if (plan_table) {
        ConvPlan *found = *plan_slot(plan_table, plan_capacity, key);
        if (found) return found;
    }
    ConvPlan *plan = (ConvPlan *)calloc(1, sizeof *plan);
    ENGINE_ASSERT(plan != NULL);
    memcpy(plan->key, key, sizeof key);
    describe(plan, dir, g, p, data);
    bool timed = !cuda_deterministic();
    if (timed) search_timed(plan, dir, b);
    else search_heuristic(plan, dir);
    if (plan->algo >= 0) {
        /* the math the chosen algorithm runs with (FMA unless TF32 is on) */
        CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv_desc, plan->math));
        /* heuristics estimate the workspace; the query for the final math is exact */
        if (!timed) plan->workspace = algo_workspace(plan, dir, plan->algo);
    }
    if (plan->algo < 0 || plan->workspace == SIZE_MAX) choose_default(plan, dir);
    plan_insert(plan);
    return plan;
}

/* ======================= running a plan ======================= */

/* Workspace for the plan's algorithm; when the device cannot give it, the
 * plan's workspace-free algorithm runs instead (*algo says which). */
static void *take_workspace(const ConvPlan *plan, int *algo, size_t *bytes)
{
    *algo = plan->algo;
    *bytes = plan->workspace;
    if (*bytes == 0) return NULL;
    void *ws = cuda_caching_alloc(*bytes);
    if (ws) return ws;
    if (plan->fallback_algo < 0)
        cuda_fail("cuDNN", "workspace allocation", "out of device memory for the convolution's workspace", __FILE__,
                  __LINE__);
    *algo = plan->fallback_algo;
    *bytes = 0;
    return NULL;
}

static void run_plan(const ConvPlan *plan, ConvDir dir, const ConvBuffers &b)
{
    const float one = 1.0f, zero = 0.0f;
    int algo;
    size_t bytes;
    void *ws = take_workspace(plan, &algo, &bytes);
    /* the workspace-free fallback runs with the math it was measured with */
    bool other_math = algo != plan->algo && plan->fallback_math != plan->math;
    if (other_math) CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv_desc, plan->fallback_math));
    if (dir == DIR_FORWARD)
        CUDNN_CHECK(cudnnConvolutionForward(handle(), &one, plan->x_desc, b.x, plan->w_desc, b.w, plan->conv_desc,
                                            (cudnnConvolutionFwdAlgo_t)algo, ws, bytes, &zero, plan->y_desc, b.out));
    else if (dir == DIR_BACKWARD_DATA)
        CUDNN_CHECK(cudnnConvolutionBackwardData(handle(), &one, plan->w_desc, b.w, plan->y_desc, b.y,
                                                 plan->conv_desc, (cudnnConvolutionBwdDataAlgo_t)algo, ws, bytes,
                                                 &zero, plan->x_desc, b.out));
    else
        CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle(), &one, plan->x_desc, b.x, plan->y_desc, b.y,
                                                   plan->conv_desc, (cudnnConvolutionBwdFilterAlgo_t)algo, ws, bytes,
                                                   &zero, plan->w_desc, b.out));
    if (other_math) CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv_desc, plan->math));
    cuda_caching_free(ws);
}

/* ======================= staging and small kernels ======================= */

/* Copies the leading rows x cols window of each of planes planes between
 * layouts with different plane sizes. */
__global__ void copy_windows(float *dst, int64_t dst_rows, int64_t dst_cols, const float *src, int64_t src_rows,
                             int64_t src_cols, int64_t planes, int64_t rows, int64_t cols)
{
    int64_t total = planes * rows * cols;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t c = i % cols, r = (i / cols) % rows, pl = i / (cols * rows);
        dst[(pl * dst_rows + r) * dst_cols + c] = src[(pl * src_rows + r) * src_cols + c];
    }
}

/* t [n, channels, plane] = bias[channel], or 0 without a bias. */
__global__ void fill_channels(float *t, const float *bias, int64_t total, int64_t channels, int64_t plane)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
        t[i] = bias ? bias[(i / plane) % channels] : 0.0f;
}

/* dst = src widened from bf16 (bits) or f16 to f32: exact. */
__global__ void widen_to_f32(float *dst, const uint16_t *src, int64_t total, bool bf16)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = bf16 ? bf16_to_f32(src[i]) : f16_to_f32(src[i]);
}

/* t [n, channels, plane] += bias[channel]. */
__global__ void add_channels(float *t, const float *bias, int64_t total, int64_t channels, int64_t plane)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
        t[i] += bias[(i / plane) % channels];
}

static void launch_copy_windows(float *dst, int64_t dst_rows, int64_t dst_cols, const float *src, int64_t src_rows,
                                int64_t src_cols, int64_t planes, int64_t rows, int64_t cols)
{
    int64_t total = planes * rows * cols;
    if (total == 0) return;
    copy_windows<<<cuda_grid_size(total, CUDA_THREADS), CUDA_THREADS, 0, stream()>>>(
        dst, dst_rows, dst_cols, src, src_rows, src_cols, planes, rows, cols);
    CUDA_CHECK_LAUNCH();
}

static void launch_fill_channels(Tensor *t, const Tensor *bias)
{
    int64_t total = tensor_numel(t);
    if (total == 0) return;
    int64_t channels = t->shape.d[1], plane = t->shape.d[2] * t->shape.d[3];
    fill_channels<<<cuda_grid_size(total, CUDA_THREADS), CUDA_THREADS, 0, stream()>>>(
        tensor_f32(t), bias ? tensor_f32(bias) : NULL, total, channels, plane);
    CUDA_CHECK_LAUNCH();
}

/* The output side in cuDNN's size: a zero-padded copy of y (it is read),
 * or scratch the result is copied out of (it is written). */
static float *stage_output_side(const ConvGeom &g, const Tensor *y, bool copy_in)
{
    size_t bytes = sizeof(float) * (size_t)(g.n * g.o * g.oh_full * g.ow_full);
    float *full = (float *)cuda_caching_alloc(bytes);
    if (!full)
        cuda_fail("CUDA", "cuda_caching_alloc", "out of device memory staging a convolution's output side", __FILE__,
                  __LINE__);
    if (copy_in) {
        CUDA_CHECK(cudaMemsetAsync(full, 0, bytes, stream()));
        launch_copy_windows(full, g.oh_full, g.ow_full, tensor_f32(y), g.oh, g.ow, g.n * g.o, g.oh, g.ow);
    }
    return full;
}

/* A direction on bf16/f16 inputs (see the top): cuDNN writes dt into
 * scratch, which is widened into out (f32), then out += bias per channel. */
static void run_lowp(ConvDir dir, const ConvGeom &g, const ConvParams &p, ConvBuffers b, DType dt, Tensor *out,
                     const Tensor *bias)
{
    ENGINE_ASSERT(!g.staged); /* conv2d's own shapes, the only ones that come in low precision */
    int64_t total = tensor_numel(out);
    void *scratch = cuda_caching_alloc(sizeof(uint16_t) * (size_t)total);
    if (!scratch)
        cuda_fail("CUDA", "cuda_caching_alloc", "out of device memory for a low-precision convolution's output",
                  __FILE__, __LINE__);
    b.out = scratch;
    run_plan(plan_for(dir, g, p, b, cudnn_data(dt)), dir, b);
    int grid = cuda_grid_size(total, CUDA_THREADS);
    widen_to_f32<<<grid, CUDA_THREADS, 0, stream()>>>(tensor_f32(out), (const uint16_t *)scratch, total,
                                                       dt == DT_BF16);
    CUDA_CHECK_LAUNCH();
    if (bias) {
        add_channels<<<grid, CUDA_THREADS, 0, stream()>>>(tensor_f32(out), tensor_f32(bias), total, out->shape.d[1],
                                                          out->shape.d[2] * out->shape.d[3]);
        CUDA_CHECK_LAUNCH();
    }
    cuda_caching_free(scratch);
}

/* ======================= the kernels ======================= */

extern "C" bool cuda_conv2d_lowp_native(const Tensor *x, const Tensor *w, ConvParams p, DType dt)
{
    (void)x, (void)w, (void)p;
    return dt == DT_F16 || (dt == DT_BF16 && cuda_compute_capability_major() >= 8); /* bf16 arrived with Ampere */
}

/* The empty cases below are handled before conv_geom, whose asserts hold
 * only for shapes cuDNN can take (a transposed convolution of an input with
 * no rows still has an output, which is its bias). */
extern "C" void cuda_conv2d(Tensor *y, const Tensor *x, const Tensor *w, const Tensor *bias, ConvParams p)
{
    if (tensor_numel(y) == 0) return;
    if (tensor_numel(x) == 0) { /* no input channels: the bias alone */
        launch_fill_channels(y, bias);
        return;
    }
    ConvGeom g = conv_geom(x, y, w, p);
    if (x->dtype != DT_F32) {
        run_lowp(DIR_FORWARD, g, p, ConvBuffers{tensor_data(x), tensor_data(w), NULL, NULL}, x->dtype, y, bias);
        return;
    }
    float *out = g.staged ? stage_output_side(g, y, false) : tensor_f32(y);
    ConvBuffers b = {tensor_f32(x), tensor_f32(w), NULL, out};
    const ConvPlan *plan = plan_for(DIR_FORWARD, g, p, b, CUDNN_DATA_FLOAT);
    run_plan(plan, DIR_FORWARD, b);
    if (bias) {
        const float one = 1.0f;
        CUDNN_CHECK(cudnnAddTensor(handle(), &one, plan->bias_desc, tensor_f32(bias), &one, plan->y_desc, out));
    }
    if (g.staged) {
        launch_copy_windows(tensor_f32(y), g.oh, g.ow, out, g.oh_full, g.ow_full, g.n * g.o, g.oh, g.ow);
        cuda_caching_free(out);
    }
}

extern "C" void cuda_conv2d_transpose(Tensor *x, const Tensor *y, const Tensor *w, const Tensor *bias, ConvParams p)
{
    if (tensor_numel(x) == 0) return;
    if (tensor_numel(y) == 0) { /* nothing flows back: the bias alone */
        launch_fill_channels(x, bias);
        return;
    }
    ConvGeom g = conv_geom(x, y, w, p);
    if (y->dtype != DT_F32) {
        run_lowp(DIR_BACKWARD_DATA, g, p, ConvBuffers{NULL, tensor_data(w), tensor_data(y), NULL}, y->dtype, x, bias);
        return;
    }
    float *in = g.staged ? stage_output_side(g, y, true) : tensor_f32(y);
    ConvBuffers b = {NULL, tensor_f32(w), in, tensor_f32(x)};
    const ConvPlan *plan = plan_for(DIR_BACKWARD_DATA, g, p, b, CUDNN_DATA_FLOAT);
    run_plan(plan, DIR_BACKWARD_DATA, b);
    if (bias) {
        const float one = 1.0f;
        CUDNN_CHECK(
            cudnnAddTensor(handle(), &one, plan->bias_desc, tensor_f32(bias), &one, plan->x_desc, tensor_f32(x)));
    }
    if (g.staged) cuda_caching_free(in);
}

extern "C" void cuda_conv2d_weight_grad(Tensor *gw, const Tensor *x, const Tensor *gy, ConvParams p)
{
    if (tensor_numel(gw) == 0) return;
    if (tensor_numel(x) == 0 || tensor_numel(gy) == 0) { /* an empty batch */
        CUDA_CHECK(cudaMemsetAsync(tensor_f32(gw), 0, sizeof(float) * (size_t)tensor_numel(gw), stream()));
        return;
    }
    ConvGeom g = conv_geom(x, gy, gw, p);
    if (x->dtype != DT_F32) {
        run_lowp(DIR_BACKWARD_FILTER, g, p, ConvBuffers{tensor_data(x), NULL, tensor_data(gy), NULL}, x->dtype, gw,
                 NULL);
        return;
    }
    float *dy = g.staged ? stage_output_side(g, gy, true) : tensor_f32(gy);
    ConvBuffers b = {tensor_f32(x), NULL, dy, tensor_f32(gw)};
    run_plan(plan_for(DIR_BACKWARD_FILTER, g, p, b, CUDNN_DATA_FLOAT), DIR_BACKWARD_FILTER, b);
    if (g.staged) cuda_caching_free(dy);
}
