/* The backend interface: one table of function pointers per device type
 * (its kernels, and the services the engine needs from it: memory, copies,
 * streams, statistics, numeric modes), and the registry that finds them.
 *
 * The CPU backend (engine/cpu/backend.c) is built in. The CUDA backend is a
 * shared module (libengine_cuda.so, engine/cuda/backend.c) that the registry
 * loads with dlopen the first time a GPU is asked for, so a CPU run never
 * maps the CUDA libraries and a build with CUDA still runs where they are
 * missing. Ops call kernels as backend_of(t)->name(...): a grep for
 * "->max_pool2d(" finds every caller. A kernel slot may be NULL (a backend
 * that lacks it); ops check with NEED_KERNEL first, which records "max_pool2d
 * is not implemented on cuda". The services marked "required" are never
 * NULL: the registry refuses a table without them. */
#ifndef ENGINE_BACKEND_H
#define ENGINE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/elementwise_ops.h"
#include "engine/loss_layout.h"
#include "engine/memory.h"
#include "engine/ops.h"
#include "engine/optim/kernel_args.h"
#include "engine/tensor.h"

/* Bumped whenever Backend's layout or a signature changes: a module built
 * against another version is refused instead of called wrongly. */
#define ENGINE_BACKEND_ABI 4

/* The one symbol a backend module exports (see backend_module.c). It
 * returns the module's table, or NULL when abi differs from its own. */
#define ENGINE_BACKEND_ENTRY "engine_backend_register"
typedef const struct Backend *(*BackendRegisterFn)(int abi);

