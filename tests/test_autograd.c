/* Autograd semantics (as in PyTorch): accumulation into .grad, shared inputs
 * and diamonds, backward's error cases, retain_graph, no_grad, detach,
 * frozen parameters, tensor hooks, requires_grad rules and a deep chain.
 * Expected gradients are worked out by hand in the comments. */
#include <math.h>
#include <string.h>

#include "tests/support/check.h"

/* A leaf requiring grad with the given values. */
static Tensor *leaf(const float *values, Shape shape)
{
    Tensor *t = tensor_set_requires_grad(tensor_from_data(values, shape, DT_F32, CPU), true);
    REQUIRE_OK(t);
    return t;
}

/* Asserts t holds values (within tol) and prints the error. */
static void expect_values(Tensor *t, const float *values, double tol, const char *label)
{
    if (!t) fail_msg("%s: no tensor (no gradient?)", label);
    expect_close(t, tensor_from_data(values, t->shape, DT_F32, CPU), tol, label);
}

/* Asserts the last engine error contains every fragment, then clears it. */
static Tensor *sum_all(Tensor *t) { return t_sum(t, NULL, 0, false); }

static void test_grad_accumulates_across_backward_calls(void **state)
{
    scope_begin();
    Tensor *x = leaf((const float[]){1, -2, 3}, SHAPE(3));
    assert_null(x->grad);
    assert_int_equal(tensor_backward(sum_all(t_mul(x, x)), NULL), 0); /* 2x */
    expect_values(x->grad, (const float[]){2, -4, 6}, 0, "grad after one backward");
    assert_null(x->grad->owner); /* lives as long as x, not the scope */
    assert_int_equal(tensor_backward(sum_all(t_mul_scalar(x, 3)), NULL), 0); /* + 3 */
    expect_values(x->grad, (const float[]){5, -1, 9}, 0, "grad after two backwards");

    /* backward on a leaf with an explicit gradient copies it into .grad */
    Tensor *y = leaf((const float[]){1, 1}, SHAPE(2));
    Tensor *g = tensor_from_data((const float[]){4, 5}, SHAPE(2), DT_F32, CPU);
    assert_int_equal(tensor_backward(y, g), 0);
    tensor_fill_(g, 0);
    expect_values(y->grad, (const float[]){4, 5}, 0, "leaf root grad is a copy");
    scope_end();
}

static void test_tensor_used_twice(void **state)
{
    scope_begin();
    Tensor *x = leaf((const float[]){1, 2, -3}, SHAPE(3));
    assert_int_equal(tensor_backward(sum_all(t_mul(x, x)), NULL), 0); /* d(x*x) = 2x */
    expect_values(x->grad, (const float[]){2, 4, -6}, 0, "x*x");

    Tensor *y = leaf((const float[]){1, 2, -3}, SHAPE(3));
    Tensor *sq = t_mul(y, y);
    assert_int_equal(tensor_backward(sum_all(t_add(t_add(sq, y), y)), NULL), 0); /* 2y + 2 */
    expect_values(y->grad, (const float[]){4, 6, -4}, 0, "y*y + y + y");
    scope_end();
}

static void test_diamond_graphs(void **state)
{
    scope_begin();
    /* x -> a = 2x, b = exp(x) -> c = a * b: dc/dx = 2 e^x + 2x e^x */
    const float xv[3] = {0.5f, -1.0f, 2.0f};
    Tensor *x = leaf(xv, SHAPE(3));
    assert_int_equal(tensor_backward(sum_all(t_mul(t_mul_scalar(x, 2), t_exp(x))), NULL), 0);
    float want[3];
    for (int i = 0; i < 3; i++) want[i] = (float)(2 * exp(xv[i]) * (1 + xv[i]));
    expect_values(x->grad, want, 1e-6, "diamond 2x * exp(x)");

    /* a shared non-leaf: h = x * w, loss = sum(relu(h) + h * h):
     * dL/dh = [h > 0] + 2h, dx = dL/dh * w, dw = dL/dh * x (w broadcast: summed) */
    const float x2v[4] = {1.0f, -2.0f, 0.5f, 3.0f}, wv[1] = {1.5f};
    Tensor *x2 = leaf(x2v, SHAPE(4));
    Tensor *w = leaf(wv, SHAPE(1));
    Tensor *h = t_mul(x2, w);
    assert_int_equal(tensor_backward(sum_all(t_add(t_relu(h), t_mul(h, h))), NULL), 0);
    float want_x[4], want_w = 0;
    for (int i = 0; i < 4; i++) {
        double hv = (double)x2v[i] * wv[0], dh = (hv > 0) + 2 * hv;
        want_x[i] = (float)(dh * wv[0]);
        want_w += (float)(dh * x2v[i]);
    }
    expect_values(x2->grad, want_x, 1e-6, "diamond through shared h (x)");
    expect_values(w->grad, &want_w, 1e-6, "diamond through shared h (w, broadcast)");
    scope_end();
}

