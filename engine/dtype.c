/* Names and sizes of element types and devices. */
#include "engine/dtype.h"

#include <stdio.h>
#include <string.h>

#include "engine/error.h"

static const struct {
    size_t size;
    const char *torch_name;
    const char *st_name;
} dtype_table[DT_COUNT] = {
    [DT_F32] = {4, "float32", "F32"},
    [DT_I64] = {8, "int64", "I64"},
    [DT_U8] = {1, "uint8", "U8"},
    [DT_BF16] = {2, "bfloat16", "BF16"},
    [DT_F16] = {2, "float16", "F16"},
};

size_t dtype_size(DType dt)
{
    ENGINE_ASSERT(dt >= 0 && dt < DT_COUNT);
    return dtype_table[dt].size;
}

const char *dtype_name(DType dt)
{
    ENGINE_ASSERT(dt >= 0 && dt < DT_COUNT);
    return dtype_table[dt].torch_name;
}

const char *dtype_safetensors_name(DType dt)
{
    ENGINE_ASSERT(dt >= 0 && dt < DT_COUNT);
    return dtype_table[dt].st_name;
}

bool dtype_from_safetensors_name(const char *name, DType *out)
{
    for (int i = 0; i < DT_COUNT; i++) {
        if (strcmp(name, dtype_table[i].st_name) == 0) {
            *out = (DType)i;
            return true;
        }
    }
    return false;
}

const char *device_name(Device d)
{
    static _Thread_local char buf[32];
    if (d.type == DEVICE_CPU) return "cpu";
    snprintf(buf, sizeof buf, "cuda:%d", d.index);
    return buf;
}

/* IEEE binary16 from binary32, round to nearest even (the bit-level
 * algorithm of c10::detail::fp16_ieee_from_fp32_value, written out). */
uint16_t f32_to_f16(float f)
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

float f16_to_f32(uint16_t h)
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
