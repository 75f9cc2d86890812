/* The whole-model check: pytorch-template's MnistModel built here and in
 * PyTorch from the same initial weights, dropout off, 20 Adam steps on the
 * same batches; the losses must agree within 1e-4 relative at every step.
 * And in training, with dropout on, the model's fused layers (conv1 and
 * conv2 pooling their own output, conv2's dropout after the pooling) give
 * the same output and gradients as the model written as PyTorch's is. */
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

static Tensor *param(Module *model, const char *layer, const char *name)
{
    return module_get_parameter(module_get_child(model, layer), name);
}

/* pytorch-template's forward, op by op: conv, max_pool2d, relu; conv2's
 * dropout before its pooling. */
static Tensor *forward_as_pytorch_writes_it(Module *model, Tensor *x, double p)
{
    ConvParams cp = conv_params_default();
    PoolParams pool2 = pool_params(2, 0, 0);
    x = t_relu(f_max_pool2d(f_conv2d(x, param(model, "conv1", "weight"), param(model, "conv1", "bias"), cp), pool2));
    Tensor *y = f_conv2d(x, param(model, "conv2", "weight"), param(model, "conv2", "bias"), cp);
    x = t_relu(f_max_pool2d(f_dropout2d(y, p, true, NULL), pool2));
    x = t_relu(f_linear(t_view(x, SHAPE(-1, 320)), param(model, "fc1", "weight"), param(model, "fc1", "bias")));
    x = f_linear(f_dropout(x, p, true, NULL), param(model, "fc2", "weight"), param(model, "fc2", "bias"));
    return f_log_softmax(x, 1);
}

/* The output and every parameter's gradient of sum(out * r), from the same
 * draws of the default generator. */
static void output_and_grads(Module *model, Tensor *x, Tensor *r, double p, bool as_pytorch, Tensor **out)
{
    StateDict params;
    state_dict_init(&params);
    assert_int_equal(module_named_parameters(model, &params), 0);
    manual_seed(21);
    Tensor *y = as_pytorch ? forward_as_pytorch_writes_it(model, x, p) : module_forward(model, x);
    REQUIRE_OK(y);
    assert_int_equal(tensor_backward(t_sum(t_mul(y, r), NULL, 0, false), NULL), 0);
    out[0] = y;
    for (int i = 0; i < params.n; i++) out[1 + i] = params.tensors[i]->grad;
    state_dict_free(&params);
}

static void test_fused_training_forward_matches_pytorch_order(void **state)
{
    const double ps[] = {0.5, 0.3}; /* dropout scale 2: conv2 fused; 1 / 0.7: conv2 as written */
    for (int k = 0; k < 2; k++) {
        manual_seed(5);
        Module *model = mnist_model(10, ps[k]);
        REQUIRE_OK(model);
        scope_begin();
        Generator g;
        generator_seed(&g, 8);
        Tensor *x = tensor_randn(SHAPE(16, 1, 28, 28), &g, CPU), *r = tensor_randn(SHAPE(16, 10), &g, CPU);
        Tensor *fused[9], *plain[9];
        output_and_grads(model, x, r, ps[k], false, fused);
        for (int i = 1; i < 9; i++) fused[i] = t_clone(fused[i]); /* the grads are the parameters' own */
        module_zero_grad(model, true);
        output_and_grads(model, x, r, ps[k], true, plain);
        const char *names[9] = {"output", "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};
        for (int i = 0; i < 9; i++) {
            REQUIRE_OK(fused[i]);
            char label[96];
            snprintf(label, sizeof label, "p %.1f, %s: fused against pytorch's order", ps[k], names[i]);
            /* the conv biases' gradients sum the pooled gradient: the same to rounding */
            expect_close(fused[i], plain[i], i == 2 || i == 4 ? 1e-5 : 0.0, label);
        }
        scope_end();
        module_free(model);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mnist_model_adam_matches_torch),
        cmocka_unit_test(test_fused_training_forward_matches_pytorch_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
