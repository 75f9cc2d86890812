"""PyTorch side of tests/cli/e2e_finetune.sh (Debian's python3-torch):

  finetune_ref.py pretrain OUT DATA_DIR [--permute-labels]
      trains pytorch-template's MnistModel briefly on the IDX files in
      DATA_DIR (Fashion-MNIST; with --permute-labels, MNIST with its labels
      permuted stands in for another task) and saves its state_dict to OUT
      with utils/safetensors.py, as a user without the safetensors package
      would.
  finetune_ref.py finetune INIT MNIST_DIR ARGS_JSON
      fine-tunes from INIT (a checkpoint of ./train that holds the starting
      weights: the pretrained ones and the head's initialisation) the way
      ./train does with arch.freeze and optimizer.param_groups, on the same
      batches, and prints one JSON list: the loss of every step.

ARGS_JSON: {"limit", "batch_size", "steps", "freeze": [patterns], "lr",
"momentum", "groups": [{"params": [patterns], "lr": x}], "rng": [seed,
offset]}. Shuffling is off on both sides, so the batches are the first
`limit` training images in order.

Dropout stays on, with the same masks on both sides: MnistModel's Dropout2d
and dropout draw from ./train's default generator, a counter-based Philox
4x32-10 (engine/philox.h, engine/random.c): element i of a draw is word i
from block offset + i / 4, kept when its top 24 bits, as a float in [0, 1),
are below 1 - p; each draw advances the offset by ceil(n / 4) blocks. "rng"
is the generator's state when training began, and the masks are computed
here from it. Turning dropout off instead would need an option MnistModel
does not have, or eval mode, which is not the training this checks.

Exit code 3 means torch is not importable (the caller then skips).
"""
import fnmatch
import gzip
import json
import os
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit(3)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "utils"))
from reference_models import MnistModel  # noqa: E402
from safetensors import load_file, save_file  # noqa: E402  (utils/safetensors.py)

MEAN, STD = np.float32(0.1307), np.float32(0.3081)


def read_idx(data_dir, name):
    for path in (os.path.join(data_dir, name), os.path.join(data_dir, name + ".gz")):
        if os.path.exists(path):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rb") as f:
                data = f.read()
            ndim = data[3]
            dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    raise SystemExit("finetune_ref: %s not found in %s" % (name, data_dir))


def load_split(data_dir, n):
    """The first n training images, transformed as MnistDataLoader does
    (ToTensor, then Normalize with MNIST's mean and std, in float32)."""
    x = read_idx(data_dir, "train-images-idx3-ubyte")[:n].astype(np.float32)
    y = read_idx(data_dir, "train-labels-idx1-ubyte")[:n].astype(np.int64)
    x = (x / np.float32(255.0) - MEAN) / STD
    return torch.from_numpy(x[:, None, :, :].copy()), torch.from_numpy(y.copy())


def pretrain(out, data_dir, permute):
    torch.manual_seed(0)
    x, y = load_split(data_dir, 2048)
    if permute:
        y = torch.tensor([3, 7, 0, 9, 5, 1, 8, 2, 6, 4])[y]
    model = MnistModel()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for b in range(0, len(x), 64):  # one epoch: the weights need only differ from an initialisation
        opt.zero_grad()
        loss = F.nll_loss(model(x[b:b + 64]), y[b:b + 64])
        loss.backward()
        opt.step()
    with torch.no_grad():
        model.eval()
        acc = (model(x).argmax(1) == y).float().mean().item()
    print("pretrained: last loss %.4f, training accuracy %.3f" % (loss.item(), acc))
    save_file(model.state_dict(), out, {"note": "MnistModel pretrained by tests/ref/finetune_ref.py"})


# ---- ./train's default generator (engine/philox.h, engine/random.c) ----

M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
MASK32 = np.uint64(0xFFFFFFFF)


