#!/usr/bin/env python3
"""compare.py: clcnn against PyTorch on the same machine, in the same run.

Runs each workload with `clbench model --json` and `bench/torch_model.py --json`,
interleaved (the two sides alternate, and which goes first alternates every round) so
that drift in the machine's load hits both alike; takes the median over the rounds of
each side's per-run median, and prints a Markdown table of clcnn / PyTorch ratios
(below 1: clcnn is faster). Then the roofline (clbench peak) and square GEMMs: the
project's kernel, CLBlast's and PyTorch's torch.mm, with % of the measured peak.

Three sets of workloads: `cpu` (small batches, for this project's 2-core machines),
`zoo` (MobileNetV2 and EfficientNet-B0 inference at 224², batch 1, and a MobileNetV2
training step at 96², batch 16: issue 25's targets; no GEMMs) and `gpu` (ResNet-18 and
ResNet-50 inference, training step and Grad-CAM at 224², the training and inference at
batch 32 as bench/RESULTS.md's GPU targets name them, and GEMMs of 1024³ to 4096³). The
set defaults to `gpu` with --torch-device cuda.

PyTorch runs fp32 with --threads threads and flushed denormals (TF32 off on CUDA). On a
CPU device PoCL is held to the same number of threads (POCL_MAX_PTHREAD_COUNT) unless
--all-cores. A run that fails or outlives --timeout is reported in its row, and the
others go on. Run with Debian's /usr/bin/python3 (torch 1.13); bench/compare.sh does.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# (label, arch, size, batch, mode, iterations: None = --iters)
WORKLOADS = {
    "cpu": [
        ("ResNet-18 inference, batch 1, 224²", "resnet18", 224, 1, "infer", None),
        ("ResNet-18 training step (SGD), batch 16, 96²", "resnet18", 96, 16, "train", None),
        ("ResNet-50 Grad-CAM at layer4, batch 1, 224²", "resnet50", 224, 1, "cam", None),
        ("ResNet-50 inference, batch 1, 224²", "resnet50", 224, 1, "infer", None),
    ],
    # the write-ups' light networks (issue 25's speed targets: at most 1.0x PyTorch)
    "zoo": [
        ("MobileNetV2 inference, batch 1, 224²", "mobilenet_v2", 224, 1, "infer", None),
        ("EfficientNet-B0 inference, batch 1, 224²", "efficientnet_b0", 224, 1, "infer", None),
        ("MobileNetV2 training step (SGD), batch 16, 96²", "mobilenet_v2", 96, 16, "train", None),
    ],
    "gpu": [
        ("ResNet-18 inference, batch 1, 224²", "resnet18", 224, 1, "infer", None),
        ("ResNet-18 training step (SGD), batch 32, 224²", "resnet18", 224, 32, "train", None),
        ("ResNet-18 Grad-CAM at layer4, batch 1, 224²", "resnet18", 224, 1, "cam", None),
        ("ResNet-50 inference, batch 32, 224²", "resnet50", 224, 32, "infer", None),
        ("ResNet-50 training step (SGD), batch 32, 224²", "resnet50", 224, 32, "train", 5),
        ("ResNet-50 Grad-CAM at layer4, batch 1, 224²", "resnet50", 224, 1, "cam", None),
    ],
}
GEMM_SIZES = {"cpu": [1024], "zoo": [], "gpu": [1024, 2048, 4096]}

TORCH_GEMM = """
import json, statistics, sys, time, torch
n, threads, dev = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
torch.set_num_threads(threads)
torch.set_flush_denormal(True)
if dev == "cuda":
    torch.backends.cuda.matmul.allow_tf32 = False
sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
a = torch.full((n, n), 0.5, device=dev)
b = torch.full((n, n), 0.25, device=dev)
torch.mm(a, b); sync()
ms = []
for _ in range(10):
    t0 = time.perf_counter(); torch.mm(a, b); sync(); ms.append((time.perf_counter() - t0) * 1e3)
med = statistics.median(ms)
print(json.dumps({"median_ms": med, "gflops": 2.0 * n ** 3 / med * 1e-6}))
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class RunFailed(Exception):
    """A measuring command that failed or ran out of time; str() says which and why."""


def run_json(cmd, env, timeout, name=None):
    """Run cmd, return its last output line as JSON; RunFailed (naming it) when it cannot."""
    name = name or " ".join(os.path.basename(c) for c in cmd[:3])
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RunFailed(f"{name}: over {timeout} s")
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["no output"])[-1]
        raise RunFailed(f"{name}: exit {p.returncode}: {last}")
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RunFailed(f"{name}: no JSON on its last line")


def measure_workload(a, clbench, dev, env, workload):
    """(label, clcnn median ms, PyTorch median ms, error or None) for one workload."""
    label, arch, size, batch, mode, iters = workload
    common = ["--arch", arch, "--size", str(size), "--batch", str(batch), "--mode", mode,
              "--iters", str(iters or a.iters), "--json"]
    torch_py = [sys.executable, os.path.join(HERE, "torch_model.py")]
    ours, theirs = [], []
    try:
        for r in range(a.rounds):
            sides = [("clcnn", [clbench, "model"] + common + dev, ours),
                     ("torch", torch_py + common + ["--threads", str(a.threads), "--device", a.torch_device], theirs)]
            if r % 2:
                sides.reverse()
            for name, cmd, into in sides:
                res = run_json(cmd, env, a.timeout)
                into.append(res["median_ms"])
                log(f"{label} round {r + 1} {name}: {res['median_ms']:.1f} ms")
    except RunFailed as e:
        log(f"{label}: {e}")
        return label, None, None, str(e)
    return label, statistics.median(ours), statistics.median(theirs), None


