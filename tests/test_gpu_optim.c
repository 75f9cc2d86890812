/* The CUDA optimizer kernels against the CPU's: every algorithm (SGD,
 * Adam, AdamW, RMSprop, Adagrad, Adadelta) with its options, 20 steps of the
 * same gradients on parameters on each device, in two groups, one parameter
 * strided and one without a gradient at some steps (optimizer_step runs one
 * multi-tensor launch per group), the one-parameter kernels on their own;
 * then gradient clipping by norm (p = 1, 2, 3, inf) and by value. The fused
 * kernels round exactly as the CPU's do, so the printed errors are expected
 * to be 0; the test allows 1e-4. Skipped without a CUDA device. */
#include <math.h>
#include <stdio.h>

#include "engine/backend.h"
#include "tests/support/gpu_compare.h"
#include "utils/optim_config.h"

#define N_PARAMS 3
#define N_STEPS 20
#define TOL 1e-4

static Generator gen;

static Shape param_shape(int i)
{
    switch (i) {
    case 0: return SHAPE(4, 5);
    case 1: return SHAPE(5);
    default: return SHAPE(3, 11, 1019);
    }
}

/* The initial parameters and each step's gradients (NULL: no gradient for
 * parameter 1 at some steps), on the CPU; the gradient scale varies so that
 * AMSGrad's running maximum matters. */
typedef struct {
    Tensor *init[N_PARAMS];
    Tensor *grads[N_STEPS][N_PARAMS];
} Data;

static void make_data(Data *d)
{
    for (int i = 0; i < N_PARAMS; i++) d->init[i] = tensor_randn(param_shape(i), &gen, CPU);
    for (int s = 0; s < N_STEPS; s++)
        for (int i = 0; i < N_PARAMS; i++) {
            bool skip = i == 1 && s % 7 == 3;
            double scale = s % 4 == 0 ? 3.0 : 0.5;
            d->grads[s][i] = skip ? NULL : t_mul_scalar(tensor_randn(param_shape(i), &gen, CPU), scale);
        }
}

/* Persistent parameters on device; parameter 0 is a transposed view (the
 * optimizer's strided path). */
static void make_params(const Data *d, Device device, Tensor **p)
{
    Tensor *base = tensor_persist(leaf_on(t_contiguous(t_transpose(d->init[0], 0, 1)), device));
    p[0] = tensor_persist(t_transpose(base, 0, 1));
    tensor_free(base); /* the view keeps the storage */
    for (int i = 1; i < N_PARAMS; i++) p[i] = tensor_persist(leaf_on(d->init[i], device));
}

static void set_grads(Optimizer *opt, Tensor **p, const Data *d, int s, Device device)
{
    optimizer_zero_grad(opt, true);
    for (int i = 0; i < N_PARAMS; i++)
        if (d->grads[s][i]) p[i]->grad = tensor_persist(leaf_on(d->grads[s][i], device));
}

/* {"type": type, "args": args} through the config parser, as a run builds it;
 * parameters {0, 1} in group 0 and {2} in group 1 with half the lr. */
static Optimizer *make_optimizer(const char *type, const char *args, Tensor **p)
{
    char json[512];
    snprintf(json, sizeof json, "{\"optimizer\": {\"type\": \"%s\", \"args\": %s}}", type, args);
    Config *cfg = config_parse(json, "test");
    REQUIRE_OK(cfg);
    Optimizer *opt = optimizer_from_config(cfg, p, 2);
    config_free(cfg);
    REQUIRE_OK(opt);
    assert_int_equal(optimizer_add_param_group(opt, &p[2], 1), 1);
    assert_int_equal(optimizer_set(opt, 1, "lr", optimizer_get(opt, 0, "lr") / 2), 0);
    return opt;
}