static void test_backward_errors(void **state)
{
    scope_begin();
    Tensor *x = leaf((const float[]){1, 2, 3}, SHAPE(3));
    Tensor *y = t_mul_scalar(x, 2);
    engine_clear_error();
    assert_int_equal(tensor_backward(y, NULL), -1);
    expect_failure(true, "grad can be implicitly created only for scalar outputs", "[3]");
    assert_int_equal(tensor_backward(y, tensor_ones(SHAPE(4), DT_F32, CPU)), -1);
    expect_failure(true, "[4]", "[3]");
    assert_int_equal(tensor_backward(y, tensor_ones(SHAPE(3, 1), DT_F32, CPU)), -1);
    expect_failure(true, "[3, 1]", "[3]");
    assert_null(x->grad); /* nothing happened */
    /* the right explicit gradient works */
    assert_int_equal(tensor_backward(y, tensor_from_data((const float[]){1, 2, 3}, SHAPE(3), DT_F32, CPU)), 0);
    expect_values(x->grad, (const float[]){2, 4, 6}, 0, "explicit gradient");

    assert_int_equal(tensor_backward(tensor_zeros(SCALAR_SHAPE, DT_F32, CPU), NULL), -1);
    expect_failure(true, "does not require grad", NULL);
    assert_int_equal(tensor_backward(NULL, NULL), -1); /* a failed forward: no new message */
    assert_false(engine_has_error());
    scope_end();
}

static void test_second_backward_needs_retain_graph(void **state)
{
    scope_begin();
    Tensor *x = leaf((const float[]){1, -2}, SHAPE(2));
    Tensor *loss = sum_all(t_mul(x, x));
    assert_int_equal(tensor_backward_ex(loss, NULL, true), 0);
    assert_int_equal(tensor_backward(loss, NULL), 0); /* the graph was kept: works, then is freed */
    expect_values(x->grad, (const float[]){4, -8}, 0, "two backwards with retain_graph");
    engine_clear_error();
    assert_int_equal(tensor_backward(loss, NULL), -1);
    expect_failure(true, "second time", "retain_graph");
    expect_values(x->grad, (const float[]){4, -8}, 0, "grad untouched by the failed backward");
    /* a new graph on the same leaves is fine */
    assert_int_equal(tensor_backward(sum_all(t_mul(x, x)), NULL), 0);
    expect_values(x->grad, (const float[]){6, -12}, 0, "fresh graph after the failure");
    scope_end();
}

static void test_no_grad_records_nothing(void **state)
{
    scope_begin();
    Tensor *x = leaf((const float[]){1, 2}, SHAPE(2));
    assert_true(grad_enabled());
    bool outer = no_grad_begin();
    assert_true(outer);
    assert_false(grad_enabled());
    Tensor *y = t_exp(t_mul(x, x));
    assert_null(y->grad_fn);
    assert_false(y->requires_grad);
    bool inner = no_grad_begin(); /* nested */
    assert_false(inner);
    grad_mode_restore(inner);
    assert_false(grad_enabled()); /* still off: restored to the outer no_grad */
    grad_mode_restore(outer);
    assert_true(grad_enabled());
    Tensor *z = t_mul(x, x);
    assert_non_null(z->grad_fn);
    assert_true(z->requires_grad);
    assert_string_equal(z->grad_fn->name, "MulBackward0");
    scope_end();
}

static void test_detach_cuts_the_graph(void **state)
{
    scope_begin();
    Tensor *x = leaf((const float[]){1, 2, 3}, SHAPE(3));
    Tensor *sq = t_mul(x, x);
    Tensor *d = tensor_detach(sq);
    assert_null(d->grad_fn);
    assert_false(d->requires_grad);
    assert_ptr_equal(tensor_data(d), tensor_data(sq)); /* shares storage */
    assert_non_null(sq->grad_fn);                       /* the original keeps its graph */
    /* d(sum(detach(x*x) * x))/dx = x*x (not 3x^2) */
    assert_int_equal(tensor_backward(sum_all(t_mul(d, x)), NULL), 0);
    expect_values(x->grad, (const float[]){1, 4, 9}, 0, "detach: no gradient through the detached branch");
    scope_end();
}