typedef struct Backend {
    int abi;          /* ENGINE_BACKEND_ABI of the build that made the table */
    const char *name; /* "cpu", "cuda": used in error messages */
    DeviceType device_type;

    /* ---- services ---- */
    int (*device_count)(void);                     /* required */
    void *(*alloc)(size_t nbytes);                 /* required; NULL when out of memory */
    void (*free)(void *p);                         /* required */
    void (*copy)(Tensor *dst, const Tensor *src);  /* required; same device, any strides */
    void (*fill)(Tensor *t, double value);         /* required */
    void (*memcpy_to_host)(void *dst, const void *src, size_t nbytes);   /* required */
    void (*memcpy_from_host)(void *dst, const void *src, size_t nbytes); /* required */
    void (*synchronize)(void);                     /* waits for queued work; NULL: nothing queues */
    void *(*stream)(void);                         /* the compute stream's handle; NULL: none */
    /* page-locked host memory for asynchronous copies (engine/transfer.h) */
    void *(*host_alloc)(size_t nbytes);
    void (*host_free)(void *p);
    /* one copy slot from pinned host memory to the device (engine/transfer.h);
     * NULL: transfers are plain memcpy_from_host */
    void *(*transfer_new)(void);
    void (*transfer_free)(void *tr);
    void (*transfer_start)(void *tr, void *dst, const void *src, size_t nbytes);
    void (*transfer_use)(void *tr);
    void (*transfer_wait)(void *tr);
    /* memory statistics (engine/memory.h); NULL: all zero */
    void (*memory_stats)(MemoryStats *out);
    void (*empty_cache)(void);
    void (*reset_peak)(void);
    /* numeric modes (engine/device.h); NULL: the backend has none */
    void (*set_tf32)(bool enabled);
    void (*set_deterministic)(bool enabled);
    /* max_pool2d can record each maximum as a u8 code (row * kw + column in
     * its window, for windows of at most 256 cells) instead of an i64 index
     * in its plane; false: i64 always */
    bool max_pool2d_window_codes;

    /* ---- kernels (documented in engine/cpu, one header per family) ---- */
    /* elementwise */
    void (*binary)(BinaryOp op, Tensor *out, const Tensor *a, const Tensor *b);
    void (*unary)(UnaryOp op, Tensor *out, const Tensor *a, double alpha, double beta);
    void (*unary_backward)(UnaryOp op, Tensor *grad_in, const Tensor *g, const Tensor *x, const Tensor *y,
                           double alpha, double beta);
    void (*where)(Tensor *out, const Tensor *cond, const Tensor *a, const Tensor *b);
    void (*axpy)(Tensor *dst, const Tensor *src, double alpha);
    void (*inplace_i64)(BinaryOp op, Tensor *dst, const Tensor *src, int64_t alpha);
    /* reductions */
    void (*sum)(Tensor *out, const Tensor *in, const bool *reduce);
    void (*mean)(Tensor *out, const Tensor *in, const bool *reduce);
    void (*var)(Tensor *out, const Tensor *in, const bool *reduce, int correction, bool take_sqrt);
    void (*amax)(Tensor *out, const Tensor *in, const bool *reduce);
    void (*amin)(Tensor *out, const Tensor *in, const bool *reduce);
    void (*max_dim)(Tensor *values, Tensor *indices, const Tensor *in, int dim, bool is_max);
    void (*put_along_dim)(Tensor *dst, const Tensor *src, const Tensor *indices, int dim);
    /* t_count_in_top_k on contiguous scores and targets, out one f32
     * element; NULL: the op composes it from comparisons and sums */
    void (*count_in_top_k)(Tensor *out, const Tensor *scores, const Tensor *target, int k);
    /* indexing */
    void (*index_range)(const Tensor *index, int64_t *min, int64_t *max);
    void (*gather)(Tensor *out, const Tensor *src, int dim, const Tensor *index);
    void (*scatter_add)(Tensor *out, int dim, const Tensor *index, const Tensor *src);
    void (*index_add)(Tensor *out, int dim, const Tensor *index, const Tensor *src, int64_t skip);
    void (*pad)(Tensor *out, const Tensor *in, const int64_t *before, double value);
    void (*one_hot)(Tensor *out, const Tensor *indices);
    /* linear algebra, convolution, pooling */
    void (*matmul)(Tensor *out, const Tensor *a, const Tensor *b, bool accumulate);
    /* Low-precision products (linear and mm on bf16 or f16 operands): out
     * [M, N] f32 (+)= a @ b, a and b 2-D of the same dtype dt with
     * BLAS-compatible layouts, summed in f32. Used where
     * matmul_lowp_native(dt) says the device runs them natively; NULL or
     * false: the op layer computes them in f32 from exact copies */
    bool (*matmul_lowp_native)(DType dt);
    void (*matmul_lowp)(Tensor *out, const Tensor *a, const Tensor *b, bool accumulate);
    /* Whether the three convolution kernels below take inputs of dtype dt
     * (bf16 or f16: x, w, y or gy; the output and a bias stay f32) natively
     * for this layer; NULL or false: conv2d is emulated in f32 by the op
     * layer */
    bool (*conv2d_lowp_native)(const Tensor *x, const Tensor *w, ConvParams p, DType dt);
    void (*conv2d)(Tensor *y, const Tensor *x, const Tensor *w, const Tensor *bias, ConvParams p);
    void (*conv2d_transpose)(Tensor *x, const Tensor *y, const Tensor *w, const Tensor *bias, ConvParams p);
    void (*conv2d_weight_grad)(Tensor *gw, const Tensor *x, const Tensor *gy, ConvParams p);
    /* conv2d then max_pool2d in one pass, for the layers where
     * conv2d_max_pool2d_fused says so (y: the convolution's output shape;
     * codes: u8 window codes, or NULL without a backward), and its weight
     * and input gradients from the pooled gradient g (gx, gw: each when
     * not NULL); NULL or false: the op runs conv2d and max_pool2d */
    bool (*conv2d_max_pool2d_fused)(const Tensor *x, const Tensor *w, Shape y, ConvParams cp, PoolParams pp);
    void (*conv2d_max_pool2d)(Tensor *out, Tensor *codes, const Tensor *x, const Tensor *w, const Tensor *bias, Shape y,
                              ConvParams cp, PoolParams pp);
    void (*conv2d_max_pool2d_backward)(Tensor *gx, Tensor *gw, const Tensor *x, const Tensor *w, const Tensor *g,
                                       const Tensor *codes, Shape y, ConvParams cp, PoolParams pp);
    /* indices NULL: no backward will need them (grad off), so none are written;
     * u8 indices (only where max_pool2d_window_codes): window codes */
    void (*max_pool2d)(Tensor *out, Tensor *indices, const Tensor *x, PoolParams p);
    void (*max_pool2d_backward)(Tensor *gx, const Tensor *g, const Tensor *indices, PoolParams p);
    void (*avg_pool2d)(Tensor *out, const Tensor *x, PoolParams p);
    void (*avg_pool2d_backward)(Tensor *gx, const Tensor *g, PoolParams p);
    void (*adaptive_avg_pool2d)(Tensor *out, const Tensor *x);
    void (*adaptive_avg_pool2d_backward)(Tensor *gx, const Tensor *g);
    /* softmax, normalisation */
    void (*softmax)(Tensor *out, const Tensor *x, int dim, bool log_out);
    void (*softmax_backward)(Tensor *grad_in, const Tensor *g, const Tensor *y, int dim, bool log_out);
    void (*batch_norm_stats)(const Tensor *x, Tensor *mean, Tensor *var, Tensor *invstd, double eps);
    void (*batch_norm_apply)(Tensor *out, const Tensor *x, const Tensor *mean, const Tensor *invstd,
                             const Tensor *weight, const Tensor *bias);
    void (*batch_norm_backward_reduce)(Tensor *sum_g, Tensor *sum_g_xhat, const Tensor *g, const Tensor *x,
                                       const Tensor *mean, const Tensor *invstd);
    void (*batch_norm_backward_input)(Tensor *grad_in, const Tensor *g, const Tensor *x, const Tensor *mean,
                                      const Tensor *invstd, const Tensor *weight, const Tensor *sum_g,
                                      const Tensor *sum_g_xhat);
    void (*layer_norm)(Tensor *out, Tensor *mean, Tensor *rstd, const Tensor *x, const Tensor *weight,
                       const Tensor *bias, int64_t cols, double eps);
    void (*layer_norm_backward_input)(Tensor *grad_in, const Tensor *g, const Tensor *x, const Tensor *mean,
                                      const Tensor *rstd, const Tensor *weight, int64_t cols);
    void (*layer_norm_backward_params)(Tensor *grad_weight, Tensor *grad_bias, const Tensor *g, const Tensor *x,
                                       const Tensor *mean, const Tensor *rstd, int64_t cols);
    /* losses */
    bool (*nll_loss_bad_target)(const Tensor *target, int64_t n_classes, int64_t ignore_index, int64_t *bad);
    void (*nll_loss)(Tensor *out, Tensor *total_weight, const Tensor *input, const Tensor *target,
                     const Tensor *weight, int64_t ignore_index, Reduction reduction);
    void (*nll_loss_backward)(Tensor *grad_input, const Tensor *g, const Tensor *target, const Tensor *weight,
                              const Tensor *total_weight, int64_t ignore_index, Reduction reduction);
    bool (*pointwise_loss)(PointwiseLoss kind, Tensor *out, const Tensor *x, const Tensor *target,
                           const Tensor *weight, const Tensor *pos_weight, Reduction reduction);
    void (*pointwise_loss_backward)(PointwiseLoss kind, Tensor *grad_x, Tensor *grad_target, const Tensor *g,
                                    const Tensor *x, const Tensor *target, const Tensor *weight,
                                    const Tensor *pos_weight, Reduction reduction);
    /* optimizers (engine/optim/kernel_args.h) */
    void (*sgd_step)(Tensor *param, const Tensor *grad, Tensor *momentum_buffer, const SGDKernelArgs *a);
    void (*adam_step)(Tensor *param, const Tensor *grad, Tensor *exp_avg, Tensor *exp_avg_sq,
                      Tensor *max_exp_avg_sq, const AdamKernelArgs *a);
    void (*rmsprop_step)(Tensor *param, const Tensor *grad, Tensor *square_avg, Tensor *grad_avg,
                         Tensor *momentum_buffer, const RMSpropKernelArgs *a);
    void (*adagrad_step)(Tensor *param, const Tensor *grad, Tensor *sum, const AdagradKernelArgs *a);
    void (*adadelta_step)(Tensor *param, const Tensor *grad, Tensor *square_avg, Tensor *acc_delta,
                          const AdadeltaKernelArgs *a);
    /* many updates of one kind in one launch; NULL: they run one by one */
    void (*optim_step_multi)(const OptimUpdate *updates, int n);
    double (*tensor_norm)(const Tensor *t, double p);
} Backend;

