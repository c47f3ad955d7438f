#!/usr/bin/env python3
"""perf_model.py: a roofline model of the GPU family's kernels at ResNet-50's shapes.

    scripts/perf_model.py [--batch 32] [--size 224] [--isa build/isa/report.json] [--doc docs/GPU.md]

For one training step (forward, input and weight gradients) of ResNet-50, the
convolutions as the GPU family runs them (Winograd F(4x4, 3x3) for 3x3 stride-1
layers, implicit GEMMs for the others (forward, weight gradient, and data gradient by
output phase when strided), the 1x1 stride-1 ones on the input itself),
this counts per kernel family the floating-point work and the global-memory traffic
it cannot avoid (every operand and intermediate read or written once, at 4 bytes),
and from them the arithmetic intensity and the time it needs at best on each
device: the larger of work / fp32 peak and traffic / memory bandwidth. The GEMM's
traffic is the tile's (each A and B value is read once per work-group tile:
4 (MWG + NWG) / (2 MWG NWG) bytes a FLOP with the vendor row's tile), an upper bound,
since the L2 cache serves part of it. Occupancy comes from the ISA report
(`make isa-report`) where it has the kernel. Nothing here is measured: it says which
family bounds a step and how far a kernel can go, not how fast it runs.

The table goes to stdout and, with --doc, between the perf-model markers of the doc."""
import argparse
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARK_BEGIN = "<!-- perf-model begin (scripts/perf_model.py --doc docs/GPU.md writes this table) -->"
MARK_END = "<!-- perf-model end -->"

# name, fp32 peak (TFLOP/s, no tensor cores), memory bandwidth (TB/s), row (gpu_rows.c): MWG, NWG
DEVICES = [
    ("H100 SXM", 67.0, 3.35, "nvidia", 64, 32),
    ("MI250", 45.3, 3.2, "amd", 64, 64),
    ("Arc A770", 19.7, 0.56, "intel", 32, 64),
]
WINOGRAD_MIN_TILES = 12  # src/ops/conv_internal.h


def resnet50_convs(batch, size):
    """(name, N, C, H, W, K, R, stride) for every convolution of torchvision's ResNet-50."""
    convs = [("conv1", batch, 3, size, size, 64, 7, 2)]
    h = (size + 2 * 3 - 7) // 2 + 1
    h = (h + 2 - 3) // 2 + 1  # max pool 3x3 stride 2
    cin = 64
    for layer, (width, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], 1):
        for b in range(blocks):
            s = stride if b == 0 else 1
            name = "layer%d.%d" % (layer, b)
            convs.append((name + ".conv1", batch, cin, h, h, width, 1, 1))
            convs.append((name + ".conv2", batch, width, h, h, width, 3, s))
            ho = (h + 2 - 3) // s + 1
            convs.append((name + ".conv3", batch, width, ho, ho, 4 * width, 1, 1))
            if b == 0:
                convs.append((name + ".downsample", batch, cin, h, h, 4 * width, 1, s))
            cin, h = 4 * width, ho
    return convs


def add(acc, family, flops, bytes_, kernel):
    f = acc.setdefault(family, {"flops": 0.0, "bytes": 0.0, "kernels": set(), "gemm": False})
    f["flops"] += flops
    f["bytes"] += bytes_
    f["kernels"].add(kernel)


