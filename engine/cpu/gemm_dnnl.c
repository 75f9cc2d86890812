/* sgemm through oneDNN (see gemm_dnnl.h). dnnl_sgemm takes row-major
 * operands, as cblas_sgemm with CblasRowMajor does, and threads with
 * OpenMP: inside one of our parallel regions it runs on its caller's
 * thread alone. */
#include "engine/cpu/gemm_dnnl.h"

#ifdef ENGINE_HAVE_DNNL

#include <oneapi/dnnl/dnnl.h>

bool dnnl_sgemm_row_major(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                          int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    return dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) ==
           dnnl_success;
}

#else

bool dnnl_sgemm_row_major(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                          int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda, (void)b, (void)ldb;
    (void)beta, (void)c, (void)ldc;
    return false;
}

#endif
