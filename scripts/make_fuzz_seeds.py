#!/usr/bin/python3
"""make_fuzz_seeds.py: the seed corpora of the fuzz targets (fuzz/corpus/NAME/) and their
dictionaries (fuzz/NAME.dict). Small on purpose (a few KB per file): libFuzzer grows its own
corpus from them during a run, in build/fuzz/corpus, which is never committed.

  /usr/bin/python3 scripts/make_fuzz_seeds.py      (from the repository root; needs PIL)

PNG and JPEG seeds are the decoder test images of tests/golden/images (every PNG colour
type and depth, interlaced, tRNS; baseline, progressive, gray, CMYK and all EXIF
orientations) plus a few JPEG subsamplings and a restart-marker file made here.

It also writes tests/golden/fuzz/: the inputs of tests/test_fuzz_regress.c, each a crash the
fuzzers found (kept byte for byte as found) or a hand-made file of the same kind."""
import glob
import io
import json
import os
import re
import shutil
import struct

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZ = os.path.join(ROOT, "fuzz")


def corpus(name):
    d = os.path.join(FUZZ, "corpus", name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    return d


def write(path, data):
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def dictionary(name, entries):
    """libFuzzer dictionary: one quoted token per line, bytes escaped as \\xNN."""
    lines = []
    for e in entries:
        b = e if isinstance(e, bytes) else e.encode()
        lines.append('"' + "".join(chr(c) if 32 <= c < 127 and chr(c) not in '"\\' else "\\x%02x" % c for c in b) + '"')
    write(os.path.join(FUZZ, name + ".dict"), "\n".join(lines) + "\n")


def gradient(w, h):
    im = Image.new("RGB", (w, h))
    im.putdata([((x * 37) % 256, (y * 53) % 256, ((x + y) * 19) % 256) for y in range(h) for x in range(w)])
    return im


def images():
    golden = os.path.join(ROOT, "tests", "golden", "images")
    d = corpus("png")
    for f in sorted(glob.glob(os.path.join(golden, "png_*.png"))):
        shutil.copy(f, d)
    dictionary("png", [b"\x89PNG\r\n\x1a\n", "IHDR", "IDAT", "IEND", "PLTE", "tRNS", "gAMA", "iCCP", "sBIT", "bKGD",
                       "zTXt", "iTXt", "acTL", "fcTL", "\x00\x00\x00\x0d"])
    d = corpus("jpeg")
    for f in sorted(glob.glob(os.path.join(golden, "jpeg_*.jpg"))):
        shutil.copy(f, d)
    im = gradient(11, 7)
    for name, sub in (("sub444", 0), ("sub422", 1)):
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=80, subsampling=sub)
        write(os.path.join(d, "jpeg_%s.jpg" % name), buf.getvalue())
    # A restart interval of one MCU: DRI marker (FFDD) and RSTn markers in the scan.
    buf = io.BytesIO()
    gradient(24, 16).save(buf, "JPEG", quality=70)
    data = buf.getvalue()
    sos = data.index(b"\xff\xda")
    write(os.path.join(d, "jpeg_dri_header.jpg"), data[:sos] + b"\xff\xdd\x00\x04\x00\x01" + data[sos:])
    dictionary("jpeg", [b"\xff\xd8\xff", b"\xff\xe1", b"Exif\x00\x00", b"MM\x00\x2a\x00\x00\x00\x08",
                        b"II\x2a\x00\x08\x00\x00\x00", b"\x01\x12\x00\x03\x00\x00\x00\x01", b"\xff\xdd\x00\x04",
                        b"\xff\xc0", b"\xff\xc2", b"\xff\xc4", b"\xff\xdb", b"\xff\xda", b"\xff\xd9", b"\xff\xee",
                        b"Adobe", b"\xff\xd0"])


