#!/usr/bin/env python3
"""torch_model.py: PyTorch's time for what `clbench model` times, on the same machine.

The peer for clbench model: a torchvision ResNet (random weights, 1000 classes), fp32,
either an inference forward in eval mode or a whole SGD training step (forward,
cross-entropy, backward, SGD with momentum 0.9). Prints median/min/max ms after one
warm-up; --json prints one object with the same keys as clbench model --json.
SE-ResNets are not in torchvision; this script times plain ResNets only.
Needs Debian's python3-torch and python3-torchvision (run with /usr/bin/python3).
usage: torch_model.py --arch resnet18 [--size 224] [--batch 1] [--mode infer|train]
                      [--iters 10] [--threads 2] [--json]
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
import torchvision


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", required=True)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--mode", choices=("infer", "train"), default="infer")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    model = getattr(torchvision.models, a.arch)(weights=None)
    x = torch.full((a.batch, 3, a.size, a.size), 0.5)
    labels = torch.ones(a.batch, dtype=torch.long)
    if a.mode == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step():
            opt.zero_grad()
            F.cross_entropy(model(x), labels).backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                model(x)
    t0 = time.perf_counter()
    step()
    first = (time.perf_counter() - t0) * 1e3
    step()
    ms = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        step()
        ms.append((time.perf_counter() - t0) * 1e3)
    med = statistics.median(ms)
    out = {"arch": a.arch, "mode": a.mode, "size": a.size, "batch": a.batch, "iters": a.iters, "median_ms": med,
           "min_ms": min(ms), "max_ms": max(ms), "first_ms": first, "images_per_s": a.batch * 1e3 / med,
           "device": f"PyTorch {torch.__version__} CPU, {a.threads} threads"}
    if a.json:
        print(json.dumps(out))
    else:
        print(f"PyTorch {a.arch} {a.mode}, batch {a.batch}, {a.size}x{a.size}: median {med:.2f} ms "
              f"(min {min(ms):.2f}, max {max(ms):.2f}), {out['images_per_s']:.1f} images/s")


if __name__ == "__main__":
    main()
