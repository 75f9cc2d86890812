/* Autocast (mixed precision), PyTorch's torch.autocast for our ops.
 *
 * A per-thread mode: while it is on, ops on the low-precision list (linear,
 * mm/bmm/matmul, conv2d, conv_transpose2d) round their floating inputs to the
 * autocast dtype (bf16 or f16) and return that dtype; ops on the f32 list
 * (softmax, log_softmax, losses, batch/layer norm) take low-precision inputs
 * up to f32 and return f32. These are PyTorch's CUDA autocast lists; torch
 * 1.13's CPU autocast differs in leaving softmax, log_softmax and the norms
 * in bf16 and running conv_transpose2d in f32. Every other op (dot too)
 * keeps its inputs' dtype: one on bf16/f16 tensors computes in f32 and
 * rounds its output once (indices stay int64). Outside autocast
 * binary_cross_entropy_with_logits refuses float16 logits with an error
 * naming the dtype, as PyTorch's CPU kernels do.
 *
 * Every backend stores bf16/f16 tensors and converts them (its copy
 * kernel); the op layer computes every low-precision op in f32 on the
 * rounded inputs and rounds the result: the accumulation is f32, as in
 * PyTorch's kernels. linear, mm and conv2d run on the backend's native
 * low-precision kernels instead where it has them (oneDNN's bf16 on a CPU
 * with AVX512-BF16 or AMX; cuBLAS's and cuDNN's bf16 and f16 on a GPU): the
 * same products of rounded values summed in f32, rounded once (cuDNN
 * rounds a convolution before its bias is added, as PyTorch's does), in
 * less time (autocast_native_lowp).
 * All casts are differentiable (ToCopyBackward0), so gradients of f32 leaves
 * arrive in f32. */
#ifndef ENGINE_AUTOCAST_H
#define ENGINE_AUTOCAST_H

#include <stdbool.h>

#include "engine/tensor.h"

typedef struct {
    bool enabled;
    DType dtype; /* DT_BF16 or DT_F16 */
} AutocastState;

/* Turns autocast on with dtype (DT_BF16 / DT_F16; -1 with an error for any
 * other) and stores the previous state in *prev for autocast_restore. */
int autocast_begin(DType dtype, AutocastState *prev);
void autocast_restore(AutocastState prev);
AutocastState autocast_state(void);
/* "bf16"/"bfloat16" -> DT_BF16, "fp16"/"f16"/"float16" -> DT_F16; false otherwise. */
bool autocast_parse_dtype(const char *name, DType *out);

/* ---- for the op layer ---- */
typedef enum {
    AUTOCAST_LOWP, /* linear, products, convolutions */
    AUTOCAST_F32,  /* softmax, losses, norms */
    AUTOCAST_KEEP, /* the rest: the inputs' dtype, computed in f32 */
} AutocastKind;

/* Decides how an op of kind runs on its n inputs (NULL entries and integer
 * tensors are left alone). Returns 0 when it runs as it is (all floating
 * inputs f32 and no cast asked for); 1 when it must run on f32 inputs[] that
 * this call made (each input rounded through the compute dtype, autograd
 * recorded) with autocast suspended, its result converted to *out_dtype;
 * -1 with an error. */
int autocast_prepare(AutocastKind kind, Tensor *const *ts, int n, Tensor **f32_inputs, DType *out_dtype);

/* Whether the caller's backend runs its op natively in dt (bf16 or f16);
 * ctx is the caller's. */
typedef bool (*AutocastNativeFn)(DType dt, const void *ctx);

/* For ops with native low-precision kernels (linear, mm, conv2d), on the
 * addresses of their n operand variables: 1 when the op computes in bf16 or
 * f16 here (autocast, or low-precision operands outside autocast) and
 * native(that dtype, ctx) says the backend runs it so, with each floating
 * operand replaced by its cast to that dtype (differentiable; NULL operands
 * stay NULL); 0, changing nothing, when the op takes its usual way; -1 with
 * an error. native is asked only then: an f32 op never makes the backend
 * look for its low-precision kernels. */
int autocast_native_lowp(Tensor **const *operands, int n, AutocastNativeFn native, const void *ctx);
/* Native low-precision kernels on (the default) or off: off, those ops are
 * emulated in f32 as every other low-precision op (for tests and A/B
 * benchmarks). */
void autocast_set_native_lowp(bool on);

/* Runs `expr` (which reads ac_in_[i]) through autocast_prepare when the op
 * needs it, returning its result converted to the output dtype from the
 * calling op; falls through otherwise. */
#define AUTOCAST_DISPATCH(kind, n, expr, ...)                                                          \
    do {                                                                                                \
        Tensor *ac_in_[n];                                                                              \
        DType ac_dt_;                                                                                   \
        int ac_rc_ = autocast_prepare((kind), (Tensor *[]){__VA_ARGS__}, (n), ac_in_, &ac_dt_);         \
        if (ac_rc_ < 0) return NULL;                                                                    \
        if (ac_rc_ > 0) {                                                                               \
            AutocastState ac_prev_ = autocast_state();                                                  \
            autocast_restore((AutocastState){false, DT_BF16});                                          \
            Tensor *ac_r_ = (expr);                                                                     \
            autocast_restore(ac_prev_);                                                                 \
            return tensor_to_dtype(ac_r_, ac_dt_);                                                      \
        }                                                                                               \
    } while (0)

#endif
