/* A batch as named tensors ("input", "lengths", "mask", "target"...): what a
 * data loader hands out and what a model whose forward needs more than one
 * tensor receives (module_forward_batch in module.h), as a PyTorch model's
 * forward(batch) or forward(x, lengths) does. It references the tensors; it
 * owns neither them nor the names. */
#ifndef ENGINE_NN_TENSOR_BATCH_H
#define ENGINE_NN_TENSOR_BATCH_H

#include "engine/tensor.h"

enum { TENSOR_BATCH_MAX = 16 };

typedef struct {
    int n;
    const char *names[TENSOR_BATCH_MAX];
    Tensor *tensors[TENSOR_BATCH_MAX];
} TensorBatch;

/* The tensor called name, or NULL (no error: a field may be optional). */
Tensor *tensor_batch_get(const TensorBatch *b, const char *name);
/* The tensor called name, or NULL with an error naming `who` (the model,
 * the loss) and the fields the batch has. */
Tensor *tensor_batch_require(const TensorBatch *b, const char *name, const char *who);
/* Appends a field; -1 with an error when full or the name is taken. */
int tensor_batch_add(TensorBatch *b, const char *name, Tensor *t);
/* "input, lengths, target" into buf, for messages. */
void tensor_batch_names(const TensorBatch *b, char *buf, size_t size);

#endif
