"""PyTorch side of tests/cli/e2e_sequence.sh (Debian's python3-torch):

  sequence_ref.py init OUT VOCAB DIM HIDDEN CLASSES SEED
      builds the SequenceClassifier of model/sequence_model.c in PyTorch
      (nn.Embedding, fc1, ReLU, fc2, log_softmax over the mean of the real
      tokens' embeddings) with PyTorch's own initialisation and saves its
      state_dict to OUT with utils/safetensors.py.
  sequence_ref.py train INIT TRAIN_TXT ARGS_JSON
      trains that model from INIT on the first `limit` lines of TRAIN_TXT in
      order, in batches padded as DataLoader(collate_fn=pad) would
      (pad_sequence(batch_first=True, padding_value), lengths), with Adam,
      and prints one JSON list: the loss of every step.

ARGS_JSON: {"limit", "batch_size", "lr", "padding_value"}.
Exit code 3 means torch is not importable (the caller then skips).
"""
import json
import os
import sys

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.nn.utils.rnn import pad_sequence
except ImportError:
    sys.exit(3)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "utils"))
import safetensors as st  # noqa: E402  (the project's own reader/writer)


class SequenceClassifier(nn.Module):
    def __init__(self, vocab, dim, hidden, classes):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, tokens, lengths):
        mask = (torch.arange(tokens.shape[1])[None, :] < lengths[:, None]).float()
        pooled = (self.embedding(tokens) * mask[:, :, None]).sum(1) / lengths[:, None].float()
        return F.log_softmax(self.fc2(F.relu(self.fc1(pooled))), dim=1)


def read_samples(path, limit):
    samples = []
    with open(path) as f:
        for line in f:
            if line.strip() and not line.lstrip().startswith("#"):
                values = [int(v) for v in line.split()]
                samples.append((values[0], values[1:]))
    return samples[:limit]


def main():
    cmd = sys.argv[1]
    if cmd == "init":
        out, vocab, dim, hidden, classes, seed = sys.argv[2], *map(int, sys.argv[3:8])
        torch.manual_seed(seed)
        model = SequenceClassifier(vocab, dim, hidden, classes)
        st.save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out)
    elif cmd == "train":
        init, train_txt, args = sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
        weights = st.load_file(init)
        vocab, dim = weights["embedding.weight"].shape
        model = SequenceClassifier(vocab, dim, weights["fc1.weight"].shape[0], weights["fc2.weight"].shape[0])
        model.load_state_dict({k: weights[k] for k in model.state_dict()})
        opt = torch.optim.Adam(model.parameters(), lr=args["lr"])
        samples = read_samples(train_txt, args["limit"])
        losses = []
        bs = args["batch_size"]
        for start in range(0, len(samples), bs):
            batch = samples[start:start + bs]
            tokens = pad_sequence([torch.tensor(s[1]) for s in batch], batch_first=True,
                                  padding_value=args["padding_value"])
            lengths = torch.tensor([len(s[1]) for s in batch])
            target = torch.tensor([s[0] for s in batch])
            opt.zero_grad()
            loss = F.nll_loss(model(tokens, lengths), target)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        print(json.dumps(losses))
    else:
        sys.exit("unknown command " + cmd)


main()
