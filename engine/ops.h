/* The engine's differentiable ops, written once and dispatched by device.
 *
 * Conventions (as in PyTorch):
 *  - results are new tensors owned by the current scope (see scope.h);
 *  - a NULL input makes the result NULL without a new message, so a chain of
 *    ops can be checked once at its end (see error.h);
 *  - dims may be negative and count from the end;
 *  - elementwise binary ops broadcast;
 *  - ops record autograd nodes when an input requires grad and grad mode is on.
 * Names: t_* are tensor ops, f_* are torch.nn.functional ops.
 */
#ifndef ENGINE_OPS_H
#define ENGINE_OPS_H

#include "engine/autograd.h"
#include "engine/tensor.h"

/* ---------------- views and copies (ops_view.c, ops_copy.c) ---------------- */
/* view refuses (with PyTorch's message) where the strides do not allow it;
 * one size may be -1. */
Tensor *t_view(Tensor *t, Shape shape);
/* A view when possible, otherwise a copy. */
Tensor *t_reshape(Tensor *t, Shape shape);
Tensor *t_flatten(Tensor *t, int start_dim, int end_dim);
Tensor *t_transpose(Tensor *t, int dim0, int dim1);
Tensor *t_permute(Tensor *t, const int *dims); /* dims has t's ndim entries */
Tensor *t_squeeze(Tensor *t, int dim);         /* no-op when that dim is not 1 */
Tensor *t_squeeze_all(Tensor *t);
Tensor *t_unsqueeze(Tensor *t, int dim);
Tensor *t_expand(Tensor *t, Shape shape); /* -1 keeps a size */
Tensor *t_narrow(Tensor *t, int dim, int64_t start, int64_t length);
/* t[start:end:step] along dim; start/end are clamped like Python slices. */
Tensor *t_slice(Tensor *t, int dim, int64_t start, int64_t end, int64_t step);
Tensor *t_select(Tensor *t, int dim, int64_t index);
/* torch.diagonal: a view of the diagonal of dims dim1, dim2 (offset > 0:
 * above the main one, < 0: below), those dims removed and the diagonal
 * appended as the last dim. */
Tensor *t_diagonal(Tensor *t, int64_t offset, int dim1, int dim2);
/* torch.flip: a copy reversed along each of dims (n_dims distinct dims). */
Tensor *t_flip(Tensor *t, const int *dims, int n_dims);
/* Splits into at most `chunks` views; writes them to out (room for `chunks`)
 * and returns how many, or -1. */
int t_chunk(Tensor *t, int chunks, int dim, Tensor **out);
Tensor *t_contiguous(Tensor *t); /* t itself when already contiguous */
Tensor *t_clone(Tensor *t);
Tensor *t_cat(Tensor *const *ts, int n, int dim);
Tensor *t_stack(Tensor *const *ts, int n, int dim);
/* Sums g over broadcast dims down to shape (the backward of broadcasting). */
Tensor *t_sum_to_shape(Tensor *g, Shape shape);

/* ---------------- elementwise (ops_elementwise.c) ---------------- */
Tensor *t_add(Tensor *a, Tensor *b);
Tensor *t_sub(Tensor *a, Tensor *b);
Tensor *t_mul(Tensor *a, Tensor *b);
Tensor *t_div(Tensor *a, Tensor *b);
Tensor *t_add_scalar(Tensor *a, double s);
Tensor *t_mul_scalar(Tensor *a, double s);
Tensor *t_neg(Tensor *a);
Tensor *t_pow_scalar(Tensor *a, double exponent);
Tensor *t_exp(Tensor *a);
Tensor *t_log(Tensor *a);
Tensor *t_sqrt(Tensor *a);
Tensor *t_abs(Tensor *a);
/* Pass -INFINITY / INFINITY for a missing bound. */
Tensor *t_clamp(Tensor *a, double min, double max);
Tensor *t_relu(Tensor *a);
Tensor *t_leaky_relu(Tensor *a, double negative_slope);
Tensor *t_sigmoid(Tensor *a);
Tensor *t_tanh(Tensor *a);
/* approximate: false = exact erf form, true = PyTorch's 'tanh' approximation. */
Tensor *t_gelu(Tensor *a, bool approximate);
/* cond is u8 (nonzero = true); a and b broadcast with it. */
Tensor *t_where(Tensor *cond, Tensor *a, Tensor *b);
Tensor *t_masked_fill(Tensor *a, Tensor *mask, double value);
/* Comparisons give u8 tensors (0/1), not differentiable. */
Tensor *t_eq(Tensor *a, Tensor *b);
Tensor *t_ne(Tensor *a, Tensor *b);
Tensor *t_gt(Tensor *a, Tensor *b);
Tensor *t_lt(Tensor *a, Tensor *b);
Tensor *t_ge(Tensor *a, Tensor *b);
Tensor *t_le(Tensor *a, Tensor *b);
/* In place, no autograd (0, or -1 with an error), src broadcast to dst:
 * dst += alpha * src, dst -= alpha * src, dst *= src, and the same with a
 * scalar. A float dst computes in float32 (src may be float32, bfloat16,
 * float16, int64 or uint8); a bfloat16 or float16 dst is widened, the op
 * done in float32 and the result rounded once, as PyTorch's "opmath". int64
 * dst (the `num_batches_tracked += 1` idiom) computes in exact integer
 * arithmetic, wrapping on overflow as PyTorch does: src int64 or
 * uint8, and alpha and scalars whole numbers (a fraction is PyTorch's
 * "result type Float can't be cast to the desired output type Long"); the
 * *_int_ forms take int64 scalars a double cannot hold (beyond 2^53). An
 * expanded dst (two elements at one address) is refused, as in PyTorch. */
