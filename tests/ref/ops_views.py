"""Torch definitions of the view and copy ops, for the oracle."""
import torch


def _slice(t, a):
    index = [slice(None)] * (a["dim"] % t.dim()) + [slice(a["start"], a["end"], a["step"])]
    return t[tuple(index)]


OPS = {
    "view": lambda x, a: x[0].view(a["shape"]),
    "reshape": lambda x, a: x[0].reshape(a["shape"]),
    "flatten": lambda x, a: torch.flatten(x[0], a["start"], a["end"]),
    "transpose": lambda x, a: x[0].transpose(a["dim0"], a["dim1"]),
    "permute": lambda x, a: x[0].permute(a["dims"]),
    "squeeze": lambda x, a: x[0].squeeze(a["dim"]),
    "squeeze_all": lambda x, a: x[0].squeeze(),
    "unsqueeze": lambda x, a: x[0].unsqueeze(a["dim"]),
    "expand": lambda x, a: x[0].expand(a["shape"]),
    "narrow": lambda x, a: x[0].narrow(a["dim"], a["start"], a["length"]),
    "slice": lambda x, a: _slice(x[0], a),
    "select": lambda x, a: x[0].select(a["dim"], a["index"]),
    # one chunk (the oracle differentiates the first output only)
    "chunk": lambda x, a: x[0].chunk(a["chunks"], a["dim"])[a["k"]],
    "contiguous": lambda x, a: x[0].contiguous(),
    "clone": lambda x, a: x[0].clone(),
    "cat": lambda x, a: torch.cat(x, a["dim"]),
    "stack": lambda x, a: torch.stack(x, a["dim"]),
    "chain1": lambda x, a: x[0].t()[1:6:2].select(1, -1),
    "chain2": lambda x, a: x[0].unsqueeze(0).expand(2, -1, -1).permute(2, 0, 1).reshape(-1, 4),
    "chain3": lambda x, a: x[0].expand(3, 4).view(3, 2, 2),
    "to_dtype": lambda x, a: x[0].to(getattr(torch, a["dtype"])),
    "flip": lambda x, a: torch.flip(x[0], a["dims"]),
    "diagonal": lambda x, a: torch.diagonal(x[0], a["offset"], a["dim1"], a["dim2"]),
}
