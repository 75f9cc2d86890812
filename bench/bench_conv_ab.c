/* A/B timing of the CPU convolution kernels: our own (engine/cpu/conv.c)
 * against oneDNN's (engine/cpu/conv_dnnl.c, reorders to and from its
 * layouts included), called directly (no autograd), alternating the two in
 * every round so that both see the same load on a shared machine (and
 * which goes first alternates). Per layer and pass (forward, input
 * gradient, weight gradient): median ms of each, the ratio ours / oneDNN,
 * and the largest difference between their results relative to the
 * largest magnitude (a check, not a timing). conv.c's rule (dnnl_pays)
 * picks oneDNN for the layers where these ratios favour it.
 * Usage: bench_conv_ab [rounds [first last]]   (threads: OMP_NUM_THREADS;
 *   layers first..last of the list in main, default all; BENCH_CLOCK=cpu) */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_timing.h"
#include "engine/cpu/conv.h"
#include "engine/cpu/conv_dnnl.h"
#include "engine/engine.h"

/* BENCH_CLOCK=cpu: the process's CPU time instead of wall time. On a
 * machine shared with other jobs, a 1-thread run's CPU time leaves out the
 * time it waited for a core (with several threads it counts every thread's
 * time, spinning included). */
static clockid_t bench_clock = CLOCK_MONOTONIC;

static double now_ms(void) { return bench_ms(bench_clock); }

typedef struct {
    const char *name;
    int64_t n, c, h, w, o, k, stride, pad;
} Layer;

static double rel_diff(const Tensor *a, const Tensor *b)
{
    const float *pa = tensor_f32(a), *pb = tensor_f32(b);
    double d = 0, m = 1e-30;
    for (int64_t i = 0; i < tensor_numel(a); i++) {
        d = fmax(d, fabs((double)pa[i] - pb[i]));
        m = fmax(m, fabs((double)pa[i]));
    }
    return d / m;
}

