"""PyTorch side of the DDP comparison in tests/cli/e2e_distributed.sh
(Debian's python3-torch, torch.distributed with the gloo backend):

  ddp_ref.py init OUT
      saves a freshly initialised pytorch-template MnistModel (seed 0) with
      utils/safetensors.py: both sides start from these weights.
  ddp_ref.py train INIT MNIST_DIR OUT ARGS_JSON
      trains it with DistributedDataParallel on 2 gloo processes over the
      first `limit` MNIST training images (DistributedSampler, no shuffling:
      rank r takes samples r, r + 2, ...), `batch_size` per rank, SGD, one
      epoch, dropout off; rank 0 saves the final weights to OUT.

ARGS_JSON: {"limit", "batch_size", "lr", "momentum"}.
Exit code 3 means torch (or its gloo backend) is not available; the caller skips.
"""
import json
import os
import socket
import sys

try:
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DataLoader, DistributedSampler, TensorDataset
except ImportError:
    sys.exit(3)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "utils"))
from finetune_ref import load_split  # noqa: E402  (MNIST as MnistDataLoader transforms it)
from reference_models import MnistModel  # noqa: E402
from safetensors import load_file, save_file  # noqa: E402  (utils/safetensors.py)


class MnistModelNoDropout(MnistModel):
    """MnistModel with arch.args.dropout 0: both dropouts are the identity."""

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        x = F.relu(self.fc1(x.view(-1, 320)))
        return F.log_softmax(self.fc2(x), dim=1)


def worker(rank, port, init, data_dir, out, args):
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % port, rank=rank, world_size=2)
    torch.set_num_threads(1)
    model = MnistModelNoDropout()
    model.load_state_dict(load_file(init))
    ddp = DistributedDataParallel(model)
    x, y = load_split(data_dir, args["limit"])
    sampler = DistributedSampler(TensorDataset(x, y), num_replicas=2, rank=rank, shuffle=False)
    loader = DataLoader(TensorDataset(x, y), batch_size=args["batch_size"], sampler=sampler)
    opt = torch.optim.SGD(ddp.parameters(), lr=args["lr"], momentum=args["momentum"])
    for xb, yb in loader:
        opt.zero_grad()
        F.nll_loss(ddp(xb), yb).backward()
        opt.step()
    if rank == 0:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out)
    dist.destroy_process_group()


def main():
    if sys.argv[1] == "init":
        torch.manual_seed(0)
        save_file({k: v.contiguous() for k, v in MnistModel().state_dict().items()}, sys.argv[2])
        return
    init, data_dir, out, args = sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
    if not dist.is_gloo_available():
        sys.exit(3)
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(worker, args=(port, init, data_dir, out, args), nprocs=2, join=True)


if __name__ == "__main__":
    main()
