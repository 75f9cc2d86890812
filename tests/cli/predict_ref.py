"""Helpers of tests/cli/predict.sh: the files ./predict is tried on, and
PyTorch's own probabilities for them to check its output against.

  predict_ref.py files DIR [MNIST_RAW]
      writes DIR/<class>_<n>.png probe images (stripes and rings as
      tests/cli/image_folder.py draws them: grey, RGB, grey + alpha and
      RGBA, 28x28 and other sizes), DIR/mnist0.png (the first test digit,
      when MNIST_RAW is given), and bad files: a damaged PNG, a text file
      named .png, an empty file, small.idx (three 20x20 images) and
      labels.idx (a 1-D IDX file). Standard library only.

  predict_ref.py unnamed CKPT OUT
      writes OUT: CKPT without its class names (numpy).

  predict_ref.py check CKPT OUTPUT TOPK [--png FILE...] [--idx FILE --index I...]
      computes every image's class probabilities in PyTorch (the
      checkpoint's weights in tests/ref/reference_models.py's MnistModel,
      its config's validation transforms in torchvision, softmax of the
      output) and checks ./predict's OUTPUT against them: one block per
      image in order, min(TOPK, classes) lines, the classes in falling
      probability by name (the checkpoint's class names, else indices),
      each probability within 1e-5. Prints "ok ..." / "FAILED: ..." lines;
      exit status 1 when anything failed. Needs torch, torchvision, PIL.
"""
import gzip
import json
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from image_folder import pattern, png_planes as png  # noqa: E402  (the test images' classes and PNG writer)


def read_idx(path):
    """An IDX file of unsigned bytes as (shape, bytes)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return shape, data[4 + 4 * ndim:]


def write_idx(path, shape, values):
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 8, len(shape)]) + struct.pack(">" + "I" * len(shape), *shape) + bytes(values))


def make_files(out, mnist_raw):
    os.makedirs(out, exist_ok=True)
    rng = random.Random(11)
    # (class, height, width, colour type): grey and RGB at the model's size, others resized
    probes = [("horizontal", 28, 28, 0), ("vertical", 28, 28, 2), ("ring", 28, 28, 0), ("ring", 30, 26, 0),
              ("vertical", 33, 25, 4), ("horizontal", 24, 31, 6)]
    for n, (kind, h, w, color) in enumerate(probes):
        grey = pattern(kind, h, w, rng)
        opaque = [[255] * w for _ in range(h)]
        planes = {0: [grey], 2: [grey] * 3, 4: [grey, opaque], 6: [grey] * 3 + [opaque]}[color]
        png(os.path.join(out, "%s_%d.png" % (kind, n)), planes, color)
    good = os.path.join(out, "horizontal_0.png")
    with open(good, "rb") as f:
        data = f.read()
    with open(os.path.join(out, "damaged.png"), "wb") as f:
        f.write(data[:len(data) // 2])
    with open(os.path.join(out, "text.png"), "w") as f:
        f.write("not an image\n")
    open(os.path.join(out, "empty.png"), "wb").close()
    write_idx(os.path.join(out, "small.idx"), (3, 20, 20), [rng.randrange(256) for _ in range(3 * 400)])
    write_idx(os.path.join(out, "labels.idx"), (4,), [1, 2, 3, 4])
    if mnist_raw:
        name = "t10k-images-idx3-ubyte"
        path = os.path.join(mnist_raw, name)
        shape, data = read_idx(path if os.path.exists(path) else path + ".gz")
        h, w = shape[1], shape[2]
        png(os.path.join(out, "mnist0.png"), [[list(data[y * w:(y + 1) * w]) for y in range(h)]], 0)


def parse_output(path):
    """./predict's blocks: [(label, [(name, prob), ...]), ...]."""
    blocks = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            if not line.startswith("  "):
                blocks.append((line, []))
            else:
                name, prob = line.strip().rsplit(None, 1)
                blocks[-1][1].append((name.strip(), float(prob)))
    return blocks