static const struct {
    const char *type, *args;
} cases[] = {
    {"SGD", "{\"lr\": 0.1}"},
    {"SGD", "{\"lr\": 0.1, \"momentum\": 0.9, \"dampening\": 0.5, \"weight_decay\": 0.01}"},
    {"SGD", "{\"lr\": 0.1, \"momentum\": 0.9, \"nesterov\": true, \"maximize\": true}"},
    {"Adam", "{\"lr\": 0.01}"},
    {"Adam", "{\"lr\": 0.01, \"betas\": [0.8, 0.99], \"eps\": 1e-6, \"weight_decay\": 0.1, \"amsgrad\": true}"},
    {"Adam", "{\"lr\": 0.01, \"maximize\": true}"},
    {"AdamW", "{\"lr\": 0.01, \"weight_decay\": 0.1, \"amsgrad\": true}"},
    {"RMSprop", "{\"lr\": 0.01}"},
    {"RMSprop", "{\"lr\": 0.01, \"momentum\": 0.9, \"centered\": true, \"weight_decay\": 0.1}"},
    {"RMSprop", "{\"lr\": 0.01, \"alpha\": 0.9, \"momentum\": 0.5, \"maximize\": true}"},
    {"Adagrad", "{\"lr\": 0.1}"},
    {"Adagrad", "{\"lr\": 0.1, \"lr_decay\": 0.01, \"weight_decay\": 0.1, \"initial_accumulator_value\": 0.1}"},
    {"Adadelta", "{\"lr\": 1.0}"},
    {"Adadelta", "{\"lr\": 0.5, \"rho\": 0.8, \"eps\": 1e-5, \"weight_decay\": 0.1, \"maximize\": true}"},
};

static void test_optimizers_match_cpu(void **state)
{
    REQUIRE_GPU();
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        scope_begin();
        Data d;
        make_data(&d);
        Tensor *pc[N_PARAMS], *pg[N_PARAMS];
        make_params(&d, CPU, pc);
        make_params(&d, GPU_DEVICE, pg);
        Optimizer *oc = make_optimizer(cases[k].type, cases[k].args, pc);
        Optimizer *og = make_optimizer(cases[k].type, cases[k].args, pg);
        for (int s = 0; s < N_STEPS; s++) {
            set_grads(oc, pc, &d, s, CPU);
            set_grads(og, pg, &d, s, GPU_DEVICE);
            assert_int_equal(optimizer_step(oc), 0);
            if (optimizer_step(og) != 0) fail_engine("GPU optimizer_step");
        }
        for (int i = 0; i < N_PARAMS; i++) {
            assert_true(tensor_is_cuda(pg[i]));
            char label[192];
            snprintf(label, sizeof label, "%s %s: param %d after %d steps", cases[k].type, cases[k].args, i, N_STEPS);
            expect_close(pg[i], pc[i], TOL, label);
        }
        optimizer_free(oc);
        optimizer_free(og);
        for (int i = 0; i < N_PARAMS; i++) {
            tensor_free(pc[i]);
            tensor_free(pg[i]);
        }
        scope_end();
    }
}

/* optimizer_step batches CUDA updates into one multi-tensor launch; the
 * one-parameter kernels (what an update outside a batch runs) directly,
 * 20 steps of each algorithm on one parameter and its state. */
static void test_single_tensor_kernels(void **state)
{
    REQUIRE_GPU();
    const Backend *be[2] = {backend_get(DEVICE_CPU), backend_get(DEVICE_CUDA)};
    for (int algo = 0; algo < 5; algo++) {
        scope_begin();
        Shape s = SHAPE(3, 1019);
        Tensor *p0 = tensor_randn(s, &gen, CPU);
        Tensor *p[2] = {t_clone(p0), leaf_on(p0, GPU_DEVICE)}, *st[2][3];
        for (int k = 0; k < 3; k++) {
            Tensor *s0 = t_mul_scalar(tensor_rand(s, &gen, CPU), 0.1);
            st[0][k] = t_clone(s0);
            st[1][k] = leaf_on(s0, GPU_DEVICE);
        }
        for (int step = 1; step <= N_STEPS; step++) {
            Tensor *g0 = tensor_randn(s, &gen, CPU);
            Tensor *g[2] = {g0, leaf_on(g0, GPU_DEVICE)};
            SGDKernelArgs sgd = {0.1, 0.9, 0.1, 0.01, true, false, step == 1};
            AdamKernelArgs adam = {0.01, 0.9, 0.999, 1e-8, 0.1, 1 - pow(0.9, step), 1 - pow(0.999, step),
                                   true, false, true};
            RMSpropKernelArgs rms = {0.01, 0.99, 1e-8, 0.1, 0.9, true, false};
            AdagradKernelArgs ada = {0.1 / (1 + (step - 1) * 0.01), 1e-10, 0.1, false};
            AdadeltaKernelArgs delta = {1.0, 0.9, 1e-6, 0.1, true};
            for (int d = 0; d < 2; d++) {
                Tensor **t = st[d];
                switch (algo) {
                case 0: be[d]->sgd_step(p[d], g[d], t[0], &sgd); break;
                case 1: be[d]->adam_step(p[d], g[d], t[0], t[1], t[2], &adam); break;
                case 2: be[d]->rmsprop_step(p[d], g[d], t[0], t[1], t[2], &rms); break;
                case 3: be[d]->adagrad_step(p[d], g[d], t[0], &ada); break;
                default: be[d]->adadelta_step(p[d], g[d], t[0], t[1], &delta); break;
                }
            }
        }
        static const char *names[] = {"sgd_step", "adam_step", "rmsprop_step", "adagrad_step", "adadelta_step"};
        char label[96];
        snprintf(label, sizeof label, "%s: param after %d steps", names[algo], N_STEPS);
        expect_close(p[1], p[0], TOL, label);
        for (int k = 0; k < 3; k++) {
            snprintf(label, sizeof label, "%s: state %d after %d steps", names[algo], k, N_STEPS);
            expect_close(st[1][k], st[0][k], TOL, label);
        }
        scope_end();
    }
}

