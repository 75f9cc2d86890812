"""Torch definitions of the elementwise ops, for the oracle."""
import torch

OPS = {
    "add": lambda x, a: x[0] + x[1],
    "sub": lambda x, a: x[0] - x[1],
    "mul": lambda x, a: x[0] * x[1],
    "div": lambda x, a: x[0] / x[1],
    "add_scalar": lambda x, a: x[0] + a["s"],
    "mul_scalar": lambda x, a: x[0] * a["s"],
    "neg": lambda x, a: -x[0],
    "pow": lambda x, a: x[0] ** a["p"],
    "exp": lambda x, a: torch.exp(x[0]),
    "log": lambda x, a: torch.log(x[0]),
    "sqrt": lambda x, a: torch.sqrt(x[0]),
    "abs": lambda x, a: torch.abs(x[0]),
    "clamp": lambda x, a: torch.clamp(x[0], a.get("min"), a.get("max")),
    "relu": lambda x, a: torch.relu(x[0]),
    "leaky_relu": lambda x, a: torch.nn.functional.leaky_relu(x[0], a["slope"]),
    "sigmoid": lambda x, a: torch.sigmoid(x[0]),
    "tanh": lambda x, a: torch.tanh(x[0]),
    "gelu": lambda x, a: torch.nn.functional.gelu(x[0], approximate=a["approximate"]),
    "where": lambda x, a: torch.where(x[0].bool(), x[1], x[2]),
    # value may be a string ("nan", "inf", "-inf"): JSON has no NaN or Infinity
    "masked_fill": lambda x, a: x[0].masked_fill(x[1].bool(), float(a["value"])),
    "gt": lambda x, a: (x[0] > x[1]).to(torch.uint8),
    "eq": lambda x, a: (x[0] == x[1]).to(torch.uint8),
    "ne": lambda x, a: (x[0] != x[1]).to(torch.uint8),
    "lt": lambda x, a: (x[0] < x[1]).to(torch.uint8),
    "ge": lambda x, a: (x[0] >= x[1]).to(torch.uint8),
    "le": lambda x, a: (x[0] <= x[1]).to(torch.uint8),
}
