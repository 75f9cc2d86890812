/* Scopes and memory: a training loop's allocations stay flat, scope_keep
 * moves a tensor to the enclosing scope, tensor_persist outlives scopes and
 * tensor_free releases it. Under ASan/LeakSanitizer these tests also check
 * that nothing leaks and nothing is used after it was freed. */
#include <math.h>
#include <stdlib.h>

#include "tests/support/check.h"
#include "tests/support/heap.h"

static Generator gen;

/* ---- a small MLP without matmul: y = sum(relu(x * w1 + b1) * w2, dim 1) + b2 ---- */

enum { N_PARAMS = 4 };

typedef struct {
    Tensor *params[N_PARAMS]; /* w1 [4], b1 [4], w2 [4], b2 [1]: persistent leaves */
    Tensor *x, *target;       /* persistent data: x [16, 4], target [16] */
} Mlp;

static void mlp_init(Mlp *m)
{
    Shape shapes[N_PARAMS] = {SHAPE(4), SHAPE(4), SHAPE(4), SHAPE(1)};
    for (int i = 0; i < N_PARAMS; i++) {
        m->params[i] = tensor_persist(tensor_set_requires_grad(tensor_randn(shapes[i], &gen, CPU), true));
        REQUIRE_OK(m->params[i]);
    }
    m->x = tensor_persist(tensor_randn(SHAPE(16, 4), &gen, CPU));
    m->target = tensor_persist(tensor_randn(SHAPE(16), &gen, CPU));
}

static void mlp_free(Mlp *m)
{
    for (int i = 0; i < N_PARAMS; i++) tensor_free(m->params[i]);
    tensor_free(m->x);
    tensor_free(m->target);
}

/* One step: forward, loss = mean((y - target)^2) + 0.01 * mean(exp(-h)),
 * backward, SGD update in place, zero the gradients (alternately in place
 * and by freeing them, as optimizers' zero_grad(set_to_none) does). */
static double train_step(Mlp *m, int step, double lr)
{
    scope_begin();
    Tensor **p = m->params;
    Tensor *h = t_relu(t_add(t_mul(m->x, p[0]), p[1]));
    int dim1[] = {1};
    Tensor *y = t_add(t_sum(t_mul(h, p[2]), dim1, 1, false), p[3]);
    Tensor *diff = t_sub(y, m->target);
    Tensor *loss = t_add(t_mean(t_mul(diff, diff), NULL, 0, false),
                         t_mul_scalar(t_mean(t_exp(t_neg(h)), NULL, 0, false), 0.01));
    REQUIRE_OK(loss);
    double value = tensor_item(loss);
    assert_int_equal(tensor_backward(loss, NULL), 0);
    for (int i = 0; i < N_PARAMS; i++) {
        assert_non_null(p[i]->grad);
        assert_int_equal(t_add_(p[i], p[i]->grad, -lr), 0);
        if (step % 2) {
            tensor_fill_(p[i]->grad, 0);
        } else {
            tensor_free(p[i]->grad);
            p[i]->grad = NULL;
        }
    }
    scope_end();
    return value;
}

static void test_allocated_bytes_is_a_real_meter(void **state)
{
    /* the flatness check below can only fail if the meter sees allocations */
    size_t before = heap_allocated_bytes();
    void *block = malloc(1 << 20);
    assert_non_null(block);
    memset(block, 1, 1 << 20);
    size_t during = heap_allocated_bytes();
    free(block);
    print_message("  1 MiB malloc seen as %+lld bytes\n", (long long)during - (long long)before);
    assert_true(during >= before + (1 << 20));
}

static void test_training_loop_memory_is_flat(void **state)
{
    Mlp m;
    mlp_init(&m);
    const double lr = 0.05;
    double first = 0, last = 0;
    for (int step = 0; step < 10; step++) { /* warm-up: thread pools, allocator caches */
        double value = train_step(&m, step, lr);
        if (step == 0) first = value;
    }
    size_t before = heap_allocated_bytes();
    for (int step = 10; step < 1010; step++) last = train_step(&m, step, lr);
    size_t after = heap_allocated_bytes();
    long long growth = (long long)after - (long long)before;
    print_message("  1000 steps: loss %.4f -> %.4f, allocated bytes %+lld\n", first, last, growth);
    assert_true(last < first); /* the loop really trains */
    assert_true(growth < 64 * 1024);
    assert_int_equal(scope_depth(), 0);
    mlp_free(&m);
}

