"""Torch definitions of the convolution and pooling ops, for the oracle."""
import torch.nn.functional as F


def _conv2d(x, a):
    return F.conv2d(x[0], x[1], x[2], stride=a["stride"], padding=a["padding"], dilation=a["dilation"],
                    groups=a["groups"])


def _conv_transpose2d(x, a):
    return F.conv_transpose2d(x[0], x[1], x[2], stride=a["stride"], padding=a["padding"],
                              output_padding=a["output_padding"], groups=a["groups"], dilation=a["dilation"])


OPS = {
    "conv2d": _conv2d,
    "conv_transpose2d": _conv_transpose2d,
    "max_pool2d": lambda x, a: F.max_pool2d(x[0], a["kernel"], a["stride"], a["padding"], ceil_mode=a["ceil_mode"]),
    "avg_pool2d": lambda x, a: F.avg_pool2d(x[0], a["kernel"], a["stride"], a["padding"], ceil_mode=a["ceil_mode"],
                                            count_include_pad=a["count_include_pad"]),
    "adaptive_avg_pool2d": lambda x, a: F.adaptive_avg_pool2d(x[0], a["output_size"]),
}
