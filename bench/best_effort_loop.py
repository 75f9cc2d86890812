"""Best-effort PyTorch training loop for the default config.json (MnistModel,
batch 128, Adam amsgrad lr 0.001, StepLR(50, 0.1), nll_loss, validation split
0.1 drawn as pytorch-template's BaseDataLoader draws it): the speed baseline
bench/run_template.sh compares our ./train with. The whole MNIST train set
sits on the device as one normalised float tensor, batches are gathered with
a torch.randperm drawn on the device, there is no DataLoader, losses and
correct counts are accumulated on the device and read once per epoch, and on
CUDA cudnn.benchmark is on and TF32 off (--tf32 turns it on).

Usage: /usr/bin/python3 bench/best_effort_loop.py [--device cpu|cuda] [--epochs N]
                                                   [--data-dir data/MNIST/raw] [--tf32]
Prints one line per epoch, then the median seconds per epoch over epochs 2..N
(epoch 1, which includes cudnn autotuning, separately), peak CUDA memory, and
a line "SUMMARY epoch_s_median X first_epoch_s Y peak_alloc_mb A
peak_reserved_mb R final_val_acc V" for scripts ("nan" where not measured).
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
from reference_models import MnistModel  # noqa: E402


def read_idx(path):
    """An IDX file (big-endian header: magic with the rank in its low byte, then the dims) as a numpy array."""
    with open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    if magic >> 8 != 0x08:  # 0x08: unsigned byte data
        sys.exit(f"{path}: not an unsigned-byte IDX file (magic {magic:#010x})")
    rank = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank)
    if data.size != int(np.prod(dims)):
        sys.exit(f"{path}: expected {int(np.prod(dims))} bytes of data for shape {dims}, got {data.size}")
    return data.reshape(dims)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--data-dir", default="data/MNIST/raw", help="folder with the raw MNIST IDX files")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 in cuDNN and cuBLAS (off by default)")
    ap.add_argument("--seed", type=int, default=123, help="torch.manual_seed, as pytorch-template's train.py")
    args = ap.parse_args()
    if args.epochs < 1:
        sys.exit("--epochs: expected at least 1")
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("--device cuda: torch.cuda.is_available() is False")
    dev = torch.device(args.device)
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
    torch.manual_seed(args.seed)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    # data: the whole train set on the device, Normalize((0.1307,), (0.3081,)) as the reference's transform
    images = read_idx(os.path.join(args.data_dir, "train-images-idx3-ubyte"))
    labels = read_idx(os.path.join(args.data_dir, "train-labels-idx1-ubyte"))
    if images.shape[0] != labels.shape[0]:
        sys.exit(f"{args.data_dir}: {images.shape[0]} images but {labels.shape[0]} labels")
    x_all = torch.from_numpy(images.copy()).to(dev).float().div_(255.0).sub_(0.1307).div_(0.3081).unsqueeze_(1)
    y_all = torch.from_numpy(labels.astype(np.int64)).to(dev)
    # validation split 0.1 as BaseDataLoader._split_sampler draws it
    n = images.shape[0]
    idx_full = np.arange(n)
    np.random.seed(0)
    np.random.shuffle(idx_full)
    len_valid = int(n * 0.1)
    valid_idx = torch.from_numpy(idx_full[:len_valid]).to(dev)
    train_idx = torch.from_numpy(idx_full[len_valid:]).to(dev)
    x_val, y_val = x_all[valid_idx], y_all[valid_idx]
    n_train, n_val, bs = train_idx.numel(), valid_idx.numel(), 128

    model = MnistModel().to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001, weight_decay=0, amsgrad=True)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=50, gamma=0.1)
    print(f"device {args.device}  torch {torch.__version__}  train {n_train}  valid {n_val}  batch {bs}"
          f"  cudnn.benchmark {cuda}  tf32 {cuda and args.tf32}", flush=True)

    times, val_acc = [], float("nan")
    for epoch in range(1, args.epochs + 1):
        sync()
        t0 = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), device=dev)
        perm = train_idx[torch.randperm(n_train, device=dev)]
        for start in range(0, n_train, bs):  # the last partial batch is kept, as the reference's DataLoader does
            idx = perm[start:start + bs]
            data, target = x_all[idx], y_all[idx]
            optimizer.zero_grad(set_to_none=True)
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * target.numel()
        model.eval()
        val_loss_sum = torch.zeros((), device=dev)
        correct = torch.zeros((), dtype=torch.int64, device=dev)
        with torch.no_grad():
            for start in range(0, n_val, bs):
                data, target = x_val[start:start + bs], y_val[start:start + bs]
                output = model(data)
                val_loss_sum += F.nll_loss(output, target, reduction="sum")
                correct += (output.argmax(dim=1) == target).sum()
        scheduler.step()
        sync()
        seconds = time.perf_counter() - t0
        times.append(seconds)
        train_loss, val_loss = loss_sum.item() / n_train, val_loss_sum.item() / n_val
        val_acc = correct.item() / n_val
        print(f"epoch {epoch:3d}  {seconds:8.3f} s  loss {train_loss:.6f}  val_loss {val_loss:.6f}"
              f"  val_accuracy {val_acc:.6f}", flush=True)

    nan = float("nan")
    median = statistics.median(times[1:]) if len(times) > 1 else nan
    alloc = torch.cuda.max_memory_allocated() / 2**20 if cuda else nan
    reserved = torch.cuda.max_memory_reserved() / 2**20 if cuda else nan
    print(f"first epoch (includes cudnn autotuning on CUDA): {times[0]:.4f} s")
    print(f"median over epochs 2..{args.epochs}: {median:.4f} s per epoch")
    if cuda:
        print(f"torch.cuda.max_memory_allocated {alloc:.1f} MB  max_memory_reserved {reserved:.1f} MB")
    print(f"SUMMARY epoch_s_median {median:.6f} first_epoch_s {times[0]:.6f} peak_alloc_mb {alloc:.1f}"
          f" peak_reserved_mb {reserved:.1f} final_val_acc {val_acc:.6f}")


if __name__ == "__main__":
    main()