static void test_scope_keep_moves_to_enclosing_scope(void **state)
{
    scope_begin();
    assert_int_equal(scope_depth(), 1);
    Tensor *x = rand_leaf(SHAPE(3, 2), &gen);
    scope_begin();
    assert_int_equal(scope_depth(), 2);
    Tensor *y = t_mul_scalar(x, 2);                   /* has a grad_fn */
    Tensor *view = t_transpose(t_add_scalar(x, 1), 0, 1); /* its base dies with this scope */
    assert_ptr_equal(scope_keep(y), y);
    scope_keep(view);
    assert_null(y->grad_fn); /* the graph dies with the inner scope */
    assert_false(y->requires_grad);
    assert_null(scope_keep(NULL));
    scope_end();
    assert_int_equal(scope_depth(), 1);
    /* both still valid (ASan would flag a use after free) */
    expect_close(y, t_mul_scalar(x, 2), 0, "kept tensor after the inner scope");
    expect_close(view, t_transpose(t_add_scalar(x, 1), 0, 1), 0, "kept view after its base's scope");
    assert_non_null(y->owner);
    scope_end(); /* frees them (LeakSanitizer checks) */
    assert_int_equal(scope_depth(), 0);

    /* from the outermost scope a kept tensor goes to the root scope, freed at exit */
    static Tensor *outlives_all;
    scope_begin();
    outlives_all = scope_keep(tensor_full(SHAPE(2), 4.0, DT_F32, CPU));
    scope_end();
    assert_true(tensor_item(t_sum(outlives_all, NULL, 0, false)) == 8.0);
}

static void test_persist_and_free(void **state)
{
    Tensor *p;
    scope_begin();
    p = tensor_persist(rand_leaf(SHAPE(5), &gen));
    assert_null(p->owner);
    Tensor *derived = tensor_persist(t_exp(p)); /* a non-leaf: cut from its graph */
    assert_null(derived->grad_fn);
    assert_false(derived->requires_grad);
    assert_int_equal(tensor_backward(t_sum(t_mul(p, p), NULL, 0, false), NULL), 0);
    scope_end();
    /* p, its .grad and derived outlive the scope */
    scope_begin();
    expect_close(p->grad, t_mul_scalar(p, 2), 0, "persistent leaf's grad after scope_end");
    expect_close(derived, t_exp(p), 0, "persisted result after scope_end");
    scope_end();
    tensor_free(derived);
    tensor_free(p); /* frees p->grad too */
    tensor_free(NULL);
}

/* A tensor cut from the graph after it was used (kept or persisted) must not
 * be left holding a gradient from the scope that is about to end. */
static void test_detached_mid_graph_tensor_keeps_no_gradient(void **state)
{
    Tensor *w = tensor_persist(rand_leaf(SHAPE(3), &gen));
    scope_begin();
    Tensor *kept = NULL, *persisted = NULL;
    scope_begin();
    Tensor *h = t_mul_scalar(w, 2), *k = t_add_scalar(w, 1);
    Tensor *loss = t_sum(t_mul(h, k), NULL, 0, false);
    kept = scope_keep(h);
    persisted = tensor_persist(k);
    assert_int_equal(tensor_backward(loss, NULL), 0);
    assert_null(kept->grad_acc);
    assert_null(persisted->grad_acc);
    scope_end();
    /* reused later as leaves of a new graph: no stale gradient is added in */
    assert_non_null(tensor_set_requires_grad(kept, true));
    assert_non_null(tensor_set_requires_grad(persisted, true));
    assert_int_equal(tensor_backward(t_sum(t_add(kept, persisted), NULL, 0, false), NULL), 0);
    expect_close(kept->grad, tensor_ones(SHAPE(3), DT_F32, CPU), 0, "kept tensor as a new leaf");
    expect_close(persisted->grad, tensor_ones(SHAPE(3), DT_F32, CPU), 0, "persisted tensor as a new leaf");
    scope_end();
    tensor_free(persisted);
    tensor_free(w);
}

int main(void)
{
    generator_seed(&gen, 3);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocated_bytes_is_a_real_meter),
        cmocka_unit_test(test_training_loop_memory_is_flat),
        cmocka_unit_test(test_scope_keep_moves_to_enclosing_scope),
        cmocka_unit_test(test_persist_and_free),
        cmocka_unit_test(test_detached_mid_graph_tensor_keeps_no_gradient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
