/* CUDA matrix products over cuBLAS. cuBLAS is column-major: a row-major
 * product C = A @ B is computed as C^T = B^T @ A^T, so the operands swap
 * places and a row-major matrix is read as its column-major transpose
 * (transposed views become transposition flags, never copies, as on the
 * CPU). Batches run as one strided-batched call wherever the batch dims
 * collapse to a single stride, and as one large product when a shared
 * right operand lets the batch fold into the rows. The math mode (FP32, or
 * TF32 tensor cores when cuda_tf32()) is the handle's, which the runtime
 * keeps in step with the flag. bf16 and f16 products (autocast's native
 * path) are cublasGemmEx calls with f32 output and f32 accumulation. */
#include <limits.h>

#include "engine/cuda/check.h"

extern "C" {
#include "engine/matrix_layout.h"
#include "engine/cuda/linalg.h"
#include "engine/cuda/runtime.h"
}

static cublasOperation_t op_of(const MatrixLayout &l) { return l.transposed ? CUBLAS_OP_T : CUBLAS_OP_N; }

/* Whether batch entry i over dims [first, last) of t sits at i * *stride
 * elements (dims of size 1 ignored); true with the stride. */
static bool uniform_batch_stride(const Tensor *t, int first, int last, int64_t *stride)
{
    int64_t s = 0, inner = 1;
    bool seen = false;
    for (int d = last - 1; d >= first; d--) {
        int64_t size = t->shape.d[d];
        if (size == 1) continue;
        if (!seen) s = t->strides[d];
        else if (t->strides[d] != s * inner) return false;
        seen = true;
        inner *= size;
    }
    *stride = s;
    return true;
}

/* Element offset of entry idx over t's dims [0, ndims) (row-major). */
static int64_t outer_offset(const Tensor *t, int ndims, int64_t idx)
{
    int64_t off = 0;
    for (int d = ndims - 1; d >= 0; d--) {
        off += (idx % t->shape.d[d]) * t->strides[d];
        idx /= t->shape.d[d];
    }
    return off;
}

static int as_int(int64_t v)
{
    ENGINE_ASSERT(v >= 0 && v <= INT_MAX);
    return (int)v;
}

/* count row-major products C_i (m x n, contiguous, m * n apart) = A_i @ B_i
 * with A_i at a + i * stride_a and B_i at b + i * stride_b. */
static void gemm_batch(const MatrixLayout &la, const MatrixLayout &lb, int64_t m, int64_t n, int64_t k, const float *a,
                       int64_t stride_a, const float *b, int64_t stride_b, float beta, float *c, int64_t count)
{
    cublasHandle_t h = (cublasHandle_t)cuda_cublas();
    const float alpha = 1.0f;
    if (count == 1)
        CUBLAS_CHECK(cublasSgemm(h, op_of(lb), op_of(la), as_int(n), as_int(m), as_int(k), &alpha, b, as_int(lb.ld),
                                 a, as_int(la.ld), &beta, c, as_int(n)));
    else
        CUBLAS_CHECK(cublasSgemmStridedBatched(h, op_of(lb), op_of(la), as_int(n), as_int(m), as_int(k), &alpha, b,
                                               as_int(lb.ld), (long long)stride_b, a, as_int(la.ld),
                                               (long long)stride_a, &beta, c, as_int(n), (long long)(m * n),
                                               as_int(count)));
}

extern "C" void cuda_matmul(Tensor *out, const Tensor *a, const Tensor *b, bool accumulate)
{
    int nd = out->shape.ndim, nbatch = nd - 2;
    int64_t m = out->shape.d[nd - 2], n = out->shape.d[nd - 1], k = a->shape.d[nd - 1];
    if (tensor_numel(out) == 0) return;
    ENGINE_ASSERT(tensor_is_contiguous(out));
    float *po = tensor_f32(out);
    if (k == 0) { /* an empty sum */
        if (!accumulate)
            CUDA_CHECK(cudaMemsetAsync(po, 0, sizeof(float) * (size_t)tensor_numel(out), (cudaStream_t)cuda_stream()));
        return;
    }
    MatrixLayout la, lb;
    ENGINE_ASSERT(blas_matrix_layout(m, k, a->strides[nd - 2], a->strides[nd - 1], &la));
    ENGINE_ASSERT(blas_matrix_layout(k, n, b->strides[nd - 2], b->strides[nd - 1], &lb));
    float beta = accumulate ? 1.0f : 0.0f;
    const float *pa = tensor_f32(a), *pb = tensor_f32(b);

    /* the innermost batch dims that collapse to one stride in both operands
     * go into one batched call; the dims before them are looped over */
    int first = 0;
    int64_t stride_a = 0, stride_b = 0;
    while (first < nbatch &&
           !(uniform_batch_stride(a, first, nbatch, &stride_a) && uniform_batch_stride(b, first, nbatch, &stride_b)))
        first++;
    if (first == nbatch) stride_a = stride_b = 0;
    int64_t inner = 1, outer = 1;
    for (int d = first; d < nbatch; d++) inner *= out->shape.d[d];
    for (int d = 0; d < first; d++) outer *= out->shape.d[d];

    /* one B for the whole batch and A's rows evenly spaced: a single
     * (batch * m) x k product */
    if (first == 0 && inner > 1 && stride_b == 0 && !la.transposed && stride_a == m * la.ld) {
        gemm_batch(la, lb, inner * m, n, k, pa, 0, pb, 0, beta, po, 1);
        return;
    }
    for (int64_t i = 0; i < outer; i++)
        gemm_batch(la, lb, m, n, k, pa + outer_offset(a, first, i), stride_a, pb + outer_offset(b, first, i),
                   stride_b, beta, po + i * inner * m * n, inner);
}

extern "C" bool cuda_matmul_lowp_native(DType dt)
{
    if (dt == DT_F16) return true;
    return dt == DT_BF16 && cuda_compute_capability_major() >= 8; /* bf16 arrived with Ampere */
}

extern "C" void cuda_matmul_lowp(Tensor *out, const Tensor *a, const Tensor *b, bool accumulate)
{
    ENGINE_ASSERT(out->shape.ndim == 2 && a->shape.ndim == 2 && b->shape.ndim == 2 && tensor_is_contiguous(out));
    ENGINE_ASSERT(a->dtype == b->dtype && (a->dtype == DT_BF16 || a->dtype == DT_F16));
    int64_t m = out->shape.d[0], n = out->shape.d[1], k = a->shape.d[1];
    if (m == 0 || n == 0) return;
    float *po = tensor_f32(out);
    if (k == 0) { /* an empty sum */
        if (!accumulate)
            CUDA_CHECK(cudaMemsetAsync(po, 0, sizeof(float) * (size_t)(m * n), (cudaStream_t)cuda_stream()));
        return;
    }
    MatrixLayout la, lb;
    ENGINE_ASSERT(blas_matrix_layout(m, k, a->strides[0], a->strides[1], &la));
    ENGINE_ASSERT(blas_matrix_layout(k, n, b->strides[0], b->strides[1], &lb));
    cudaDataType_t type = a->dtype == DT_BF16 ? CUDA_R_16BF : CUDA_R_16F;
    const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    /* row-major C = A @ B as column-major C^T = B^T @ A^T, as gemm_batch */
    CUBLAS_CHECK(cublasGemmEx((cublasHandle_t)cuda_cublas(), op_of(lb), op_of(la), as_int(n), as_int(m), as_int(k),
                              &alpha, tensor_data(b), type, as_int(lb.ld), tensor_data(a), type, as_int(la.ld), &beta,
                              po, CUDA_R_32F, as_int(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}