static void run_layer(const Layer *l, int rounds)
{
    ConvParams p = conv_params_default();
    p.stride[0] = p.stride[1] = (int)l->stride;
    p.padding[0] = p.padding[1] = (int)l->pad;
    int64_t oh = (l->h + 2 * l->pad - l->k) / l->stride + 1, ow = (l->w + 2 * l->pad - l->k) / l->stride + 1;
    Tensor *x = tensor_persist(tensor_randn(SHAPE(l->n, l->c, l->h, l->w), NULL, CPU));
    Tensor *w = tensor_persist(tensor_randn(SHAPE(l->o, l->c, l->k, l->k), NULL, CPU));
    Tensor *b = tensor_persist(tensor_randn(SHAPE(l->o), NULL, CPU));
    Tensor *gy = tensor_persist(tensor_randn(SHAPE(l->n, l->o, oh, ow), NULL, CPU));
    Tensor *y[2], *gx[2], *gw[2];
    for (int i = 0; i < 2; i++) {
        y[i] = tensor_persist(tensor_empty(SHAPE(l->n, l->o, oh, ow), DT_F32, CPU));
        gx[i] = tensor_persist(tensor_empty(SHAPE(l->n, l->c, l->h, l->w), DT_F32, CPU));
        gw[i] = tensor_persist(tensor_empty(SHAPE(l->o, l->c, l->k, l->k), DT_F32, CPU));
    }
    double *t = malloc(sizeof(double) * 6 * (size_t)rounds);
    bool ran = true;
    for (int r = -2; r < rounds && ran; r++)
        for (int vv = 0; vv < 2 && ran; vv++) {
            int v = (vv + r + 2) % 2; /* 0 ours, 1 oneDNN: which goes first alternates by round */
            double t0 = now_ms();
            if (v) ran = dnnl_conv2d(y[v], x, w, b, p);
            else cpu_conv2d_own(y[v], x, w, b, p);
            double t1 = now_ms();
            if (v) ran = ran && dnnl_conv2d_transpose(gx[v], gy, w, p);
            else cpu_conv2d_transpose_own(gx[v], gy, w, NULL, p);
            double t2 = now_ms();
            if (v) ran = ran && dnnl_conv2d_weight_grad(gw[v], x, gy, p);
            else cpu_conv2d_weight_grad_own(gw[v], x, gy, p);
            double t3 = now_ms();
            if (r >= 0) {
                t[(0 * 2 + v) * rounds + r] = t1 - t0;
                t[(1 * 2 + v) * rounds + r] = t2 - t1;
                t[(2 * 2 + v) * rounds + r] = t3 - t2;
            }
        }
    static const char *pass[3] = {"fwd", "dx", "dw"};
    const Tensor *res[3][2] = {{y[0], y[1]}, {gx[0], gx[1]}, {gw[0], gw[1]}};
    double macs = (double)l->n * l->o * oh * ow * l->c * l->k * l->k;
    for (int q = 0; q < 3 && ran; q++) {
        double ours = bench_median(t + (q * 2) * rounds, rounds), dnnl = bench_median(t + (q * 2 + 1) * rounds, rounds);
        printf("%-36s %-3s threads %d ours_ms %8.3f onednn_ms %8.3f ours/onednn %5.2f ours_gflops %6.1f "
               "rel_diff %.1e\n",
               l->name, pass[q], omp_get_max_threads(), ours, dnnl, ours / dnnl, 2 * macs / ours / 1e6,
               rel_diff(res[q][0], res[q][1]));
    }
    if (!ran) printf("%-36s oneDNN cannot run this layer\n", l->name);
    free(t);
    Tensor *all[] = {x, w, b, gy, y[0], y[1], gx[0], gx[1], gw[0], gw[1]};
    for (int i = 0; i < 10; i++) tensor_free(all[i]);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 20;
    const char *clk = getenv("BENCH_CLOCK");
    if (clk && strcmp(clk, "cpu") == 0) bench_clock = CLOCK_PROCESS_CPUTIME_ID;
    if (rounds < 1) rounds = 1;
    if (!dnnl_conv_available()) {
        fprintf(stderr, "bench_conv_ab: this build has no oneDNN (install libdnnl-dev and reconfigure)\n");
        return 1;
    }
    manual_seed(0);
    static const Layer layers[] = {
        {"mnist_conv1_128x1x28x28_k5_o10", 128, 1, 28, 28, 10, 5, 1, 0},
        {"mnist_conv2_128x10x12x12_k5_o20", 128, 10, 12, 12, 20, 5, 1, 0},
        {"resnet_stem_64x3x32x32_k3p1_o64", 64, 3, 32, 32, 64, 3, 1, 1},
        {"mnist_net_conv1_128x1x28x28_k3_o32", 128, 1, 28, 28, 32, 3, 1, 0},
        {"mnist_net_conv2_128x32x26x26_k3_o64", 128, 32, 26, 26, 64, 3, 1, 0},
        {"resnet_l1_64x64x32x32_k3p1_o64", 64, 64, 32, 32, 64, 3, 1, 1},
        {"resnet_l2_64x128x16x16_k3p1_o128", 64, 128, 16, 16, 128, 3, 1, 1},
        {"resnet_l3_64x256x8x8_k3p1_o256", 64, 256, 8, 8, 256, 3, 1, 1},
        {"resnet_ds_64x128x16x16_k1s2_o256", 64, 128, 16, 16, 256, 1, 2, 0},
        {"resnet_l3s2_64x128x16x16_k3s2p1_o256", 64, 128, 16, 16, 256, 3, 2, 1},
        {"resnet_l4_64x512x4x4_k3p1_o512", 64, 512, 4, 4, 512, 3, 1, 1},
    };
    int n_layers = (int)(sizeof layers / sizeof layers[0]);
    int first = argc > 2 ? atoi(argv[2]) : 0, last = argc > 3 ? atoi(argv[3]) : n_layers - 1;
    for (int i = first; i <= last && i < n_layers; i++) run_layer(&layers[i], rounds);
    return 0;
}
