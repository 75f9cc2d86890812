"""Torch definitions of the normalisation and softmax ops, for the oracle."""
import torch
import torch.nn.functional as F


def _batch_norm(x, a):
    """F.batch_norm; the running stats (updated in place) follow the output."""
    out = F.batch_norm(x[0], x[1], x[2], x[3], x[4], training=a["training"], momentum=a["momentum"], eps=a["eps"])
    return (out, *[t for t in (x[1], x[2]) if t is not None])


def _batch_norm_module(x, a):
    """Training calls of nn.BatchNorm1d/2d on x[0..n-1] (weight x[n], bias
    x[n+1]): the last output and the module's running buffers."""
    n = a["calls"]
    xs, w, b = x[:n], x[n], x[n + 1]
    cls = torch.nn.BatchNorm2d if xs[0].dim() == 4 else torch.nn.BatchNorm1d
    m = cls(xs[0].shape[1], eps=a["eps"], momentum=a["momentum"])
    with torch.no_grad():
        m.weight.copy_(w)
        m.bias.copy_(b)
    for t in xs:
        out = m(t)
    return out, m.running_mean, m.running_var


OPS = {
    "batch_norm": _batch_norm,
    "batch_norm_module": _batch_norm_module,
    "layer_norm": lambda x, a: F.layer_norm(x[0], a["shape"], x[1], x[2], a["eps"]),
    "softmax": lambda x, a: F.softmax(x[0], a["dim"]),
    "log_softmax": lambda x, a: F.log_softmax(x[0], a["dim"]),
}