/* ---- frozen parameters: which backward functions run ---- */

typedef struct {
    int calls;
    int computed[2]; /* gradients produced per input */
} Counts;
static Counts counts;

static int counted_mul_backward(Node *n, Tensor *g, Tensor **gin)
{
    counts.calls++;
    for (int i = 0; i < 2; i++) {
        if (!n->needs_grad[i]) continue;
        gin[i] = t_mul(g, n->saved[1 - i]);
        counts.computed[i]++;
    }
    return 0;
}

/* a * b (same shapes) with a backward that counts its work. */
static Tensor *counted_mul(Tensor *a, Tensor *b)
{
    bool mode = no_grad_begin();
    Tensor *out = t_mul(a, b);
    grad_mode_restore(mode);
    Node *n = autograd_record("CountedMulBackward", counted_mul_backward, out, 2, (Tensor *[]){a, b});
    if (n) n->saved[0] = a, n->saved[1] = b;
    return out;
}

static void test_frozen_parameters(void **state)
{
    scope_begin();
    Tensor *w = leaf((const float[]){0.5f, -1.0f}, SHAPE(2));
    assert_non_null(tensor_set_requires_grad(w, false)); /* freeze */
    Tensor *x = leaf((const float[]){2.0f, 3.0f}, SHAPE(2));

    /* a branch made only of frozen tensors records nothing */
    counts = (Counts){0};
    Tensor *f = counted_mul(w, t_exp(w));
    assert_null(f->grad_fn);
    assert_false(f->requires_grad);

    /* mixed: only x's side is asked for */
    Tensor *p = t_mul(w, x);
    assert_false(p->grad_fn->needs_grad[0]);
    assert_true(p->grad_fn->needs_grad[1]);
    Tensor *q = counted_mul(p, f);
    assert_true(q->grad_fn->needs_grad[0]);
    assert_false(q->grad_fn->needs_grad[1]);
    assert_int_equal(tensor_backward(sum_all(q), NULL), 0);
    assert_int_equal(counts.calls, 1);
    assert_int_equal(counts.computed[0], 1);
    assert_int_equal(counts.computed[1], 0); /* the frozen side's gradient was never computed */
    assert_null(w->grad);
    /* dq/dx = w * f = w * w * exp(w) */
    float want[2];
    for (int i = 0; i < 2; i++) {
        double wv = i == 0 ? 0.5 : -1.0;
        want[i] = (float)(wv * wv * exp(wv));
    }
    expect_values(x->grad, want, 1e-6, "frozen w: x's gradient");

    /* unfreezing brings w's gradient back */
    assert_non_null(tensor_set_requires_grad(w, true));
    assert_int_equal(tensor_backward(sum_all(t_mul(w, x)), NULL), 0);
    expect_values(w->grad, (const float[]){2.0f, 3.0f}, 0, "unfrozen w");
    scope_end();
}

/* ---- hooks ---- */

typedef struct {
    int calls;
    double factor; /* 1: observe only (returns NULL) */
    Tensor *seen;  /* persistent copy of the last gradient seen */
} HookCtx;

static Tensor *hook_fn(Tensor *grad, void *ctx)
{
    HookCtx *h = ctx;
    h->calls++;
    if (h->seen) tensor_free(h->seen);
    h->seen = tensor_persist(t_clone(grad));
    return h->factor == 1 ? NULL : t_mul_scalar(grad, h->factor);
}

static Tensor *wrong_shape_hook(Tensor *grad, void *ctx) { return tensor_zeros(SHAPE(7), DT_F32, CPU); }

