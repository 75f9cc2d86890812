/* Tensor comparison and finite-difference gradient checks for the tests. */
#include "tests/support/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

_Noreturn void fail_engine(const char *what)
{
    char msg[1100];
    snprintf(msg, sizeof msg, "%s failed: %s", what, engine_last_error());
    engine_clear_error();
    fail_msg("%s", msg);
    abort(); /* not reached: fail_msg does not return */
}

void expect_failure(bool failed, const char *a, const char *b)
{
    const char *msg = engine_last_error();
    if (!failed) fail_msg("expected a failure with \"%s\", but the call succeeded", a);
    print_message("  error: %s\n", msg);
    if (!strstr(msg, a)) fail_msg("expected \"%s\" in the message: %s", a, msg);
    if (b && !strstr(msg, b)) fail_msg("expected \"%s\" in the message: %s", b, msg);
    engine_clear_error();
}

static float *host_copy_f32(Tensor *t)
{
    Tensor *f = tensor_to_dtype(t_contiguous(t), DT_F32);
    float *buf = malloc(sizeof(float) * (size_t)(tensor_numel(t) + 1));
    assert_non_null(buf);
    assert_int_equal(tensor_copy_to_buffer(f, buf), 0);
    return buf;
}

double max_rel_error(Tensor *ours, Tensor *ref)
{
    assert_non_null(ours);
    assert_non_null(ref);
    if (!shape_equal(ours->shape, ref->shape))
        fail_msg("shape mismatch: ours %s, reference %s", shape_str(ours->shape), shape_str(ref->shape));
    bool mode = no_grad_begin();
    float *a = host_copy_f32(ours), *b = host_copy_f32(ref);
    grad_mode_restore(mode);
    /* NaN and each infinity must sit where the reference has them; the
     * finite values compare on the scale of the finite reference values (an
     * Inf in the reference must not make every finite error look small) */
    double max_diff = 0, scale = 1e-12;
    for (int64_t i = 0; i < tensor_numel(ref); i++) {
        double d;
        if (isnan(a[i]) || isnan(b[i]) || isinf(a[i]) || isinf(b[i]))
            d = (isnan(a[i]) && isnan(b[i])) || a[i] == b[i] ? 0 : INFINITY;
        else d = fabs((double)a[i] - (double)b[i]);
        if (d > max_diff) max_diff = d;
        if (isfinite(b[i]) && fabs(b[i]) > scale) scale = fabs(b[i]);
    }
    free(a);
    free(b);
    return max_diff / scale;
}

void expect_close(Tensor *ours, Tensor *ref, double tol, const char *label)
{
    double err = max_rel_error(ours, ref);
    print_message("  %-48s max rel err %.3g (tol %.0e)\n", label, err, tol);
    if (!(err <= tol)) fail_msg("%s: max relative error %.3g exceeds %.0e", label, err, tol);
}

void expect_equal(Tensor *ours, Tensor *ref, const char *label)
{
    double err = max_rel_error(ours, ref);
    print_message("  %-48s %s\n", label, err == 0 ? "exact" : "MISMATCH");
    if (err != 0) fail_msg("%s: expected an exact match, max relative error %.3g", label, err);
}

/* Offset (in elements) of the flat row-major index i in a strided tensor. */
static int64_t strided_offset(const Tensor *t, int64_t i)
{
    int64_t off = t->offset;
    for (int d = t->shape.ndim - 1; d >= 0; d--) {
        off += (i % t->shape.d[d]) * t->strides[d];
        i /= t->shape.d[d];
    }
    return off;
}

/* sum(fn(inputs) * w) in double, without recording a graph. */
static double weighted_loss(TestFn fn, void *ctx, Tensor **inputs, const float *w)
{
    scope_begin();
    bool mode = no_grad_begin();
    Tensor *out = fn(inputs, ctx);
    grad_mode_restore(mode);
    if (!out) fail_engine("function");
    float *o = host_copy_f32(out);
    double s = 0;
    for (int64_t i = 0; i < tensor_numel(out); i++) s += (double)o[i] * (double)w[i];
    free(o);
    scope_end();
    return s;
}

double fd_gradcheck(TestFn fn, void *ctx, Tensor **inputs, int n, double eps, int max_elems, const char *label)
{
    Generator g;
    generator_seed(&g, 1234);
    scope_begin();
    for (int i = 0; i < n; i++)
        if (inputs[i] && inputs[i]->grad) {
            tensor_free(inputs[i]->grad);
            inputs[i]->grad = NULL;
        }
    Tensor *out = fn(inputs, ctx);
    if (!out) fail_engine(label);
    Tensor *wt = tensor_randn(out->shape, &g, CPU);
    float *w = host_copy_f32(wt);
    Tensor *loss = t_sum(t_mul(out, wt), NULL, 0, false);
    if (tensor_backward(loss, NULL) != 0) fail_engine(label);
    double worst = 0;
    for (int k = 0; k < n; k++) {
        Tensor *x = inputs[k];
        if (!x || !x->requires_grad) continue;
        if (!x->grad) fail_msg("%s: input %d got no gradient", label, k);
        float *analytic = host_copy_f32(x->grad);
        int64_t numel = tensor_numel(x);
        int64_t step = numel > max_elems ? numel / max_elems : 1;
        double max_diff = 0, scale = 1e-6;
        float *data = (float *)x->storage->data;
        for (int64_t i = 0; i < numel; i += step) {
            int64_t off = strided_offset(x, i);
            float orig = data[off];
            data[off] = (float)(orig + eps);
            double lp = weighted_loss(fn, ctx, inputs, w);
            data[off] = (float)(orig - eps);
            double lm = weighted_loss(fn, ctx, inputs, w);
            data[off] = orig;
            double numeric = (lp - lm) / (2 * eps);
            double d = fabs(numeric - analytic[i]);
            if (d > max_diff) max_diff = d;
            if (fabs(numeric) > scale) scale = fabs(numeric);
        }
        free(analytic);
        double err = max_diff / scale;
        if (err > worst) worst = err;
    }
    free(w);
    scope_end();
    print_message("  %-48s finite-difference max rel err %.3g\n", label, worst);
    return worst;
}

Tensor *rand_leaf(Shape shape, Generator *g)
{
    Tensor *t = tensor_randn(shape, g, CPU);
    return tensor_set_requires_grad(t, true);
}

Tensor *noncontig_leaf(Shape shape, Generator *g)
{
    /* allocate with the last two dims swapped, then view them back */
    Shape swapped = shape;
    if (shape.ndim >= 2) {
        swapped.d[shape.ndim - 1] = shape.d[shape.ndim - 2];
        swapped.d[shape.ndim - 2] = shape.d[shape.ndim - 1];
    }
    Tensor *base = tensor_randn(swapped, g, CPU);
    Tensor *v = shape.ndim >= 2 ? t_transpose(base, -1, -2) : t_slice(t_cat((Tensor *[]){base, base}, 2, 0), 0, 0, 2 * shape.d[0], 2);
    return tensor_set_requires_grad(v, true);
}
