/* Gradient clipping by total norm and by value, as torch.nn.utils does it:
 * the norms and the clip coefficient are float32 values, like the 0-dim
 * tensors PyTorch computes them in. */
#include "engine/optim/clip_grad.h"

#include <math.h>

#include "engine/autograd.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/scope.h"

static int check_grad(Tensor *p, int i, const char *op)
{
    ENGINE_CHECK_INT(p != NULL, "%s: parameter %d is NULL", op, i);
    ENGINE_CHECK_INT(!p->grad || p->grad->dtype == DT_F32, "%s: the gradient of parameter %d has dtype %s", op, i,
                     dtype_name(p->grad->dtype));
    return 0;
}

/* The norm of one gradient, rounded to float as torch.norm's result is. */
static double grad_norm(Tensor *g, double norm_type)
{
    Tensor *c = t_contiguous(g);
    if (!c) return NAN;
    if (!backend_of(c)->tensor_norm) {
        engine_error("tensor_norm is not implemented on %s", backend_of(c)->name);
        return NAN;
    }
    return (double)(float)backend_of(c)->tensor_norm(c, norm_type);
}

double clip_grad_norm_(Tensor **params, int n, double max_norm, double norm_type)
{
    const char *op = "clip_grad_norm_";
    if (!(norm_type > 0)) {
        engine_error("%s: norm_type must be positive or INFINITY, got %g", op, norm_type);
        return NAN;
    }
    for (int i = 0; i < n; i++)
        if (check_grad(params[i], i, op) != 0) return NAN;
    scope_begin();
    bool mode = no_grad_begin();
    /* The total is the norm of the per-gradient norms (their max for inf;
     * a NaN stays NaN). */
    double acc = 0;
    for (int i = 0; i < n; i++) {
        Tensor *g = params[i]->grad;
        if (!g) continue;
        double norm = grad_norm(g, norm_type);
        if (isinf(norm_type)) acc = (isnan(norm) || norm > acc) ? norm : acc;
        else acc += pow(norm, norm_type);
    }
    double total = isinf(norm_type) ? acc : norm_type == 2.0 ? sqrt(acc) : pow(acc, 1.0 / norm_type);
    float total_f = (float)total;
    float coef = (float)max_norm / (total_f + 1e-6f);
    if (coef > 1.0f) coef = 1.0f;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        if (params[i]->grad) rc = t_mul_scalar_(params[i]->grad, (double)coef);
    grad_mode_restore(mode);
    scope_end();
    return rc == 0 ? (double)total_f : NAN;
}

int clip_grad_value_(Tensor **params, int n, double clip_value)
{
    for (int i = 0; i < n; i++)
        if (check_grad(params[i], i, "clip_grad_value_") != 0) return -1;
    scope_begin();
    bool mode = no_grad_begin();
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        Tensor *g = params[i]->grad;
        if (!g) continue;
        Tensor *clamped = t_clamp(g, -clip_value, clip_value);
        rc = clamped ? tensor_copy_(g, clamped) : -1;
    }
    grad_mode_restore(mode);
    scope_end();
    return rc;
}
