"""Torch definitions of the losses, for the oracle. Inputs that the C side
leaves out (weight, pos_weight) arrive as None."""
import torch.nn.functional as F

OPS = {
    "nll_loss": lambda x, a: F.nll_loss(x[0], x[1], weight=x[2], ignore_index=a["ignore_index"],
                                        reduction=a["reduction"]),
    "nll_loss_of_log_softmax": lambda x, a: F.nll_loss(F.log_softmax(x[0], a["dim"]), x[1], weight=x[2],
                                                       ignore_index=a["ignore_index"], reduction=a["reduction"]),
    "cross_entropy": lambda x, a: F.cross_entropy(x[0], x[1], weight=x[2], ignore_index=a["ignore_index"],
                                                  reduction=a["reduction"], label_smoothing=a["label_smoothing"]),
    "mse_loss": lambda x, a: F.mse_loss(x[0], x[1], reduction=a["reduction"]),
    "l1_loss": lambda x, a: F.l1_loss(x[0], x[1], reduction=a["reduction"]),
    "binary_cross_entropy": lambda x, a: F.binary_cross_entropy(x[0], x[1], weight=x[2], reduction=a["reduction"]),
    "binary_cross_entropy_with_logits": lambda x, a: F.binary_cross_entropy_with_logits(
        x[0], x[1], weight=x[2], pos_weight=x[3], reduction=a["reduction"]),
}
