/* Named tensors of one batch (see tensor_batch.h). */
#include "engine/nn/tensor_batch.h"

#include <stdio.h>
#include <string.h>

#include "engine/error.h"

Tensor *tensor_batch_get(const TensorBatch *b, const char *name)
{
    for (int i = 0; i < b->n; i++)
        if (strcmp(b->names[i], name) == 0) return b->tensors[i];
    return NULL;
}

void tensor_batch_names(const TensorBatch *b, char *buf, size_t size)
{
    size_t used = 0;
    if (size) buf[0] = '\0';
    for (int i = 0; i < b->n && used < size; i++) {
        int w = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", b->names[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
}

Tensor *tensor_batch_require(const TensorBatch *b, const char *name, const char *who)
{
    Tensor *t = tensor_batch_get(b, name);
    if (t) return t;
    char names[512];
    tensor_batch_names(b, names, sizeof names);
    return engine_error("%s needs the batch field '%s', but the batch has only: %s", who, name,
                        b->n ? names : "(no fields)");
}

int tensor_batch_add(TensorBatch *b, const char *name, Tensor *t)
{
    ENGINE_CHECK_INT(b->n < TENSOR_BATCH_MAX, "a batch holds at most %d fields, adding '%s'", TENSOR_BATCH_MAX, name);
    ENGINE_CHECK_INT(tensor_batch_get(b, name) == NULL, "the batch already has a field '%s'", name);
    b->names[b->n] = name;
    b->tensors[b->n] = t;
    b->n++;
    return 0;
}