def measure_gemm(a, clbench, dev, env, n):
    """clbench gemm's JSON at n³ (or {"error": ...}) and torch.mm's (or {"error": ...})."""
    out = []
    for name, cmd in (("clbench gemm", [clbench, "gemm", "--m", str(n), "--n", str(n), "--k", str(n), "--json"] + dev),
                      ("torch.mm", [sys.executable, "-c", TORCH_GEMM, str(n), str(a.threads), a.torch_device])):
        try:
            out.append(run_json(cmd, env, a.timeout, name))
        except RunFailed as e:
            log(f"GEMM {n}³: {e}")
            out.append({"error": str(e)})
    return out


def print_gemm(n, ours, torch_mm, roof, torch_device):
    print(f"| GEMM {n}³ fp32 | median ms | GFLOP/s | % of peak |")
    print("|---|---|---|---|")
    rows = [({"clcnn": "clcnn own kernel", "clblast": "CLBlast"}.get(r["backend"], r["backend"]), r)
            for r in ours.get("results", [])]
    if "error" in ours:
        rows.append(("clbench gemm", ours))
    rows.append((f"PyTorch torch.mm ({torch_device})", torch_mm))
    for name, r in rows:
        if "error" in r:
            print(f"| {name} | - | - | {r['error']} |")
        else:
            print(f"| {name} | {r['median_ms']:.2f} | {r['gflops']:.1f} | {100 * r['gflops'] / roof:.1f} % |")
    if ours.get("own_over_clblast"):
        print(f"\nown / CLBlast at {n}³: {ours['own_over_clblast']:.2f}x")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"), help="folder holding clbench")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per workload")
    ap.add_argument("--iters", type=int, default=5, help="timed iterations per run")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads (and PoCL's, on a CPU)")
    ap.add_argument("--device", default=None, help="clcnn device spec (default: CLCNN_DEVICE or the fastest)")
    ap.add_argument("--torch-device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--set", choices=sorted(WORKLOADS), default=None,
                    help="workloads and GEMM sizes (default: gpu with --torch-device cuda, else cpu)")
    ap.add_argument("--gemm-sizes", default=None, help="comma-separated n for n³ GEMMs (default: the set's)")
    ap.add_argument("--timeout", type=int, default=300,
                    help="seconds a workload's or GEMM's run may take (clbench peak: at least 120)")
    ap.add_argument("--all-cores", action="store_true", help="do not limit PoCL's threads")
    ap.add_argument("--only", default=None, help="comma-separated workload numbers of the set to run (0: none)")
    a = ap.parse_args()
    kind = a.set or ("gpu" if a.torch_device == "cuda" else "cpu")

    clbench = os.path.join(a.build, "clbench")
    if not os.access(clbench, os.X_OK):
        sys.exit(f"compare: no {clbench}: run `make` (or pass --build)")
    env = dict(os.environ)
    if not a.all_cores:
        env["POCL_MAX_PTHREAD_COUNT"] = str(a.threads)
    dev = ["--device", a.device] if a.device else []

    cores, load_before = os.cpu_count() or 1, os.getloadavg()[0]
    try:
        peak = run_json([clbench, "peak", "--json"] + dev, env, max(a.timeout, 120))  # nothing goes on without it
    except RunFailed as e:
        sys.exit(f"compare: {e}")
    device = peak["device"]["name"]
    log(f"device {device}: {peak['fma_gflops']:.1f} GFLOP/s, {peak['bandwidth_gbps']:.1f} GB/s")

    chosen = WORKLOADS[kind]
    if a.only:
        chosen = [chosen[int(i) - 1] for i in a.only.split(",") if int(i) > 0]
    rows = [measure_workload(a, clbench, dev, env, w) for w in chosen]
    sizes = [int(s) for s in a.gemm_sizes.split(",")] if a.gemm_sizes else GEMM_SIZES[kind]
    gemms = [(n, *measure_gemm(a, clbench, dev, env, n)) for n in sizes]

    print(f"Device: {device}; fp32 multiply-add peak {peak['fma_gflops']:.1f} GFLOP/s, "
          f"copy bandwidth {peak['bandwidth_gbps']:.1f} GB/s (clbench peak). "
          f"PyTorch: {a.threads} threads, {a.torch_device}. Medians of {a.rounds} interleaved rounds "
          f"of {a.iters} iterations (set {kind}); {time.strftime('%Y-%m-%d %H:%M')}.\n")
    if rows:
        print("| workload | clcnn ms | PyTorch ms | clcnn / PyTorch |")
        print("|---|---|---|---|")
        for label, c, t, err in rows:
            print(f"| {label} | - | - | {err} |" if err else f"| {label} | {c:.1f} | {t:.1f} | {c / t:.2f} |")
        print()
    # Several peaks are measured in this run (clbench peak, and each clbench gemm's own):
    # load only ever lowers such a figure, so the highest is the best estimate of the device's.
    roof = max([peak["fma_gflops"]] + [g["peak_gflops"] for _, g, _ in gemms if "peak_gflops" in g])
    for n, ours, torch_mm in gemms:
        print_gemm(n, ours, torch_mm, roof, a.torch_device)
    print(f"% of peak against {roof:.1f} GFLOP/s, the highest of the peaks measured in this run "
          f"(clbench peak {peak['fma_gflops']:.1f}, and clbench gemm's own before each size).")
    load = max(load_before, os.getloadavg()[0])
    if load > cores:
        print(f"\nWarning: load average {load:.1f} on {cores} cores during the run. Oversubscribed cores slow "
              "PyTorch's OpenMP threads far more than PoCL's, so these ratios flatter clcnn: rerun on a quiet machine.")
    sys.exit(1 if any(err for *_, err in rows) or any("error" in g or "error" in t for _, g, t in gemms) else 0)


if __name__ == "__main__":
    main()
