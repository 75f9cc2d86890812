/* CPU reductions: each output element walks its reduced sub-block with a
 * strided loop; outputs are split across threads. */
#include "engine/cpu/reduce.h"

#include "engine/cpu/strided.h"

/* Splits in's dims into the kept ones (matching out) and the reduced ones. */
typedef struct {
    Shape kept, reduced;
    int64_t kept_strides[MAX_DIMS], reduced_strides[MAX_DIMS];
} ReduceLayout;

static void reduce_layout(const Tensor *in, const bool *reduce, ReduceLayout *r)
{
    r->kept.ndim = r->reduced.ndim = 0;
    for (int d = 0; d < in->shape.ndim; d++) {
        if (reduce[d]) {
            r->reduced_strides[r->reduced.ndim] = in->strides[d];
            r->reduced.d[r->reduced.ndim++] = in->shape.d[d];
        } else {
            r->kept_strides[r->kept.ndim] = in->strides[d];
            r->kept.d[r->kept.ndim++] = in->shape.d[d];
        }
    }
}

void cpu_sum(Tensor *out, const Tensor *in, const bool *reduce)
{
    ReduceLayout r;
    reduce_layout(in, reduce, &r);
    const int64_t *rs[1] = {r.reduced_strides};
    StridedLoop L;
    strided_loop_init(&L, r.reduced, 1, rs);
    int64_t n_out = shape_numel(r.kept);
    int64_t kept_contig[MAX_DIMS];
    shape_contiguous_strides(r.kept, kept_contig);
    const float *base = tensor_f32(in);
    float *po = tensor_f32(out);
#pragma omp parallel for if (n_out * L.outer * L.inner > CPU_PARALLEL_GRAIN && n_out > 1)
    for (int64_t j = 0; j < n_out; j++) {
        int64_t rem = j, off = 0;
        for (int d = 0; d < r.kept.ndim; d++) {
            off += (rem / kept_contig[d]) * r.kept_strides[d];
            rem %= kept_contig[d];
        }
        double acc = 0.0;
        for (int64_t o = 0; o < L.outer; o++) {
            int64_t ro[1];
            strided_offsets(&L, o, ro);
            const float *p = base + off + ro[0];
            int64_t s = L.inner_stride[0];
            if (s == 1) {
                /* float partials vectorise; the double total keeps precision */
                float part = 0.0f;
                int64_t i = 0;
                for (; i + 64 <= L.inner; i += 64) {
                    float block = 0.0f;
                    for (int k = 0; k < 64; k++) block += p[i + k];
                    acc += block;
                }
                for (; i < L.inner; i++) part += p[i];
                acc += part;
            } else {
                for (int64_t i = 0; i < L.inner; i++) acc += p[i * s];
            }
        }
        po[j] = (float)acc;
    }
}
