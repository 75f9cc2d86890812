"""PyTorch reference for the optimizer, gradient-clipping and LR-scheduler tests.

Run by tests/support/torch_script.c as: optim_ref.py IN OUT. IN is a
safetensors file whose metadata "args" is a JSON object with a "task":

  optim: initial parameters p<i> and per-step gradients g<s>.<i> (a missing
         gradient means grad None at that step); each case builds
         torch.optim.<algo>(groups, **defaults) and steps; the parameters
         after step s are written as c<k>.s<s>.p<i>.
  clip:  gradients c<k>.g<i> (missing: no grad); clip_grad_norm_ or
         clip_grad_value_; writes the clipped c<k>.g<i> and, in the "result"
         metadata, the total norms.
  sched: each case builds an optimizer with one tiny parameter per group and
         a scheduler, steps it, and writes in "result" every group's lr (and
         momentum or beta1) after construction and after each step. With
         "add_at" and "add_lr", a group with that lr is added before step
         add_at and taken in by the scheduler as the engine does (see
         adopt_group; the lists then have one more entry per point).

Exit code 3 means torch is not importable (the C side then skips).
"""
import json
import os
import sys
import warnings

try:
    import numpy as np  # noqa: F401
    import torch
except ImportError:
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st import read_safetensors, write_safetensors  # noqa: E402


def tensor(arr):
    return torch.from_numpy(arr.copy())


def kwargs_of(d):
    # JSON lists stand for PyTorch's tuples (betas)
    return {k: tuple(v) if k == "betas" else v for k, v in d.items()}


def run_optim(tensors, args, out):
    n_params, steps = args["n_params"], args["steps"]
    for k, case in enumerate(args["cases"]):
        params = [tensor(tensors[f"p{i}"]).requires_grad_(True) for i in range(n_params)]
        groups = []
        for g in case["groups"]:
            group = kwargs_of({key: v for key, v in g.items() if key != "params"})
            group["params"] = [params[i] for i in g["params"]]
            groups.append(group)
        opt = getattr(torch.optim, case["algo"])(groups, **kwargs_of(case["defaults"]))
        for s in range(steps):
            for i, p in enumerate(params):
                key = f"g{s}.{i}"
                p.grad = tensor(tensors[key]) if key in tensors else None
            opt.step()
            for i, p in enumerate(params):
                out[f"c{k}.s{s}.p{i}"] = p.detach().numpy().copy()


def run_clip(tensors, args, out):
    norms = []
    for k, case in enumerate(args["cases"]):
        params = []
        for i in range(case["n_params"]):
            key = f"c{k}.g{i}"
            grad = tensor(tensors[key]) if key in tensors else None
            p = torch.zeros_like(grad if grad is not None else torch.zeros(1), requires_grad=True)
            p.grad = grad
            params.append(p)
        if case["kind"] == "norm":
            norm_type = float("inf") if case["norm_type"] == "inf" else case["norm_type"]
            total = torch.nn.utils.clip_grad_norm_(params, case["max_norm"], norm_type)
            norms.append(float(total))
        else:
            torch.nn.utils.clip_grad_value_(params, case["clip_value"])
            norms.append(0.0)
        for i, p in enumerate(params):
            if p.grad is not None:
                out[f"c{k}.g{i}"] = p.grad.numpy().copy()
    return {"norms": norms}


def group_momentum(group):
    if "betas" in group:
        return group["betas"][0]
    return group.get("momentum", 0.0)


def adopt_group(sched, opt):
    """What engine/optim/lr_scheduler.h does with a group added after the
    scheduler was made, written with PyTorch's own keys: the recursive
    schedulers step whatever param_groups holds, so they only need the base
    lr that their constructor would have set (initial_lr, the group's lr);
    OneCycleLR and ReduceLROnPlateau, which PyTorch cannot step with such a
    group, take the first group's per-group values."""
    first, group = opt.param_groups[0], opt.param_groups[-1]
    if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
        sched.min_lrs.append(sched.min_lrs[0])
        return
    if isinstance(sched, torch.optim.lr_scheduler.OneCycleLR):
        for key in ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"):
            if key in first:  # (the momenta only with cycle_momentum)
                group[key] = first[key]
        group["lr"] = first["lr"]
        if sched.cycle_momentum:
            if "betas" in group:
                group["betas"] = (first["betas"][0], group["betas"][1])
            else:
                group["momentum"] = first["momentum"]
    group.setdefault("initial_lr", group["lr"])
    sched.base_lrs.append(group["initial_lr"])


def run_sched(args):
    results = []
    for case in args["cases"]:
        params = [torch.nn.Parameter(torch.zeros(1)) for _ in case["group_lrs"]]
        groups = [{"params": [p], "lr": lr} for p, lr in zip(params, case["group_lrs"])]
        opt = getattr(torch.optim, case["optim"])(groups, **kwargs_of(case.get("optim_kwargs", {})))
        sched = getattr(torch.optim.lr_scheduler, case["sched"])(opt, **case["kwargs"])
        lrs = [[g["lr"] for g in opt.param_groups]]
        moms = [[group_momentum(g) for g in opt.param_groups]]
        metrics = case.get("metrics")
        for s in range(case["steps"]):
            if s == case.get("add_at"):
                opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": case["add_lr"]})
                adopt_group(sched, opt)
            opt.step()
            if metrics is not None:
                sched.step(metrics[s])
            else:
                sched.step()
            lrs.append([g["lr"] for g in opt.param_groups])
            moms.append([group_momentum(g) for g in opt.param_groups])
        results.append({"lrs": lrs, "momentum": moms})
    return {"cases": results}


def main():
    warnings.simplefilter("ignore")
    torch.use_deterministic_algorithms(True)
    tensors, meta = read_safetensors(sys.argv[1])
    args = json.loads(meta["args"])
    out, result = {}, None
    task = args["task"]
    if task == "optim":
        run_optim(tensors, args, out)
    elif task == "clip":
        result = run_clip(tensors, args, out)
    elif task == "sched":
        result = run_sched(args)
    else:
        raise SystemExit(f"optim_ref: unknown task '{task}'")
    write_safetensors(sys.argv[2], out, {"result": json.dumps(result)} if result is not None else None)


if __name__ == "__main__":
    main()
