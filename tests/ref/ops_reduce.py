"""Torch definitions of the reductions, for the oracle.

args: "dims" (a list, or absent for all dims), "keepdim", "correction", "dim".
"""
import torch


def _dims(x, a):
    # all dims when none are given, so keepdim applies to every one
    d = a.get("dims")
    return list(range(x.dim())) if d is None else d


def _reduce(fn):
    return lambda x, a: fn(x[0], _dims(x[0], a), a.get("keepdim", False))


OPS = {
    "sum": _reduce(lambda t, d, k: torch.sum(t, dim=d, keepdim=k)),
    "mean": _reduce(lambda t, d, k: torch.mean(t, dim=d, keepdim=k)),
    "var": lambda x, a: torch.var(x[0], dim=_dims(x[0], a), correction=a["correction"], keepdim=a["keepdim"]),
    "std": lambda x, a: torch.std(x[0], dim=_dims(x[0], a), correction=a["correction"], keepdim=a["keepdim"]),
    "amax": _reduce(lambda t, d, k: torch.amax(t, dim=d, keepdim=k)),
    "amin": _reduce(lambda t, d, k: torch.amin(t, dim=d, keepdim=k)),
    "max_dim": lambda x, a: tuple(torch.max(x[0], a["dim"], keepdim=a["keepdim"])),
    "min_dim": lambda x, a: tuple(torch.min(x[0], a["dim"], keepdim=a["keepdim"])),
    "argmax": lambda x, a: torch.argmax(x[0], a["dim"], keepdim=a["keepdim"]),
    "argmin": lambda x, a: torch.argmin(x[0], a["dim"], keepdim=a["keepdim"]),
    "argmax_all": lambda x, a: torch.argmax(x[0]),
}
