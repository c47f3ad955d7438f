#!/usr/bin/env python3
"""check_torch_load.py: does PyTorch accept a weight file that clcnn wrote?

  check_torch_load.py FILE ARCH CLASSES [--head-hidden H] [--io IO.safetensors]

Converts FILE (safetensors, as clcnn_graph_save() writes it) to a state_dict with
scripts/convert_torchvision.py's to-pth (in a temporary folder), builds the matching torch
model (torchvision's resnetN; the SE and compact nets of scripts/make_golden_zoo.py; with
--head-hidden H clcnn's MLP head fc.0 ... fc.3) and calls
model.load_state_dict(state, strict=True), which fails on any missing or unexpected tensor
or wrong shape. If FILE's metadata names an arch or class count, they must match.
With --io, IO.safetensors holds "input" [N, 3, H, W] and the "logits" clcnn computed for it
with these weights; the torch model in eval mode must give them within
max_c |torch - clcnn| <= 1e-3 * max_c |clcnn| for every row (tests/test_zoo.c's criterion).

Exit status: 0 accepted (and matching), 1 refused or different, 2 usage,
77 cannot check here (torch or torchvision not importable), with the reason on the last line.
Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision).
"""
import argparse
import json
import os
import struct
import sys
import tempfile

RTOL = 1e-3


def read_metadata(path, max_header):
    """FILE's __metadata__ without reading its tensors (to-pth checks the whole file)."""
    with open(path, "rb") as f:
        head = f.read(8)
        size = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
        text = f.read(size) if 0 <= size <= max_header else b""
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        header = None
    return header.get("__metadata__", {}) if isinstance(header, dict) else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file")
    parser.add_argument("arch", help="e.g. resnet18, seresnet50, compact")
    parser.add_argument("classes", type=int)
    parser.add_argument("--head-hidden", type=int, default=0, help="the MLP head's width (0: plain fc)")
    parser.add_argument("--io", help="safetensors with 'input' and clcnn's 'logits' to compare with")
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError as e:
        print(f"{sys.executable} cannot import torch and torchvision ({e})")
        return 77

    import torch
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import convert_torchvision as ct
    from make_golden_zoo import build_model

    try:
        metadata = read_metadata(args.file, ct.MAX_HEADER_BYTES)
        if metadata is None:
            print(f"{args.file}: not a safetensors file (no JSON header)")
            return 1
        if metadata.get("arch", args.arch) != args.arch or metadata.get("classes", str(args.classes)) != str(args.classes):
            print(f"{args.file}: metadata says {metadata.get('arch')} with {metadata.get('classes')} classes, "
                  f"not {args.arch} with {args.classes}")
            return 1
        with tempfile.TemporaryDirectory(prefix="clcnn_torch_load_") as d:
            pth = os.path.join(d, "model.pth")
            ct.main(["to-pth", args.file, pth])
            state = torch.load(pth, weights_only=True)
    except ct.ConvertError as e:
        print(f"{args.file}: {e}")
        return 1
    try:
        # Inception-v3's AuxLogits exists where clcnn built it (pictures of 299x299 or more)
        model = build_model(args.arch, args.classes, args.head_hidden,
                            aux_logits=any(k.startswith("AuxLogits.") for k in state))
    except ValueError as e:
        print(e)
        return 2
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        print(f"load_state_dict(strict=True) refused {args.file} for {args.arch}:\n{e}")
        return 1
    floats = sum(1 for t in state.values() if t.is_floating_point())
    print(f"{args.arch}: load_state_dict(strict=True) accepted {args.file} ({floats} float tensors)")
    if not args.io:
        return 0
    io, _ = ct.read_safetensors(args.io)
    model.eval()
    with torch.no_grad():
        got = model(io["input"])
    want = io["logits"]
    if got.shape != want.shape:
        print(f"torch gives logits {list(got.shape)}, clcnn {list(want.shape)}")
        return 1
    rel = ((got - want).abs().max(dim=1).values / want.abs().max(dim=1).values).max().item()
    verdict = "within" if rel <= RTOL else "OVER"
    print(f"{args.arch}: torch's logits vs clcnn's: worst row relative error {rel:.2e} ({verdict} {RTOL:g})")
    return 0 if rel <= RTOL else 1


if __name__ == "__main__":
    sys.exit(main())
