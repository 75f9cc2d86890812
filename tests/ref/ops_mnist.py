"""Torch side of the whole-model check: pytorch-template's MnistModel trained
with Adam from given initial weights on given batches."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class MnistModel(nn.Module):  # pytorch-template's model/model.py
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