int t_add_(Tensor *dst, Tensor *src, double alpha);
int t_sub_(Tensor *dst, Tensor *src, double alpha);
int t_mul_(Tensor *dst, Tensor *src);
int t_add_scalar_(Tensor *dst, double s);
int t_sub_scalar_(Tensor *dst, double s);
int t_mul_scalar_(Tensor *dst, double s);
int t_add_int_(Tensor *dst, int64_t s);
int t_sub_int_(Tensor *dst, int64_t s);
int t_mul_int_(Tensor *dst, int64_t s);

/* ---------------- reductions (ops_reduce.c) ---------------- */
/* dims == NULL or n_dims == 0 reduces over all dims. */
Tensor *t_sum(Tensor *t, const int *dims, int n_dims, bool keepdim);
Tensor *t_mean(Tensor *t, const int *dims, int n_dims, bool keepdim);
/* correction 1 = unbiased (PyTorch's default), 0 = population. */
Tensor *t_var(Tensor *t, const int *dims, int n_dims, int correction, bool keepdim);
Tensor *t_std(Tensor *t, const int *dims, int n_dims, int correction, bool keepdim);
Tensor *t_amax(Tensor *t, const int *dims, int n_dims, bool keepdim);
Tensor *t_amin(Tensor *t, const int *dims, int n_dims, bool keepdim);
/* torch.max(t, dim): values, and the i64 indices into *indices (may be NULL). */
Tensor *t_max_dim(Tensor *t, int dim, bool keepdim, Tensor **indices);
Tensor *t_min_dim(Tensor *t, int dim, bool keepdim, Tensor **indices);
/* i64 indices; t_argmax_all over the flattened tensor. */
Tensor *t_argmax(Tensor *t, int dim, bool keepdim);
Tensor *t_argmin(Tensor *t, int dim, bool keepdim);
Tensor *t_argmax_all(Tensor *t);
/* The number of rows of scores [B, C] (f32) whose target class (i64 [B])
 * is among the k highest scores, as an f32 scalar (ops_metric.c; 1 <= k <= C).
 * A class ranks above the target when its score is higher, or equal with a
 * lower index (torch.topk's and argmax's order on the CPU); rows holding a
 * NaN or +Inf, and targets outside [0, C), never count; -Inf is an ordinary
 * lowest score. No gradient. The accuracy metrics' count, in one kernel
 * where the backend has it. */
Tensor *t_count_in_top_k(Tensor *scores, Tensor *target, int k);

/* ---------------- linear algebra (ops_linalg.c) ---------------- */
Tensor *t_dot(Tensor *a, Tensor *b);
Tensor *t_mm(Tensor *a, Tensor *b);
Tensor *t_bmm(Tensor *a, Tensor *b);
/* torch.matmul: 1-D/2-D/batched with broadcast batch dims. */
Tensor *t_matmul(Tensor *a, Tensor *b);
/* x @ w^T + b; bias may be NULL. */
Tensor *f_linear(Tensor *x, Tensor *weight, Tensor *bias);

