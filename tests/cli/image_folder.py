"""Writes a small ImageFolder dataset for the end-to-end tests, with the
Python standard library only (zlib + struct make the PNGs).

  image_folder.py ROOT PER_CLASS SEED

ROOT/<class>/<n>.png, three classes a small model tells apart even through
flips, small rotations and crops: "horizontal" and "vertical" stripes and a
"ring". Images are grey, 24 to 34 pixels a side (so a Resize is needed),
every fourth one stored as RGB (grey in all three channels), a few in a
subfolder (ImageFolder looks below the class folders too).
"""
import math
import os
import random
import struct
import sys
import zlib


def png_planes(path, planes, color):
    """8-bit PNG of colour type color (0 grey, 2 RGB, 4 grey + alpha, 6 RGBA) from channel planes (lists of rows)."""
    h, w = len(planes[0]), len(planes[0][0])
    raw = b"".join(b"\x00" + bytes(p[y][x] for x in range(w) for p in planes) for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def png(path, rows, channels):
    """8-bit grey (channels 1) or RGB (3, the grey copied) PNG of rows (lists of grey values)."""
    png_planes(path, [rows] * channels, 0 if channels == 1 else 2)


def pattern(kind, h, w, rng):
    """An image of class kind: horizontal or vertical stripes, or a ring, with noise."""
    phase, period = rng.random() * 6, rng.choice([5, 6, 7])
    cy, cx, r = h / 2 + rng.uniform(-2, 2), w / 2 + rng.uniform(-2, 2), rng.uniform(6, 9)
    rows = []
    for y in range(h):
        row = []
        for x in range(w):
            if kind == "horizontal":
                v = 200 if math.sin(2 * math.pi * (y + phase) / period) > 0 else 40
            elif kind == "vertical":
                v = 200 if math.sin(2 * math.pi * (x + phase) / period) > 0 else 40
            else:
                v = 200 if abs(math.hypot(y - cy, x - cx) - r) < 2 else 40
            row.append(max(0, min(255, v + rng.randint(-30, 30))))
        rows.append(row)
    return rows


def image(kind, rng):
    h, w = rng.randint(24, 34), rng.randint(24, 34)
    return pattern(kind, h, w, rng)


def main():
    root, per_class, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    for kind in ("horizontal", "vertical", "ring"):
        os.makedirs(os.path.join(root, kind, "more"), exist_ok=True)
        for n in range(per_class):
            sub = "more" if n % 5 == 4 else ""
            png(os.path.join(root, kind, sub, "%03d.png" % n), image(kind, rng), 3 if n % 4 == 3 else 1)


if __name__ == "__main__":
    main()
