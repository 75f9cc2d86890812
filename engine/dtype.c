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
