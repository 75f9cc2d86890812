/* CPU allocation, copies with broadcasting and dtype conversion (f32 <->
 * bf16/f16 through engine/dtype.h's bit-exact conversions), and fill. */
#include "engine/cpu/copy.h"

#include <stdlib.h>
#include <string.h>

#include "engine/cpu/allocator.h"
#include "engine/cpu/fork.h"
#include "engine/cpu/strided.h"

#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#endif

/* f32 <-> f16 rows: the CPU's F16C instructions where the build has them
 * (IEEE round to nearest even, subnormals exact: the same bits as
 * f32_to_f16 except NaN payloads; test_amp checks against torch), the
 * portable conversions otherwise and for strided rows. */
static void f32_to_f16_row(uint16_t *d, int64_t sd, const float *s, int64_t ss, int64_t n)
{
    int64_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
    if (sd == 1 && ss == 1)
        for (; i + 8 <= n; i += 8)
            _mm_storeu_si128((__m128i *)(d + i), _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT));
#endif
    for (; i < n; i++) d[i * sd] = f32_to_f16(s[i * ss]);
}

static void f16_to_f32_row(float *d, int64_t sd, const uint16_t *s, int64_t ss, int64_t n)
{
    int64_t i = 0;
#if defined(__F16C__) && defined(__AVX__)
    if (sd == 1 && ss == 1)
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
#endif
    for (; i < n; i++) d[i * sd] = f16_to_f32(s[i * ss]);
}

/* Storage memory comes from the caching allocator (64-byte aligned, for
 * AVX-512 loads and cache lines): see engine/cpu/allocator.h. */
void *cpu_alloc(size_t nbytes) { return cpu_caching_alloc(nbytes); }

void cpu_free(void *p) { cpu_caching_free(p); }

void cpu_memcpy_to_host(void *dst, const void *src, size_t nbytes) { memcpy(dst, src, nbytes); }
void cpu_memcpy_from_host(void *dst, const void *src, size_t nbytes) { memcpy(dst, src, nbytes); }

static double load_as_double(const void *base, DType dt, int64_t i)
{
    switch (dt) {
    case DT_F32: return ((const float *)base)[i];
    case DT_I64: return (double)((const int64_t *)base)[i];
    case DT_U8: return ((const uint8_t *)base)[i];
    case DT_BF16: return bf16_to_f32(((const uint16_t *)base)[i]);
    case DT_F16: return f16_to_f32(((const uint16_t *)base)[i]);
    default: ENGINE_UNREACHABLE("bad dtype");
    }
}

static void store_double(void *base, DType dt, int64_t i, double v)
{
    switch (dt) {
    case DT_F32: ((float *)base)[i] = (float)v; break;
    case DT_I64: ((int64_t *)base)[i] = (int64_t)v; break;
    case DT_U8: ((uint8_t *)base)[i] = (uint8_t)(int64_t)v; break; /* wraps modulo 256, as torch does */
    /* through f32 first, as torch does (a double rounds once to f32, then to 16 bits) */
    case DT_BF16: ((uint16_t *)base)[i] = f32_to_bf16((float)v); break;
    case DT_F16: ((uint16_t *)base)[i] = f32_to_f16((float)v); break;
    default: ENGINE_UNREACHABLE("bad dtype");
    }
}

void cpu_copy(Tensor *dst, const Tensor *src)
{
    ENGINE_ASSERT(shape_equal(dst->shape, src->shape));
    const int64_t *strides[2] = {dst->strides, src->strides};
    StridedLoop L;
    strided_loop_init(&L, dst->shape, 2, strides);
    size_t es = dtype_size(dst->dtype);
    char *d = tensor_data(dst);
    const char *s = tensor_data(src);
    if (dst->dtype == src->dtype && L.outer == 1 && L.inner_stride[0] == 1 && L.inner_stride[1] == 1) {
        memcpy(d, s, (size_t)L.inner * es);
        return;
    }
    int64_t total = L.outer * L.inner;
    CPU_FOR(o, L.outer, total > CPU_PARALLEL_GRAIN, {
        int64_t off[2];
        strided_offsets(&L, o, off);
        int64_t sd = L.inner_stride[0], ss = L.inner_stride[1];
        if (dst->dtype == DT_F32 && src->dtype == DT_F32) {
            float *pd = (float *)d + off[0];
            const float *ps = (const float *)s + off[1];
            for (int64_t i = 0; i < L.inner; i++) pd[i * sd] = ps[i * ss];
        } else if (dst->dtype == DT_BF16 && src->dtype == DT_F32) { /* the autocast casts: no double, no switch */
            uint16_t *pd = (uint16_t *)d + off[0];
            const float *ps = (const float *)s + off[1];
            for (int64_t i = 0; i < L.inner; i++) pd[i * sd] = f32_to_bf16(ps[i * ss]);
        } else if (dst->dtype == DT_F32 && src->dtype == DT_BF16) {
            float *pd = (float *)d + off[0];
            const uint16_t *ps = (const uint16_t *)s + off[1];
            for (int64_t i = 0; i < L.inner; i++) pd[i * sd] = bf16_to_f32(ps[i * ss]);
        } else if (dst->dtype == DT_F32 && src->dtype == DT_U8) { /* masks to numbers: no double, no switch */
            float *pd = (float *)d + off[0];
            const uint8_t *ps = (const uint8_t *)s + off[1];
            for (int64_t i = 0; i < L.inner; i++) pd[i * sd] = ps[i * ss];
        } else if (dst->dtype == DT_F16 && src->dtype == DT_F32) {
            f32_to_f16_row((uint16_t *)d + off[0], sd, (const float *)s + off[1], ss, L.inner);
        } else if (dst->dtype == DT_F32 && src->dtype == DT_F16) {
            f16_to_f32_row((float *)d + off[0], sd, (const uint16_t *)s + off[1], ss, L.inner);
        } else if (dst->dtype == src->dtype && sd == 1 && ss == 1) {
            memcpy(d + (size_t)off[0] * es, s + (size_t)off[1] * es, (size_t)L.inner * es);
        } else if (dst->dtype == src->dtype) { /* strided, one type: the bytes as they are (int64 through a
                                                * double would lose every bit past 2^53) */
            for (int64_t i = 0; i < L.inner; i++)
                memcpy(d + (size_t)(off[0] + i * sd) * es, s + (size_t)(off[1] + i * ss) * es, es);
        } else {
            for (int64_t i = 0; i < L.inner; i++)
                store_double(d, dst->dtype, off[0] + i * sd, load_as_double(s, src->dtype, off[1] + i * ss));
        }
    });
}

void cpu_fill(Tensor *t, double value)
{
    const int64_t *strides[1] = {t->strides};
    StridedLoop L;
    strided_loop_init(&L, t->shape, 1, strides);
    char *base = tensor_data(t);
    int64_t total = L.outer * L.inner;
    CPU_FOR(o, L.outer, total > CPU_PARALLEL_GRAIN, {
        int64_t off[1];
        strided_offsets(&L, o, off);
        if (t->dtype == DT_F32) {
            float *p = (float *)base + off[0];
            float v = (float)value;
            for (int64_t i = 0; i < L.inner; i++) p[i * L.inner_stride[0]] = v;
        } else {
            for (int64_t i = 0; i < L.inner; i++) store_double(base, t->dtype, off[0] + i * L.inner_stride[0], value);
        }
    });
}
