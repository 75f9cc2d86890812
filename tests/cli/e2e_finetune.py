"""Safetensors files for tests/cli/e2e_finetune.sh, with the Python standard
library only (no numpy, no torch), independently of the C code:

  e2e_finetune.py same A B NAME...
      exit 0 when tensor NAME of A and of B have the same dtype, shape and
      bytes, for every NAME; else names those that differ and exits 1.
  e2e_finetune.py differ A B NAME...
      exit 0 when every NAME differs between A and B (in value).
  e2e_finetune.py edit IN OUT [--drop NAME] [--rows NAME N] [--add NAME]
      writes a copy of IN's model tensors (a checkpoint's "optimizer.*" left
      out) to OUT: without NAME, with NAME cut to its first N rows (another
      shape), or with an extra 1-element tensor NAME.
  e2e_finetune.py compare OURS THEIRS TOL
      OURS: comma-separated losses (e2e_events.py's VALUES); THEIRS: a JSON
      list. Prints the step count and the largest absolute difference;
      exit 0 when the counts match and it is at most TOL.
"""
import json
import struct
import sys

SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", None)
    base = 8 + n
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        tensors[name] = [e["dtype"], list(e["shape"]), data[base + begin:base + end]]
    return tensors, meta


def write(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def fail(msg):
    print("FAILED: " + msg)
    sys.exit(1)


def same(a_path, b_path, names, want_same):
    a, _ = read(a_path)
    b, _ = read(b_path)
    bad = []
    for name in names:
        if name not in a or name not in b:
            fail("%s is not in %s" % (name, a_path if name not in a else b_path))
        if (a[name] == b[name]) != want_same:
            bad.append(name)
    if bad:
        fail("%s: %s" % ("differ" if want_same else "the same", ", ".join(bad)))


def edit(src, out, ops):
    tensors, _ = read(src)
    tensors = {k: v for k, v in tensors.items() if not k.startswith("optimizer.")}
    i = 0
    while i < len(ops):
        op = ops[i]
        if op == "--drop":
            del tensors[ops[i + 1]]
            i += 2
        elif op == "--rows":
            name, rows = ops[i + 1], int(ops[i + 2])
            dtype, shape, raw = tensors[name]
            row_bytes = len(raw) // shape[0]
            tensors[name] = [dtype, [rows] + shape[1:], raw[:rows * row_bytes]]
            i += 3
        elif op == "--add":
            tensors[ops[i + 1]] = ["F32", [1], struct.pack("<f", 1.0)]
            i += 2
        else:
            fail("edit: unknown option " + op)
    write(out, tensors)


def compare(ours_text, theirs_path, tol):
    ours = [float(v) for v in ours_text.split(",") if v]
    with open(theirs_path) as f:
        theirs = json.load(f)
    if len(ours) != len(theirs):
        fail("%d steps logged, PyTorch ran %d" % (len(ours), len(theirs)))
    worst = max(abs(a - b) for a, b in zip(ours, theirs))
    print("%d steps, max |loss difference| %.3g (tolerance %g)" % (len(ours), worst, tol))
    for k, (a, b) in enumerate(zip(ours, theirs)):
        print("  step %2d: ours %.7f  PyTorch %.7f" % (k, a, b))
    if not worst <= tol:
        fail("max loss difference %.3g over %g" % (worst, tol))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd in ("same", "differ"):
        same(args[0], args[1], args[2:], cmd == "same")
    elif cmd == "edit":
        edit(args[0], args[1], args[2:])
    elif cmd == "compare":
        compare(args[0], args[1], float(args[2]))
    else:
        fail("unknown command " + cmd)


if __name__ == "__main__":
    main()
