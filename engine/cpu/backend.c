/* The CPU backend's table: every kernel of engine/cpu, and the services of
 * the host (the caching allocator, plain memcpy). Operations finish before
 * they return, so there is nothing to synchronise, no stream and no
 * transfer slot; memory statistics stay zero (engine/memory.h says why). */
#include "engine/cpu/backend.h"

#include "engine/cpu/allocator.h"
#include "engine/cpu/conv.h"
#include "engine/cpu/copy.h"
#include "engine/cpu/elementwise.h"
#include "engine/cpu/index.h"
#include "engine/cpu/linalg.h"
#include "engine/cpu/loss.h"
#include "engine/cpu/norm.h"
#include "engine/cpu/optim_kernels.h"
#include "engine/cpu/pool.h"
#include "engine/cpu/metric.h"
#include "engine/cpu/reduce.h"
#include "engine/cpu/softmax.h"

static int cpu_device_count(void) { return 1; }

const Backend cpu_backend = {
    .abi = ENGINE_BACKEND_ABI,
    .name = "cpu",
    .device_type = DEVICE_CPU,

    .device_count = cpu_device_count,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .copy = cpu_copy,
    .fill = cpu_fill,
    .memcpy_to_host = cpu_memcpy_to_host,
    .memcpy_from_host = cpu_memcpy_from_host,
    .empty_cache = cpu_allocator_empty_cache,
    .max_pool2d_window_codes = true,

    .binary = cpu_binary,
    .unary = cpu_unary,
    .unary_backward = cpu_unary_backward,
    .where = cpu_where,
    .axpy = cpu_axpy,
    .inplace_i64 = cpu_inplace_i64,
    .sum = cpu_sum,
    .mean = cpu_mean,
    .var = cpu_var,
    .amax = cpu_amax,
    .amin = cpu_amin,
    .max_dim = cpu_max_dim,
    .put_along_dim = cpu_put_along_dim,
    .count_in_top_k = cpu_count_in_top_k,
    .index_range = cpu_index_range,
    .gather = cpu_gather,
    .scatter_add = cpu_scatter_add,
    .index_add = cpu_index_add,
    .pad = cpu_pad,
    .one_hot = cpu_one_hot,
    .matmul = cpu_matmul,
    .matmul_lowp_native = cpu_matmul_lowp_native,
    .matmul_lowp = cpu_matmul_lowp,
    .conv2d_lowp_native = cpu_conv2d_lowp_native,
    .conv2d = cpu_conv2d,
    .conv2d_transpose = cpu_conv2d_transpose,
    .conv2d_weight_grad = cpu_conv2d_weight_grad,
    .conv2d_max_pool2d_fused = cpu_conv2d_max_pool2d_fused,
    .conv2d_max_pool2d = cpu_conv2d_max_pool2d,
    .conv2d_max_pool2d_backward = cpu_conv2d_max_pool2d_backward,
    .max_pool2d = cpu_max_pool2d,
    .max_pool2d_backward = cpu_max_pool2d_backward,
    .avg_pool2d = cpu_avg_pool2d,
    .avg_pool2d_backward = cpu_avg_pool2d_backward,
    .adaptive_avg_pool2d = cpu_adaptive_avg_pool2d,
    .adaptive_avg_pool2d_backward = cpu_adaptive_avg_pool2d_backward,
    .softmax = cpu_softmax,
    .softmax_backward = cpu_softmax_backward,
    .batch_norm_stats = cpu_batch_norm_stats,
    .batch_norm_apply = cpu_batch_norm_apply,
    .batch_norm_backward_reduce = cpu_batch_norm_backward_reduce,
    .batch_norm_backward_input = cpu_batch_norm_backward_input,
    .layer_norm = cpu_layer_norm,
    .layer_norm_backward_input = cpu_layer_norm_backward_input,
    .layer_norm_backward_params = cpu_layer_norm_backward_params,
    .nll_loss_bad_target = cpu_nll_loss_bad_target,
    .nll_loss = cpu_nll_loss,
    .nll_loss_backward = cpu_nll_loss_backward,
    .pointwise_loss = cpu_pointwise_loss,
    .pointwise_loss_backward = cpu_pointwise_loss_backward,
    .sgd_step = cpu_sgd_step,
    .adam_step = cpu_adam_step,
    .rmsprop_step = cpu_rmsprop_step,
    .adagrad_step = cpu_adagrad_step,
    .adadelta_step = cpu_adadelta_step,
    .tensor_norm = cpu_tensor_norm,
};
