#!/usr/bin/env python3
"""make_test_images.py: the small images tests/test_image.c and tests/test_preprocess.c
decode, and what PIL (and torchvision) make of them, into tests/golden/images/.

  /usr/bin/python3 scripts/make_test_images.py [OUT_DIR]

Inputs (13x7 unless said otherwise, so that transposes show):
  png_*.png   every PNG colour type and depth the decoder must handle, written by the
              small PNG writer below (PIL cannot write 16-bit RGB, low bit depths or
              Adam7 interlacing); png_rgb.png is written by PIL itself (real filters).
  jpeg_*.jpg  written by PIL: baseline, progressive, grayscale, CMYK (Adobe polarity, as
              PIL and Photoshop write it) and EXIF orientations 2..8.
  portrait.png  a 9x15 image for the portrait branch of the evaluation resize.
Expected results:
  NAME.ppm          Image.open(NAME).convert("RGB"), after ImageOps.exif_transpose for
                    JPEGs; for png_gray16 the 16-bit samples' high byte instead, because
                    PIL's convert("RGB") of mode I;16 clips at 255 where clcnn scales.
                    Binary PPM, so that the decoder tests do not depend on the decoder.
  resize_SRC_WxH.png  PIL's resize(BILINEAR) of a decoded source (gray: an 8-bit gray PNG).
  prep_SRC_sN.png   torchvision's Resize(N) + CenterCrop(N) of a decoded source.
Deterministic: fixed formulas and numpy's legacy RandomState with fixed seeds; the JPEG
bytes depend on the libjpeg PIL links, the expected pixels are read back from those bytes.
"""
import os
import struct
import sys
import warnings
import zlib

import numpy as np
from PIL import Image, ImageOps

W, H = 13, 7
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


# ---- a minimal PNG writer: filter type 0, any colour type and depth, optional Adam7 ----

def chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def pack_rows(samples, depth):
    """(h, w, c) samples -> scanlines with a leading filter byte 0 each."""
    h = samples.shape[0]
    flat = samples.reshape(h, -1)
    out = b""
    for row in flat:
        if depth == 16:
            data = row.astype(">u2").tobytes()
        elif depth == 8:
            data = row.astype(np.uint8).tobytes()
        else:
            per = 8 // depth
            padded = np.zeros((len(row) + per - 1) // per * per, dtype=np.uint32)
            padded[: len(row)] = row
            groups = padded.reshape(-1, per)
            shifts = np.array([8 - depth * (i + 1) for i in range(per)], dtype=np.uint32)
            data = (groups << shifts).sum(axis=1).astype(np.uint8).tobytes()
        out += b"\x00" + data
    return out


def write_png(path, samples, color_type, depth, palette=None, trns=None, interlace=False):
    h, w = samples.shape[:2]
    if samples.ndim == 2:
        samples = samples[:, :, None]
    if interlace:
        raw = b""
        for xs, ys, dx, dy in ADAM7:
            sub = samples[ys::dy, xs::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += pack_rows(sub, depth)
    else:
        raw = pack_rows(samples, depth)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlace)))
    if palette is not None:
        png += chunk(b"PLTE", bytes(np.asarray(palette, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        png += chunk(b"tRNS", bytes(trns))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def write_ppm(path, rgb):
    rgb = np.asarray(rgb, dtype=np.uint8)
    assert rgb.ndim == 3 and rgb.shape[2] == 3
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (rgb.shape[1], rgb.shape[0]) + rgb.tobytes())


# ---- contents ----

def rgb_pattern(w=W, h=H, seed=1):
    """Gradients plus noise: every pixel different, nothing symmetric."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x * 7 + y * 13) % 256], axis=-1)
    return np.clip(base + rng.randint(-20, 21, size=(h, w, 3)), 0, 255).astype(np.uint8)


def make_pngs(out):
    rng = np.random.RandomState(2)
    rgb = rgb_pattern()
    gray = rgb[:, :, 0]
    alpha = rng.randint(0, 256, size=(H, W)).astype(np.uint8)
    palette = rng.randint(0, 256, size=(16, 3))
    index = rng.randint(0, 16, size=(H, W))
    gray16 = (gray.astype(np.uint16) * 257 + rng.randint(0, 256, size=(H, W))).astype(np.uint16)
    rgb16 = (rgb.astype(np.uint16) * 256 + rng.randint(0, 256, size=(H, W, 3))).astype(np.uint16)
    write_png(f"{out}/png_gray8.png", gray, 0, 8)
    write_png(f"{out}/png_gray16.png", gray16, 0, 16)
    write_png(f"{out}/png_gray2.png", gray >> 6, 0, 2)
    write_png(f"{out}/png_gray_alpha.png", np.stack([gray, alpha], -1), 4, 8)
    write_png(f"{out}/png_palette.png", index, 3, 8, palette=palette)
    write_png(f"{out}/png_palette_trns.png", index, 3, 4, palette=palette, trns=rng.randint(0, 256, size=16))
    Image.fromarray(rgb, "RGB").save(f"{out}/png_rgb.png")
    write_png(f"{out}/png_rgba.png", np.concatenate([rgb, alpha[:, :, None]], -1), 6, 8)
    write_png(f"{out}/png_rgb16.png", rgb16, 2, 16)
    write_png(f"{out}/png_interlaced.png", np.concatenate([rgb[:, ::-1], alpha[:, :, None]], -1), 6, 8, interlace=True)
    names = ["png_gray8", "png_gray16", "png_gray2", "png_gray_alpha", "png_palette", "png_palette_trns", "png_rgb",
             "png_rgba", "png_rgb16", "png_interlaced"]
    for name in names:
        im = Image.open(f"{out}/{name}.png")
        if name == "png_gray16":
            assert im.mode in ("I", "I;16"), im.mode
            expected = np.repeat((np.array(im).astype(np.uint32) >> 8).astype(np.uint8)[:, :, None], 3, axis=-1)
        else:
            expected = np.array(im.convert("RGB"))
        write_ppm(f"{out}/{name}.ppm", expected)
    write_png(f"{out}/portrait.png", rgb_pattern(9, 15, seed=3), 2, 8)


def make_jpegs(out):
    rgb = Image.fromarray(rgb_pattern(seed=4), "RGB")
    rgb.save(f"{out}/jpeg_baseline.jpg", quality=90)
    rgb.save(f"{out}/jpeg_progressive.jpg", quality=90, progressive=True)
    rgb.convert("L").save(f"{out}/jpeg_gray.jpg", quality=90)
    cmyk = np.array(rgb_pattern(seed=5).tolist(), dtype=np.uint8)
    k = (np.arange(W)[None, :] * 19 + np.arange(H)[:, None] * 5) % 200
    Image.fromarray(np.concatenate([cmyk, k[:, :, None].astype(np.uint8)], -1), "CMYK").save(
        f"{out}/jpeg_cmyk.jpg", quality=95)
    names = ["jpeg_baseline", "jpeg_progressive", "jpeg_gray", "jpeg_cmyk"]
    for orientation in range(2, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        name = f"jpeg_exif{orientation}"
        rgb.save(f"{out}/{name}.jpg", quality=90, exif=exif.tobytes())
        names.append(name)
    for name in names:
        im = Image.open(f"{out}/{name}.jpg")
        write_ppm(f"{out}/{name}.ppm", np.array(ImageOps.exif_transpose(im).convert("RGB")))


def make_resized(out):
    src = Image.open(f"{out}/png_rgb.png").convert("RGB")
    for w, h in [(5, 3), (29, 17), (13, 4), (6, 7), (40, 2)]:
        src.resize((w, h), Image.BILINEAR).save(f"{out}/resize_rgb_{w}x{h}.png")
    gray = Image.open(f"{out}/png_gray8.png")
    assert gray.mode == "L"
    gray.resize((6, 4), Image.BILINEAR).save(f"{out}/resize_gray_6x4.png")


def make_prepared(out):
    import torchvision.transforms as T

    for src, sizes in [("png_rgb", (4, 10)), ("portrait", (5, 6))]:
        im = Image.open(f"{out}/{src}.png").convert("RGB")
        for n in sizes:
            crop = T.Compose([T.Resize(n), T.CenterCrop(n)])(im)
            assert crop.size == (n, n)
            crop.save(f"{out}/prep_{src}_s{n}.png")


def main():
    warnings.simplefilter("ignore", UserWarning)  # PIL's advice on palette transparency
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "golden", "images")
    os.makedirs(out, exist_ok=True)
    make_pngs(out)
    make_jpegs(out)
    make_resized(out)
    make_prepared(out)
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"wrote {len(os.listdir(out))} files, {total} bytes, to {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
