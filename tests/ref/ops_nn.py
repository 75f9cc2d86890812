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


class BaseModel(nn.Module):
    """pytorch-template's base/base_model.py: str() adds the parameter count."""

    def __str__(self):
        model_parameters = filter(lambda p: p.requires_grad, self.parameters())
        params = sum([np.prod(p.size()) for p in model_parameters])
        return super().__str__() + "\nTrainable parameters: {}".format(params)


class MnistModel(BaseModel):
    """pytorch-template's model/model.py MnistModel."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, num_classes)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = x.view(-1, 320)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, training=self.training)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


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
