/* SequenceClassifier (see model.h): a model whose forward takes the whole
 * batch, the token ids and their lengths, as a PyTorch model's
 * forward(tokens, lengths) does. Mean pooling over the real tokens only:
 * padded positions are masked out, so a sequence's output does not depend
 * on how long the other sequences of its batch are. */
#include <stdio.h>

#include "engine/ops.h"
#include "model/model.h"

static Tensor *child(Module *m, const char *name, Tensor *x) { return module_forward(module_get_child(m, name), x); }

/* mask[b, t] = 1 where t < lengths[b], as f32 [B, L]. */
static Tensor *length_mask(Tensor *lengths, int64_t max_len)
{
    Tensor *positions = t_view(tensor_arange(0, (double)max_len, 1, DT_I64, tensor_device(lengths)), SHAPE(1, -1));
    return tensor_to_dtype(t_lt(positions, t_view(lengths, SHAPE(-1, 1))), DT_F32);
}

static Tensor *sequence_classifier_forward(Module *m, const TensorBatch *batch)
{
    Tensor *tokens = tensor_batch_require(batch, "input", "SequenceClassifier");
    if (!tokens) return NULL;
    ENGINE_CHECK(tokens->dtype == DT_I64 && tensor_dim(tokens) == 2,
                 "SequenceClassifier: expected int64 token ids [batch, length] as \"input\", got %s %s",
                 dtype_name(tokens->dtype), shape_str(tokens->shape));
    int64_t max_len = tokens->shape.d[1];
    /* without "lengths" (samples of equal length, stacked) every position counts */
    Tensor *lengths = tensor_batch_get(batch, "lengths");
    if (!lengths) lengths = tensor_full(SHAPE(tokens->shape.d[0]), (double)max_len, DT_I64, tensor_device(tokens));
    ENGINE_CHECK(lengths && lengths->dtype == DT_I64 && tensor_dim(lengths) == 1 &&
                     lengths->shape.d[0] == tokens->shape.d[0],
                 "SequenceClassifier: expected int64 \"lengths\" [%lld]", (long long)tokens->shape.d[0]);
    Tensor *mask = length_mask(lengths, max_len);          /* [B, L] */
    Tensor *emb = child(m, "embedding", tokens);           /* [B, L, D] */
    int dim1 = 1;
    Tensor *summed = t_sum(t_mul(emb, t_unsqueeze(mask, 2)), &dim1, 1, false); /* [B, D] */
    Tensor *pooled = t_div(summed, t_view(tensor_to_dtype(lengths, DT_F32), SHAPE(-1, 1)));
    Tensor *h = t_relu(child(m, "fc1", pooled));
    return f_log_softmax(child(m, "fc2", h), 1);
}

/* Called with one tensor (module_forward): token ids, every position counted. */
static Tensor *sequence_classifier_forward_tensor(Module *m, Tensor *tokens)
{
    TensorBatch b = {.n = 1, .names = {"input"}, .tensors = {tokens}};
    return sequence_classifier_forward(m, &b);
}

Module *sequence_classifier(int64_t vocab_size, int64_t embedding_dim, int64_t hidden, int64_t num_classes)
{
    Module *m = module_new("SequenceClassifier");
    m->forward = sequence_classifier_forward_tensor;
    m->forward_batch = sequence_classifier_forward;
    Module *children[] = {nn_embedding(vocab_size, embedding_dim, -1), nn_linear(embedding_dim, hidden, true),
                          nn_linear(hidden, num_classes, true)};
    const char *names[] = {"embedding", "fc1", "fc2"};
    return model_with_children(m, 3, names, children);
}
