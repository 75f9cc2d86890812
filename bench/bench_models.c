/* Times forward+backward of pytorch-template's MnistModel (batch 128) and of
 * a 784-1024-1024-10 MLP, on the CPU, with the engine. Prints one line per
 * model: "<name> median_ms <x>" (bench/run_models.sh compares with torch).
 * Usage: bench_models [iterations] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine/engine.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static Tensor *param(Shape s)
{
    Tensor *t = tensor_persist(tensor_randn(s, NULL, CPU));
    t_mul_scalar_(t, 0.05);
    return tensor_set_requires_grad(t, true);
}

typedef struct {
    Tensor *conv1_w, *conv1_b, *conv2_w, *conv2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
} MnistModel;

static Tensor *mnist_forward(MnistModel *m, Tensor *x)
{
    ConvParams cp = conv_params_default();
    PoolParams pp = pool_params(2, 0, 0);
    x = t_relu(f_max_pool2d(f_conv2d(x, m->conv1_w, m->conv1_b, cp), pp));
    x = t_relu(f_max_pool2d(f_dropout2d(f_conv2d(x, m->conv2_w, m->conv2_b, cp), 0.5, true, NULL), pp));
    x = t_view(x, SHAPE(-1, 320));
    x = t_relu(f_linear(x, m->fc1_w, m->fc1_b));
    x = f_dropout(x, 0.5, true, NULL);
    x = f_linear(x, m->fc2_w, m->fc2_b);
    return f_log_softmax(x, 1);
}

typedef struct {
    Tensor *w1, *b1, *w2, *b2, *w3, *b3;
} Mlp;

static Tensor *mlp_forward(Mlp *m, Tensor *x)
{
    x = t_relu(f_linear(t_view(x, SHAPE(-1, 784)), m->w1, m->b1));
    x = t_relu(f_linear(x, m->w2, m->b2));
    return f_log_softmax(f_linear(x, m->w3, m->b3), 1);
}

typedef Tensor *(*ForwardFn)(void *model, Tensor *x);
static Tensor *mnist_fwd(void *m, Tensor *x) { return mnist_forward(m, x); }
static Tensor *mlp_fwd(void *m, Tensor *x) { return mlp_forward(m, x); }

static int time_model(const char *name, void *model, ForwardFn fwd, Tensor *x, Tensor *y, int iters)
{
    double *ms = malloc(sizeof(double) * (size_t)iters);
    for (int i = -5; i < iters; i++) { /* 5 warm-up steps */
        scope_begin();
        double t0 = now_ms();
        Tensor *loss = f_nll_loss(fwd(model, x), y, NULL, -100, REDUCTION_MEAN);
        int rc = loss ? tensor_backward(loss, NULL) : -1;
        double t1 = now_ms();
        scope_end();
        if (rc != 0) {
            fprintf(stderr, "%s: %s\n", name, engine_last_error());
            free(ms);
            return -1;
        }
        if (i >= 0) ms[i] = t1 - t0;
    }
    qsort(ms, (size_t)iters, sizeof(double), cmp_double);
    printf("%s median_ms %.3f\n", name, ms[iters / 2]);
    free(ms);
    return 0;
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 30;
    manual_seed(0);
    MnistModel mnist = {param(SHAPE(10, 1, 5, 5)), param(SHAPE(10)), param(SHAPE(20, 10, 5, 5)), param(SHAPE(20)),
                        param(SHAPE(50, 320)),     param(SHAPE(50)), param(SHAPE(10, 50)),         param(SHAPE(10))};
    Mlp mlp = {param(SHAPE(1024, 784)), param(SHAPE(1024)), param(SHAPE(1024, 1024)),
               param(SHAPE(1024)),      param(SHAPE(10, 1024)), param(SHAPE(10))};
    Tensor *x = tensor_persist(tensor_randn(SHAPE(128, 1, 28, 28), NULL, CPU));
    Tensor *y = tensor_persist(tensor_randint(0, 10, SHAPE(128), NULL, CPU));
    if (time_model("mnist_model_b128", &mnist, mnist_fwd, x, y, iters) != 0) return 1;
    if (time_model("mlp_784_1024_1024_10_b128", &mlp, mlp_fwd, x, y, iters) != 0) return 1;
    return 0;
}
