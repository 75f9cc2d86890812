/* Arguments of the fused optimizer-update kernels, shared by every backend
 * (engine/cpu/optim_kernels.h, and the CUDA ones with identical signatures).
 * Scalars are doubles as the optimizers compute them; kernels round them to
 * the parameter's dtype exactly where PyTorch's per-op updates do, so the
 * fused pass gives the same numbers as PyTorch's sequence of in-place ops. */
#ifndef ENGINE_OPTIM_KERNEL_ARGS_H
#define ENGINE_OPTIM_KERNEL_ARGS_H

#include <stdbool.h>

#include "engine/tensor.h"

typedef struct {
    double lr, momentum, dampening, weight_decay;
    bool nesterov, maximize;
    bool init_buffer; /* the momentum buffer is new: it starts as a copy of the update */
} SGDKernelArgs;

/* Adam and AdamW (decoupled: weight decay multiplies the parameter instead
 * of being added to the gradient). */
typedef struct {
    double lr, beta1, beta2, eps, weight_decay;
    double bias_correction1, bias_correction2; /* 1 - beta^step */
    bool amsgrad, maximize, decoupled;
} AdamKernelArgs;

typedef struct {
    double lr, alpha, eps, weight_decay, momentum;
    bool centered, maximize;
} RMSpropKernelArgs;

typedef struct {
    double clr; /* lr / (1 + (step - 1) * lr_decay) */
    double eps, weight_decay;
    bool maximize;
} AdagradKernelArgs;

typedef struct {
    double lr, rho, eps, weight_decay;
    bool maximize;
} AdadeltaKernelArgs;

/* One parameter's update as data, for the multi-tensor path (one launch
 * for every CUDA parameter of a group, see engine/optim/multi_tensor.h):
 * which kernel, its tensors in the order of that kernel's signature (param,
 * grad, then its state tensors, NULL where it takes NULL) and its args. */
typedef enum { OPTIM_SGD, OPTIM_ADAM, OPTIM_RMSPROP, OPTIM_ADAGRAD, OPTIM_ADADELTA } OptimKernelKind;

#define OPTIM_UPDATE_TENSORS 5

typedef struct {
    OptimKernelKind kind;
    Tensor *tensors[OPTIM_UPDATE_TENSORS];
    union {
        SGDKernelArgs sgd;
        AdamKernelArgs adam;
        RMSpropKernelArgs rmsprop;
        AdagradKernelArgs adagrad;
        AdadeltaKernelArgs adadelta;
    } args;
} OptimUpdate;

#endif
