"""torchvision's transforms on the images of tests/test_transforms.c.

Input (safetensors): uint8 images "img<k>" ([C, H, W]) and, in the "args"
metadata, the cases: {"image": k, "pipeline": [{"type": ..., "args": ...}]}
as the C side's config lists them (random transforms with their random
parameters pinned: degrees [a, a], p = 1, ColorJitter with one factor
[f, f], RandomCrop whose window is the whole padded image), or
{"image": k, "affine": {...}} for F.affine with explicit translations.
Each pipeline runs on the uint8 tensor as torchvision's tensor transforms
do (ToTensor becomes convert_image_dtype, the same x / 255). Output: "c<k>"
(float32), and "c<k>.pil" for Resize cases on bytes, PIL's own resize, so
the two torchvision paths can be told apart. Exit code 3 without torch or
torchvision.
"""
import json
import os
import sys

try:
    import numpy as np
    import torch
    import torchvision.transforms as T
    import torchvision.transforms.functional as F
    from torchvision.transforms import InterpolationMode
    from PIL import Image
except ImportError:
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st import read_safetensors, write_safetensors  # noqa: E402


def mode(name):
    return InterpolationMode.BILINEAR if name == "bilinear" else InterpolationMode.NEAREST


def fill_list(a, img):
    f = a.get("fill", 0)
    return [float(v) for v in f] if isinstance(f, list) else [float(f)] * img.shape[0]


def pinned(a, key):
    """A pinned range [v, v] (or [v, v, w, w] for shear) -> its values."""
    v = a[key]
    if not isinstance(v, list) or v[0] != v[1] or (len(v) == 4 and v[2] != v[3]):
        raise SystemExit(f"transforms_ref: {key} must be pinned, got {v}")
    return v[0] if len(v) == 2 else [v[0], v[2]]


def step(t, img):
    kind, a = t["type"], t.get("args", {})
    if kind == "ToTensor":
        return F.convert_image_dtype(img, torch.float32)
    if kind == "Normalize":
        return T.Normalize(a["mean"], a["std"])(img)
    if kind == "Resize":
        interp = a.get("interpolation", "bilinear")
        antialias = a.get("antialias", True) if interp == "bilinear" else False
        return T.Resize(a["size"], mode(interp), a.get("max_size"), antialias)(img)
    if kind == "CenterCrop":
        return T.CenterCrop(a["size"])(img)
    if kind == "RandomCrop":  # the window is the whole padded image: only the padding is left
        out = F.pad(img, a.get("padding", 0), a.get("fill", 0), a.get("padding_mode", "constant"))
        size = a["size"] if isinstance(a["size"], list) else [a["size"]] * 2
        if list(out.shape[-2:]) != size:
            raise SystemExit("transforms_ref: RandomCrop must take the whole padded image")
        return out
    if kind in ("RandomHorizontalFlip", "RandomVerticalFlip"):
        p = a.get("p", 0.5)
        if p not in (0, 1):
            raise SystemExit("transforms_ref: flips need p 0 or 1")
        if p == 0:
            return img
        return F.hflip(img) if kind == "RandomHorizontalFlip" else F.vflip(img)
    if kind == "RandomRotation":
        return F.rotate(img, pinned(a, "degrees"), mode(a.get("interpolation", "nearest")), False,
                        a.get("center"), fill_list(a, img))
    if kind == "RandomAffine":
        shear = pinned(a, "shear") if "shear" in a else [0.0, 0.0]
        scale = pinned(a, "scale") if "scale" in a else 1.0
        return F.affine(img, pinned(a, "degrees"), [0, 0], scale, shear,
                        mode(a.get("interpolation", "nearest")), fill_list(a, img), a.get("center"))
    if kind == "ColorJitter":
        (name, v), = a.items()
        f = {"brightness": F.adjust_brightness, "contrast": F.adjust_contrast,
             "saturation": F.adjust_saturation, "hue": F.adjust_hue}[name]
        return f(img, v[0])
    raise SystemExit(f"transforms_ref: unknown transform {kind}")


def main():
    tensors, meta = read_safetensors(sys.argv[1])
    cases = json.loads(meta["args"])["cases"]
    out = {}
    for k, case in enumerate(cases):
        img = torch.from_numpy(tensors[f"img{case['image']}"].copy())
        if "affine" in case:
            a = case["affine"]
            x = img if a["bytes"] else F.convert_image_dtype(img, torch.float32)
            x = F.affine(x, a["angle"], a["translate"], a["scale"], a["shear"], mode(a["interpolation"]),
                         fill_list(a, x), a.get("center"))
            out[f"c{k}"] = F.convert_image_dtype(x, torch.float32).numpy() if a["bytes"] else x.numpy()
            continue
        x = img
        for t in case["pipeline"]:
            x = step(t, x)
        out[f"c{k}"] = x.contiguous().numpy()
        first = case["pipeline"][0]
        fa = first.get("args", {})
        if first["type"] == "Resize" and fa.get("interpolation", "bilinear") == "bilinear" and fa.get("antialias", True):
            # PIL's resize of the same bytes (torchvision's PIL path), for the record
            hwc = img.permute(1, 2, 0).numpy()
            pil = Image.fromarray(hwc[:, :, 0] if hwc.shape[2] == 1 else hwc)
            h, w = F.resize(img, fa["size"], max_size=fa.get("max_size"), antialias=True).shape[-2:]
            r = np.asarray(pil.resize((w, h), Image.BILINEAR), dtype=np.float32) / 255.0
            out[f"c{k}.pil"] = (r[None] if r.ndim == 2 else r.transpose(2, 0, 1)).copy()
    write_safetensors(sys.argv[2], out)


if __name__ == "__main__":
    main()
