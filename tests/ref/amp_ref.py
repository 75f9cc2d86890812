"""PyTorch reference for tests/test_amp.c (mixed precision).

Run by tests/support/torch_script.c as: amp_ref.py IN OUT. IN's metadata
"args" is a JSON object with a "task":

  convert:  f32 vector x; writes torch's bf16 and f16 bit patterns of x
            (bf16, f16 as int64) and the f32 values of the bit patterns in
            the int64 vectors hb / hh (from_bf16, from_f16).
  autocast: leaves x, w, b (linear), a, m (bmm), cx, cw, cb (conv2d, padding
            1) and output weights r_*; runs them under
            torch.autocast("cpu", dtype=bfloat16), writes every output as
            f32 (exact) with its dtype in "result", then backward of
            sum(out.float() * r_out) and the f32 leaves' gradients g_<leaf>.
            With "fp16": CPU autocast in torch 1.13 refuses float16, so the
            reference rounds inputs to f16, computes in f32 and rounds the
            output, which is what the engine does on the CPU.

  keep_ops: x (distinct values exact in bf16/f16), y, cond (uint8), target,
            weight, pos_weight (binary_cross_entropy_with_logits), emb and
            idx (embedding); for each mode of KEEP_MODES (an input dtype,
            and whether torch.autocast("cpu", bfloat16) is on) runs the ops
            of keep_op_table on inputs of that dtype and writes each output
            as f32 (<mode>.<op>) and, in "result", {mode: {op: [output
            dtype, dtype of the differentiated input's gradient or null]}},
            with "error" for an output that torch refuses to compute.

  inplace:  f32 a, b and row (broadcast over a's rows); for bf16 and f16
            (out "bf16", "f16" as f32) runs on x = a in that dtype:
            add_(b, alpha=0.3), sub_(row), mul_(b), add_(2.5), mul_(0.7),
            add_(b as f32), sub_(b, alpha=2) (the in-place ops on
            low-precision tensors, PyTorch computing each in f32).

  scaler:   "found_inf" list and growth_interval; replays
            torch.cuda.amp.GradScaler.update's rule (the _amp_update_scale_
            kernel, which has no CPU build in torch 1.13, transcribed below
            with f32 arithmetic) and writes the scale and growth tracker
            after each update in "result".

Exit code 3 means torch is not importable (the C side then skips).
"""
import json
import os
import sys
import warnings

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError:
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st import read_safetensors, write_safetensors  # noqa: E402


def bits(t):
    return t.view(torch.int16).to(torch.int64).numpy() & 0xFFFF


def convert(ts, out):
    x = torch.from_numpy(ts["x"].copy())
    out["bf16"] = bits(x.to(torch.bfloat16))
    out["f16"] = bits(x.to(torch.float16))
    hb = torch.from_numpy(ts["hb"].astype(np.int16))
    hh = torch.from_numpy(ts["hh"].astype(np.int16))
    out["from_bf16"] = hb.view(torch.bfloat16).float().numpy()
    out["from_f16"] = hh.view(torch.float16).float().numpy()


def autocast(ts, out, fp16):
    L = {k: torch.from_numpy(ts[k].copy()).requires_grad_() for k in ("x", "w", "b", "a", "m", "cx", "cw", "cb")}
    if fp16:
        def r(t):
            return t.half().float()
        outs = {
            "lin": F.linear(r(L["x"]), r(L["w"]), r(L["b"])).half(),
            "mm": (r(L["x"]) @ r(L["w"]).t()).half(),
            "bmm": torch.bmm(r(L["a"]), r(L["m"])).half(),
            "conv": F.conv2d(r(L["cx"]), r(L["cw"]), r(L["cb"]), padding=1).half(),
        }
    else:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            outs = {
                "lin": F.linear(L["x"], L["w"], L["b"]),
                "mm": L["x"] @ L["w"].t(),
                "bmm": torch.bmm(L["a"], L["m"]),
                "conv": F.conv2d(L["cx"], L["cw"], L["cb"], padding=1),
            }
            outs["relu"] = F.relu(outs["lin"])
            outs["nll"] = F.nll_loss(outs["lin"].float().log_softmax(1), torch.tensor([0, 1, 2, 0]))
            outs["vm"] = L["x"][0] @ L["w"].t()
            outs["dot"] = torch.dot(L["x"][0], L["x"][1])
    total = sum((o.float() * torch.from_numpy(ts["r_" + k].copy())).sum() for k, o in outs.items() if "r_" + k in ts)
    total.backward()
    for k, o in outs.items():
        out[k] = o.detach().float().numpy()
    for k, t in L.items():
        out["g_" + k] = t.grad.numpy()
    return {k: str(o.dtype).replace("torch.", "") for k, o in outs.items()}


