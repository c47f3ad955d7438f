#!/usr/bin/env python3
"""convert_torchvision.py: PyTorch/torchvision checkpoints <-> clcnn safetensors files.

  to-safetensors IN.pth OUT.safetensors --arch ARCH [--classes N] [--class-names a,b,c|imagenet]
                 [--size 224] [--head fc|mlp] [--transform-input yes|no] [--trust-pickle]
      Reads a state_dict (or a checkpoint dict holding one under 'state_dict' or 'model'),
      strips DataParallel's 'module.' prefix, drops BatchNorm's num_batches_tracked, converts
      every tensor to float32 and writes safetensors with __metadata__ keys arch, classes,
      class_names, input_size, mean, std, head and made_by (docs/WEIGHTS.md). For inception_v3
      (unless --transform-input no) mean and std are 0.5: torchvision's ImageNet weights for it
      expect transform_input, which is that normalisation; transform_input is then "1". timm's
      xception weights use mean and std 0.5 too (its default configuration).
  to-pth IN.safetensors OUT.pth
      Reads safetensors (F32, F16, BF16; I64 kept as is), writes a float32 state_dict with
      num_batches_tracked = 0 beside every running_mean, so that torchvision's
      load_state_dict(strict=True) accepts it, and prints the metadata.
  selftest
      Round-trips torchvision's resnet18(num_classes=3) through both directions in a temporary
      folder, loads it back strictly and compares the outputs. Prints OK.

Needs only Debian's python3-torch (run with /usr/bin/python3); selftest also uses
python3-torchvision when it is importable. The safetensors format is written and read here
with struct and json, as scripts/make_golden.py does; no other package is used. Files are
written to a temporary name and renamed into place, as clcnn_graph_save() does.
"""
import argparse
import json
import math
import os
import struct
import sys
import tempfile
from collections import OrderedDict

import torch

MADE_BY = "scripts/convert_torchvision.py"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DTYPE_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}
NAME_DTYPES = {name: dtype for dtype, name in DTYPE_NAMES.items()}
MAX_HEADER_BYTES = 100 << 20  # what clcnn and safetensors itself accept


class ConvertError(Exception):
    """A problem with the user's input, reported as one line."""


# ---- files ----


def replace_atomically(path, write):
    """write(f) into PATH.tmp.<pid> beside path, flush it to disk, rename it over path."""
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(e, OSError):
            raise ConvertError(f"cannot write {path}: {e.strerror or e}") from None
        raise


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: the same bits as int16
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata):
    """u64 little-endian header length, JSON header padded with spaces to a multiple of 8,
    then the tensors' little-endian data, contiguous, in the header's order."""
    if sys.byteorder != "little":
        raise ConvertError("safetensors is little-endian; this host is not")
    header, blobs, offset = OrderedDict(), [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        if t.dtype not in DTYPE_NAMES:
            raise ConvertError(f"{name}: cannot store dtype {t.dtype}")
        data = tensor_bytes(t)
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)

    def write(f):
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)

    replace_atomically(path, write)