static void test_hooks(void **state)
{
    scope_begin();
    /* leaf used three times: one call with the summed gradient 2x + 3; torch:
     * x.register_hook(lambda g: g * 2) gives x.grad = 2 * (2x + 3) */
    Tensor *x = leaf((const float[]){1, 2, 3}, SHAPE(3));
    HookCtx hx = {.factor = 2};
    assert_int_equal(tensor_register_hook(x, hook_fn, &hx), 0);
    assert_int_equal(tensor_backward(t_add(sum_all(t_mul(x, x)), sum_all(t_mul_scalar(x, 3))), NULL), 0);
    assert_int_equal(hx.calls, 1);
    expect_values(hx.seen, (const float[]){5, 7, 9}, 0, "leaf hook sees the summed gradient");
    expect_values(x->grad, (const float[]){10, 14, 18}, 0, "leaf hook replaced the gradient");

    /* non-leaf h = y*y used twice (dL/dh = 1 + 2 = 3): the first hook doubles
     * it to 6, the second (registered later) observes 6, y.grad = 6 * 2y */
    Tensor *y = leaf((const float[]){1, -2}, SHAPE(2));
    Tensor *h = t_mul(y, y);
    HookCtx h1 = {.factor = 2}, h2 = {.factor = 1};
    assert_int_equal(tensor_register_hook(h, hook_fn, &h1), 0);
    assert_int_equal(tensor_register_hook(h, hook_fn, &h2), 0);
    assert_int_equal(tensor_backward(t_add(sum_all(h), sum_all(t_mul_scalar(h, 2))), NULL), 0);
    assert_int_equal(h1.calls, 1);
    assert_int_equal(h2.calls, 1);
    expect_values(h1.seen, (const float[]){3, 3}, 0, "non-leaf hook sees the summed gradient");
    expect_values(h2.seen, (const float[]){6, 6}, 0, "hooks run in order on the replaced gradient");
    expect_values(y->grad, (const float[]){12, -24}, 0, "non-leaf hook replaced the gradient");

    /* a hook on the root sees the implicit gradient 1 */
    Tensor *z = leaf((const float[]){4}, SHAPE(1));
    Tensor *loss = sum_all(t_mul(z, z));
    HookCtx hr = {.factor = 1};
    assert_int_equal(tensor_register_hook(loss, hook_fn, &hr), 0);
    assert_int_equal(tensor_backward(loss, NULL), 0);
    assert_int_equal(hr.calls, 1);
    expect_values(hr.seen, (const float[]){1}, 0, "root hook");

    /* refusals */
    engine_clear_error();
    assert_int_equal(tensor_register_hook(tensor_zeros(SHAPE(2), DT_F32, CPU), hook_fn, &hr), -1);
    expect_failure(true, "doesn't require gradient", NULL);
    Tensor *v = leaf((const float[]){1, 2}, SHAPE(2));
    Tensor *vv = t_mul(v, v);
    assert_int_equal(tensor_register_hook(vv, wrong_shape_hook, NULL), 0);
    assert_int_equal(tensor_backward(sum_all(vv), NULL), -1);
    expect_failure(true, "hook", "[7]");
    assert_null(v->grad);

    HookCtx *all[] = {&hx, &h1, &h2, &hr};
    for (int i = 0; i < 4; i++) tensor_free(all[i]->seen);
    scope_end();
}

/* The order in which hooks run: each hook appends its mark to the log. */
typedef struct {
    char *log;
    char mark;
} OrderHook;

static Tensor *order_hook(Tensor *grad, void *ctx)
{
    (void)grad;
    OrderHook *h = ctx;
    size_t n = strlen(h->log);
    h->log[n] = h->mark;
    h->log[n + 1] = '\0';
    return NULL;
}

/* A leaf's hooks run as soon as its gradient is complete, before the
 * backward goes on to the layers below it (distributed training overlaps
 * its communication with the rest of the backward there). With
 * a = x * w1, b = a * w2, loss = sum(b): w2's gradient is complete once b's
 * node has run, before a's node runs (whose output hook marks 'a'); w1's
 * after it. The gradients are unchanged by the order. */
static void test_leaf_hooks_run_when_complete(void **state)
{
    (void)state;
    scope_begin();
    Tensor *x = leaf((const float[]){1, -2, 3, 0.5f}, SHAPE(4));
    Tensor *w1 = leaf((const float[]){0.5f, 1, -1, 2}, SHAPE(4));
    Tensor *w2 = leaf((const float[]){3, 0.25f, 2, -1}, SHAPE(4));
    Tensor *a = t_mul(x, w1);
    Tensor *b = t_mul(a, w2);
    char log[8] = "";
    OrderHook h2 = {log, '2'}, ha = {log, 'a'}, h1 = {log, '1'};
    assert_int_equal(tensor_register_hook(w2, order_hook, &h2), 0);
    assert_int_equal(tensor_register_hook(a, order_hook, &ha), 0);
    assert_int_equal(tensor_register_hook(w1, order_hook, &h1), 0);
    assert_int_equal(tensor_backward(t_sum(b, NULL, 0, false), NULL), 0);
    assert_string_equal(log, "2a1");
    for (int i = 0; i < 4; i++) { /* d/dw1 = x w2, d/dw2 = x w1 */
        assert_float_equal(tensor_f32(w1->grad)[i], tensor_f32(x)[i] * tensor_f32(w2)[i], 1e-6);
        assert_float_equal(tensor_f32(w2->grad)[i], tensor_f32(x)[i] * tensor_f32(w1)[i], 1e-6);
    }
    scope_end();
}

