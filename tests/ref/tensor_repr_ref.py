"""PyTorch's repr strings for the tensor printing tests (tests/test_tensor_print.c).

Run by tests/support/torch_script.c as: tensor_repr_ref.py IN OUT. IN holds
the tensors t<i>; its "args" metadata is {"cases": [{"transpose": bool,
"requires_grad": bool, "op": null or "add_self" or "exp", "options": null or
{"precision": p, "threshold": n, "edgeitems": e, "linewidth": w,
"sci_mode": null | true | false}}, ...]}. OUT's "result" metadata is
{"reprs": [repr(case i), ...]}.

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


def make(case, array):
    x = torch.from_numpy(array.copy())
    if case.get("requires_grad"):
        x.requires_grad_(True)
    if case.get("transpose"):
        x = x.t() if x.dim() == 2 else x.transpose(0, 1)
    op = case.get("op")
    if op == "add_self":
        x = x + x
    elif op == "exp":
        x = x.exp()
    return x


def main():
    tensors, meta = read_safetensors(sys.argv[1])
    cases = json.loads(meta["args"])["cases"]
    reprs = []
    for i, case in enumerate(cases):
        x = make(case, tensors["t%d" % i])
        opts = case.get("options")
        if opts:
            torch.set_printoptions(precision=opts["precision"], threshold=opts["threshold"],
                                   edgeitems=opts["edgeitems"], linewidth=opts["linewidth"],
                                   sci_mode=opts["sci_mode"])
        try:
            reprs.append(repr(x))
        finally:
            torch.set_printoptions(profile="default", sci_mode=None)
    write_safetensors(sys.argv[2], {}, {"result": json.dumps({"reprs": reprs})})


main()
