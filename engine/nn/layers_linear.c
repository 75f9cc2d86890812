/* Linear, Embedding, Identity and Flatten layers. */
#include <inttypes.h>
#include <stdio.h>

#include "engine/nn/init.h"
#include "engine/nn/layer_util.h"
#include "engine/nn/layers.h"
#include "engine/scope.h"

/* ---- Linear ---- */

typedef struct {
    int64_t in_features, out_features;
    bool has_bias; /* set before bias exists, for the repr of a failed constructor */
    Tensor *weight, *bias;
} LinearImpl;

static Tensor *linear_forward(Module *self, Tensor *x)
{
    LinearImpl *l = self->impl;
    return f_linear(x, l->weight, l->bias);
}

static void linear_repr(const Module *self, char *buf, size_t size)
{
    const LinearImpl *l = self->impl;
    snprintf(buf, size, "in_features=%" PRId64 ", out_features=%" PRId64 ", bias=%s", l->in_features, l->out_features,
             py_bool(l->has_bias));
}

Module *nn_linear(int64_t in_features, int64_t out_features, bool bias)
{
    ENGINE_CHECK(in_features >= 0 && out_features >= 0,
                 "Linear: in_features and out_features must be non-negative, got %" PRId64 " and %" PRId64, in_features,
                 out_features);
    Module *m = layer_new("Linear", sizeof(LinearImpl), linear_forward, linear_repr);
    LinearImpl *l = m->impl;
    l->in_features = in_features;
    l->out_features = out_features;
    l->has_bias = bias;
    l->weight = module_register_parameter(m, "weight", layer_tensor(SHAPE(out_features, in_features)));
    if (!l->weight) return layer_fail(m);
    if (bias && !(l->bias = module_register_parameter(m, "bias", layer_tensor(SHAPE(out_features)))))
        return layer_fail(m);
    if (nn_init_linear_default_(l->weight, l->bias, NULL) != 0) return layer_fail(m);
    return m;
}

/* ---- Embedding ---- */

typedef struct {
    int64_t num_embeddings, embedding_dim, padding_idx;
    Tensor *weight;
} EmbeddingImpl;

static Tensor *embedding_forward(Module *self, Tensor *x)
{
    EmbeddingImpl *e = self->impl;
    return f_embedding(x, e->weight, e->padding_idx);
}

static void embedding_repr(const Module *self, char *buf, size_t size)
{
    const EmbeddingImpl *e = self->impl;
    int n = snprintf(buf, size, "%" PRId64 ", %" PRId64, e->num_embeddings, e->embedding_dim);
    if (e->padding_idx >= 0 && n >= 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, ", padding_idx=%" PRId64, e->padding_idx);
}

/* Zeroes the padding row, as Embedding.reset_parameters does. */
static int zero_row(Tensor *weight, int64_t row)
{
    scope_begin();
    int rc = tensor_fill_(t_select(weight, 0, row), 0.0);
    scope_end();
    return rc;
}

Module *nn_embedding(int64_t num_embeddings, int64_t embedding_dim, int64_t padding_idx)
{
    ENGINE_CHECK(num_embeddings >= 0 && embedding_dim >= 0,
                 "Embedding: num_embeddings and embedding_dim must be non-negative, got %" PRId64 " and %" PRId64,
                 num_embeddings, embedding_dim);
    ENGINE_CHECK(padding_idx < num_embeddings,
                 "Embedding: Padding_idx must be within num_embeddings (got %" PRId64 " for %" PRId64 " embeddings)",
                 padding_idx, num_embeddings);
    Module *m = layer_new("Embedding", sizeof(EmbeddingImpl), embedding_forward, embedding_repr);
    EmbeddingImpl *e = m->impl;
    e->num_embeddings = num_embeddings;
    e->embedding_dim = embedding_dim;
    e->padding_idx = padding_idx < 0 ? -1 : padding_idx;
    e->weight = module_register_parameter(m, "weight", layer_tensor(SHAPE(num_embeddings, embedding_dim)));
    if (!e->weight || nn_init_normal_(e->weight, 0.0, 1.0, NULL) != 0) return layer_fail(m);
    if (e->padding_idx >= 0 && zero_row(e->weight, e->padding_idx) != 0) return layer_fail(m);
    return m;
}

/* ---- Identity and Flatten ---- */

static Tensor *identity_forward(Module *self, Tensor *x) { return x; }

Module *nn_identity(void) { return layer_new("Identity", 0, identity_forward, NULL); }

typedef struct {
    int start_dim, end_dim;
} FlattenImpl;

static Tensor *flatten_forward(Module *self, Tensor *x)
{
    FlattenImpl *f = self->impl;
    return t_flatten(x, f->start_dim, f->end_dim);
}

static void flatten_repr(const Module *self, char *buf, size_t size)
{
    const FlattenImpl *f = self->impl;
    snprintf(buf, size, "start_dim=%d, end_dim=%d", f->start_dim, f->end_dim);
}

Module *nn_flatten(int start_dim, int end_dim)
{
    Module *m = layer_new("Flatten", sizeof(FlattenImpl), flatten_forward, flatten_repr);
    FlattenImpl *f = m->impl;
    f->start_dim = start_dim;
    f->end_dim = end_dim;
    return m;
}
