/* Reductions: sum, mean, var, std, amax and amin over all or some dims (with
 * keepdim), max/min along one dim with their indices, argmax/argmin, and
 * their backward functions. On bf16/f16 inputs they compute through f32 and
 * return the input's dtype (autocast.h); indices are int64 whatever it is. */
#include <string.h>

#include "engine/autocast.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

/* A reduction over some dims: which dims, the output's shape with them kept
 * as 1 (how kernels write it) and as returned, and the elements per output. */
typedef struct {
    bool mask[MAX_DIMS];
    Shape keep_shape, out_shape;
    int64_t count;
} ReducePlan;

/* Wraps a possibly negative dim of t, naming t's shape when out of range. */
static int wrap_dim(int dim, const Tensor *t, const char *op)
{
    int n = t->shape.ndim > 0 ? t->shape.ndim : 1;
    if (dim < -n || dim >= n) {
        engine_error("%s: dimension out of range (expected to be in range of [%d, %d], but got %d) for input of "
                     "shape %s",
                     op, -n, n - 1, dim, shape_str(t->shape));
        return -1;
    }
    return dim < 0 ? dim + n : dim;
}

static bool check_float(const Tensor *t, const char *op)
{
    if (t->dtype == DT_F32) return true;
    engine_error("%s: expected a float32 input, got %s (input of shape %s)", op, dtype_name(t->dtype),
                 shape_str(t->shape));
    return false;
}

/* Fills p for reducing t over dims (all of them when n_dims == 0). Returns
 * false for a NULL t, or with an error recorded. */
static bool plan_reduce(const Tensor *t, const int *dims, int n_dims, bool keepdim, const char *op, ReducePlan *p)
{
    if (!t || !check_float(t, op)) return false;
    int nd = t->shape.ndim;
    memset(p->mask, 0, sizeof p->mask);
    if (!dims || n_dims == 0) {
        for (int d = 0; d < nd; d++) p->mask[d] = true;
    } else {
        for (int i = 0; i < n_dims; i++) {
            int d = wrap_dim(dims[i], t, op);
            if (d < 0) return false;
            if (nd == 0) continue;
            if (p->mask[d]) {
                engine_error("%s: dim %d appears multiple times in the list of dims (input of shape %s)", op, d,
                             shape_str(t->shape));
                return false;
            }
            p->mask[d] = true;
        }
    }
    p->keep_shape = t->shape;
    p->out_shape.ndim = 0;
    p->count = 1;
    for (int d = 0; d < nd; d++) {
        if (p->mask[d]) {
            p->keep_shape.d[d] = 1;
            p->count *= t->shape.d[d];
            if (keepdim) p->out_shape.d[p->out_shape.ndim++] = 1;
        } else {
            p->out_shape.d[p->out_shape.ndim++] = t->shape.d[d];
        }
    }
    return true;
}

/* Gives a contiguous result its final shape (same data, no copy). */
static void set_shape(Tensor *out, Shape shape)
{
    out->shape = shape;
    shape_contiguous_strides(shape, out->strides);
}

/* No reduced dim may be empty for max/min: there would be nothing to pick. */
static bool check_nonempty(const Tensor *t, const ReducePlan *p, const char *op)
{
    for (int d = 0; d < t->shape.ndim; d++)
        if (p->mask[d] && t->shape.d[d] == 0) {
            engine_error("%s: expected reduction dim %d to have non-zero size (input of shape %s)", op, d,
                         shape_str(t->shape));
            return false;
        }
    return true;
}

/* Records the node of a reduction over some dims: the keepdim shape, the
 * reduced dims (as bits) and the count are what every backward needs. */
static Node *record_reduce(const char *name, BackwardFn backward, Tensor *out, Tensor *t, const ReducePlan *p)
{
    Node *n = autograd_record(name, backward, out, 1, &t);
    if (n) {
        n->shape = p->keep_shape;
        n->ints[0] = 0;
        for (int d = 0; d < t->shape.ndim; d++)
            if (p->mask[d]) n->ints[0] |= (int64_t)1 << d;
        n->scalars[0] = (double)p->count;
    }
    return n;
}

