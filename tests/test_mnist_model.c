/* The whole-model check: pytorch-template's MnistModel built here and in
 * PyTorch from the same initial weights, dropout off, 20 Adam steps on the
 * same batches; the losses must agree within 1e-4 relative at every step. */
#include <math.h>

#include "engine/optim/optim.h"
#include "model/model.h"
#include "tests/support/check.h"
#include "tests/support/oracle.h"

enum { STEPS = 20, BATCH = 64 };

static void test_mnist_model_adam_matches_torch(void **state)
{
    manual_seed(7);
    Module *model = mnist_model(10, 0.5);
    REQUIRE_OK(model);
    module_train(model, false); /* dropout off, as in the torch run */
    StateDict params;
    state_dict_init(&params);
    assert_int_equal(module_named_parameters(model, &params), 0);
    assert_int_equal(params.n, 8);

    scope_begin();
    Generator g;
    generator_seed(&g, 99);
    Tensor *xs = tensor_randn(SHAPE(STEPS, BATCH, 1, 28, 28), &g, CPU);
    Tensor *ys = tensor_randint(0, 10, SHAPE(STEPS, BATCH), &g, CPU);
    Tensor *inputs[10];
    bool mode = no_grad_begin();
    for (int i = 0; i < 8; i++) inputs[i] = t_clone(params.tensors[i]); /* the initial weights */
    grad_mode_restore(mode);
    inputs[8] = xs;
    inputs[9] = ys;
    Oracle *o = oracle_new("mnist_model");
    int c = oracle_add(o, "mnist_model_adam", "{\"steps\": 20, \"lr\": 0.001, \"amsgrad\": true}", 10, inputs, NULL);

    AdamOptions ao = adam_defaults();
    ao.amsgrad = true;
    Optimizer *opt = optim_adam(params.tensors, params.n, ao);
    REQUIRE_OK(opt);
    float losses[STEPS];
    for (int s = 0; s < STEPS; s++) {
        scope_begin();
        optimizer_zero_grad(opt, true);
        Tensor *out = module_forward(model, t_select(xs, 0, s));
        Tensor *loss = f_nll_loss(out, t_select(ys, 0, s), NULL, -100, REDUCTION_MEAN);
        REQUIRE_OK(loss);
        assert_int_equal(tensor_backward(loss, NULL), 0);
        assert_int_equal(optimizer_step(opt), 0);
        losses[s] = (float)tensor_item(loss);
        scope_end();
    }
    ORACLE_RUN_OR_SKIP(o);
    Tensor *ref = oracle_output(o, c, 0);
    assert_non_null(ref);
    double worst = 0;
    for (int s = 0; s < STEPS; s++) {
        float theirs = tensor_f32(ref)[s];
        double rel = fabs(losses[s] - theirs) / fabs(theirs);
        print_message("  step %2d  loss ours %.7f  torch %.7f  rel err %.2g\n", s + 1, losses[s], theirs, rel);
        if (rel > worst) worst = rel;
        assert_true(rel <= 1e-4);
    }
    print_message("  max relative loss error over %d steps: %.3g (tol 1e-4)\n", STEPS, worst);
    /* the weights after 20 steps: Adam divides by sqrt(v), which magnifies
     * float rounding in tiny gradients, so this bound is looser */
    for (int i = 0; i < 8; i++) {
        char label[96];
        snprintf(label, sizeof label, "after %d steps: %s", STEPS, params.names[i]);
        expect_close(params.tensors[i], oracle_output(o, c, 1 + i), 1e-3, label);
    }
    oracle_free(o);
    optimizer_free(opt);
    scope_end();
    state_dict_free(&params);
    module_free(model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mnist_model_adam_matches_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
