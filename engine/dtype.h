/* Element types and devices a tensor can have. */
#ifndef ENGINE_DTYPE_H
#define ENGINE_DTYPE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "engine/hostdev.h"

/* DT_BF16 and DT_F16 are the mixed-precision storage types (engine/autocast.h):
 * kernels that take them compute in f32 and round their outputs once. */
typedef enum { DT_F32 = 0, DT_I64 = 1, DT_U8 = 2, DT_BF16 = 3, DT_F16 = 4, DT_COUNT } DType;

size_t dtype_size(DType dt);
/* PyTorch's name: "float32", "int64", "uint8", "bfloat16", "float16". */
const char *dtype_name(DType dt);
/* safetensors' name: "F32", "I64", "U8", "BF16", "F16". */
const char *dtype_safetensors_name(DType dt);
/* Parses a safetensors dtype name; returns false for names we do not know. */
bool dtype_from_safetensors_name(const char *name, DType *out);
/* f32, bf16, f16. */
static inline bool dtype_is_floating(DType dt) { return dt == DT_F32 || dt == DT_BF16 || dt == DT_F16; }
/* bf16, f16: the reduced-precision floating types. */
static inline bool dtype_is_lowp(DType dt) { return dt == DT_BF16 || dt == DT_F16; }

/* ---- f32 <-> bf16 / f16, bit-exact with PyTorch's CPU conversions ----
 * Rounding is to nearest, ties to even; NaN stays NaN (quiet); values past
 * the largest finite half become inf; f16 subnormals are exact. Shared by
 * the CPU and CUDA copies (ENGINE_HOSTDEV), so both give the same bits. */
ENGINE_HOSTDEV uint32_t dtype_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
ENGINE_HOSTDEV float dtype_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
ENGINE_HOSTDEV uint16_t f32_to_bf16(float f)
{
    uint32_t u = dtype_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0; /* NaN: PyTorch's canonical quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);                      /* round to nearest even */
    return (uint16_t)(u >> 16);
}
ENGINE_HOSTDEV float bf16_to_f32(uint16_t h) { return dtype_bits_f32((uint32_t)h << 16); }
/* IEEE binary16 from binary32, round to nearest even (the bit-level
 * algorithm of c10::detail::fp16_ieee_from_fp32_value, written out). */
ENGINE_HOSTDEV uint16_t f32_to_f16(float f)
{
    uint32_t u = dtype_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u); /* NaN: c10's quiet NaN, sign kept */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds past 65504 (or is inf): inf */
    if (a < 0x38800000u) {                                   /* below 2^-14: f16 subnormal or zero */
        if (a < 0x33000000u) return sign;                    /* below half the smallest subnormal: 0 */
        uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e; /* 14..24: mantissa bits that fall off */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (q & 1u))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = a - 0x38000000u; /* rebias the exponent 127 -> 15 */
    r += 0xfffu + ((r >> 13) & 1u);
    return (uint16_t)(sign | (r >> 13));
}

ENGINE_HOSTDEV float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f) return dtype_bits_f32(sign | 0x7f800000u | (m << 13));
    if (e == 0) {
        if (m == 0) return dtype_bits_f32(sign);
        float v = (float)m * 0x1p-24f; /* exact: m < 2^10 */
        return sign ? -v : v;
    }
    return dtype_bits_f32(sign | ((e + 112u) << 23) | (m << 13));
}

typedef enum { DEVICE_CPU = 0, DEVICE_CUDA = 1, DEVICE_TYPE_COUNT } DeviceType;

typedef struct {
    DeviceType type;
    int index;
} Device;

#define CPU ((Device){DEVICE_CPU, 0})
#define CUDA(i) ((Device){DEVICE_CUDA, (i)})

static inline bool device_equal(Device a, Device b) { return a.type == b.type && a.index == b.index; }
/* "cpu" or "cuda:0"; returns a pointer to a thread-local buffer. */
const char *device_name(Device d);

#endif