/* The reduced dims a node recorded; returns how many. */
static int node_dims(const Node *n, int *dims)
{
    int k = 0;
    for (int d = 0; d < n->inputs[0]->shape.ndim; d++)
        if (n->ints[0] & ((int64_t)1 << d)) dims[k++] = d;
    return k;
}

/* ---- sum and mean ---- */

static int sum_backward(Node *n, Tensor *g, Tensor **gin)
{
    /* back to keepdim shape, then broadcast over the reduced dims */
    gin[0] = t_expand(t_reshape(g, n->shape), n->inputs[0]->shape);
    return gin[0] ? 0 : -1;
}

Tensor *t_sum(Tensor *t, const int *dims, int n_dims, bool keepdim)
{
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 1, t_sum(ac_in_[0], dims, n_dims, keepdim), t);
    ReducePlan p;
    if (!plan_reduce(t, dims, n_dims, keepdim, "sum", &p)) return NULL;
    Tensor *out = tensor_empty(p.keep_shape, DT_F32, tensor_device(t));
    if (!out) return NULL;
    NEED_KERNEL(out, sum);
    backend_of(out)->sum(out, t, p.mask);
    set_shape(out, p.out_shape);
    record_reduce(dims && n_dims ? "SumBackward1" : "SumBackward0", sum_backward, out, t, &p);
    return out;
}

static int mean_backward(Node *n, Tensor *g, Tensor **gin)
{
    Tensor *scaled = t_mul_scalar(t_reshape(g, n->shape), 1.0 / n->scalars[0]);
    gin[0] = t_expand(scaled, n->inputs[0]->shape);
    return gin[0] ? 0 : -1;
}

Tensor *t_mean(Tensor *t, const int *dims, int n_dims, bool keepdim)
{
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 1, t_mean(ac_in_[0], dims, n_dims, keepdim), t);
    ReducePlan p;
    if (!plan_reduce(t, dims, n_dims, keepdim, "mean", &p)) return NULL;
    Tensor *out = tensor_empty(p.keep_shape, DT_F32, tensor_device(t));
    if (!out) return NULL;
    NEED_KERNEL(out, mean);
    backend_of(out)->mean(out, t, p.mask);
    set_shape(out, p.out_shape);
    record_reduce(dims && n_dims ? "MeanBackward1" : "MeanBackward0", mean_backward, out, t, &p);
    return out;
}

/* ---- var and std ---- */

/* Input gradient of var given the gradient g_var of the variance in the
 * keepdim shape: 2 / (n - correction) * g_var * (x - mean(x)). */
static Tensor *var_input_grad(Node *n, Tensor *g_var)
{
    Tensor *x = n->inputs[0];
    int dims[MAX_DIMS];
    int nd = node_dims(n, dims);
    Tensor *centred = t_sub(x, t_mean(x, dims, nd, true));
    return t_mul(t_mul_scalar(g_var, 2.0 / (n->scalars[0] - (double)n->ints[1])), centred);
}

static int var_backward(Node *n, Tensor *g, Tensor **gin)
{
    gin[0] = var_input_grad(n, t_reshape(g, n->shape));
    return gin[0] ? 0 : -1;
}

static int std_backward(Node *n, Tensor *g, Tensor **gin)
{
    /* d std = d var / (2 std), taken as 0 where std is 0 (as PyTorch does) */
    Tensor *std = t_reshape(n->saved[0], n->shape);
    Tensor *zero = tensor_zeros(SCALAR_SHAPE, DT_F32, tensor_device(g));
    Tensor *g_var = t_div(t_reshape(g, n->shape), t_mul_scalar(std, 2.0));
    gin[0] = var_input_grad(n, t_where(t_eq(std, zero), zero, g_var));
    return gin[0] ? 0 : -1;
}

