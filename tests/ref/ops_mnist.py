"""Torch side of the whole-model check: pytorch-template's MnistModel trained
with Adam from given initial weights on given batches."""
import torch
import torch.nn.functional as F

from reference_models import MnistModel


NAMES = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight",
         "fc2.bias"]


def mnist_model_adam(x, a):
    """inputs: the 8 initial parameters in NAMES order, then xs [S, B, 1, 28, 28]
    and ys [S, B]; outputs: the S losses, then the final parameters."""
    model = MnistModel()
    with torch.no_grad():
        model.load_state_dict({n: t.detach() for n, t in zip(NAMES, x[:8])}, strict=True)
    model.eval()  # dropout off
    opt = torch.optim.Adam(model.parameters(), lr=a["lr"], amsgrad=a["amsgrad"])
    xs, ys = x[8], x[9]
    losses = []
    for s in range(a["steps"]):
        opt.zero_grad()
        loss = F.nll_loss(model(xs[s]), ys[s])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    params = [p.detach().clone() for p in model.state_dict().values()]
    return (torch.tensor(losses, dtype=torch.float32), *params)


OPS = {"mnist_model_adam": mnist_model_adam}