# mode: (the dtype the floating inputs are cast to, autocast bf16 on)
KEEP_MODES = {
    "bf16": (torch.bfloat16, False),
    "f16": (torch.float16, False),
    "autocast_bf16": (torch.bfloat16, True),
    "autocast_f32": (torch.float32, True),
    "autocast_f16": (torch.float16, True),
}


def keep_op_table(cond, idx, cast):
    """op name -> (function of the differentiated input, which input that is).
    The same ops, arguments and names as test_amp.c's keep_ops[]."""
    y32 = cast("y", torch.float32)
    return {
        "where": (lambda x: torch.where(cond, x, cast("y")), "x"),
        "where_f32_other": (lambda x: torch.where(cond, x, y32), "x"),
        "masked_fill": (lambda x: x.masked_fill(cond, -7.5), "x"),
        "var": (lambda x: torch.var(x, 1), "x"),
        "std": (lambda x: torch.std(x), "x"),
        "amax": (lambda x: torch.amax(x, 0, keepdim=True), "x"),
        "amin": (lambda x: torch.amin(x, (0, 1)), "x"),
        "max_values": (lambda x: torch.max(x, 1).values, "x"),
        "max_indices": (lambda x: torch.max(x, 1).indices, "x"),
        "min_values": (lambda x: torch.min(x, 0, keepdim=True).values, "x"),
        "min_indices": (lambda x: torch.min(x, 0, keepdim=True).indices, "x"),
        "argmin": (lambda x: torch.argmin(x, 1), "x"),
        "embedding": (lambda w: F.embedding(idx, w), "emb"),
        "embedding_padding": (lambda w: F.embedding(idx, w, padding_idx=2), "emb"),
        "bce_logits": (lambda x: F.binary_cross_entropy_with_logits(x, cast("target"), cast("weight"),
                                                                    pos_weight=cast("pos_weight")), "x"),
        "bce_logits_none": (lambda x: F.binary_cross_entropy_with_logits(x, cast("target"), reduction="none"), "x"),
    }


def keep_ops(ts, out):
    cond = torch.from_numpy(ts["cond"].copy()).bool()
    idx = torch.from_numpy(ts["idx"].copy())
    result = {}
    for mode, (dt, on) in KEEP_MODES.items():
        def cast(name, to=dt):
            return torch.from_numpy(ts[name].copy()).to(to)
        result[mode] = {}
        for op, (f, leaf_name) in keep_op_table(cond, idx, cast).items():
            leaf = cast(leaf_name).requires_grad_()
            try:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=on):
                    o = f(leaf)
            except RuntimeError:
                result[mode][op] = ["error", None]
                continue
            grad = None
            if o.is_floating_point():
                o.float().sum().backward()
                grad = str(leaf.grad.dtype).replace("torch.", "")
            out[mode + "." + op] = o.detach().float().numpy()
            result[mode][op] = [str(o.dtype).replace("torch.", ""), grad]
    return result


def inplace(ts, out):
    a, b, row = (torch.from_numpy(ts[k].copy()) for k in ("a", "b", "row"))
    for name, dt in (("bf16", torch.bfloat16), ("f16", torch.float16)):
        x = a.to(dt)
        x.add_(b.to(dt), alpha=0.3)
        x.sub_(row.to(dt))
        x.mul_(b.to(dt))
        x.add_(2.5)
        x.mul_(0.7)
        x.add_(b)
        x.sub_(b, alpha=2)
        out[name] = x.float().numpy()


def scaler(args):
    scale = torch.tensor([65536.0], dtype=torch.float32)
    tracker, growth, backoff, interval = 0, 2.0, 0.5, args["growth_interval"]
    scales, trackers = [], []
    for found_inf in args["found_inf"]:
        if found_inf:
            scale = scale * backoff
            tracker = 0
        else:
            successful = tracker + 1
            if successful == interval:
                new_scale = scale * growth
                if torch.isfinite(new_scale).item():
                    scale = new_scale
                tracker = 0
            else:
                tracker = successful
        scales.append(scale.item())
        trackers.append(tracker)
    return {"scales": scales, "trackers": trackers}


def main():
    warnings.simplefilter("ignore")
    tensors, meta = read_safetensors(sys.argv[1])
    args = json.loads(meta["args"])
    out, result = {}, None
    if args["task"] == "convert":
        convert(tensors, out)
    elif args["task"] == "autocast":
        result = autocast(tensors, out, args.get("fp16", False))
    elif args["task"] == "keep_ops":
        result = keep_ops(tensors, out)
    elif args["task"] == "inplace":
        inplace(tensors, out)
    elif args["task"] == "scaler":
        result = scaler(args)
    else:
        raise SystemExit(f"amp_ref: unknown task '{args['task']}'")
    write_safetensors(sys.argv[2], out, {"result": json.dumps(result)} if result is not None else None)


if __name__ == "__main__":
    main()
