"""Independent cross-checks of the engine's safetensors files.

  safetensors_check.py check FILE EXPECTED.json
      Validates FILE byte by byte (8-byte little-endian header length, JSON
      header, offsets covering the data exactly), reads it with st.py and
      with torch.from_numpy, and compares every tensor and the metadata with
      EXPECTED.json: {"tensors": {name: {"dtype", "shape", "values"}},
      "metadata": {key: value}}, values flat in row-major order as strings
      (so that floats and 64-bit integers travel exactly).
  safetensors_check.py write FILE
      Writes a file by hand (json + struct) the way other writers may: the
      header lists the tensors in a different order than the data, puts
      __metadata__ between them, is not padded, and has an empty tensor at
      the same offset as a non-empty one. The values are fixed here and
      repeated in tests/test_safetensors.c.

Exit status: 0 when everything matches, 1 on any difference (printed),
3 when numpy or torch cannot be imported (the caller skips).
"""
import json
import os
import struct
import sys

try:
    import numpy as np
    import torch
except ImportError:
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

ITEMSIZE = {"F32": 4, "I64": 8, "U8": 1}
TORCH_DTYPES = {"F32": torch.float32, "I64": torch.int64, "U8": torch.uint8}

errors = []


def fail(msg):
    errors.append(msg)


def expected_array(spec):
    dtype = st.DTYPES[spec["dtype"]]
    if spec["dtype"] == "F32":
        values = [float(v) for v in spec["values"]]
    else:
        values = [int(v) for v in spec["values"]]
    return np.array(values, dtype=dtype).reshape(spec["shape"])


def same_bits(a, b):
    """Exact equality, telling -0.0 from 0.0 for floats."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype == np.float32:
        return np.array_equal(a.view(np.uint32), b.view(np.uint32))
    return np.array_equal(a, b)


def check_layout(path, data):
    """The byte-level format; returns the parsed header or None."""
    if len(data) < 8:
        fail(f"{path}: {len(data)} bytes, shorter than the 8-byte header length")
        return None
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        fail(f"{path}: header length {n} runs past the end of the {len(data)}-byte file")
        return None
    if n % 8 != 0:
        fail(f"{path}: header length {n} is not a multiple of 8 (data not 8-byte aligned)")
    raw = data[8:8 + n]
    if not raw.startswith(b"{"):
        fail(f"{path}: header does not start with '{{'")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        fail(f"{path}: header is not valid UTF-8 JSON: {e}")
        return None
    if not isinstance(header, dict):
        fail(f"{path}: header is not a JSON object")
        return None
    data_size = len(data) - 8 - n
    spans = []
    for name, e in header.items():
        if name == "__metadata__":
            if not isinstance(e, dict) or not all(isinstance(v, str) for v in e.values()):
                fail(f"{path}: __metadata__ is not a map of strings: {e!r}")
            continue
        if set(e) != {"dtype", "shape", "data_offsets"}:
            fail(f"{path}: tensor {name!r}: unexpected keys {sorted(e)}")
            continue
        b, end = e["data_offsets"]
        if not (isinstance(b, int) and isinstance(end, int) and 0 <= b <= end <= data_size):
            fail(f"{path}: tensor {name!r}: bad data_offsets {e['data_offsets']} for {data_size} bytes of data")
            continue
        numel = int(np.prod(e["shape"], dtype=np.int64)) if e["shape"] else 1
        if end - b != numel * ITEMSIZE.get(e["dtype"], -1):
            fail(f"{path}: tensor {name!r}: {e['dtype']} {e['shape']} does not fill data_offsets {[b, end]}")
        spans.append((b, end, name))
    pos = 0
    for b, end, name in sorted(spans):
        if b != pos:
            fail(f"{path}: tensor {name!r}: data_offsets start at {b}, expected {pos} (hole or overlap)")
        pos = end
    if pos != data_size:
        fail(f"{path}: tensors cover {pos} of {data_size} bytes of data")
    return header


def check(path, expected_path):
    with open(path, "rb") as f:
        data = f.read()
    with open(expected_path) as f:
        expected = json.load(f)
    header = check_layout(path, data)
    if header is None:
        return
    names = set(header) - {"__metadata__"}
    if names != set(expected["tensors"]):
        fail(f"{path}: tensors {sorted(names)}, expected {sorted(expected['tensors'])}")
    tensors, meta = st.read_safetensors(path)
    if meta != expected["metadata"]:
        fail(f"{path}: metadata {meta!r}, expected {expected['metadata']!r}")
    for name, spec in expected["tensors"].items():
        if name not in tensors:
            continue
        got = tensors[name]
        if header[name]["dtype"] != spec["dtype"]:
            fail(f"{path}: tensor {name!r}: dtype {header[name]['dtype']}, expected {spec['dtype']}")
            continue
        want = expected_array(spec)
        if list(got.shape) != spec["shape"]:
            fail(f"{path}: tensor {name!r}: shape {list(got.shape)}, expected {spec['shape']}")
            continue
        if not same_bits(got, want):
            fail(f"{path}: tensor {name!r}: values differ:\n got  {got.ravel()[:16]}\n want {want.ravel()[:16]}")
        # the same bytes through torch (copy: frombuffer arrays are read-only)
        t = torch.from_numpy(got.copy())
        ref = torch.tensor(want.ravel().tolist(), dtype=TORCH_DTYPES[spec["dtype"]]).reshape(spec["shape"])
        if t.dtype != ref.dtype or list(t.shape) != spec["shape"] or not torch.equal(t, ref):
            fail(f"{path}: tensor {name!r}: torch.from_numpy gives {t}, expected {ref}")


def write(path):
    # values: keep in step with python_written_file() in tests/test_safetensors.c
    blobs = {
        "w": np.arange(12, dtype=np.float32).reshape(3, 4) * np.float32(0.5) - np.float32(2.0),
        "idx": np.array([-3, 0, 7, 1 << 40, -(1 << 62), (1 << 53) + 1], dtype=np.int64),
        "img": (np.arange(12, dtype=np.int64) * 20 % 256).astype(np.uint8).reshape(2, 2, 3),
        "s": np.array(3.25, dtype=np.float32),
    }
    data_order = ["img", "s", "idx", "w"]  # the data's order ...
    header_order = ["w", "idx", "__metadata__", "empty", "img", "s"]  # ... is not the header's
    offsets, data, pos = {}, b"", 0
    for name in data_order:
        raw = blobs[name].tobytes()
        offsets[name] = [pos, pos + len(raw)]
        data += raw
        pos += len(raw)
    header = {}
    for name in header_order:
        if name == "__metadata__":
            header[name] = {"format": "pt", "note": "written by \"json+struct\""}
        elif name == "empty":  # zero bytes at the start of another tensor's data
            header[name] = {"dtype": "F32", "shape": [0, 4], "data_offsets": offsets["idx"][:1] * 2}
        else:
            a = blobs[name]
            header[name] = {"dtype": st.NAMES[a.dtype], "shape": list(a.shape), "data_offsets": offsets[name]}
    h = json.dumps(header).encode()
    if len(h) % 8 == 0:  # deliberately unaligned
        h += b" "
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for e in errors:
        print("safetensors_check:", e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
