#!/usr/bin/env python3
"""compare.py: clcnn against PyTorch on the same machine, in the same run.

Runs each workload with `clbench model --json` and `bench/torch_model.py --json`,
interleaved (the two sides alternate, and which goes first alternates every round) so
that drift in the machine's load hits both alike; takes the median over the rounds of
each side's per-run median, and prints a Markdown table of clcnn / PyTorch ratios
(below 1: clcnn is faster). Then the roofline (clbench peak) and GEMM 1024^3: the
project's kernel, CLBlast's and PyTorch's torch.mm, with % of the measured peak.

PyTorch runs fp32 with --threads threads and flushed denormals (TF32 off on CUDA). On a
CPU device PoCL is held to the same number of threads (POCL_MAX_PTHREAD_COUNT) unless
--all-cores. Run with Debian's /usr/bin/python3 (torch 1.13); bench/compare.sh does.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# (label, arch, size, batch, mode)
WORKLOADS = [
    ("ResNet-18 inference, batch 1, 224²", "resnet18", 224, 1, "infer"),
    ("ResNet-18 training step (SGD), batch 16, 96²", "resnet18", 96, 16, "train"),
    ("ResNet-50 Grad-CAM at layer4, batch 1, 224²", "resnet50", 224, 1, "cam"),
    ("ResNet-50 inference, batch 1, 224²", "resnet50", 224, 1, "infer"),
]

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


def run_json(cmd, env):
    """Run cmd, return its one JSON line; exits with the command's stderr on failure."""
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"compare: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr.strip()}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"), help="folder holding clbench")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per workload")
    ap.add_argument("--iters", type=int, default=5, help="timed iterations per run")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads (and PoCL's, on a CPU)")
    ap.add_argument("--device", default=None, help="clcnn device spec (default: CLCNN_DEVICE or the fastest)")
    ap.add_argument("--torch-device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--all-cores", action="store_true", help="do not limit PoCL's threads")
    ap.add_argument("--only", default=None, help="comma-separated workload numbers (1-4) to run")
    a = ap.parse_args()

    clbench = os.path.join(a.build, "clbench")
    if not os.access(clbench, os.X_OK):
        sys.exit(f"compare: no {clbench}: run `make` (or pass --build)")
    env = dict(os.environ)
    if not a.all_cores:
        env["POCL_MAX_PTHREAD_COUNT"] = str(a.threads)
    dev = ["--device", a.device] if a.device else []
    torch_py = [sys.executable, os.path.join(HERE, "torch_model.py")]

    cores, load_before = os.cpu_count() or 1, os.getloadavg()[0]
    peak = run_json([clbench, "peak", "--json"] + dev, env)
    device = peak["device"]["name"]
    log(f"device {device}: {peak['fma_gflops']:.1f} GFLOP/s, {peak['bandwidth_gbps']:.1f} GB/s")

    chosen = WORKLOADS
    if a.only:
        chosen = [WORKLOADS[int(i) - 1] for i in a.only.split(",")]
    rows = []
    for label, arch, size, batch, mode in chosen:
        common = ["--arch", arch, "--size", str(size), "--batch", str(batch), "--mode", mode,
                  "--iters", str(a.iters), "--json"]
        ours, theirs = [], []
        for r in range(a.rounds):
            sides = [("clcnn", [clbench, "model"] + common + dev, ours),
                     ("torch", torch_py + common + ["--threads", str(a.threads), "--device", a.torch_device], theirs)]
            if r % 2:
                sides.reverse()
            for name, cmd, into in sides:
                res = run_json(cmd, env)
                into.append(res["median_ms"])
                log(f"{label} round {r + 1} {name}: {res['median_ms']:.1f} ms")
        c, t = statistics.median(ours), statistics.median(theirs)
        rows.append((label, c, t))

    gemm = run_json([clbench, "gemm", "--json"] + dev, env)
    tg = run_json([sys.executable, "-c", TORCH_GEMM, "1024", str(a.threads), a.torch_device], env)

    print(f"Device: {device}; fp32 multiply-add peak {peak['fma_gflops']:.1f} GFLOP/s, "
          f"copy bandwidth {peak['bandwidth_gbps']:.1f} GB/s (clbench peak). "
          f"PyTorch: {a.threads} threads, {a.torch_device}. Medians of {a.rounds} interleaved rounds "
          f"of {a.iters} iterations; {time.strftime('%Y-%m-%d %H:%M')}.\n")
    print("| workload | clcnn ms | PyTorch ms | clcnn / PyTorch |")
    print("|---|---|---|---|")
    for label, c, t in rows:
        print(f"| {label} | {c:.1f} | {t:.1f} | {c / t:.2f} |")
    print()
    print("| GEMM 1024³ fp32 | median ms | GFLOP/s | % of peak |")
    print("|---|---|---|---|")
    # Two peaks were measured in this run (clbench peak, and clbench gemm's own): load only
    # ever lowers such a figure, so the higher one is the better estimate of the device's.
    roof = max(peak["fma_gflops"], gemm["peak_gflops"])
    for r in gemm["results"]:
        name = {"clcnn": "clcnn own kernel", "clblast": "CLBlast"}.get(r["backend"], r["backend"])
        if "error" in r:
            print(f"| {name} | - | - | {r['error']} |")
        else:
            print(f"| {name} | {r['median_ms']:.1f} | {r['gflops']:.1f} | {100 * r['gflops'] / roof:.1f} % |")
    print(f"| PyTorch torch.mm ({a.torch_device}) | {tg['median_ms']:.1f} | {tg['gflops']:.1f} | "
          f"{100 * tg['gflops'] / roof:.1f} % |")
    print(f"\n% of peak against {roof:.1f} GFLOP/s, the higher of the two peaks measured in this run "
          f"(clbench peak {peak['fma_gflops']:.1f}, clbench gemm {gemm['peak_gflops']:.1f}).")
    if gemm.get("own_over_clblast"):
        print(f"own / CLBlast: {gemm['own_over_clblast']:.2f}x")
    load = max(load_before, os.getloadavg()[0])
    if load > cores:
        print(f"\nWarning: load average {load:.1f} on {cores} cores during the run. Oversubscribed cores slow "
              "PyTorch's OpenMP threads far more than PoCL's, so these ratios flatter clcnn: rerun on a quiet machine.")


if __name__ == "__main__":
    main()
