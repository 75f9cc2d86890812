"""PyTorch reference for the in-place arithmetic tests (tests/test_int64_inplace.c).

Run by tests/support/torch_script.c as: inplace_ref.py IN OUT. IN holds the
destination d<i> and, for tensor operands, the source s<i> of each case; its
"args" metadata is {"cases": [{"op": "add_" | "sub_" | "mul_", "alpha": int
or float or null, "scalar": int or float or null, "transpose": bool}, ...]}
(a scalar case has no s<i>; "transpose": the op writes through d.t()).
OUT gets r<i>, d<i> after the op, and in its "result" metadata, for each
case, PyTorch's error message or null.

Exit code 3 means torch is not importable; the C side then skips.
"""
import json
import os
import sys

try:
    import torch
except ImportError:
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st import read_safetensors, write_safetensors  # noqa: E402


def run_case(i, case, tensors):
    d = torch.from_numpy(tensors["d%d" % i].copy())
    target = d.t() if case.get("transpose") else d
    operand = case["scalar"] if ("s%d" % i) not in tensors else torch.from_numpy(tensors["s%d" % i].copy())
    kwargs = {} if case.get("alpha") is None else {"alpha": case["alpha"]}
    getattr(target, case["op"])(operand, **kwargs)
    return d


def main():
    tensors, meta = read_safetensors(sys.argv[1])
    cases = json.loads(meta["args"])["cases"]
    out, errors = {}, []
    for i, case in enumerate(cases):
        try:
            out["r%d" % i] = run_case(i, case, tensors).numpy()
            errors.append(None)
        except RuntimeError as e:
            errors.append(str(e))
    write_safetensors(sys.argv[2], out, {"result": json.dumps({"errors": errors})})


main()
