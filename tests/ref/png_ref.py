"""PIL's reading of the PNG files tests/test_datasets.c writes, as
torchvision's ImageFolder loads them (Image.open(f).convert(mode)).

Input: the "args" metadata {"files": [...], "mode": "RGB" | "L" | "RGBA"}.
Output: "f<k>", the image as uint8 [C, H, W]. Exit code 3 without PIL.
"""
import json
import os
import sys
import warnings

try:
    import numpy as np
    from PIL import Image
except ImportError:
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st import read_safetensors, write_safetensors  # noqa: E402


def main():
    warnings.simplefilter("ignore")  # PIL's advice on palette transparency
    _, meta = read_safetensors(sys.argv[1])
    args = json.loads(meta["args"])
    out = {}
    for k, path in enumerate(args["files"]):
        with open(path, "rb") as f:
            img = np.asarray(Image.open(f).convert(args["mode"]), dtype=np.uint8)
        out[f"f{k}"] = (img[None] if img.ndim == 2 else img.transpose(2, 0, 1)).copy()
    write_safetensors(sys.argv[2], out)


if __name__ == "__main__":
    main()