def safetensors(tensors, metadata=None, extra_header=None):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    header, data = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    if extra_header:
        header.update(extra_header)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def weights():
    d = corpus("safetensors")
    desc = {"format": "clcnn", "arch": "compact", "classes": json.dumps(["cat", "dog"]), "size": "32",
            "mean": "[0.485, 0.456, 0.406]", "std": "[0.229, 0.224, 0.225]", "head_hidden": "4",
            "head_dropout": "0.2", "epoch": "2", "history": json.dumps([{"epoch": 1, "train_loss": 0.7}]),
            "train_options": json.dumps({"data": "d", "epochs": "3", "lr": "0.01"})}
    write(os.path.join(d, "described.safetensors"),
          safetensors([("fc.0.weight", "F32", [4, 3], f32(*range(12))), ("fc.0.bias", "F32", [4], f32(1, 2, 3, 4)),
                       ("fc.3.weight", "F32", [2, 4], f32(*range(8)))], desc))
    write(os.path.join(d, "dtypes.safetensors"),
          safetensors([("a", "F16", [2, 2], struct.pack("<4H", 0x3c00, 0x0001, 0x7c00, 0xfe00)),
                       ("b", "BF16", [3], struct.pack("<3H", 0x3f80, 0x8000, 0x7f80)),
                       ("bn.num_batches_tracked", "I64", [], struct.pack("<q", 5)),
                       ("s", "F32", [], f32(2.5))]))
    write(os.path.join(d, "plain_fc.safetensors"),
          safetensors([("fc.weight", "F32", [3, 2], f32(*range(6))), ("fc.bias", "F32", [3], f32(0, 0, 0))],
                      {"classes": "3", "arch": "resnet18"}))
    write(os.path.join(d, "empty.safetensors"), safetensors([], {}))
    shutil.copy(os.path.join(ROOT, "tests", "golden", "zoo_compact.safetensors"), d)
    dictionary("safetensors", ['"dtype"', '"shape"', '"data_offsets"', '"__metadata__"', '"F32"', '"F16"', '"BF16"',
                               '"I64"', '"classes"', '"arch"', '"size"', '"mean"', '"std"', '"head_hidden"',
                               '"head_dropout"', '"fc.weight"', '"fc.0.weight"', '"fc.3.weight"', "[", "]", "{", "}",
                               "\\u0000", "1e308", "-1", "4294967296", "18446744073709551615"])


def csv():
    d = corpus("csv")
    seeds = {
        "named.csv": b"\x00path,label\na.png,cat\nb.jpg,dog\nsub/c.jpeg,cat\n",
        "numeric.csv": b"\x04x/1.png,10\nx/2.png,9\nx/3.png,010\n/abs/4.png,0\n",
        "quoted.csv": b"\x01\xef\xbb\xbf\"a, b.png\",\"a,b\"\r\n\"say \"\"hi\"\".png\" , dog\n\n  \t\nc.png,7\n",
        "given.csv": b"\x03img/x.png,cat\nimg/y.png,dog\nimg/z.png,7\nimg/w.png,dog\n",
        "bad.csv": b"\x02a.png\nb.png,cat,extra\n\"open.png,cat\n",
    }
    for name, data in seeds.items():
        write(os.path.join(d, name), data)
    dictionary("csv", [",", '"', '""', "path,label", b"\xef\xbb\xbf", "\r\n", ".png", "/", "007"])


def option_names(source):
    with open(os.path.join(ROOT, "tools", source)) as f:
        return sorted(set(re.findall(r'"(--[a-z0-9-]+)"', f.read())))


def argv(*args):
    return b"\x00".join(a.encode() for a in args)


