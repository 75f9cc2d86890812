/* BatchNorm1d, BatchNorm2d and LayerNorm layers (PyTorch's _BatchNorm and
 * LayerNorm: parameters, running statistics, momentum rules and repr). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "engine/autograd.h"
#include "engine/nn/init.h"
#include "engine/nn/layer_util.h"
#include "engine/nn/layers.h"
#include "engine/nn/strbuf.h"

typedef struct {
    int64_t num_features;
    double eps, momentum; /* momentum NAN: cumulative average */
    bool affine, track_running_stats;
    int min_dim, max_dim; /* accepted input ranks */
    Tensor *weight, *bias, *running_mean, *running_var, *num_batches_tracked;
} BatchNormImpl;

/* num_batches_tracked += 1 on its own device (no host round trip); the count
 * passes through f32, exact up to 2^24 batches. */
static int count_batch(Tensor *counter)
{
    Tensor *next = t_add_scalar(tensor_to_dtype(counter, DT_F32), 1.0);
    return next ? tensor_copy_(counter, next) : -1;
}

/* SyncBatchNorm: the all-reduce of batch statistics over the ranks of a
 * distributed run, NULL otherwise (nn_batch_norm_set_sync). */
static BatchNormAllReduceFn sync_all_reduce;

void nn_batch_norm_set_sync(BatchNormAllReduceFn all_reduce) { sync_all_reduce = all_reduce; }

/* x's shape with 1 everywhere but the channel dimension (1). */
static Shape channel_shape(const Tensor *x)
{
    Shape s = {.ndim = x->shape.ndim};
    for (int d = 0; d < s.ndim; d++) s.d[d] = d == 1 ? x->shape.d[1] : 1;
    return s;
}

/* Training-mode batch norm whose statistics are those of the global batch,
 * the union of every rank's (PyTorch's SyncBatchNorm): the mean from the
 * all-reduced sums and counts, then the variance from the all-reduced
 * squared deviations from it (two passes, as exact as one process's). The
 * all-reduce is differentiable (its backward all-reduces the gradient), so
 * the backward is the global batch's too. Running statistics: the global
 * mean and the unbiased global variance. */
static Tensor *sync_batch_norm(BatchNormImpl *b, Tensor *x, double factor)
{
    int dims[MAX_DIMS], n_dims = 0;
    for (int d = 0; d < x->shape.ndim; d++)
        if (d != 1) dims[n_dims++] = d;
    Shape cs = channel_shape(x);
    double local = (double)tensor_numel(x) / (double)x->shape.d[1];
    Tensor *count = sync_all_reduce(tensor_full(SHAPE(1), local, DT_F32, tensor_device(x)));
    Tensor *sum = sync_all_reduce(t_sum(x, dims, n_dims, false));
    if (!count || !sum) return NULL;
    double n = tensor_item(count);
    Tensor *mean = t_mul_scalar(sum, 1.0 / n);
    Tensor *centered = t_sub(x, t_view(mean, cs));
    Tensor *sq = sync_all_reduce(t_sum(t_mul(centered, centered), dims, n_dims, false));
    if (!sq) return NULL;
    Tensor *var = t_mul_scalar(sq, 1.0 / n);
    Tensor *y = t_div(centered, t_view(t_sqrt(t_add_scalar(var, b->eps)), cs));
    if (b->affine) y = t_add(t_mul(y, t_view(b->weight, cs)), t_view(b->bias, cs));
    if (b->track_running_stats && b->running_mean) {
        bool mode = no_grad_begin();
        Tensor *rm = t_add(t_mul_scalar(b->running_mean, 1.0 - factor), t_mul_scalar(tensor_detach(mean), factor));
        Tensor *unbiased = t_mul_scalar(tensor_detach(var), n > 1 ? n / (n - 1) : 1.0);
        Tensor *rv = t_add(t_mul_scalar(b->running_var, 1.0 - factor), t_mul_scalar(unbiased, factor));
        int rc = rm && rv ? tensor_copy_(b->running_mean, rm) | tensor_copy_(b->running_var, rv) : -1;
        grad_mode_restore(mode);
        if (rc) return NULL;
    }
    return y;
}

static Tensor *batch_norm_forward(Module *self, Tensor *x)
{
    BatchNormImpl *b = self->impl;
    if (!x) return NULL;
    ENGINE_CHECK(x->shape.ndim >= b->min_dim && x->shape.ndim <= b->max_dim,
                 "%s: expected %s input (got %dD input of shape %s)", self->type_name,
                 b->min_dim == b->max_dim ? "4D" : "2D or 3D", x->shape.ndim, shape_str(x->shape));
    double factor = isnan(b->momentum) ? 0.0 : b->momentum;
    if (self->training && b->track_running_stats) {
        if (count_batch(b->num_batches_tracked) != 0) return NULL;
        if (isnan(b->momentum)) factor = 1.0 / tensor_item(b->num_batches_tracked);
    }
    if (self->training && sync_all_reduce) return sync_batch_norm(b, x, factor);
    /* eval without running stats normalises with the batch's own statistics */
    bool use_batch_stats = self->training || !b->running_mean;
    bool pass_stats = !self->training || b->track_running_stats;
    return f_batch_norm(x, pass_stats ? b->running_mean : NULL, pass_stats ? b->running_var : NULL, b->weight, b->bias,
                        use_batch_stats, factor, b->eps);
}