def read_safetensors(path):
    """(tensors in file order, metadata); every size and offset is checked first."""
    if sys.byteorder != "little":
        raise ConvertError("safetensors is little-endian; this host is not")
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ConvertError(f"{path}: too short to be a safetensors file ({len(blob)} bytes)")
    (hlen,) = struct.unpack("<Q", blob[:8])
    if hlen > MAX_HEADER_BYTES or hlen > len(blob) - 8:
        raise ConvertError(f"{path}: header length {hlen} does not fit the file of {len(blob)} bytes")
    try:
        header = json.loads(blob[8 : 8 + hlen].decode("utf-8"), object_pairs_hook=OrderedDict)
    except (UnicodeDecodeError, ValueError) as e:
        raise ConvertError(f"{path}: the header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise ConvertError(f"{path}: the header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    data = memoryview(blob)[8 + hlen :]
    tensors = OrderedDict()
    for name, e in header.items():
        try:
            dtype, shape, (begin, end) = NAME_DTYPES[e["dtype"]], [int(d) for d in e["shape"]], e["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ConvertError(f"{path}: {name}: unsupported dtype or malformed entry {e}") from None
        size = math.prod(shape) * torch.tensor([], dtype=dtype).element_size()
        in_file = isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= len(data)
        if not in_file or end - begin != size:
            raise ConvertError(f"{path}: {name}: data_offsets {[begin, end]} do not fit {len(data)} data bytes "
                               f"and shape {shape} (file truncated?)")
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype) if size else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(shape)
    return tensors, metadata


def load_checkpoint(path, trust_pickle):
    """The state_dict in a .pth file: a plain state_dict, or a checkpoint dict holding one."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except TypeError:  # a torch without weights_only
        obj = torch.load(path, map_location="cpu")
    except OSError:
        raise
    except Exception as e:
        if trust_pickle:
            raise
        raise ConvertError(f"{path}: cannot load it as tensors only ({e}); if you trust the file, "
                           "add --trust-pickle") from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and key in obj:
            obj = obj[key]
            break
    if hasattr(obj, "state_dict") and callable(obj.state_dict):  # a whole saved module
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        raise ConvertError(f"{path}: holds a {type(obj).__name__}, not a state_dict")
    return obj


# ---- to safetensors ----


def clean_state_dict(state):
    """Names without 'module.', float32 tensors, no num_batches_tracked."""
    out = OrderedDict()
    for name, value in state.items():
        name = name[len("module."):] if name.startswith("module.") else name
        if name.endswith("num_batches_tracked"):
            continue
        if not torch.is_tensor(value):
            print(f"note: skipping {name}, which is not a tensor ({type(value).__name__})", file=sys.stderr)
            continue
        if not value.is_floating_point():
            raise ConvertError(f"{name}: a {value.dtype} tensor that is not num_batches_tracked")
        if name in out:
            raise ConvertError(f"{name} appears twice (with and without 'module.')")
        out[name] = value.detach().to(torch.float32).contiguous()
    if not out:
        raise ConvertError("the state_dict holds no float tensors")
    return out


# the classifier's module: fc for the ResNets, classifier for MobileNetV2 and EfficientNet
HEAD_MODULES = {"mobilenet_v2": "classifier", "mobilenet_v3_large": "classifier", "mobilenet_v3_small": "classifier",
                **{f"efficientnet_b{i}": "classifier" for i in range(8)}}


def head_classes(state, head, arch):
    """Rows of the head's last linear layer: fc.weight (classifier.1.weight for MobileNetV2),
    or the last MODULE.N.weight of an MLP head."""
    module = HEAD_MODULES.get(arch, "fc")
    if head == "fc" and module == "fc" and "fc.weight" in state:
        return state["fc.weight"].shape[0]
    linear = [n for n, t in state.items() if n.startswith(module + ".") and n.endswith(".weight") and t.dim() == 2]
    if not linear:
        raise ConvertError(f"no {module}.weight or {module}.N.weight in the state_dict: give --classes")
    return state[linear[-1]].shape[0]


def imagenet_categories():
    try:
        from torchvision.models import ResNet50_Weights
    except ImportError:
        raise ConvertError("--class-names imagenet needs torchvision; give the names instead") from None
    return ResNet50_Weights.IMAGENET1K_V2.meta["categories"]


def to_safetensors(args):
    state = clean_state_dict(load_checkpoint(args.input, args.trust_pickle))
    classes = args.classes if args.classes else head_classes(state, args.head, args.arch)
    names = None
    if args.class_names:
        names = imagenet_categories() if args.class_names == "imagenet" else args.class_names.split(",")
        if len(names) != classes:
            raise ConvertError(f"{len(names)} class names for {classes} classes")
        if any(not n or "," in n for n in names):
            raise ConvertError("class names must be non-empty and free of commas")
    metadata = OrderedDict(arch=args.arch, classes=str(classes))
    if names:
        metadata["class_names"] = ",".join(names)
    # torchvision's Inception-v3 ImageNet weights re-scale the ImageNet-normalised input to
    # [-1, 1] (transform_input): the same as normalising the picture by mean and std 0.5
    transform = args.transform_input == "yes" or (args.transform_input is None and args.arch == "inception_v3")
    # timm's xception weights (ported from Keras) were trained on that normalisation too
    half = transform or args.arch == "xception"
    mean, std = ((0.5,) * 3, (0.5,) * 3) if half else (IMAGENET_MEAN, IMAGENET_STD)
    metadata.update(input_size=str(args.size), mean=",".join(map(str, mean)), std=",".join(map(str, std)),
                    head=args.head, made_by=MADE_BY)
    if transform:
        metadata["transform_input"] = "1"
    write_safetensors(args.output, state, metadata)
    total = sum(t.numel() for t in state.values())
    print(f"{args.output}: {len(state)} tensors, {total} values, {classes} classes ({args.arch}, head {args.head})")


# ---- to pth ----


def with_batch_counters(tensors):
    """float32 tensors plus num_batches_tracked = 0 after each batch norm's statistics."""
    out = OrderedDict()
    for name, t in tensors.items():
        out[name] = t.to(torch.float32) if t.is_floating_point() else t
        prefix, _, leaf = name.rpartition(".")
        counter = f"{prefix}.num_batches_tracked" if prefix else "num_batches_tracked"
        has_var = f"{prefix}.running_var" in tensors if prefix else "running_var" in tensors
        last_stat = leaf == "running_var" or (leaf == "running_mean" and not has_var)
        if last_stat and counter not in tensors:
            out[counter] = torch.tensor(0, dtype=torch.int64)
    return out


def to_pth(args):
    tensors, metadata = read_safetensors(args.input)
    state = with_batch_counters(tensors)
    replace_atomically(args.output, lambda f: torch.save(state, f))
    print(f"{args.output}: {len(state)} entries ({len(tensors)} tensors from {args.input})")
    for key, value in metadata.items():
        shown = value if len(value) <= 200 else value[:200] + f"... ({len(value)} characters)"
        print(f"  {key}: {shown}")


# ---- selftest ----


def selftest_factory():
    """Fresh networks of one architecture: torchvision's resnet18 with 3 classes, or a
    small stand-in with the same kinds of layers where torchvision is missing."""
    try:
        import torchvision
    except ImportError:
        print("torchvision is not importable: a small stand-in network is used")
        return lambda: torch.nn.Sequential(OrderedDict(
            conv1=torch.nn.Conv2d(3, 8, 3), bn1=torch.nn.BatchNorm2d(8), pool=torch.nn.AdaptiveAvgPool2d(1),
            flat=torch.nn.Flatten(), fc=torch.nn.Linear(8, 3)))
    return lambda: torchvision.models.resnet18(weights=None, num_classes=3)


def selftest():
    torch.manual_seed(0)
    factory = selftest_factory()
    model = factory()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.num_batches_tracked.fill_(7)
    model.eval()
    original = model.state_dict()
    with tempfile.TemporaryDirectory(prefix="clcnn_convert_") as d:
        pth, st, back, half = (os.path.join(d, n) for n in ("in.pth", "m.safetensors", "back.pth", "half.safetensors"))
        # A DataParallel checkpoint dict, as training scripts save it.
        torch.save({"epoch": 3, "state_dict": OrderedDict(("module." + k, v) for k, v in original.items())}, pth)
        main(["to-safetensors", pth, st, "--arch", "resnet18", "--class-names", "a,b,c", "--size", "96"])
        tensors, metadata = read_safetensors(st)
        want_meta = {"arch": "resnet18", "classes": "3", "class_names": "a,b,c", "input_size": "96", "head": "fc",
                     "mean": "0.485,0.456,0.406", "std": "0.229,0.224,0.225", "made_by": MADE_BY}
        assert metadata == want_meta, metadata
        floats = OrderedDict((k, v) for k, v in original.items() if v.is_floating_point())
        assert list(tensors) == list(floats), "names or order changed"
        for name, t in floats.items():
            assert tensors[name].dtype == torch.float32 and torch.equal(tensors[name], t), name
        with open(st, "rb") as f:
            (hlen,) = struct.unpack("<Q", f.read(8))
            assert hlen % 8 == 0, hlen
        main(["to-pth", st, back])
        restored = factory()
        restored.load_state_dict(torch.load(back, weights_only=True), strict=True)
        restored.eval()
        x = torch.randn(2, 3, 96, 96)
        with torch.no_grad():
            diff = (model(x) - restored(x)).abs().max().item()
        assert diff == 0.0, f"outputs differ by {diff}"
        # Half-precision files (F16, BF16) read back as float32 within their precision.
        halves = (torch.float16, torch.bfloat16)
        mixed = OrderedDict((k, v.to(halves[i % 2])) for i, (k, v) in enumerate(floats.items()))
        write_safetensors(half, mixed, {})
        got, _ = read_safetensors(half)
        for name, t in mixed.items():
            assert torch.equal(got[name], t), name
        # A truncated file is refused with a message, not a crash.
        with open(st, "rb") as f:
            blob = f.read()
        for cut in (0, 7, 8 + hlen // 2, 8 + hlen, len(blob) - 1):
            with open(half, "wb") as f:
                f.write(blob[:cut])
            try:
                read_safetensors(half)
                raise AssertionError(f"a file cut to {cut} bytes was read")
            except ConvertError:
                pass
        leftovers = [n for n in os.listdir(d) if ".tmp." in n]
        assert not leftovers, leftovers
    print(f"outputs identical after the round trip (max |diff| = {diff})")
    print("OK")


# ---- command line ----


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog="see docs/WEIGHTS.md")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("to-safetensors", help="a PyTorch .pth state_dict to a clcnn safetensors file")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--arch", required=True, help="e.g. resnet50, seresnet50, mobilenet_v2, efficientnet_b0, inception_v3, xception (timm's)")
    p.add_argument("--classes", type=int, help="default: the rows of the head's last linear layer")
    p.add_argument("--class-names", help="comma-separated names, or 'imagenet' (needs torchvision)")
    p.add_argument("--size", type=int, default=224, help="input side in pixels (default 224)")
    p.add_argument("--head", choices=("fc", "mlp"), default="fc")
    p.add_argument("--transform-input", choices=("yes", "no"),
                   help="the weights expect torchvision's transform_input (inputs normalised by mean and std 0.5): "
                        "default yes for inception_v3 (its ImageNet weights), no otherwise")
    p.add_argument("--trust-pickle", action="store_true", help="allow a checkpoint that holds more than tensors")
    p = sub.add_parser("to-pth", help="a safetensors file to a PyTorch .pth state_dict")
    p.add_argument("input")
    p.add_argument("output")
    sub.add_parser("selftest", help="round-trip torchvision's resnet18 through both directions")
    args = parser.parse_args(argv)
    if args.command == "to-safetensors":
        if args.classes is not None and args.classes <= 0 or args.size <= 0:
            parser.error("--classes and --size must be positive")
        to_safetensors(args)
    elif args.command == "to-pth":
        to_pth(args)
    else:
        selftest()


if __name__ == "__main__":
    try:
        main()
    except (ConvertError, OSError) as e:
        sys.exit(f"convert_torchvision.py: {e}")
