"""PyTorch side of bench_conv.c: the same conv2d layers (MnistModel's two,
batch 128), forward and forward+backward, median milliseconds. Runs
bench_conv and this in alternating rounds with the same thread count, then
prints both and the ratios (torch time / our time: above 1 means we are
faster), plus bench_conv's sgemm ceiling. Medians are the measure; the
minima (best run of any round) show the code unpreempted, which matters on a
machine shared with other jobs.
Usage: /usr/bin/python3 bench/bench_conv.py [build_dir] [threads] [rounds] [iterations]"""
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

LAYERS = [  # name, input shape, weight shape, whether the input needs a gradient
    ("conv1_x128x1x28x28_w10x1x5x5", (128, 1, 28, 28), (10, 1, 5, 5), False),
    ("conv2_x128x10x12x12_w20x10x5x5", (128, 10, 12, 12), (20, 10, 5, 5), True),
]


def time_layer(x_shape, w_shape, input_grad, iters):
    x = torch.randn(x_shape, requires_grad=input_grad)
    w = torch.randn(w_shape, requires_grad=True)
    b = torch.randn(w_shape[0], requires_grad=True)
    gout = torch.randn(F.conv2d(x.detach(), w.detach()).shape)
    fwd, both = [], []
    for i in range(-5, iters):  # 5 warm-up runs
        t0 = time.perf_counter()
        y = F.conv2d(x, w, b)
        t1 = time.perf_counter()
        y.backward(gout)
        t2 = time.perf_counter()
        x.grad = w.grad = b.grad = None
        if i >= 0:
            fwd.append((t1 - t0) * 1e3)
            both.append((t2 - t0) * 1e3)
    return statistics.median(fwd), statistics.median(both), min(fwd), min(both)


def parse(lines):
    """{name: {key: float}} from 'name key value key value ...' lines."""
    out = {}
    for line in lines:
        f = line.split()
        if f:
            out[f[0]] = {f[i]: float(f[i + 1]) for i in range(1, len(f) - 1, 2)}
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "build")
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else os.cpu_count()
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    iters = int(sys.argv[4]) if len(sys.argv) > 4 else 50
    torch.set_num_threads(threads)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    keys = ("fwd", "both", "fwd_min", "both_min")
    ours = {name: {k: [] for k in keys} for name, *_ in LAYERS}
    theirs = {name: {k: [] for k in keys} for name, *_ in LAYERS}
    sgemm = []
    for _ in range(rounds):
        run = subprocess.run([os.path.join(build, "bench", "bench_conv"), str(iters)], env=env, check=True,
                             capture_output=True, text=True)
        res = parse(run.stdout.splitlines())
        for name, *_ in LAYERS:
            for k, field in zip(keys, ("fwd_ms", "fwdbwd_ms", "fwd_min_ms", "fwdbwd_min_ms")):
                ours[name][k].append(res[name][field])
        sgemm.append(res["sgemm_2048"]["gflops"])
        for name, xs, ws, ig in LAYERS:
            for k, v in zip(keys, time_layer(xs, ws, ig, iters)):
                theirs[name][k].append(v)
    print(f"{'layer':32s} {'pass':7s} {'ours_ms':>9s} {'torch_ms':>9s} {'ratio':>6s} {'our_GFLOP/s':>12s}"
          f" {'ours_min':>9s} {'torch_min':>9s} {'ratio_min':>9s}")
    for name, xs, ws, ig in LAYERS:
        oh, ow = xs[2] - ws[2] + 1, xs[3] - ws[3] + 1
        flops = 2.0 * xs[0] * ws[0] * oh * ow * ws[1] * ws[2] * ws[3]
        for key, label, total in (("fwd", "fwd", flops), ("both", "fwd+bwd", flops * (3 if ig else 2))):
            o, t = statistics.median(ours[name][key]), statistics.median(theirs[name][key])
            om, tm = min(ours[name][key + "_min"]), min(theirs[name][key + "_min"])
            print(f"{name:32s} {label:7s} {o:9.3f} {t:9.3f} {t / o:6.2f} {total / o / 1e6:12.2f}"
                  f" {om:9.3f} {tm:9.3f} {tm / om:9.2f}")
    print(f"sgemm 2048^3 (cblas_sgemm, same threads): {statistics.median(sgemm):.2f} GFLOP/s")
    print(f"threads={threads} rounds={rounds} iterations={iters} (median over rounds of per-round medians); "
          f"torch {torch.__version__}, mkldnn={torch.backends.mkldnn.is_available()}")


if __name__ == "__main__":
    main()