/* ---------------- convolution and pooling (ops_conv.c, ops_pool.c) ---------------- */
typedef struct {
    int stride[2], padding[2], dilation[2];
    int groups;
    int output_padding[2]; /* conv_transpose2d only */
} ConvParams;
/* stride 1, padding 0, dilation 1, groups 1 */
ConvParams conv_params_default(void);
/* x [N, C, H, W], weight [O, C/groups, kh, kw], bias [O] or NULL. */
Tensor *f_conv2d(Tensor *x, Tensor *weight, Tensor *bias, ConvParams p);
/* weight [C, O/groups, kh, kw]. */
Tensor *f_conv_transpose2d(Tensor *x, Tensor *weight, Tensor *bias, ConvParams p);
typedef struct {
    int kernel[2], stride[2], padding[2];
    bool ceil_mode;
    bool count_include_pad; /* avg_pool2d only; PyTorch's default is true */
} PoolParams;
/* stride defaults to kernel as in PyTorch: pass stride 0 for that. */
PoolParams pool_params(int kernel, int stride, int padding);
Tensor *f_max_pool2d(Tensor *x, PoolParams p);
/* max_pool2d(conv2d(x, weight, bias, cp), pp), in one pass where the
 * backend fuses them (the CPU, for the layers of its direct convolution,
 * such as MnistModel's conv1): the convolution's output is then never
 * stored. Otherwise the two ops. The same values and gradients either way
 * (the bias gradient to rounding: it sums the pooled gradient). */
Tensor *f_conv2d_max_pool2d(Tensor *x, Tensor *weight, Tensor *bias, ConvParams cp, PoolParams pp);
Tensor *f_avg_pool2d(Tensor *x, PoolParams p);
Tensor *f_adaptive_avg_pool2d(Tensor *x, int64_t out_h, int64_t out_w);

/* ---------------- normalisation, softmax, dropout (ops_norm.c, ops_softmax.c, ops_dropout.c) ---------------- */
/* running_mean/var may be NULL; in training they are updated in place with
 * momentum (unbiased variance), as PyTorch does. weight/bias may be NULL. */
Tensor *f_batch_norm(Tensor *x, Tensor *running_mean, Tensor *running_var, Tensor *weight, Tensor *bias,
                     bool training, double momentum, double eps);
/* Normalises over the last normalized_shape.ndim dims. */
Tensor *f_layer_norm(Tensor *x, Shape normalized_shape, Tensor *weight, Tensor *bias, double eps);
Tensor *f_softmax(Tensor *x, int dim);
Tensor *f_log_softmax(Tensor *x, int dim);
/* Generator NULL = the default one. Identity when !training or p == 0. */
typedef struct Generator Generator;
Tensor *f_dropout(Tensor *x, double p, bool training, Generator *gen);
/* Zeroes whole channels of [N, C, ...] inputs. */
Tensor *f_dropout2d(Tensor *x, double p, bool training, Generator *gen);

/* ---------------- indexing (ops_index.c) ---------------- */
/* indices i64 of any shape; result [..., D]. padding_idx < 0 for none. */
Tensor *f_embedding(Tensor *indices, Tensor *weight, int64_t padding_idx);
/* pads: (left, right) pairs from the last dim backwards, as F.pad. */
Tensor *f_pad(Tensor *x, const int64_t *pads, int n_pads, double value);
/* i64 [..., num_classes]; num_classes < 0 infers max + 1. */
Tensor *f_one_hot(Tensor *indices, int64_t num_classes);
Tensor *t_gather(Tensor *t, int dim, Tensor *index);
/* t with src added at index along dim (out of place, like torch.scatter_add). */
Tensor *t_scatter_add(Tensor *t, int dim, Tensor *index, Tensor *src);
Tensor *t_index_select(Tensor *t, int dim, Tensor *index);

/* ---------------- losses (ops_loss.c) ---------------- */
typedef enum { REDUCTION_MEAN = 0, REDUCTION_SUM, REDUCTION_NONE } Reduction;
/* input [N, C] (or [N, C, d...]) log-probabilities, target i64 [N] ([N, d...]);
 * weight [C] or NULL; targets equal to ignore_index (-100 by default) count 0. */
Tensor *f_nll_loss(Tensor *input, Tensor *target, Tensor *weight, int64_t ignore_index, Reduction reduction);
Tensor *f_cross_entropy(Tensor *input, Tensor *target, Tensor *weight, int64_t ignore_index, Reduction reduction,
                        double label_smoothing);
Tensor *f_mse_loss(Tensor *input, Tensor *target, Reduction reduction);
Tensor *f_l1_loss(Tensor *input, Tensor *target, Reduction reduction);
/* weight may be NULL. */
Tensor *f_binary_cross_entropy(Tensor *input, Tensor *target, Tensor *weight, Reduction reduction);
/* weight and pos_weight may be NULL. */
Tensor *f_binary_cross_entropy_with_logits(Tensor *input, Tensor *target, Tensor *weight, Tensor *pos_weight,
                                           Reduction reduction);

/* ---------------- dtype and device conversion (ops_copy.c) ---------------- */
/* tensor_to / tensor_to_dtype in tensor.h are differentiable for f32. */

#endif
