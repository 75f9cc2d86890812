"""JPEG files for tests/test_jpeg.c, written and read back by PIL (which
torchvision's ImageFolder uses; both link libjpeg-turbo): for each entry of
the "args" metadata {"files": [{"path", "mode": "L" | "RGB", "h", "w",
"quality", "subsampling", "progressive", "seed"}], "read_mode": "RGB" |
"L"}, a random image is saved to path, and "f<k>" is PIL's
Image.open(path).convert(read_mode) as uint8 [C, H, W]. Also writes a CMYK
JPEG when "cmyk" names a path. Exit code 3 without PIL.
"""
import json
import os
import sys

try:
    import numpy as np
    from PIL import Image
except ImportError:
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st import read_safetensors, write_safetensors  # noqa: E402


def main():
    _, meta = read_safetensors(sys.argv[1])
    args = json.loads(meta["args"])
    out = {}
    for k, f in enumerate(args["files"]):
        rng = np.random.RandomState(f["seed"])
        shape = (f["h"], f["w"]) if f["mode"] == "L" else (f["h"], f["w"], 3)
        # smooth blobs plus noise: what photographs compress like
        base = rng.randint(0, 256, size=shape).astype(np.float32)
        yy, xx = np.mgrid[0:f["h"], 0:f["w"]]
        wave = 100 * np.sin(xx / 3.0) * np.cos(yy / 5.0)
        img = np.clip(0.5 * base + 128 + (wave if f["mode"] == "L" else wave[..., None]), 0, 255).astype(np.uint8)
        Image.fromarray(img, f["mode"]).save(f["path"], "JPEG", quality=f["quality"],
                                             subsampling=f["subsampling"], progressive=f["progressive"])
        with open(f["path"], "rb") as fh:
            got = np.asarray(Image.open(fh).convert(args["read_mode"]), dtype=np.uint8)
        out[f"f{k}"] = (got[None] if got.ndim == 2 else got.transpose(2, 0, 1)).copy()
    if args.get("cmyk"):
        Image.new("CMYK", (8, 8), (10, 20, 30, 40)).save(args["cmyk"], "JPEG")
    write_safetensors(sys.argv[2], out)


if __name__ == "__main__":
    main()