/* ---- the registry (engine/backend.c) ---- */

/* The table of each device type that is registered; NULL until a module is
 * loaded. Read through backend_of / backend_loaded. */
extern const Backend *engine_backends[DEVICE_TYPE_COUNT];

/* The backend of t's storage: always registered, since the storage was made
 * by it. */
static inline const Backend *backend_of(const Tensor *t) { return engine_backends[t->storage->device.type]; }

/* The backend of a device type if it is registered already; loads nothing. */
static inline const Backend *backend_loaded(DeviceType type) { return engine_backends[type]; }

/* The backend of a device type, loading its module the first time (one
 * attempt per process; thread-safe). NULL when the build has none or the
 * module cannot be loaded: backend_unavailable_reason says why. */
const Backend *backend_get(DeviceType type);
/* Why backend_get(type) returned NULL ("" when it did not): one line, e.g.
 * "libengine_cuda.so: libcudnn.so.9: cannot open shared object file". */
const char *backend_unavailable_reason(DeviceType type);

/* Devices of a type this process can use (0 when its backend is missing). */
int backend_device_count(DeviceType type);

/* The backend for memory on device d after checking that d is usable (the
 * module loads, the device exists, the index is one the backend serves);
 * NULL with an error naming op and d otherwise. */
const Backend *backend_for_device(Device d, const char *op);

/* Registers a table (the CPU's at start, modules' when loaded). Returns -1
 * with an error when a required service is missing or the ABI differs. */
int backend_register(const Backend *b);

/* Numeric modes kept by the registry, applied to every backend that has
 * them, now and when one is loaded later (engine/device.h). */
void backend_set_tf32(bool enabled);
void backend_set_deterministic(bool enabled);
bool backend_tf32(void);
bool backend_deterministic(void);

/* Records "<kernel> is not implemented on <backend>" and returns NULL (-1
 * for NEED_KERNEL_INT) from the caller when t's backend lacks kernel. */
#define NEED_KERNEL(t, kernel)                                                                                     \
    ENGINE_CHECK(backend_of(t)->kernel != NULL, "%s is not implemented on %s", #kernel, backend_of(t)->name)
#define NEED_KERNEL_INT(t, kernel)                                                                                 \
    ENGINE_CHECK_INT(backend_of(t)->kernel != NULL, "%s is not implemented on %s", #kernel, backend_of(t)->name)

#endif
