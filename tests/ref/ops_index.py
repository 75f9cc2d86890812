"""Torch definitions of the indexing ops, for the oracle."""
import torch
import torch.nn.functional as F

OPS = {
    "gather": lambda x, a: torch.gather(x[0], a["dim"], x[1]),
    "scatter_add": lambda x, a: torch.scatter_add(x[0], a["dim"], x[1], x[2]),
    "index_select": lambda x, a: torch.index_select(x[0], a["dim"], x[1]),
    "embedding": lambda x, a: F.embedding(x[0], x[1], padding_idx=a.get("padding_idx")),
    # value may be a string ("nan", "inf", "-inf"): JSON has no NaN or Infinity
    "pad": lambda x, a: F.pad(x[0], tuple(a["pads"]), value=float(a.get("value", 0.0))),
    "one_hot": lambda x, a: F.one_hot(x[0], a["num_classes"]),
}
