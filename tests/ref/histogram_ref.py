"""numpy reference for the histogram tests (tests/test_visualization.c).

Run by tests/support/torch_script.c as: histogram_ref.py IN OUT. IN holds
float32 tensors v0, v1, ... and, in its "args" metadata, {"bins": [...]}
with one entry per tensor ("auto" or a count). OUT gets numpy.histogram's
counts and bin edges as c<i>.counts and c<i>.edges.

Exit code 3 means numpy (or torch, which the runner's interpreter is
chosen by) is not importable; the C side then skips.
"""
import json
import os
import sys

try:
    import numpy as np
except ImportError:
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st import read_safetensors, write_safetensors  # noqa: E402


def main():
    tensors, meta = read_safetensors(sys.argv[1])
    bins = json.loads(meta["args"])["bins"]
    out = {}
    for i, b in enumerate(bins):
        counts, edges = np.histogram(tensors["v%d" % i], bins=b)
        out["c%d.counts" % i] = counts.astype(np.float32)
        out["c%d.edges" % i] = edges.astype(np.float32)
    write_safetensors(sys.argv[2], out)


main()
