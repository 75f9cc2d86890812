"""Predicted data-parallel scaling efficiency, on paper: for ResNet-18
(CIFAR variant, 32x32) and MnistModel at 8, 64 and 256 GPUs, from a step's
compute time, the gradient bytes, and the all-reduce cost of a ring,
2 (N - 1) / N x bytes / bandwidth + 2 (N - 1) x latency, with the
bandwidth of the slowest link the ring crosses: NVLink inside a node of 8,
InfiniBand between nodes. Buckets overlap the all-reduce with the backward
(about 2/3 of a step's compute), so a step takes
    compute + max(0, allreduce - overlap x backward)
and efficiency = compute / step. For small gradients NCCL switches to a
tree (latency 2 log2(N) hops), which is shown too; the faster one counts.

Reading it: ResNet-18 at 32x32 does little compute per gradient byte, so on
H100s beyond one node the InfiniBand all-reduce (45 MB of fp32 gradients
per step) outlasts the backward it hides behind: about half efficiency at
64-256 GPUs, better with bf16 gradients (half the bytes) or a larger batch
per GPU. MnistModel's 87 KB of gradients cost tens of microseconds
(latency-bound) and hide behind even a launch-bound step. Horovod's ~90% at
512 GPUs was ResNet-101 at 224x224 on P100s, whose steps were ~25x longer
than an H100's: on H100s the same model lands near half too, for the
same reason.

The inputs are stated, not measured here (no GPU on this machine): the
compute time per step is what an H100 is assumed to take for the model's
FLOPs at an assumed utilisation; override any of them on the command line.
usage: scaling_model.py [--util 0.35] [--nvlink 450] [--ib 50] [--latency-us 5] [--overlap 1.0]
"""
import argparse
import math

# parameters, forward FLOPs per sample, per-GPU batch
MODELS = {
    "ResNet-18 (32x32, batch 256/GPU)": (11_173_962, 0.556e9, 256),
    "MnistModel (batch 128/GPU)": (21_840, 0.96e6, 128),
    # Horovod's published case (~90% at 512 P100s), on H100s
    "ResNet-101 (224x224, batch 64/GPU)": (44_549_160, 7.8e9, 64),
}
H100_TFLOPS = 989.0  # dense bf16, SXM (NVIDIA's datasheet)


def step_time(params, flops_fwd, batch, util, min_step_ms=0.15):
    """Forward + backward = 3 x forward FLOPs, at util of the peak; no step
    is faster than the launch-bound floor (small models are launch-bound)."""
    compute = 3 * flops_fwd * batch / (H100_TFLOPS * 1e12 * util)
    return max(compute, min_step_ms * 1e-3)


def allreduce(bytes_, n, nvlink, ib, latency, tree):
    if n == 1:
        return 0.0
    bw = (nvlink if n <= 8 else ib) * 1e9
    # a pipelined tree moves as many bytes per GPU as a ring, with fewer hops of latency
    hops = 2 * math.log2(n) if tree else 2 * (n - 1)
    return 2 * (n - 1) / n * bytes_ / bw + hops * latency


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--util", type=float, default=0.35, help="achieved share of the H100's bf16 peak")
    ap.add_argument("--nvlink", type=float, default=450.0, help="GB/s per GPU inside a node (NVLink 4, one direction)")
    ap.add_argument("--ib", type=float, default=50.0, help="GB/s per GPU between nodes (one 400 Gb/s NDR port per GPU)")
    ap.add_argument("--latency-us", type=float, default=5.0, help="per hop")
    ap.add_argument("--overlap", type=float, default=1.0, help="share of the backward the all-reduce can hide behind")
    a = ap.parse_args()
    print("assumed: H100 %.0f TFLOP/s x %.2f, NVLink %.0f GB/s, IB %.0f GB/s, %.0f us per hop, fp32 gradients"
          % (H100_TFLOPS, a.util, a.nvlink, a.ib, a.latency_us))
    print("%-34s %5s %10s %12s %12s %10s" % ("model", "GPUs", "step ms", "ring ms", "tree ms", "efficiency"))
    for name, (params, flops, batch) in MODELS.items():
        compute = step_time(params, flops, batch, a.util)
        backward = compute * 2 / 3
        for n in (8, 64, 256):
            ring = allreduce(4 * params, n, a.nvlink, a.ib, a.latency_us * 1e-6, False)
            tree = allreduce(4 * params, n, a.nvlink, a.ib, a.latency_us * 1e-6, True)
            comm = min(ring, tree)
            step = compute + max(0.0, comm - a.overlap * backward)
            print("%-34s %5d %10.3f %12.3f %12.3f %9.0f%%" % (name, n, compute * 1e3, ring * 1e3, tree * 1e3,
                                                             100 * compute / step))


if __name__ == "__main__":
    main()
