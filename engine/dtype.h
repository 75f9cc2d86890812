/* Element types and devices a tensor can have. */
#ifndef ENGINE_DTYPE_H
#define ENGINE_DTYPE_H

#include <stddef.h>
#include <stdbool.h>

typedef enum { DT_F32 = 0, DT_I64 = 1, DT_U8 = 2, DT_COUNT } DType;

size_t dtype_size(DType dt);
/* PyTorch's name: "float32", "int64", "uint8". */
const char *dtype_name(DType dt);
/* safetensors' name: "F32", "I64", "U8". */
const char *dtype_safetensors_name(DType dt);
/* Parses a safetensors dtype name; returns false for names we do not know. */
bool dtype_from_safetensors_name(const char *name, DType *out);

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
