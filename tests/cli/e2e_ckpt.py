"""Reads checkpoints (safetensors files) for the end-to-end tests, with the
Python standard library only, so the tests need no numpy.

  e2e_ckpt.py same A B [--with-optimizer]
      exit 0 when the model tensors of A and B (and with --with-optimizer
      the optimizer's state tensors, step counts and groups too) are
      bit-identical; else lists the tensors that differ, with their largest
      difference, and exits 1.
  e2e_ckpt.py close A B RTOL
      exit 0 when every model tensor of A is within RTOL of B's, relative
      to the largest magnitude of B's tensor (|a - b| <= RTOL * max|b|);
      prints the worst tensor and its relative difference.
  e2e_ckpt.py meta FILE KEY [JSON.PATH]
      prints metadata KEY; with a path, the value at that dotted path of
      the JSON it holds ("param_groups.0.lr" in "optimizer").
"""
import json
import struct
import sys

FORMATS = {"F32": "f", "F64": "d", "I64": "q", "U8": "B"}


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        tensors[name] = (e["dtype"], e["shape"], data[base + begin:base + end])
    return tensors, meta


def values(entry):
    dtype, _, raw = entry
    fmt = FORMATS[dtype]
    return struct.unpack("<%d%s" % (len(raw) // struct.calcsize(fmt), fmt), raw)


def same(a_path, b_path, with_optimizer):
    a, meta_a = read(a_path)
    b, meta_b = read(b_path)
    wanted = sorted(k for k in a if with_optimizer or not k.startswith("optimizer."))
    if not wanted:
        print("%s: no tensors to compare" % a_path)
        return 1
    problems = []
    for k in wanted:
        if k not in b:
            problems.append("%s: only in the first file" % k)
        elif a[k][:2] != b[k][:2]:
            problems.append("%s: dtype/shape %s vs %s" % (k, a[k][:2], b[k][:2]))
        elif a[k][2] != b[k][2]:
            diff = max(abs(x - y) for x, y in zip(values(a[k]), values(b[k])))
            problems.append("%s: differs (max abs difference %g)" % (k, diff))
    extra = sorted(k for k in b if k not in a and (with_optimizer or not k.startswith("optimizer.")))
    problems += ["%s: only in the second file" % k for k in extra]
    if with_optimizer:
        # the per-parameter step counts and hyperparameters of the optimizer's JSON
        opt_a, opt_b = (json.loads(m.get("optimizer", "{}")) for m in (meta_a, meta_b))
        for key in ("state", "param_groups"):
            if opt_a.get(key) != opt_b.get(key):
                problems.append("optimizer JSON '%s' differs: %s vs %s" % (key, opt_a.get(key), opt_b.get(key)))
    for p in problems:
        print(p)
    if not problems:
        print("%d tensors bit-identical" % len(wanted))
    return 1 if problems else 0


def close(a_path, b_path, rtol):
    a, _ = read(a_path)
    b, _ = read(b_path)
    names = sorted(k for k in a if not k.startswith("optimizer."))
    worst, worst_name = 0.0, None
    for k in names:
        if k not in b or a[k][:2] != b[k][:2]:
            print("%s: missing or of another dtype/shape in %s" % (k, b_path))
            return 1
        va, vb = values(a[k]), values(b[k])
        scale = max(max(abs(x) for x in vb), 1e-30)
        rel = max(abs(x - y) for x, y in zip(va, vb)) / scale
        if rel > worst or worst_name is None:
            worst, worst_name = rel, k
    print("%d tensors, largest relative difference %.3g (%s), tolerance %g" % (len(names), worst, worst_name, rtol))
    return 0 if names and worst <= rtol else 1


def meta(path, key, json_path=None):
    _, m = read(path)
    if key not in m:
        print("%s: no metadata '%s' (has: %s)" % (path, key, ", ".join(sorted(m))), file=sys.stderr)
        return 1
    value = m[key]
    if json_path:
        value = json.loads(value)
        for part in json_path.split("."):
            value = value[int(part)] if isinstance(value, list) else value[part]
        value = json.dumps(value) if isinstance(value, (dict, list)) else value
    print(value)
    return 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "same":
        return same(argv[1], argv[2], "--with-optimizer" in argv[3:])
    if len(argv) == 4 and argv[0] == "close":
        return close(argv[1], argv[2], float(argv[3]))
    if len(argv) in (3, 4) and argv[0] == "meta":
        return meta(*argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