def options():
    seeds = {
        "opts_train": [argv("--data", "d", "--out", "r", "--epochs", "3", "--lr=0.01", "--seed", "0x10", "--vflip"),
                       argv("--data", "x.csv", "--val-split", "0.2", "--out", "r", "--head", "mlp", "--hidden", "8",
                            "--dropout", "0.5", "--classes", "2", "--arch", "compact"),
                       argv("--resume", "r", "--epochs", "9", "--device", "cpu"), argv("--help"), argv("--bogus"),
                       b'{"data":"d","epochs":"3","lr":"0.01","vflip":"1","seed":"7","out":"r"}'],
        "opts_eval": [argv("--data", "d", "--weights", "w.safetensors", "--json", "--batch", "4"),
                      argv("--threads=0", "--size", "96"), argv("-h")],
        "opts_predict": [argv("--weights", "w", "--top", "3", "a.png", "--", "--b.png"), argv("--json", "x")],
        "opts_cam": [argv("--weights", "w", "--out", "o", "--method", "gradcam++", "--layer", "layer4,layer3",
                          "--class", "dog", "--score-class", "1", "--threshold", "otsu", "--alpha", "0.4",
                          "d/a.png", "e/a.png", "d/a.jpg"),
                     argv("--weights", "w", "--out", "o", "--threshold", "0.3", "--aug-smooth", "x.png")],
        "opts_layers": [argv("layers", "--arch", "resnet18", "--head", "mlp", "--hidden", "7"), argv("devices"),
                        argv("--version"), argv("layers", "--arch", "nope"), argv("train", "--help")],
    }
    sources = {"opts_train": "cmd_train.c", "opts_eval": "cmd_eval.c", "opts_predict": "cmd_predict.c",
               "opts_cam": "cmd_cam.c", "opts_layers": "clcnn.c"}
    for name, inputs in seeds.items():
        d = corpus(name)
        for i, data in enumerate(inputs):
            write(os.path.join(d, "seed%d" % i), data)
        dictionary(name, option_names(sources[name]) + ["--help", "--", "=", "0x", "1e", "nan", "-1", "otsu",
                                                        "layers", "devices"])


def regressions():
    d = os.path.join(ROOT, "tests", "golden", "fuzz")
    os.makedirs(d, exist_ok=True)
    # fuzz_safetensors, 2026-11-21, against the parser of commit 2268a15: "a" claims 212
    # F16 values over 8 bytes; the 848-byte device buffer was created before the byte count
    # was checked (a fuzz check: no buffer may outgrow the file).
    write(os.path.join(d, "safetensors_f16_shape_beyond_data.safetensors"),
          b'\xf0\x00\x00\x00\x00\x00\x00\x00{"a":{"dtype":"F16","shape":[212],"data_offsets":[0,8]},"b":{"dtype":'
          b'"BF16","shape":[3],"data_offsets":[8,14]},"bn.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets'
          b'":[14,22]},"s":{"dtype":"F32","shape":[],"data_offsets":[22,26]}}\x00<\x01\x00\x00|\x00\xfe\x80?\x00\x80'
          b'\x80\x7f\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00 @')
    # fuzz_png, 2026-11-21 (a 25 s timeout after 48 minutes): after a palette and two tRNS
    # chunks, an iTXt chunk claims 1933723988 bytes; libpng allocated and cleared that much
    # before finding the file truncated. Hex of the file as found.
    write(os.path.join(d, "png_itxt_claims_1_9gb.png"), bytes.fromhex(
        "89504e470d0a1a0a0000000d494844520000000d000000070403000000215eda2900000030504c54458a28223c89f6e54656c6"
        "1338d28144a8513dc6f97de56192d4da57962b34e5cac8dae3dbe010f5377b952bddd0a846caaffee5720000008074524e53fe"
        "00000000000000db000000000000000500000000000000e000000000000000c9000000000000000800000000000000720000"
        "73424954000e000000377b952bddd0a846caaf624b474400008074524e53fe00000000000000db0000000000000005000000"
        "00000000e000000000000000c90000000000000008000000000000007200007342495469545874000000000076ff005b1fed"
        "a7bff430006b14afb0e8a5c0004fbe2971921fb000e0718ceb9beee000f0705ba25a1f3000dc318b68fb1b5000bf709cfa17"
        "9f20f86b1a5bebb39219000044ae42ed2c4847167b2b76d26082"))
    # The same made by hand at scale: 16 bytes of data claiming a 1 GiB tensor, and a shape
    # whose element count overflows 64 bits.
    write(os.path.join(d, "safetensors_1gib_claim.safetensors"),
          safetensors([("big", "F32", [16384, 16384], f32(1, 2, 3, 4))]))
    write(os.path.join(d, "safetensors_shape_overflow.safetensors"),
          safetensors([("huge", "F16", [1 << 30] * 6, f32(1, 2))]))


if __name__ == "__main__":
    regressions()
    images()
    weights()
    csv()
    options()
