/* The optimization algorithms of torch.optim, with PyTorch's options, defaults
 * and update formulas (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta).
 *
 * Each takes its options by value; start from the *_defaults() function and
 * change what you need:
 *     AdamOptions o = adam_defaults();
 *     o.lr = 3e-4;
 *     Optimizer *opt = optim_adam(params, n, o);
 * Constructors return NULL with an error for invalid options or parameters.
 * The options become group 0's hyperparameters and the defaults for groups
 * added with optimizer_add_param_group. */
#ifndef ENGINE_OPTIM_ALGORITHMS_H
#define ENGINE_OPTIM_ALGORITHMS_H

#include "engine/optim/optimizer.h"

typedef struct {
    double lr; /* PyTorch requires it; 1e-3 here, as newer PyTorch releases default to */
    double momentum, dampening, weight_decay;
    bool nesterov, maximize;
} SGDOptions;
SGDOptions sgd_defaults(void);
Optimizer *optim_sgd(Tensor **params, int n, SGDOptions o);

typedef struct {
    double lr;
    double betas[2];
    double eps, weight_decay;
    bool amsgrad, maximize;
} AdamOptions;
AdamOptions adam_defaults(void);  /* lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0 */
AdamOptions adamw_defaults(void); /* the same with weight_decay 1e-2 */
Optimizer *optim_adam(Tensor **params, int n, AdamOptions o);
/* Adam with decoupled weight decay (the parameter is multiplied by
 * 1 - lr * weight_decay before the Adam update). */
Optimizer *optim_adamw(Tensor **params, int n, AdamOptions o);

typedef struct {
    double lr, alpha, eps, weight_decay, momentum;
    bool centered, maximize;
} RMSpropOptions;
RMSpropOptions rmsprop_defaults(void); /* lr 1e-2, alpha 0.99, eps 1e-8 */
Optimizer *optim_rmsprop(Tensor **params, int n, RMSpropOptions o);

typedef struct {
    double lr, lr_decay, weight_decay, initial_accumulator_value, eps;
    bool maximize;
} AdagradOptions;
AdagradOptions adagrad_defaults(void); /* lr 1e-2, eps 1e-10 */
Optimizer *optim_adagrad(Tensor **params, int n, AdagradOptions o);

typedef struct {
    double lr, rho, eps, weight_decay;
    bool maximize;
} AdadeltaOptions;
AdadeltaOptions adadelta_defaults(void); /* lr 1.0, rho 0.9, eps 1e-6 */
Optimizer *optim_adadelta(Tensor **params, int n, AdadeltaOptions o);

#endif
