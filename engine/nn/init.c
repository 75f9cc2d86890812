/* torch.nn.init: fans, gains and the in-place initialisers built on them. */
#include "engine/nn/init.h"

#include <math.h>
#include <string.h>

#include "engine/autograd.h"
#include "engine/scope.h"

double nn_init_calculate_gain(const char *nonlinearity, double param)
{
    static const char *unit_gain[] = {"linear",           "conv1d",           "conv2d",           "conv3d",
                                      "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid"};
    if (!nonlinearity) {
        engine_error("calculate_gain: nonlinearity is NULL");
        return NAN;
    }
    for (size_t i = 0; i < sizeof unit_gain / sizeof unit_gain[0]; i++)
        if (strcmp(nonlinearity, unit_gain[i]) == 0) return 1.0;
    if (strcmp(nonlinearity, "tanh") == 0) return 5.0 / 3.0;
    if (strcmp(nonlinearity, "relu") == 0) return sqrt(2.0);
    if (strcmp(nonlinearity, "leaky_relu") == 0) {
        double slope = isnan(param) ? 0.01 : param;
        return sqrt(2.0 / (1.0 + slope * slope));
    }
    if (strcmp(nonlinearity, "selu") == 0) return 3.0 / 4.0;
    engine_error("Unsupported nonlinearity %s", nonlinearity);
    return NAN;
}

int nn_init_calculate_fans(const Tensor *t, int64_t *fan_in, int64_t *fan_out)
{
    if (!t) return -1;
    ENGINE_CHECK_INT(t->shape.ndim >= 2,
                     "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions (got shape %s)",
                     shape_str(t->shape));
    int64_t receptive_field = 1;
    for (int i = 2; i < t->shape.ndim; i++) receptive_field *= t->shape.d[i];
    *fan_in = t->shape.d[1] * receptive_field;
    *fan_out = t->shape.d[0] * receptive_field;
    return 0;
}

/* Runs one in-place fill outside autograd, inside a scope of its own so
 * nothing it allocates outlives it. */
typedef enum { FILL_UNIFORM, FILL_NORMAL, FILL_CONSTANT } FillKind;

static int fill(Tensor *t, FillKind kind, double a, double b, Generator *g)
{
    if (!t) return -1;
    scope_begin();
    bool mode = no_grad_begin();
    int rc;
    switch (kind) {
    case FILL_UNIFORM: rc = tensor_uniform_(t, a, b, g); break;
    case FILL_NORMAL: rc = tensor_normal_(t, a, b, g); break;
    default: rc = tensor_fill_(t, a); break;
    }
    grad_mode_restore(mode);
    scope_end();
    return rc;
}

int nn_init_uniform_(Tensor *t, double low, double high, Generator *g) { return fill(t, FILL_UNIFORM, low, high, g); }
int nn_init_normal_(Tensor *t, double mean, double std, Generator *g) { return fill(t, FILL_NORMAL, mean, std, g); }
int nn_init_constant_(Tensor *t, double value) { return fill(t, FILL_CONSTANT, value, 0, NULL); }
int nn_init_zeros_(Tensor *t) { return nn_init_constant_(t, 0.0); }
int nn_init_ones_(Tensor *t) { return nn_init_constant_(t, 1.0); }

int nn_init_xavier_uniform_(Tensor *t, double gain, Generator *g)
{
    int64_t fan_in, fan_out;
    if (nn_init_calculate_fans(t, &fan_in, &fan_out) != 0) return -1;
    double std = gain * sqrt(2.0 / (double)(fan_in + fan_out));
    double a = sqrt(3.0) * std;
    return fill(t, FILL_UNIFORM, -a, a, g);
}

int nn_init_xavier_normal_(Tensor *t, double gain, Generator *g)
{
    int64_t fan_in, fan_out;
    if (nn_init_calculate_fans(t, &fan_in, &fan_out) != 0) return -1;
    return fill(t, FILL_NORMAL, 0.0, gain * sqrt(2.0 / (double)(fan_in + fan_out)), g);
}

/* gain / sqrt(fan): the std both kaiming variants start from; 0 for
 * zero-element tensors (PyTorch leaves those untouched). */
static int kaiming_std(const Tensor *t, double a, FanMode mode, const char *nonlinearity, double *std)
{
    if (!t) return -1;
    int64_t fan_in, fan_out;
    if (nn_init_calculate_fans(t, &fan_in, &fan_out) != 0) return -1;
    ENGINE_CHECK_INT(mode == FAN_IN || mode == FAN_OUT, "Mode %d not supported, please use one of fan_in, fan_out",
                     (int)mode);
    double gain = nn_init_calculate_gain(nonlinearity, a);
    if (isnan(gain)) return -1;
    double fan = (double)(mode == FAN_IN ? fan_in : fan_out);
    *std = fan > 0 ? gain / sqrt(fan) : 0.0;
    return 0;
}

int nn_init_kaiming_uniform_(Tensor *t, double a, FanMode mode, const char *nonlinearity, Generator *g)
{
    double std;
    if (kaiming_std(t, a, mode, nonlinearity, &std) != 0) return -1;
    if (tensor_numel(t) == 0) return 0;
    double bound = sqrt(3.0) * std;
    return fill(t, FILL_UNIFORM, -bound, bound, g);
}

int nn_init_kaiming_normal_(Tensor *t, double a, FanMode mode, const char *nonlinearity, Generator *g)
{
    double std;
    if (kaiming_std(t, a, mode, nonlinearity, &std) != 0) return -1;
    if (tensor_numel(t) == 0) return 0;
    return fill(t, FILL_NORMAL, 0.0, std, g);
}

int nn_init_linear_default_(Tensor *weight, Tensor *bias, Generator *g)
{
    if (nn_init_kaiming_uniform_(weight, sqrt(5.0), FAN_IN, "leaky_relu", g) != 0) return -1;
    if (!bias) return 0;
    int64_t fan_in, fan_out;
    if (nn_init_calculate_fans(weight, &fan_in, &fan_out) != 0) return -1;
    double bound = fan_in > 0 ? 1.0 / sqrt((double)fan_in) : 0.0;
    return fill(bias, FILL_UNIFORM, -bound, bound, g);
}
