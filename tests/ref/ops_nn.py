"""Torch modules for the nn tests, for the oracle.

"module" builds a torch module from args["ctor"] (a Python expression over
nn, torch and MnistModel), sets train/eval from args["train"], and calls it
with the given parameters and buffers (inputs after the first args["n_data"],
named by args["names"]) through functional_call, so gradients reach those
inputs and buffer updates land in them. With several data inputs the module
runs once per input (e.g. BatchNorm steps); outputs are the last result and
then the tensors named in args["return"] as they are afterwards.
"module_params" returns a fresh module's tensors (default initialisation);
"text" returns str() of a Python expression as UTF-8 bytes (uint8), for
comparing reprs and names.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.stateless import functional_call

from reference_models import BaseModel, MnistModel  # noqa: F401 (used by ctor expressions)


class Net(nn.Module):
    """A nested model for the name-order tests: a Sequential, then a
    parameter of its own, then another child."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5))
        self.scale = nn.Parameter(torch.ones(3))
        self.head = nn.Linear(8, 3)


NAMESPACE = {"nn": nn, "torch": torch, "MnistModel": MnistModel, "Net": Net}


def build(ctor):
    return eval(ctor, dict(NAMESPACE))


def text(x, a):
    return torch.tensor(list(str(build(a["expr"])).encode()), dtype=torch.uint8)


def run_module(x, a):
    m = build(a["ctor"])
    m.train(a.get("train", True))
    n_data = a.get("n_data", 1)
    state = dict(zip(a.get("names", []), x[n_data:]))
    y = None
    for d in x[:n_data]:
        y = functional_call(m, state, (d,))
    return (y,) + tuple(state[k] for k in a.get("return", []))


def module_params(x, a):
    """The named parameters and buffers of a freshly built module (default init)."""
    torch.manual_seed(a.get("seed", 0))
    sd = build(a["ctor"]).state_dict()
    return tuple(sd[k] for k in a["names"])


OPS = {
    "module": run_module,
    "module_params": module_params,
    "text": text,
}
