/* Element types and devices a tensor can have. */
#ifndef ENGINE_DTYPE_H
#define ENGINE_DTYPE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

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
 * the largest finite half become inf; f16 subnormals are exact. */
static inline uint32_t dtype_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static inline float dtype_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static inline uint16_t f32_to_bf16(float f)
{
    uint32_t u = dtype_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0; /* NaN: PyTorch's canonical quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);                      /* round to nearest even */
    return (uint16_t)(u >> 16);
}
static inline float bf16_to_f32(uint16_t h) { return dtype_bits_f32((uint32_t)h << 16); }
uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);

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