static void test_requires_grad_rules(void **state)
{
    scope_begin();
    engine_clear_error();
    Tensor *idx = tensor_zeros(SHAPE(3), DT_I64, CPU);
    assert_null(tensor_set_requires_grad(idx, true));
    expect_failure(true, "only floating point tensors can require gradients", "int64");
    assert_false(idx->requires_grad);
    assert_non_null(tensor_set_requires_grad(idx, false)); /* turning it off is fine */
    assert_null(tensor_set_requires_grad(tensor_zeros(SHAPE(3), DT_U8, CPU), true));
    expect_failure(true, "only floating point", "uint8");

    Tensor *x = leaf((const float[]){1, 2}, SHAPE(2));
    Tensor *y = t_mul(x, x);
    assert_null(tensor_set_requires_grad(y, false));
    expect_failure(true, "leaf", "MulBackward0");
    assert_true(y->requires_grad);
    assert_non_null(y->grad_fn);
    scope_end();
}

static void test_deep_chain(void **state)
{
    scope_begin();
    /* 100000 negations: an explicit stack, not recursion, walks the graph;
     * the sign checks that every node ran exactly once */
    enum { DEPTH = 100000 };
    Tensor *x = leaf((const float[]){1.5f, -2.0f}, SHAPE(2));
    Tensor *y = x;
    for (int i = 0; i < DEPTH; i++) y = t_neg(y);
    REQUIRE_OK(y);
    assert_int_equal(tensor_backward(sum_all(t_mul_scalar(y, 3)), NULL), 0);
    expect_values(x->grad, (const float[]){3, 3}, 0, "100000 negations");
    scope_end();
}

/* .grad may take the finished gradient's memory instead of a copy, but never
 * memory another tensor sees: two leaves handed one gradient by add's
 * backward, and a leaf given its gradient by the caller, each get .grad of
 * their own. */
static void test_grads_never_alias(void **state)
{
    scope_begin();
    const float va[] = {1, 2, 3}, vb[] = {4, 5, 6}, ones[] = {1, 1, 1}, twos[] = {2, 2, 2};
    Tensor *a = leaf(va, SHAPE(3)), *b = leaf(vb, SHAPE(3));
    Tensor *out = t_mul_scalar(t_add(a, b), 2.0);
    assert_int_equal(tensor_backward(out, tensor_ones(SHAPE(3), DT_F32, CPU)), 0);
    assert_ptr_not_equal(a->grad->storage, b->grad->storage);
    assert_int_equal(tensor_fill_(a->grad, 0.0), 0);
    expect_values(b->grad, twos, 0, "b.grad after a.grad changed");

    Tensor *c = leaf(va, SHAPE(3));
    Tensor *given = tensor_ones(SHAPE(3), DT_F32, CPU);
    assert_int_equal(tensor_backward(c, given), 0);
    assert_ptr_not_equal(c->grad->storage, given->storage);
    assert_int_equal(tensor_fill_(given, 5.0), 0);
    expect_values(c->grad, ones, 0, "c.grad after the given gradient changed");
    scope_end();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_accumulates_across_backward_calls),
        cmocka_unit_test(test_tensor_used_twice),
        cmocka_unit_test(test_diamond_graphs),
        cmocka_unit_test(test_backward_errors),
        cmocka_unit_test(test_second_backward_needs_retain_graph),
        cmocka_unit_test(test_no_grad_records_nothing),
        cmocka_unit_test(test_detach_cuts_the_graph),
        cmocka_unit_test(test_frozen_parameters),
        cmocka_unit_test(test_hooks),
        cmocka_unit_test(test_leaf_hooks_run_when_complete),
        cmocka_unit_test(test_requires_grad_rules),
        cmocka_unit_test(test_deep_chain),
        cmocka_unit_test(test_grads_never_alias),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