def philox_words(seed, first_block, n_words):
    """Words 0..n_words-1 of a draw that starts at block first_block."""
    n_blocks = (n_words + 3) // 4
    ctr = np.arange(first_block, first_block + n_blocks, dtype=np.uint64)
    c0, c1 = (ctr & MASK32).astype(np.uint32), (ctr >> np.uint64(32)).astype(np.uint32)
    c2 = np.zeros(n_blocks, np.uint32)
    c3 = np.zeros(n_blocks, np.uint32)
    k0, k1 = seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF
    for _ in range(10):
        p0 = M0 * c0.astype(np.uint64)
        p1 = M1 * c2.astype(np.uint64)
        hi0, lo0 = (p0 >> np.uint64(32)).astype(np.uint32), (p0 & MASK32).astype(np.uint32)
        hi1, lo1 = (p1 >> np.uint64(32)).astype(np.uint32), (p1 & MASK32).astype(np.uint32)
        c0, c1, c2, c3 = hi1 ^ c1 ^ np.uint32(k0), lo1, hi0 ^ c3 ^ np.uint32(k1), lo0
        k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
    return np.stack([c0, c1, c2, c3], axis=1).reshape(-1)[:n_words]


class Generator:
    def __init__(self, seed, offset):
        self.seed, self.offset = seed, offset

    def dropout_mask(self, shape, p):
        n = int(np.prod(shape))
        words = philox_words(self.seed, self.offset, n)
        self.offset += (n + 3) // 4
        uniform = (words >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / 16777216.0)
        keep = (uniform < np.float32(1.0 - p)).astype(np.float32)
        return torch.from_numpy(keep.reshape(shape) * np.float32(1.0 / (1.0 - p)))


def forward(model, x, gen):
    """MnistModel.forward in training mode with gen's dropout masks (model/model.c)."""
    x = F.relu(F.max_pool2d(model.conv1(x), 2))
    c = model.conv2(x)
    x = F.relu(F.max_pool2d(c * gen.dropout_mask((c.shape[0], c.shape[1], 1, 1), 0.5), 2))
    x = x.view(-1, 320)
    x = F.relu(model.fc1(x))
    x = x * gen.dropout_mask(tuple(x.shape), 0.5)
    return F.log_softmax(model.fc2(x), dim=1)


def matches(name, patterns):
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def finetune(init, data_dir, args):
    torch.use_deterministic_algorithms(True)
    model = MnistModel()
    weights = {k: v for k, v in load_file(init).items() if not k.startswith("optimizer.")}
    model.load_state_dict(weights)
    named = list(model.named_parameters())
    for name, p in named:
        p.requires_grad_(not matches(name, args["freeze"]))
    # optimizer.param_groups as utils/param_groups.c lays them out: the
    # default group first, then one per entry, trainable parameters only
    entries = args.get("groups", [])
    slots = [[] for _ in range(len(entries) + 1)]
    for name, p in named:
        if not p.requires_grad:
            continue
        owner = [j for j, e in enumerate(entries) if matches(name, e["params"])]
        slots[owner[0] + 1 if owner else 0].append(p)
    groups = [{"params": slots[0]}] if slots[0] else []
    for j, e in enumerate(entries):
        if slots[j + 1]:
            groups.append(dict({k: v for k, v in e.items() if k != "params"}, params=slots[j + 1]))
    opt = torch.optim.SGD(groups, lr=args["lr"], momentum=args["momentum"])
    x, y = load_split(data_dir, args["limit"])
    gen = Generator(*args["rng"])
    bs, losses = args["batch_size"], []
    model.train()
    for s in range(args["steps"]):
        opt.zero_grad(set_to_none=True)
        loss = F.nll_loss(forward(model, x[s * bs:(s + 1) * bs], gen), y[s * bs:(s + 1) * bs])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    frozen_grads = [name for name, p in named if not p.requires_grad and p.grad is not None]
    assert not frozen_grads, frozen_grads
    print(json.dumps(losses))


def main():
    torch.set_num_threads(1)  # (faster than 2 on the small batches here, and CI machines are shared)
    if sys.argv[1] == "pretrain":
        pretrain(sys.argv[2], sys.argv[3], "--permute-labels" in sys.argv[4:])
    elif sys.argv[1] == "finetune":
        finetune(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))
    else:
        raise SystemExit("usage: finetune_ref.py pretrain OUT DATA_DIR [--permute-labels] | "
                         "finetune INIT MNIST_DIR ARGS_JSON")


if __name__ == "__main__":
    main()
