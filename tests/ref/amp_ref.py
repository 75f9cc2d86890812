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
    elif args["task"] == "scaler":
        result = scaler(args)
    else:
        raise SystemExit(f"amp_ref: unknown task '{args['task']}'")
    write_safetensors(sys.argv[2], out, {"result": json.dumps(result)} if result is not None else None)


if __name__ == "__main__":
    main()
