"""PyTorch side of the test oracle.

Reads a safetensors file of cases written by tests/support/oracle.c, runs
each case's op in torch (forward; backward with the given output gradient),
and writes outputs and input gradients to a second safetensors file.
Ops come from the OPS dicts of the ops_*.py modules next to this file.
Exit code 3 means torch is not importable (the C side then skips).
"""
import glob
import importlib.util
import json
import os
import sys

try:
    import numpy as np
    import torch
except ImportError:
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st import read_safetensors, write_safetensors  # noqa: E402


def load_ops():
    ops = {}
    here = os.path.dirname(os.path.abspath(__file__))
    for path in sorted(glob.glob(os.path.join(here, "ops_*.py"))):
        spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for name, fn in mod.OPS.items():
            if name in ops:
                raise SystemExit(f"oracle: op '{name}' defined twice (in {path})")
            ops[name] = fn
    return ops


def main():
    torch.use_deterministic_algorithms(True)
    tensors, meta = read_safetensors(sys.argv[1])
    cases = json.loads(meta["cases"])
    ops = load_ops()
    out = {}
    for k, case in enumerate(cases):
        op = case["op"]
        if op not in ops:
            raise SystemExit(f"oracle: unknown op '{op}' (known: {', '.join(sorted(ops))})")
        inputs = []
        for i in range(case["n_inputs"]):
            arr = tensors.get(f"c{k}.in{i}")
            if arr is None:
                inputs.append(None)
                continue
            t = torch.from_numpy(arr.copy())
            if case["needs_grad"][i]:
                t.requires_grad_(True)
            inputs.append(t)
        result = ops[op](inputs, case["args"])
        outs = result if isinstance(result, (tuple, list)) else (result,)
        for j, o in enumerate(outs):
            out[f"c{k}.out{j}"] = o.detach().contiguous().numpy()
        if case["has_grad_out"]:
            gout = torch.from_numpy(tensors[f"c{k}.gout"].copy())
            outs[0].backward(gout)
            for i, t in enumerate(inputs):
                if t is not None and t.requires_grad and t.grad is not None:
                    out[f"c{k}.grad{i}"] = t.grad.contiguous().numpy()
    write_safetensors(sys.argv[2], out)


if __name__ == "__main__":
    main()
