/* Whole training steps on the GPU against the CPU: pytorch-template's
 * MnistModel (and LeNet-5) built twice from the same seed, one copy moved
 * to the GPU with module_to, dropout off; three SGD-with-momentum steps on
 * the same batches. The losses, every parameter's gradient and the updated
 * parameters must agree within 1e-4 relative at every step (TF32 off).
 * Skipped without a CUDA device. */
#include <math.h>

#include "engine/optim/optim.h"
#include "model/model.h"
#include "tests/support/gpu_compare.h"

enum { STEPS = 3, BATCH = 64 };

typedef Module *(*ModelFn)(int64_t num_classes);

static void check_training_steps(ModelFn build, const char *name)
{
    gpu_set_modes(false, false);
    Module *models[2];
    StateDict params[2];
    Optimizer *opts[2];
    SGDOptions so = sgd_defaults();
    so.lr = 0.01;
    so.momentum = 0.9;
    for (int dev = 0; dev < 2; dev++) {
        manual_seed(11); /* the same initial weights */
        models[dev] = build(10);
        REQUIRE_OK(models[dev]);
        if (dev == 1) assert_int_equal(module_to(models[dev], GPU_DEVICE), 0);
        module_train(models[dev], false); /* dropout off on both */
        state_dict_init(&params[dev]);
        assert_int_equal(module_named_parameters(models[dev], &params[dev]), 0);
        opts[dev] = optim_sgd(params[dev].tensors, params[dev].n, so);
        REQUIRE_OK(opts[dev]);
    }
    assert_int_equal(params[0].n, params[1].n);

    Generator g;
    generator_seed(&g, 3);
    for (int step = 0; step < STEPS; step++) {
        scope_begin();
        Tensor *x = tensor_randn(SHAPE(BATCH, 1, 28, 28), &g, CPU);
        Tensor *y = tensor_randint(0, 10, SHAPE(BATCH), &g, CPU);
        REQUIRE_OK(x);
        REQUIRE_OK(y);
        double losses[2];
        for (int dev = 0; dev < 2; dev++) {
            Device d = dev ? GPU_DEVICE : CPU;
            optimizer_zero_grad(opts[dev], true);
            Tensor *out = module_forward(models[dev], tensor_to(x, d));
            Tensor *loss = f_nll_loss(out, tensor_to(y, d), NULL, -100, REDUCTION_MEAN);
            REQUIRE_OK(loss);
            assert_int_equal(tensor_is_cuda(loss), dev == 1);
            assert_int_equal(tensor_backward(loss, NULL), 0);
            losses[dev] = tensor_item(loss);
        }
        double rel = fabs(losses[1] - losses[0]) / fabs(losses[0]);
        print_message("  %s step %d: loss cpu %.7f gpu %.7f rel err %.2g\n", name, step + 1, losses[0], losses[1],
                      rel);
        assert_true(rel <= 1e-4);
        for (int i = 0; i < params[0].n; i++) {
            char label[128];
            snprintf(label, sizeof label, "%s step %d grad %s", name, step + 1, params[0].names[i]);
            expect_close(params[1].tensors[i]->grad, params[0].tensors[i]->grad, 1e-4, label);
        }
        for (int dev = 0; dev < 2; dev++) assert_int_equal(optimizer_step(opts[dev]), 0);
        for (int i = 0; i < params[0].n; i++) {
            char label[128];
            snprintf(label, sizeof label, "%s step %d updated %s", name, step + 1, params[0].names[i]);
            expect_close(params[1].tensors[i], params[0].tensors[i], 1e-4, label);
        }
        scope_end();
    }
    for (int dev = 0; dev < 2; dev++) {
        optimizer_free(opts[dev]);
        state_dict_free(&params[dev]);
        module_free(models[dev]);
    }
}

/* pytorch-template's MnistModel, its dropouts at the template's 0.5 */
static Module *template_mnist_model(int64_t num_classes) { return mnist_model(num_classes, 0.5); }

static void test_mnist_model_training_steps(void **state)
{
    REQUIRE_GPU();
    check_training_steps(template_mnist_model, "MnistModel");
}

static void test_lenet5_training_steps(void **state)
{
    REQUIRE_GPU();
    check_training_steps(lenet5, "LeNet5");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mnist_model_training_steps),
        cmocka_unit_test(test_lenet5_training_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
