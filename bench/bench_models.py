"""PyTorch reference for bench_models.c: full training steps (zero_grad,
forward, nll_loss, backward, SGD step with momentum 0.9 and lr 0.01) of the
PyTorch twins of the template's models (tests/ref/reference_models.py), on
the CPU or CUDA, with the same inputs, step counts and output lines:
    <name> median_ms <x> peak_mem_mb <y>
(peak memory: torch.cuda.max_memory_allocated over the timed steps, MiB; 0 on
the CPU).

Usage: python3 bench_models.py [--device cpu|cuda] [--iters N]
                               [--models a,b,...] [--threads T] [--tf32] [--cpu-time]
                               [--amp bf16]
--cpu-time times the steps in the process's CPU time (all threads) instead
of wall time: on a loaded machine it measures the work, not the waiting.
--amp bf16 runs the forward and the loss under torch.autocast(dtype=bfloat16).
On CUDA, cudnn.benchmark is on and TF32 is off for matmul and cuDNN unless
--tf32 is given (the engine's default is off too)."""
import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
from reference_models import MLP, MnistModel, MnistNet, ResNet18  # noqa: E402

# name: (constructor, input shape, default timed steps on the CPU); as MODELS in bench_models.c
MODELS = {
    "mnist_model_b128": (MnistModel, (128, 1, 28, 28), 30),
    "mnist_net_b128": (MnistNet, (128, 1, 28, 28), 30),
    "resnet18_b256": (ResNet18, (256, 3, 32, 32), 2),
    "mlp_784_1024_1024_10_b128": (lambda: MLP((1024, 1024)), (128, 1, 28, 28), 30),
}
CUDA_ITERS = 50


AMP = None  # --amp: the autocast dtype


def train_step(model, opt, x, y):
    opt.zero_grad(set_to_none=True)
    with torch.autocast(x.device.type, dtype=AMP, enabled=AMP is not None):
        loss = F.nll_loss(model(x), y)
    loss.backward()
    opt.step()


def time_model(name, device, iters, clock=time.perf_counter):
    ctor, shape, _ = MODELS[name]
    torch.manual_seed(0)
    model = ctor().to(device)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(*shape, device=device)
    y = torch.randint(0, 10, (shape[0],), device=device)
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(5 if iters >= 10 else 1):  # warm-up, as bench_models.c
        train_step(model, opt, x, y)
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(iters):
        sync()
        t0 = clock()
        train_step(model, opt, x, y)
        sync()
        times.append((clock() - t0) * 1e3)
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0
    print(f"{name} median_ms {statistics.median(times):.3f} peak_mem_mb {peak:.1f}", flush=True)
    del model, opt, x, y
    if cuda:
        torch.cuda.empty_cache()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--iters", type=int, default=0, help="timed steps per model (default: per device and model)")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of: " + ", ".join(MODELS))
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's)")
    p.add_argument("--tf32", action="store_true", help="TF32 for matmul and cuDNN on CUDA")
    p.add_argument("--cpu-time", action="store_true", help="time steps in process CPU time instead of wall time")
    p.add_argument("--amp", choices=["bf16"], help="forward and loss under autocast bfloat16")
    a = p.parse_args()
    global AMP
    AMP = torch.bfloat16 if a.amp else None
    names = a.models.split(",")
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    if a.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: torch sees no CUDA device")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.device == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
        torch.backends.cudnn.allow_tf32 = a.tf32
    device = torch.device(a.device)
    for name in MODELS:  # in the table's order, as bench_models.c
        if name in names:
            iters = a.iters or (CUDA_ITERS if device.type == "cuda" else MODELS[name][2])
            time_model(name, device, iters, time.process_time if a.cpu_time else time.perf_counter)


if __name__ == "__main__":
    main()
