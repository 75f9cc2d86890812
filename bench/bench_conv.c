/* Times conv2d forward and forward+backward for MnistModel's two conv layers
 * at batch 128 (median of N runs) and reports GFLOP/s, next to the GFLOP/s
 * of one large sgemm (2048^3) as this machine's BLAS ceiling.
 * bench/bench_conv.py runs this and the same layers in PyTorch and prints
 * ratios. Output lines: "<layer> fwd_ms <x> fwdbwd_ms <y> fwd_gflops <a>
 * fwdbwd_gflops <b> fwd_min_ms <c> fwdbwd_min_ms <d>" (medians, then minima)
 * and "sgemm_2048 ms <x> gflops <y>".
 * Usage: bench_conv [iterations] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench/bench_timing.h"
#include "engine/cpu/linalg.h"
#include "engine/engine.h"

static double now_ms(void) { return bench_ms(CLOCK_MONOTONIC); }

static void drop_grad(Tensor *t)
{
    if (t->grad) tensor_free(t->grad);
    t->grad = NULL;
}

typedef struct {
    const char *name;
    Shape x, w;
    bool input_grad; /* conv1 sees the images, conv2 an activation that needs a gradient */
} Layer;

static int time_layer(const Layer *l, int iters)
{
    Tensor *x = tensor_persist(tensor_randn(l->x, NULL, CPU));
    Tensor *w = tensor_persist(tensor_randn(l->w, NULL, CPU));
    Tensor *b = tensor_persist(tensor_randn(SHAPE(l->w.d[0]), NULL, CPU));
    tensor_set_requires_grad(x, l->input_grad);
    tensor_set_requires_grad(w, true);
    tensor_set_requires_grad(b, true);
    ConvParams p = conv_params_default();
    int64_t oh = l->x.d[2] - l->w.d[2] + 1, ow = l->x.d[3] - l->w.d[3] + 1;
    double flops = 2.0 * (double)(l->x.d[0] * l->w.d[0] * oh * ow * l->w.d[1] * l->w.d[2] * l->w.d[3]);
    Tensor *gout = tensor_persist(tensor_randn(SHAPE(l->x.d[0], l->w.d[0], oh, ow), NULL, CPU));
    double *fwd = malloc(sizeof(double) * (size_t)iters), *both = malloc(sizeof(double) * (size_t)iters);
    int rc = 0;
    for (int i = -5; i < iters && rc == 0; i++) { /* 5 warm-up runs */
        scope_begin();
        double t0 = now_ms();
        Tensor *y = f_conv2d(x, w, b, p);
        double t1 = now_ms();
        rc = y ? tensor_backward(y, gout) : -1;
        double t2 = now_ms();
        scope_end();
        drop_grad(x);
        drop_grad(w);
        drop_grad(b);
        if (i >= 0) {
            fwd[i] = t1 - t0;
            both[i] = t2 - t0;
        }
    }
    if (rc == 0) {
        double f = bench_median(fwd, iters), fb = bench_median(both, iters);
        /* backward: the weight gradient, plus the input gradient when needed */
        double bwd_flops = flops * (l->input_grad ? 2 : 1);
        /* the minima too: on a machine shared with other jobs they show what
         * the code does when it is not preempted */
        printf("%s fwd_ms %.3f fwdbwd_ms %.3f fwd_gflops %.2f fwdbwd_gflops %.2f fwd_min_ms %.3f fwdbwd_min_ms %.3f\n",
               l->name, f, fb, flops / f / 1e6, (flops + bwd_flops) / fb / 1e6, fwd[0], both[0]);
    } else {
        fprintf(stderr, "%s: %s\n", l->name, engine_last_error());
    }
    free(fwd);
    free(both);
    tensor_free(x);
    tensor_free(w);
    tensor_free(b);
    tensor_free(gout);
    return rc;
}

static void time_sgemm(int n, int iters)
{
    float *a = malloc(sizeof(float) * (size_t)n * n), *b = malloc(sizeof(float) * (size_t)n * n);
    float *c = malloc(sizeof(float) * (size_t)n * n);
    for (int64_t i = 0; i < (int64_t)n * n; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
    }
    double *ms = malloc(sizeof(double) * (size_t)iters);
    for (int i = -1; i < iters; i++) {
        double t0 = now_ms();
        cpu_sgemm(false, false, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        if (i >= 0) ms[i] = now_ms() - t0;
    }
    double m = bench_median(ms, iters);
    printf("sgemm_%d ms %.3f gflops %.2f\n", n, m, 2.0 * n * (double)n * n / m / 1e6);
    free(a);
    free(b);
    free(c);
    free(ms);
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 50;
    if (iters < 1) iters = 1;
    manual_seed(0);
    static const Layer layers[] = {
        {"conv1_x128x1x28x28_w10x1x5x5", {4, {128, 1, 28, 28}}, {4, {10, 1, 5, 5}}, false},
        {"conv2_x128x10x12x12_w20x10x5x5", {4, {128, 10, 12, 12}}, {4, {20, 10, 5, 5}}, true},
    };
    for (int i = 0; i < 2; i++)
        if (time_layer(&layers[i], iters) != 0) return 1;
    time_sgemm(2048, iters < 5 ? iters : 5);
    return 0;
}
