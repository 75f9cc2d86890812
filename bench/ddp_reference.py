"""PyTorch's side of bench/distributed.sh: pytorch-template's MnistModel
trained as config.json says (MNIST, 90/10 split, Adam lr 1e-3 amsgrad,
nll_loss), with DistributedDataParallel on `ranks` gloo processes of one
thread each, batch_size per rank, validation each epoch (each rank its
share, as ours). Prints "epoch_s E S" for each epoch (wall time of its
training and validation, measured on rank 0).

usage: ddp_reference.py MNIST_RAW_DIR RANKS BATCH_PER_RANK EPOCHS
"""
import os
import socket
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "ref"))
from finetune_ref import load_split  # noqa: E402
from reference_models import MnistModel  # noqa: E402


def worker(rank, port, data_dir, ranks, batch, epochs):
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % port, rank=rank, world_size=ranks)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y = load_split(data_dir, 60000)
    perm = np.random.RandomState(0).permutation(60000)
    valid, train = perm[:6000], perm[6000:]
    train_set, valid_set = TensorDataset(x[train], y[train]), TensorDataset(x[valid], y[valid])
    model = DistributedDataParallel(MnistModel())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    sampler = DistributedSampler(train_set, num_replicas=ranks, rank=rank, shuffle=True, seed=0)
    loader = DataLoader(train_set, batch_size=batch, sampler=sampler)
    vloader = DataLoader(valid_set, batch_size=batch,
                         sampler=DistributedSampler(valid_set, num_replicas=ranks, rank=rank, shuffle=False))
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        sampler.set_epoch(epoch)
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            F.nll_loss(model(xb), yb).backward()
            opt.step()
        model.eval()
        totals = torch.zeros(3)
        with torch.no_grad():
            for xb, yb in vloader:
                out = model(xb)
                totals += torch.tensor([F.nll_loss(out, yb, reduction="sum").item(),
                                        (out.argmax(1) == yb).sum().item(), len(yb)])
        dist.all_reduce(totals)
        if rank == 0:
            print("epoch_s %d %.3f val_accuracy %.4f" % (epoch, time.perf_counter() - t0, totals[1] / totals[2]),
                  flush=True)
    dist.destroy_process_group()


def main():
    data_dir, ranks, batch, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(worker, args=(port, data_dir, ranks, batch, epochs), nprocs=ranks, join=True)


if __name__ == "__main__":
    main()
