/* torch.nn.init: in-place initialisers for parameters, with PyTorch's
 * formulas (fans, gains, bounds). Each takes a Generator (NULL = the default
 * one), works on any device, runs without autograd and leaves nothing in the
 * caller's scope. They return 0, or -1 with an error. Nonlinearities are
 * named as in PyTorch: "linear", "conv1d", "conv2d", "conv3d",
 * "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid",
 * "tanh", "relu", "leaky_relu", "selu". */
#ifndef ENGINE_NN_INIT_H
#define ENGINE_NN_INIT_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/random.h"
#include "engine/tensor.h"

typedef enum { FAN_IN = 0, FAN_OUT = 1 } FanMode;

/* torch.nn.init.calculate_gain; param is leaky_relu's negative slope (NAN =
 * PyTorch's default 0.01) and is ignored otherwise. NAN with an error for an
 * unknown name. */
double nn_init_calculate_gain(const char *nonlinearity, double param);
/* torch.nn.init._calculate_fan_in_and_fan_out: fan_in = size(1) * receptive
 * field, fan_out = size(0) * receptive field; tensors need >= 2 dims. */
int nn_init_calculate_fans(const Tensor *t, int64_t *fan_in, int64_t *fan_out);

int nn_init_uniform_(Tensor *t, double low, double high, Generator *g);
int nn_init_normal_(Tensor *t, double mean, double std, Generator *g);
int nn_init_constant_(Tensor *t, double value);
int nn_init_zeros_(Tensor *t);
int nn_init_ones_(Tensor *t);
/* U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)). */
int nn_init_xavier_uniform_(Tensor *t, double gain, Generator *g);
/* N(0, std), std = gain * sqrt(2 / (fan_in + fan_out)). */
int nn_init_xavier_normal_(Tensor *t, double gain, Generator *g);
/* U(-bound, bound), bound = gain(nonlinearity, a) * sqrt(3 / fan(mode)). */
int nn_init_kaiming_uniform_(Tensor *t, double a, FanMode mode, const char *nonlinearity, Generator *g);
/* N(0, std), std = gain(nonlinearity, a) / sqrt(fan(mode)). */
int nn_init_kaiming_normal_(Tensor *t, double a, FanMode mode, const char *nonlinearity, Generator *g);

/* The default initialisation of Linear and Conv layers (their
 * reset_parameters): weight kaiming_uniform_(a = sqrt(5)), i.e.
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and bias (may be NULL)
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the weight's fan_in. */
int nn_init_linear_default_(Tensor *weight, Tensor *bias, Generator *g);

#endif
