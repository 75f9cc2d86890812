"""PyTorch reference for bench_models.c: forward+backward of MnistModel and
of the 784-1024-1024-10 MLP at batch 128, median milliseconds.
Usage: python3 bench_models.py [iterations] [threads]"""
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
from reference_models import MnistModel  # noqa: E402 (pytorch-template's model)


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                         nn.Linear(1024, 10), nn.LogSoftmax(dim=1))


def time_model(name, model, x, y, iters):
    model.train()
    times = []
    for i in range(-5, iters):
        t0 = time.perf_counter()
        loss = F.nll_loss(model(x), y)
        loss.backward()
        t1 = time.perf_counter()
        model.zero_grad(set_to_none=True)
        if i >= 0:
            times.append((t1 - t0) * 1e3)
    print(f"{name} median_ms {statistics.median(times):.3f}")


def main():
    iters = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.randn(128, 1, 28, 28)
    y = torch.randint(0, 10, (128,))
    time_model("mnist_model_b128", MnistModel(), x, y, iters)
    time_model("mlp_784_1024_1024_10_b128", mlp(), x, y, iters)


if __name__ == "__main__":
    main()