def step_model(batch, size):
    """Per family: FLOPs, bytes and kernels of one training step's convolutions and the
    batch norms, ReLUs and residual adds around them. Bytes of the GEMMs are per unit of
    1 / (bytes a FLOP) of the tile and are filled in per device."""
    fam = {}
    for name, n, c, h, w, k, r, s in resnet50_convs(batch, size):
        pad = r // 2
        oh = (h + 2 * pad - r) // s + 1
        p = oh * oh
        x, y = 4.0 * n * c * h * w, 4.0 * n * k * p
        dense = 2.0 * n * k * p * c * r * r
        tiles = n * ((oh + 3) // 4) ** 2
        if r == 3 and s == 1 and tiles >= WINOGRAD_MIN_TILES:
            gemm = 3 * 2.0 * 36 * tiles * c * k  # forward, dX and dW: 36 products per tile per pair
            add(fam, "GEMM (gemm_local)", gemm, 0, "gemm_local")
            v, m = 4.0 * 36 * tiles * c, 4.0 * 36 * tiles * k
            # forward: x -> V, M -> y; dX: dy -> V', M' -> dx; dW: dy -> Y, M -> dW (V again)
            add(fam, "Winograd transforms", 0, (x + v) + (m + y) + (y + m) + (v + x) + (y + m) + v,
                "winograd_input")
        else:
            add(fam, "GEMM (gemm_local)", 3 * dense, 0, "gemm_local")
            # no column traffic: the implicit GEMMs gather x (forward, dW) and dY (dX, by
            # output phase when strided) in their loaders
            add(fam, "transposes (dY pixel-major)", 0, 2 * y, "transpose_tiles")
        # batch norm after every convolution: statistics (read), apply (read, write);
        # backward: partial sums (read x, dy), dx (read x, dy, write)
        add(fam, "batch norm (train)", 10.0 * y / 4, 3 * y + 5 * y, "batchnorm_stats_group")
    # ReLU fused with batch norm; residual adds (read two, write one) forward, and the
    # gradient's copy to both branches backward, once per block (16 blocks)
    return fam


def gemm_bytes_per_flop(mwg, nwg):
    return 4.0 * (mwg + nwg) / (2.0 * mwg * nwg)


def occupancy(isa, kernel):
    """'sm_90 R regs; gfx90a W waves' for the kernel's worst build, or '-'."""
    got = {}
    for e in isa:
        if e["kernel"] != kernel:
            continue
        t = e["target"]
        worst = got.get(t)
        if worst is None or e["registers"] > worst["registers"]:
            got[t] = e
    parts = []
    if "sm_90" in got:
        parts.append("%d regs sm_90" % got["sm_90"]["registers"])
    if "gfx90a" in got:
        parts.append("%d waves gfx90a" % (got["gfx90a"]["occupancy"] or 0))
    return ", ".join(parts) or "-"


def table(batch, size, isa):
    fam = step_model(batch, size)
    lines = ["ResNet-50, one training step, batch %d at %d² (convolutions and their batch norms); "
             "ceilings from each device's fp32 peak and memory bandwidth:" % (batch, size), "",
             "| kernel family | GFLOP | GB moved | FLOP/byte | " +
             " | ".join("%s ms: work / traffic" % d[0] for d in DEVICES) + " | registers, occupancy (ISA report) |",
             "|---|---:|---:|---:|" + "---:|" * len(DEVICES) + "---|"]
    totals = [0.0] * len(DEVICES)
    for name, f in sorted(fam.items(), key=lambda kv: -kv[1]["flops"] - kv[1]["bytes"]):
        cells, gb = [], f["bytes"] / 1e9
        for i, (_, peak, bw, _, mwg, nwg) in enumerate(DEVICES):
            b = f["bytes"] + f["flops"] * gemm_bytes_per_flop(mwg, nwg) if "GEMM" in name else f["bytes"]
            compute, memory = f["flops"] / (peak * 1e12) * 1e3, b / (bw * 1e12) * 1e3
            totals[i] += max(compute, memory)
            cells.append("%.1f / %.1f" % (compute, memory))
            if "GEMM" in name and i == 0:
                gb = b / 1e9
        intensity = f["flops"] / (gb * 1e9) if gb else 0
        kernel = sorted(f["kernels"])[0]
        lines.append("| %s | %.0f | %.1f | %s | %s | %s |" % (name, f["flops"] / 1e9, gb,
                                                            "%.1f" % intensity if f["flops"] else "0",
                                                            " | ".join(cells), occupancy(isa, kernel)))
    lines.append("| **step** | | | | " + " | ".join("**%.1f**" % t for t in totals) + " | |")
    lines += ["", "Each device cell: milliseconds at the fp32 peak / at the memory bandwidth; the larger "
              "bounds the family, and the step row adds the larger of each. GEMM traffic is the tiles' reads "
              "at each device's row (%s; the GB column has the H100's), all counted as memory traffic: an "
              "upper bound, since the L2 cache serves much of it. Balance (peak / bandwidth): %s FLOP/byte." %
              (", ".join("%s %d × %d" % (d[3], d[4], d[5]) for d in DEVICES),
               ", ".join("%s %.0f" % (d[0], d[1] / d[2]) for d in DEVICES))]
    return "\n".join(lines)


def update_doc(doc, text):
    with open(doc) as f:
        s = f.read()
    if MARK_BEGIN not in s or MARK_END not in s:
        raise SystemExit("perf_model: %s has no perf-model markers" % doc)
    head, rest = s.split(MARK_BEGIN, 1)
    _, tail = rest.split(MARK_END, 1)
    with open(doc, "w") as f:
        f.write(head + MARK_BEGIN + "\n" + text + "\n" + MARK_END + tail)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--isa", default=os.path.join(ROOT, "build/isa/report.json"))
    ap.add_argument("--doc", default=None, help="write the table between the doc's perf-model markers")
    a = ap.parse_args()
    isa = []
    if os.path.exists(a.isa):
        with open(a.isa) as f:
            isa = json.load(f)
    text = table(a.batch, a.size, isa)
    print(text)
    if a.doc:
        update_doc(a.doc, text)


if __name__ == "__main__":
    main()