def check(argv):
    import numpy as np
    import torch
    import torchvision.transforms as T
    import torchvision.transforms.functional as TF
    from PIL import Image

    sys.path.insert(0, os.path.join(SRC, "utils"))
    sys.path.insert(0, os.path.join(SRC, "tests", "ref"))
    from reference_models import MnistModel
    from safetensors import load_file

    ckpt, output, topk = argv[0], argv[1], int(argv[2])
    pngs, idx, indices, mode = [], None, [], None
    for a in argv[3:]:
        if a in ("--png", "--idx", "--index"):
            mode = a
        elif mode == "--png":
            pngs.append(a)
        elif mode == "--idx":
            idx = a
        elif mode == "--index":
            indices.append(int(a))

    with open(ckpt, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        meta = json.loads(f.read(n))["__metadata__"]
    cfg = json.loads(meta["config"])
    names = json.loads(meta["class_names"]) if "class_names" in meta else None
    arch = cfg["arch"]
    if arch["type"] != "MnistModel":
        raise SystemExit("predict_ref: only MnistModel checkpoints are rebuilt here, got " + arch["type"])
    model = MnistModel(**arch.get("args", {}))
    weights = {k: v for k, v in load_file(ckpt).items() if not k.startswith("optimizer.")}
    model.load_state_dict(weights)
    model.eval()

    loader = cfg["data_loader"]
    largs = loader["args"]
    defaults = {"MnistDataLoader": [{"type": "ToTensor"},
                                    {"type": "Normalize", "args": {"mean": [0.1307], "std": [0.3081]}}],
                "ImageFolderDataLoader": [{"type": "ToTensor"}]}
    pipeline = largs["transforms"]["valid"] if "transforms" in largs else defaults[loader["type"]]
    channels = largs.get("channels", 1 if loader["type"] == "MnistDataLoader" else 0)

    def transform(img):  # img: uint8 [C, H, W], as torchvision's tensor transforms take it
        x = img
        for t in pipeline:
            kind, a = t["type"], t.get("args", {})
            if kind == "Resize":
                x = T.Resize(a["size"], antialias=a.get("antialias", True))(x)
            elif kind == "CenterCrop":
                x = T.CenterCrop(a["size"])(x)
            elif kind == "ToTensor":
                x = TF.convert_image_dtype(x, torch.float32)
            elif kind == "Normalize":
                x = T.Normalize(a["mean"], a["std"])(x)
            else:
                raise SystemExit("predict_ref: transform %s is not rebuilt here" % kind)
        return x

    images = []  # (label, uint8 tensor [C, H, W])
    for p in pngs:
        pil = Image.open(p)
        pil = pil.convert({1: "L", 3: "RGB", 4: "RGBA"}[channels]) if channels else pil
        a = np.asarray(pil, dtype=np.uint8)
        images.append((p, torch.from_numpy((a[None] if a.ndim == 2 else a.transpose(2, 0, 1)).copy())))
    if idx:
        shape, data = read_idx(idx)
        arr = np.frombuffer(data, dtype=np.uint8).reshape(shape)
        for i in indices:
            images.append(("%s[%d]" % (idx, i), torch.from_numpy(arr[i][None].copy())))

    blocks = parse_output(output)
    failures = 0

    def fail(msg):
        nonlocal failures
        failures += 1
        print("FAILED: " + msg)

    if [b[0] for b in blocks] != [label for label, _ in images]:
        fail("the images printed %s, expected %s" % ([b[0] for b in blocks], [label for label, _ in images]))
        return 1
    worst = 0.0
    with torch.no_grad():
        for (label, img), (_, rows) in zip(images, blocks):
            probs = torch.softmax(model(transform(img)[None]).double(), dim=1)[0]
            n_classes = probs.numel()
            want_rows = min(topk, n_classes)
            if len(rows) != want_rows:
                fail("%s: %d classes printed, expected min(topk %d, %d classes) = %d"
                     % (label, len(rows), topk, n_classes, want_rows))
                continue
            order = sorted(range(n_classes), key=lambda k: (-probs[k].item(), k))
            class_name = (lambda k: names[k]) if names else str
            for r, (name, p) in enumerate(rows):
                k = order[r]
                # near-ties may swap places between the two computations; the probability decides
                if name != class_name(k) and abs(probs[k].item() - p) > 1e-5:
                    fail("%s: rank %d is %s (%.6f), PyTorch's is %s (%.6f)" % (label, r + 1, name, p, class_name(k),
                                                                                 probs[k].item()))
                    continue
                if name not in [class_name(j) for j in range(n_classes)]:
                    fail("%s: unknown class %r" % (label, name))
                    continue
                ref = probs[[class_name(j) for j in range(n_classes)].index(name)].item()
                worst = max(worst, abs(ref - p))
                if abs(ref - p) > 1e-5:
                    fail("%s: %s has probability %.6f, PyTorch %.6f" % (label, name, p, ref))
            if [p for _, p in rows] != sorted([p for _, p in rows], reverse=True):
                fail("%s: the classes are not in falling probability: %s" % (label, rows))
    if failures == 0:
        print("ok      %d images: every printed class and probability is PyTorch's (max difference %.2g)"
              % (len(images), worst))
    return 1 if failures else 0


def unnamed(src, dst):
    """dst: the checkpoint src without its class names (a dataset that names none)."""
    sys.path.insert(0, os.path.join(SRC, "utils"))
    from safetensors import load_file, save_file
    with open(src, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        meta = json.loads(f.read(n))["__metadata__"]
    del meta["class_names"]
    save_file(load_file(src, framework="np"), dst, meta)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "unnamed":
        unnamed(sys.argv[2], sys.argv[3])
        return 0
    if len(sys.argv) >= 3 and sys.argv[1] == "files":
        make_files(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
        return 0
    if len(sys.argv) >= 5 and sys.argv[1] == "check":
        return check(sys.argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