static Tensor *var_or_std(Tensor *t, const int *dims, int n_dims, int correction, bool keepdim, bool take_sqrt)
{
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 1, var_or_std(ac_in_[0], dims, n_dims, correction, keepdim, take_sqrt), t);
    const char *op = take_sqrt ? "std" : "var";
    ReducePlan p;
    if (!plan_reduce(t, dims, n_dims, keepdim, op, &p)) return NULL;
    Tensor *out = tensor_empty(p.keep_shape, DT_F32, tensor_device(t));
    if (!out) return NULL;
    NEED_KERNEL(out, var);
    backend_of(out)->var(out, t, p.mask, correction, take_sqrt);
    set_shape(out, p.out_shape);
    Node *n = record_reduce(take_sqrt ? "StdBackward0" : "VarBackward0", take_sqrt ? std_backward : var_backward,
                            out, t, &p);
    if (n) {
        n->ints[1] = correction;
        n->saved[0] = out;
    }
    return out;
}

Tensor *t_var(Tensor *t, const int *dims, int n_dims, int correction, bool keepdim)
{
    return var_or_std(t, dims, n_dims, correction, keepdim, false);
}

Tensor *t_std(Tensor *t, const int *dims, int n_dims, int correction, bool keepdim)
{
    return var_or_std(t, dims, n_dims, correction, keepdim, true);
}

/* ---- amax and amin ---- */

static int amax_backward(Node *n, Tensor *g, Tensor **gin)
{
    /* the gradient is shared evenly among the elements equal to the result */
    Tensor *x = n->inputs[0];
    int dims[MAX_DIMS];
    int nd = node_dims(n, dims);
    Tensor *hit = tensor_to_dtype(t_eq(x, t_reshape(n->saved[0], n->shape)), DT_F32);
    Tensor *count = t_sum(hit, dims, nd, true);
    gin[0] = t_mul(t_div(t_reshape(g, n->shape), count), hit);
    return gin[0] ? 0 : -1;
}

static Tensor *amax_or_amin(Tensor *t, const int *dims, int n_dims, bool keepdim, bool is_max)
{
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 1, amax_or_amin(ac_in_[0], dims, n_dims, keepdim, is_max), t);
    const char *op = is_max ? "amax" : "amin";
    ReducePlan p;
    if (!plan_reduce(t, dims, n_dims, keepdim, op, &p) || !check_nonempty(t, &p, op)) return NULL;
    Tensor *out = tensor_empty(p.keep_shape, DT_F32, tensor_device(t));
    if (!out) return NULL;
    NEED_KERNEL(out, amax);
    NEED_KERNEL(out, amin);
    if (is_max) backend_of(out)->amax(out, t, p.mask);
    else backend_of(out)->amin(out, t, p.mask);
    set_shape(out, p.out_shape);
    Node *n = record_reduce(is_max ? "AmaxBackward0" : "AminBackward0", amax_backward, out, t, &p);
    if (n) n->saved[0] = out;
    return out;
}

Tensor *t_amax(Tensor *t, const int *dims, int n_dims, bool keepdim)
{
    return amax_or_amin(t, dims, n_dims, keepdim, true);
}

Tensor *t_amin(Tensor *t, const int *dims, int n_dims, bool keepdim)
{
    return amax_or_amin(t, dims, n_dims, keepdim, false);
}

/* ---- max/min along one dim, argmax/argmin ---- */

static int max_dim_backward(Node *n, Tensor *g, Tensor **gin)
{
    /* the whole gradient goes to the selected element */
    Tensor *x = n->inputs[0];
    Tensor *g_keep = t_contiguous(t_reshape(g, n->shape));
    Tensor *idx = t_reshape(n->saved[0], n->shape);
    Tensor *gi = tensor_zeros(x->shape, DT_F32, tensor_device(x));
    if (!g_keep || !idx || !gi) return -1;
    NEED_KERNEL_INT(gi, put_along_dim);
    backend_of(gi)->put_along_dim(gi, g_keep, idx, (int)n->ints[0]);
    gin[0] = gi;
    return 0;
}

