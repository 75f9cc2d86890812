/* The CUDA backend's table (engine/backend.h) and the one symbol this
 * module exports: the registry dlopens libengine_cuda.so the first time a
 * GPU is asked for and calls engine_backend_register to get this table.
 * Every other symbol of the module is hidden. */
#include "engine/backend.h"

#include "engine/cuda/allocator.h"
#include "engine/cuda/conv.h"
#include "engine/cuda/copy.h"
#include "engine/cuda/elementwise.h"
#include "engine/cuda/index.h"
#include "engine/cuda/linalg.h"
#include "engine/cuda/loss.h"
#include "engine/cuda/norm.h"
#include "engine/cuda/optim_kernels.h"
#include "engine/cuda/pool.h"
#include "engine/cuda/reduce.h"
#include "engine/cuda/runtime.h"
#include "engine/cuda/softmax.h"
#include "engine/cuda/transfer.h"

static const Backend cuda_backend = {
    .abi = ENGINE_BACKEND_ABI,
    .name = "cuda",
    .device_type = DEVICE_CUDA,

    .device_count = cuda_device_count,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .copy = cuda_copy,
    .fill = cuda_fill,
    .memcpy_to_host = cuda_memcpy_to_host,
    .memcpy_from_host = cuda_memcpy_from_host,
    .synchronize = cuda_synchronize,
    .stream = cuda_stream,
    .host_alloc = cuda_host_alloc,
    .host_free = cuda_host_free,
    .transfer_new = cuda_transfer_new,
    .transfer_free = cuda_transfer_free,
    .transfer_start = cuda_transfer_start,
    .transfer_use = cuda_transfer_use,
    .transfer_wait = cuda_transfer_wait,
    .memory_stats = cuda_allocator_stats,
    .empty_cache = cuda_allocator_empty_cache,
    .reset_peak = cuda_allocator_reset_peak,
    .set_tf32 = cuda_set_tf32,
    .set_deterministic = cuda_set_deterministic,

    .binary = cuda_binary,
    .unary = cuda_unary,
    .unary_backward = cuda_unary_backward,
    .where = cuda_where,
    .axpy = cuda_axpy,
    .inplace_i64 = cuda_inplace_i64,
    .sum = cuda_sum,
    .mean = cuda_mean,
    .var = cuda_var,
    .amax = cuda_amax,
    .amin = cuda_amin,
    .max_dim = cuda_max_dim,
    .put_along_dim = cuda_put_along_dim,
    .index_range = cuda_index_range,
    .gather = cuda_gather,
    .scatter_add = cuda_scatter_add,
    .index_add = cuda_index_add,
    .pad = cuda_pad,
    .one_hot = cuda_one_hot,
    .matmul = cuda_matmul,
    .matmul_lowp_native = cuda_matmul_lowp_native,
    .matmul_lowp = cuda_matmul_lowp,
    .conv2d_lowp_native = cuda_conv2d_lowp_native,
    .conv2d = cuda_conv2d,
    .conv2d_transpose = cuda_conv2d_transpose,
    .conv2d_weight_grad = cuda_conv2d_weight_grad,
    .max_pool2d = cuda_max_pool2d,
    .max_pool2d_backward = cuda_max_pool2d_backward,
    .avg_pool2d = cuda_avg_pool2d,
    .avg_pool2d_backward = cuda_avg_pool2d_backward,
    .adaptive_avg_pool2d = cuda_adaptive_avg_pool2d,
    .adaptive_avg_pool2d_backward = cuda_adaptive_avg_pool2d_backward,
    .softmax = cuda_softmax,
    .softmax_backward = cuda_softmax_backward,
    .batch_norm_stats = cuda_batch_norm_stats,
    .batch_norm_apply = cuda_batch_norm_apply,
    .batch_norm_backward_reduce = cuda_batch_norm_backward_reduce,
    .batch_norm_backward_input = cuda_batch_norm_backward_input,
    .layer_norm = cuda_layer_norm,
    .layer_norm_backward_input = cuda_layer_norm_backward_input,
    .layer_norm_backward_params = cuda_layer_norm_backward_params,
    .nll_loss_bad_target = cuda_nll_loss_bad_target,
    .nll_loss = cuda_nll_loss,
    .nll_loss_backward = cuda_nll_loss_backward,
    .pointwise_loss = cuda_pointwise_loss,
    .pointwise_loss_backward = cuda_pointwise_loss_backward,
    .sgd_step = cuda_sgd_step,
    .adam_step = cuda_adam_step,
    .rmsprop_step = cuda_rmsprop_step,
    .adagrad_step = cuda_adagrad_step,
    .adadelta_step = cuda_adadelta_step,
    .optim_step_multi = cuda_optim_step_multi,
    .tensor_norm = cuda_tensor_norm,
};

/* Declared here rather than in a header: nothing links against it; the
 * registry finds it with dlsym by the name ENGINE_BACKEND_ENTRY. */
__attribute__((visibility("default"))) const Backend *engine_backend_register(int abi);

const Backend *engine_backend_register(int abi) { return abi == ENGINE_BACKEND_ABI ? &cuda_backend : NULL; }