/* Parameters holding the given gradients (persistent), on device. */
static void params_with_grads(Tensor **grads, Device device, Tensor **p)
{
    for (int i = 0; i < N_PARAMS; i++) {
        p[i] = tensor_persist(tensor_zeros(param_shape(i), DT_F32, device));
        p[i]->grad = tensor_persist(leaf_on(grads[i], device));
    }
}

static void free_params(Tensor **p)
{
    for (int i = 0; i < N_PARAMS; i++) tensor_free(p[i]);
}

static void test_clip_grad(void **state)
{
    REQUIRE_GPU();
    const double norms[] = {2.0, 1.0, 3.0, INFINITY};
    for (int k = 0; k < 4; k++) {
        scope_begin();
        Tensor *grads[N_PARAMS];
        for (int i = 0; i < N_PARAMS; i++) grads[i] = tensor_randn(param_shape(i), &gen, CPU);
        Tensor *pc[N_PARAMS], *pg[N_PARAMS];
        params_with_grads(grads, CPU, pc);
        params_with_grads(grads, GPU_DEVICE, pg);
        double total_c = clip_grad_norm_(pc, N_PARAMS, 1.0, norms[k]);
        double total_g = clip_grad_norm_(pg, N_PARAMS, 1.0, norms[k]);
        double err = fabs(total_g - total_c) / fabs(total_c);
        print_message("  clip_grad_norm_ p=%g: total %.8g (GPU) vs %.8g (CPU), rel err %.3g\n", norms[k], total_g,
                      total_c, err);
        assert_true(err <= TOL);
        for (int i = 0; i < N_PARAMS; i++) {
            char label[96];
            snprintf(label, sizeof label, "clip_grad_norm_ p=%g: grad %d", norms[k], i);
            expect_close(pg[i]->grad, pc[i]->grad, TOL, label);
        }
        free_params(pc);
        free_params(pg);
        scope_end();
    }
    /* a NaN gradient makes every norm NaN on both devices */
    scope_begin();
    Tensor *grads[N_PARAMS];
    for (int i = 0; i < N_PARAMS; i++) grads[i] = tensor_randn(param_shape(i), &gen, CPU);
    tensor_f32(grads[2])[777] = NAN;
    Tensor *pg[N_PARAMS];
    params_with_grads(grads, GPU_DEVICE, pg);
    assert_true(isnan(clip_grad_norm_(pg, N_PARAMS, 1.0, INFINITY)));
    assert_true(isnan(clip_grad_norm_(pg, N_PARAMS, 1.0, 2.0)));
    free_params(pg);
    scope_end();
}

static void test_clip_grad_value(void **state)
{
    REQUIRE_GPU();
    scope_begin();
    Tensor *grads[N_PARAMS];
    for (int i = 0; i < N_PARAMS; i++) grads[i] = tensor_randn(param_shape(i), &gen, CPU);
    Tensor *pc[N_PARAMS], *pg[N_PARAMS];
    params_with_grads(grads, CPU, pc);
    params_with_grads(grads, GPU_DEVICE, pg);
    assert_int_equal(clip_grad_value_(pc, N_PARAMS, 0.5), 0);
    assert_int_equal(clip_grad_value_(pg, N_PARAMS, 0.5), 0);
    for (int i = 0; i < N_PARAMS; i++) expect_close(pg[i]->grad, pc[i]->grad, TOL, "clip_grad_value_ 0.5");
    free_params(pc);
    free_params(pg);
    scope_end();
}

int main(void)
{
    generator_seed(&gen, 31);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_optimizers_match_cpu),
        cmocka_unit_test(test_single_tensor_kernels),
        cmocka_unit_test(test_clip_grad),
        cmocka_unit_test(test_clip_grad_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