/* The i64 indices of the largest (smallest) elements along dim; their values
 * too when values != NULL (then recorded for autograd as torch.max(t, dim)). */
static Tensor *extreme_along_dim(Tensor *t, int dim, bool keepdim, bool is_max, const char *op, Tensor **values)
{
    if (values) *values = NULL;
    ReducePlan p;
    if (!plan_reduce(t, &dim, 1, keepdim, op, &p) || !check_nonempty(t, &p, op)) return NULL;
    int d = dim < 0 ? dim + (t->shape.ndim > 0 ? t->shape.ndim : 1) : dim;
    /* the kernel reads a contiguous copy when t is strided; no graph for it */
    bool mode = no_grad_begin();
    Tensor *c = t_contiguous(t);
    grad_mode_restore(mode);
    Tensor *idx = tensor_empty(p.keep_shape, DT_I64, tensor_device(t));
    Tensor *val = values ? tensor_empty(p.keep_shape, DT_F32, tensor_device(t)) : NULL;
    if (!c || !idx || (values && !val)) return NULL;
    NEED_KERNEL(idx, max_dim);
    backend_of(idx)->max_dim(val, idx, c, d, is_max);
    set_shape(idx, p.out_shape);
    if (val) {
        set_shape(val, p.out_shape);
        Node *n = autograd_record(is_max ? "MaxBackward0" : "MinBackward0", max_dim_backward, val, 1, &t);
        if (n) {
            n->saved[0] = idx;
            n->shape = p.keep_shape;
            n->ints[0] = d;
        }
        *values = val;
    }
    return idx;
}

Tensor *t_max_dim(Tensor *t, int dim, bool keepdim, Tensor **indices)
{
    /* the values in t's dtype; the indices int64 (exact: the same maxima) */
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 1, t_max_dim(ac_in_[0], dim, keepdim, indices), t);
    Tensor *values;
    Tensor *idx = extreme_along_dim(t, dim, keepdim, true, "max", &values);
    if (indices) *indices = idx;
    return values;
}

Tensor *t_min_dim(Tensor *t, int dim, bool keepdim, Tensor **indices)
{
    AUTOCAST_DISPATCH(AUTOCAST_KEEP, 1, t_min_dim(ac_in_[0], dim, keepdim, indices), t);
    Tensor *values;
    Tensor *idx = extreme_along_dim(t, dim, keepdim, false, "min", &values);
    if (indices) *indices = idx;
    return values;
}

Tensor *t_argmax(Tensor *t, int dim, bool keepdim)
{
    if (t && dtype_is_lowp(t->dtype)) t = tensor_to_dtype(t, DT_F32); /* exact: the same maxima */
    return extreme_along_dim(t, dim, keepdim, true, "argmax", NULL);
}

Tensor *t_argmin(Tensor *t, int dim, bool keepdim)
{
    if (t && dtype_is_lowp(t->dtype)) t = tensor_to_dtype(t, DT_F32); /* exact: the same minima */
    return extreme_along_dim(t, dim, keepdim, false, "argmin", NULL);
}

Tensor *t_argmax_all(Tensor *t)
{
    if (t && dtype_is_lowp(t->dtype)) t = tensor_to_dtype(t, DT_F32);
    if (!t || !check_float(t, "argmax")) return NULL;
    ENGINE_CHECK(tensor_numel(t) > 0,
                 "argmax: expected reduction dim to be specified for input.numel() == 0 (input of shape %s)",
                 shape_str(t->shape));
    bool mode = no_grad_begin();
    Tensor *flat = t_reshape(t, SHAPE(-1));
    grad_mode_restore(mode);
    return extreme_along_dim(flat, 0, false, true, "argmax", NULL);
}
