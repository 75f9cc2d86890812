"""A small reader/writer of safetensors files for Python, for exchanging
weights with this project where the `safetensors` package is missing (Debian
packages none). It needs numpy, and torch for torch tensors; the rest is the
standard library. The format is safetensors' own: an 8-byte little-endian
header length, a JSON header (dtype, shape and data_offsets of every tensor,
and an optional "__metadata__" map of strings), then the raw little-endian
data. Files written here load with safetensors' load_file and in ./train
(arch.pretrained), and files written by either load here.

    import sys; sys.path.insert(0, "path/to/the/project/utils")
    from safetensors import save_file, load_file   # or: import safetensors as st
    save_file(model.state_dict(), "pretrained.safetensors")
    model.load_state_dict(load_file("pretrained.safetensors"))

save_file(tensors, path, metadata=None): tensors maps names to torch tensors
or numpy arrays (any strides; tensors on a GPU are copied to the host);
metadata maps strings to strings. The file is written to a temporary name
and renamed, so an interrupted save leaves no torn file.

load_file(path, framework=None): a dict of torch tensors ("pt"; the default
when torch can be imported) or numpy arrays ("np"), in the file's order.
"""
import json
import os
import struct
import sys

import numpy as np

try:
    import torch
except ImportError:  # numpy arrays only
    torch = None

__all__ = ["save_file", "load_file"]

# safetensors dtype names <-> numpy dtypes (little-endian)
_NP = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}
_NAMES = {np.dtype(v): k for k, v in _NP.items()}
# the header size safetensors itself accepts
_MAX_HEADER = 100 * 1000 * 1000


def _to_bytes(name, value):
    """The dtype name, shape and raw little-endian bytes of one tensor."""
    if torch is not None and isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16: its bits as int16
            return "BF16", list(t.shape), t.view(torch.int16).numpy().astype("<i2").tobytes()
        arr = t.numpy()
    elif isinstance(value, np.ndarray) or np.isscalar(value):
        arr = np.asarray(value)
    else:
        raise TypeError("save_file: %r is a %s, not a torch tensor or numpy array" % (name, type(value).__name__))
    dtype = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
    if dtype not in _NAMES:
        raise TypeError("save_file: %r has dtype %s, which safetensors cannot hold" % (name, arr.dtype))
    shape = list(arr.shape)
    # (copy, not ascontiguousarray, which would turn a 0-d array into 1-d)
    return _NAMES[dtype], shape, arr.astype(dtype, copy=False).copy(order="C").tobytes()


def save_file(tensors, path, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("save_file: metadata must map strings to strings")
        header["__metadata__"] = dict(metadata)
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError("save_file: invalid tensor name %r" % (name,))
        dtype, shape, raw = _to_bytes(name, value)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as safetensors writes it
    if len(text) > _MAX_HEADER:
        raise ValueError("save_file: the header would be %d bytes, over the %d readers accept" % (len(text), _MAX_HEADER))
    tmp = "%s.tmp.%d" % (path, os.getpid())
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for raw in blobs:
                f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _fail(path, what):
    raise ValueError("%s: not a valid safetensors file: %s" % (path, what))


def load_file(path, framework=None):
    if framework is None:
        framework = "pt" if torch is not None else "np"
    if framework not in ("pt", "np"):
        raise ValueError("load_file: framework must be 'pt' or 'np', got %r" % (framework,))
    if framework == "pt" and torch is None:
        raise ImportError("load_file: framework 'pt' needs torch, which cannot be imported")
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        _fail(path, "shorter than its 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or 8 + n > len(data):
        _fail(path, "header length %d does not fit the file's %d bytes" % (n, len(data)))
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except ValueError as e:
        _fail(path, "header is not JSON (%s)" % e)
    if not isinstance(header, dict):
        _fail(path, "header is not a JSON object")
    header.pop("__metadata__", None)
    body = memoryview(data)[8 + n:]
    out = {}
    for name, entry in header.items():
        try:
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        except (KeyError, TypeError, ValueError):
            _fail(path, "entry %r lacks dtype, shape or data_offsets" % name)
        if dtype != "BF16" and dtype not in _NP:
            _fail(path, "%r has dtype %r, which this reader does not know" % (name, dtype))
        item = 2 if dtype == "BF16" else np.dtype(_NP[dtype]).itemsize
        count = 1
        for d in shape:
            if not isinstance(d, int) or d < 0:
                _fail(path, "%r has shape %r" % (name, shape))
            count *= d
        if not (0 <= begin <= end <= len(body)) or end - begin != count * item:
            _fail(path, "%r: data_offsets [%r, %r] do not hold shape %r of %s" % (name, begin, end, shape, dtype))
        raw = body[begin:end]
        if dtype == "BF16":
            if framework == "np":
                raise ValueError("%s: %r is bfloat16, which numpy cannot hold (load it with framework='pt')" % (path, name))
            bits = np.frombuffer(raw, dtype="<i2").reshape(shape).copy()
            out[name] = torch.from_numpy(bits).view(torch.bfloat16)
            continue
        arr = np.frombuffer(raw, dtype=_NP[dtype]).reshape(shape).copy()  # writable, owning its memory
        out[name] = torch.from_numpy(arr) if framework == "pt" else arr
    return out


if __name__ == "__main__":  # python3 utils/safetensors.py FILE: lists the tensors
    for file_name in sys.argv[1:]:
        for key, value in load_file(file_name, "np" if torch is None else "pt").items():
            print("%s\t%s\t%s" % (key, str(value.dtype).replace("torch.", ""), list(value.shape)))
