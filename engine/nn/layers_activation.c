/* Activation layers (ReLU, LeakyReLU, GELU, Sigmoid, Tanh) and Dropout,
 * Dropout2d: thin modules over the ops, with PyTorch's reprs. */
#include <stdio.h>

#include "engine/nn/layer_util.h"
#include "engine/nn/layers.h"
#include "engine/nn/strbuf.h"

/* One scalar setting: LeakyReLU's slope, GELU's approximation flag, Dropout's p. */
typedef struct {
    double value;
} ScalarImpl;

static double setting(const Module *m) { return ((const ScalarImpl *)m->impl)->value; }

static Module *scalar_layer(const char *type, double value, ModuleForwardFn forward, ModuleExtraReprFn repr)
{
    Module *m = layer_new(type, sizeof(ScalarImpl), forward, repr);
    ((ScalarImpl *)m->impl)->value = value;
    return m;
}

static Tensor *relu_forward(Module *self, Tensor *x) { return t_relu(x); }
static Tensor *sigmoid_forward(Module *self, Tensor *x) { return t_sigmoid(x); }
static Tensor *tanh_forward(Module *self, Tensor *x) { return t_tanh(x); }
static Tensor *leaky_relu_forward(Module *self, Tensor *x) { return t_leaky_relu(x, setting(self)); }
static Tensor *gelu_forward(Module *self, Tensor *x) { return t_gelu(x, setting(self) != 0); }
static Tensor *dropout_forward(Module *self, Tensor *x) { return f_dropout(x, setting(self), self->training, NULL); }
static Tensor *dropout2d_forward(Module *self, Tensor *x)
{
    return f_dropout2d(x, setting(self), self->training, NULL);
}

static void leaky_relu_repr(const Module *self, char *buf, size_t size)
{
    char v[40];
    snprintf(buf, size, "negative_slope=%s", format_py_float(setting(self), v, sizeof v));
}

static void gelu_repr(const Module *self, char *buf, size_t size)
{
    snprintf(buf, size, "approximate='%s'", setting(self) != 0 ? "tanh" : "none");
}

static void dropout_repr(const Module *self, char *buf, size_t size)
{
    char v[40];
    snprintf(buf, size, "p=%s, inplace=False", format_py_float(setting(self), v, sizeof v));
}

Module *nn_relu(void) { return layer_new("ReLU", 0, relu_forward, NULL); }
Module *nn_sigmoid(void) { return layer_new("Sigmoid", 0, sigmoid_forward, NULL); }
Module *nn_tanh(void) { return layer_new("Tanh", 0, tanh_forward, NULL); }

Module *nn_leaky_relu(double negative_slope)
{
    return scalar_layer("LeakyReLU", negative_slope, leaky_relu_forward, leaky_relu_repr);
}

Module *nn_gelu(bool approximate_tanh)
{
    return scalar_layer("GELU", approximate_tanh ? 1.0 : 0.0, gelu_forward, gelu_repr);
}

static Module *dropout_new(const char *type, double p, ModuleForwardFn forward)
{
    ENGINE_CHECK(p >= 0 && p <= 1, "%s: dropout probability has to be between 0 and 1, but got %g", type, p);
    return scalar_layer(type, p, forward, dropout_repr);
}

Module *nn_dropout(double p) { return dropout_new("Dropout", p, dropout_forward); }
Module *nn_dropout2d(double p) { return dropout_new("Dropout2d", p, dropout2d_forward); }
