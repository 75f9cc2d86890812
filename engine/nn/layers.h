/* The built-in layers (torch.nn's), each a Module with PyTorch's parameter
 * names, shapes, default initialisation (reset_parameters, drawn from the
 * default generator) and repr. Parameters are made on the CPU; move a model
 * with module_to(). A constructor given bad arguments returns NULL with an
 * error; containers given a NULL child return NULL without a new message
 * (so a failed constructor inside NN_SEQUENTIAL(...) propagates). */
#ifndef ENGINE_NN_LAYERS_H
#define ENGINE_NN_LAYERS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/nn/module.h"
#include "engine/ops.h"

/* ---- linear, embedding, reshaping (layers_linear.c) ---- */
/* weight [out, in], bias [out]. */
Module *nn_linear(int64_t in_features, int64_t out_features, bool bias);
/* weight [num_embeddings, embedding_dim] ~ N(0, 1); a padding_idx >= 0 has
 * its row zeroed and gets no gradient; < 0 means none (as f_embedding). */
Module *nn_embedding(int64_t num_embeddings, int64_t embedding_dim, int64_t padding_idx);
Module *nn_identity(void);
/* nn.Flatten(start_dim, end_dim); PyTorch's defaults are 1, -1. */
Module *nn_flatten(int start_dim, int end_dim);

/* ---- convolutions (layers_conv.c) ---- */
/* weight [out, in/groups, kh, kw], bias [out]. p from conv_params_default(). */
Module *nn_conv2d(int64_t in_channels, int64_t out_channels, int kh, int kw, ConvParams p, bool bias);
/* f_max_pool2d(module_forward(conv, x), pool), with the two fused where
 * f_conv2d_max_pool2d fuses them: conv a Conv2d without hooks (hooks
 * would see its output, which the fused op never makes). */
Tensor *nn_conv2d_max_pool2d(Module *conv, Tensor *x, PoolParams pool);
/* weight [in, out/groups, kh, kw], bias [out]. */
Module *nn_conv_transpose2d(int64_t in_channels, int64_t out_channels, int kh, int kw, ConvParams p, bool bias);

/* ---- pooling (layers_pool.c) ---- */
/* p from pool_params(); a stride of 0 means the kernel size, as in PyTorch. */
Module *nn_max_pool2d(PoolParams p);
Module *nn_avg_pool2d(PoolParams p);
Module *nn_adaptive_avg_pool2d(int64_t out_h, int64_t out_w);

/* ---- normalisation (layers_norm.c) ---- */
/* SyncBatchNorm for distributed runs: with all_reduce set (a differentiable
 * sum over the ranks, dist/sync_batch_norm.c), every BatchNorm in training
 * normalises with the statistics of the global batch; NULL turns it off. */
typedef Tensor *(*BatchNormAllReduceFn)(Tensor *t);
void nn_batch_norm_set_sync(BatchNormAllReduceFn all_reduce);

/* PyTorch's defaults: eps 1e-5, momentum 0.1, affine, tracking running stats.
 * momentum NAN is PyTorch's None (a cumulative average over batches). */
Module *nn_batch_norm1d(int64_t num_features);
Module *nn_batch_norm2d(int64_t num_features);
Module *nn_batch_norm1d_ex(int64_t num_features, double eps, double momentum, bool affine, bool track_running_stats);
Module *nn_batch_norm2d_ex(int64_t num_features, double eps, double momentum, bool affine, bool track_running_stats);
/* Normalises over the last dims given by normalized_shape (PyTorch's eps 1e-5). */
Module *nn_layer_norm(Shape normalized_shape, double eps, bool elementwise_affine);

/* ---- activations and dropout (layers_activation.c) ---- */
Module *nn_relu(void);
Module *nn_leaky_relu(double negative_slope); /* PyTorch's default 0.01 */
Module *nn_gelu(bool approximate_tanh);
Module *nn_sigmoid(void);
Module *nn_tanh(void);
/* Active only in training mode; masks come from the default generator. */
Module *nn_dropout(double p);
Module *nn_dropout2d(double p);

/* ---- containers (layers_container.c) ---- */
/* Children named "0", "1", ...; forward chains them. Takes ownership of the
 * modules (also when it fails). */
Module *nn_sequential(int n, Module *const *modules);
#define NN_SEQUENTIAL(...)                                                                                             \
    nn_sequential((int)(sizeof((Module *[]){__VA_ARGS__}) / sizeof(Module *)), (Module *[]){__VA_ARGS__})
/* A list of children named "0", "1", ... without a forward of its own. */
Module *nn_module_list(int n, Module *const *modules);
/* Appends child under the next index name (Sequential.append / ModuleList.append). */
Module *nn_container_append(Module *container, Module *child);

#endif