static void batch_norm_repr(const Module *self, char *buf, size_t size)
{
    const BatchNormImpl *b = self->impl;
    char eps[40], momentum[40];
    snprintf(buf, size, "%" PRId64 ", eps=%s, momentum=%s, affine=%s, track_running_stats=%s", b->num_features,
             format_py_float(b->eps, eps, sizeof eps),
             isnan(b->momentum) ? "None" : format_py_float(b->momentum, momentum, sizeof momentum), py_bool(b->affine),
             py_bool(b->track_running_stats));
}

static Module *batch_norm_new(const char *type, int min_dim, int max_dim, int64_t num_features, double eps,
                              double momentum, bool affine, bool track_running_stats)
{
    ENGINE_CHECK(num_features > 0, "%s: num_features must be positive, got %" PRId64, type, num_features);
    ENGINE_CHECK(eps > 0, "%s: eps must be positive, got %g", type, eps);
    Module *m = layer_new(type, sizeof(BatchNormImpl), batch_norm_forward, batch_norm_repr);
    BatchNormImpl *b = m->impl;
    b->num_features = num_features;
    b->eps = eps;
    b->momentum = momentum;
    b->affine = affine;
    b->track_running_stats = track_running_stats;
    b->min_dim = min_dim;
    b->max_dim = max_dim;
    Shape s = SHAPE(num_features);
    if (affine) {
        b->weight = module_register_parameter(m, "weight", layer_tensor(s));
        b->bias = module_register_parameter(m, "bias", layer_tensor(s));
        if (nn_init_ones_(b->weight) != 0 || nn_init_zeros_(b->bias) != 0) return layer_fail(m);
    }
    if (track_running_stats) {
        b->running_mean = module_register_buffer(m, "running_mean", tensor_zeros(s, DT_F32, CPU));
        b->running_var = module_register_buffer(m, "running_var", tensor_ones(s, DT_F32, CPU));
        b->num_batches_tracked =
            module_register_buffer(m, "num_batches_tracked", tensor_zeros(SCALAR_SHAPE, DT_I64, CPU));
        if (!b->running_mean || !b->running_var || !b->num_batches_tracked) return layer_fail(m);
    }
    return m;
}

Module *nn_batch_norm1d_ex(int64_t num_features, double eps, double momentum, bool affine, bool track_running_stats)
{
    return batch_norm_new("BatchNorm1d", 2, 3, num_features, eps, momentum, affine, track_running_stats);
}

Module *nn_batch_norm2d_ex(int64_t num_features, double eps, double momentum, bool affine, bool track_running_stats)
{
    return batch_norm_new("BatchNorm2d", 4, 4, num_features, eps, momentum, affine, track_running_stats);
}

Module *nn_batch_norm1d(int64_t num_features) { return nn_batch_norm1d_ex(num_features, 1e-5, 0.1, true, true); }
Module *nn_batch_norm2d(int64_t num_features) { return nn_batch_norm2d_ex(num_features, 1e-5, 0.1, true, true); }

/* ---- LayerNorm ---- */

typedef struct {
    Shape normalized_shape;
    double eps;
    bool elementwise_affine; /* set before weight exists, for the repr of a failed constructor */
    Tensor *weight, *bias;
} LayerNormImpl;

static Tensor *layer_norm_forward(Module *self, Tensor *x)
{
    LayerNormImpl *l = self->impl;
    return f_layer_norm(x, l->normalized_shape, l->weight, l->bias, l->eps);
}

static void layer_norm_repr(const Module *self, char *buf, size_t size)
{
    const LayerNormImpl *l = self->impl;
    StrBuf b = {0};
    strbuf_printf(&b, "(");
    for (int i = 0; i < l->normalized_shape.ndim; i++)
        strbuf_printf(&b, "%s%" PRId64, i ? ", " : "", l->normalized_shape.d[i]);
    char eps[40];
    strbuf_printf(&b, "%s), eps=%s, elementwise_affine=%s", l->normalized_shape.ndim == 1 ? "," : "",
                  format_py_float(l->eps, eps, sizeof eps), py_bool(l->elementwise_affine));
    snprintf(buf, size, "%s", strbuf_str(&b));
    strbuf_free(&b);
}

Module *nn_layer_norm(Shape normalized_shape, double eps, bool elementwise_affine)
{
    ENGINE_CHECK(normalized_shape.ndim >= 1 && normalized_shape.ndim <= MAX_DIMS,
                 "LayerNorm: normalized_shape needs 1 to %d dims, got %d", MAX_DIMS, normalized_shape.ndim);
    for (int i = 0; i < normalized_shape.ndim; i++)
        ENGINE_CHECK(normalized_shape.d[i] > 0, "LayerNorm: normalized_shape must be positive, got %s",
                     shape_str(normalized_shape));
    ENGINE_CHECK(eps > 0, "LayerNorm: eps must be positive, got %g", eps);
    Module *m = layer_new("LayerNorm", sizeof(LayerNormImpl), layer_norm_forward, layer_norm_repr);
    LayerNormImpl *l = m->impl;
    l->normalized_shape = normalized_shape;
    l->eps = eps;
    l->elementwise_affine = elementwise_affine;
    if (elementwise_affine) {
        l->weight = module_register_parameter(m, "weight", layer_tensor(normalized_shape));
        l->bias = module_register_parameter(m, "bias", layer_tensor(normalized_shape));
        if (nn_init_ones_(l->weight) != 0 || nn_init_zeros_(l->bias) != 0) return layer_fail(m);
    }
    return m;
}
