"""PyTorch reference for tests/test_resnet.c: the ResNet18 twin of
reference_models.py.

Run by tests/support/torch_script.c as: resnet_ref.py IN OUT. IN's metadata
"args" is a JSON object with a "task":

  structure: writes in the "result" metadata the state_dict's names, shapes
             and dtypes and str(model) (the repr plus BaseModel's
             "Trainable parameters: N" line).
  step:      IN holds the state dict as "sd.<name>", a batch "x" and labels
             "y". Loads the weights (strict), then writes the eval-mode
             output "eval0", one train-mode SGD step's output "train_out",
             its nll loss "loss", every parameter's gradient "grad.<name>",
             the state dict after the step "after.<name>" and the eval-mode
             output after the step "eval1"; in the "result" metadata
             "relu_margins": per stage, the smallest |input| of a ReLU in
             the train-mode forward, computed in float64 (see relu_margins).

Exit code 3 means torch is not importable (the C side then skips).
"""
import copy
import json
import os
import sys

try:
    import numpy as np  # noqa: F401
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_models import ResNet18  # noqa: E402
from st import read_safetensors, write_safetensors  # noqa: E402


def structure(model):
    sd = model.state_dict()
    return {"names": list(sd.keys()), "shapes": [list(t.shape) for t in sd.values()],
            "dtypes": [str(t.dtype).replace("torch.", "") for t in sd.values()], "str": str(model)}


def relu_margins(model, x):
    """min |input| over the ReLU evaluations of a train-mode forward, in
    float64, per stage ("relu" is the stem's). Gradients agree between two
    float32 implementations only if no ReLU input lies within their rounding
    difference of zero: an element whose mask flips changes its channel's
    BatchNorm gradient, by ~1e-2 of the gradient's scale in layer4 (64 values
    per channel at batch 4)."""
    model = copy.deepcopy(model).double().train()
    margins = {}

    def hook_for(stage):
        def hook(module, inputs):
            margins[stage] = min(margins.get(stage, float("inf")), inputs[0].abs().min().item())
        return hook

    for name, m in model.named_modules():
        if isinstance(m, torch.nn.ReLU):
            m.register_forward_pre_hook(hook_for(name.split(".")[0]))
    with torch.no_grad():
        model(x.double())
    return margins


def step(model, tensors, args, out):
    sd = {k[3:]: torch.from_numpy(v.copy()) for k, v in tensors.items() if k.startswith("sd.")}
    model.load_state_dict(sd, strict=True)
    x = torch.from_numpy(tensors["x"].copy())
    y = torch.from_numpy(tensors["y"].copy())
    margins = relu_margins(model, x)
    model.eval()
    with torch.no_grad():
        out["eval0"] = model(x).numpy()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=args["lr"], momentum=args["momentum"])
    opt.zero_grad()
    output = model(x)
    loss = F.nll_loss(output, y)
    loss.backward()
    out["train_out"] = output.detach().numpy()
    out["loss"] = loss.detach().numpy()
    for name, p in model.named_parameters():
        out["grad." + name] = p.grad.numpy().copy()
    opt.step()
    for name, t in model.state_dict().items():
        out["after." + name] = t.numpy().copy()
    model.eval()
    with torch.no_grad():
        out["eval1"] = model(x).numpy()
    return {"relu_margins": margins}


def main():
    torch.use_deterministic_algorithms(True)
    tensors, meta = read_safetensors(sys.argv[1])
    args = json.loads(meta["args"])
    model = ResNet18(num_classes=args["num_classes"], in_channels=args["in_channels"])
    out, result = {}, None
    if args["task"] == "structure":
        result = structure(model)
    elif args["task"] == "step":
        result = step(model, tensors, args, out)
    else:
        raise SystemExit(f"resnet_ref: unknown task '{args['task']}'")
    write_safetensors(sys.argv[2], out, {"result": json.dumps(result)} if result is not None else None)


if __name__ == "__main__":
    main()
