#!/usr/bin/env python3
"""torchvision_reference.py: a torchvision ResNet with random weights (and random
batch-norm statistics) as clcnn input, and PyTorch's own CPU time for it.

Writes OUT_DIR/ARCH.safetensors (torchvision state_dict names) and
OUT_DIR/ARCH_io.safetensors ("input" [1,3,SIZE,SIZE], "logits"), and prints PyTorch's
median inference time (fp32, 2 threads by default). Then
  ./build/clcnn demo --weights OUT_DIR/ARCH.safetensors --io OUT_DIR/ARCH_io.safetensors
checks clcnn's logits against PyTorch's and times clcnn on the same machine.
Needs Debian's python3-torch and python3-torchvision (run with /usr/bin/python3).
usage: torchvision_reference.py ARCH OUT_DIR [--size 224] [--threads 2] [--iters 10]
"""
import argparse
import os
import statistics
import sys
import time

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from make_golden import randomize_batchnorm, write_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("arch", help="resnet18, resnet34, resnet50, resnet101 or resnet152")
    ap.add_argument("out_dir")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)  # random BN statistics create denormals; do not time those
    torch.manual_seed(0)
    model = getattr(torchvision.models, a.arch)(num_classes=1000)
    randomize_batchnorm(model, torch.Generator().manual_seed(1))
    model.eval()
    x = torch.randn(1, 3, a.size, a.size)
    with torch.no_grad():
        logits = model(x)
        for _ in range(3):
            model(x)
        times = []
        for _ in range(a.iters):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    os.makedirs(a.out_dir, exist_ok=True)
    write_safetensors(os.path.join(a.out_dir, f"{a.arch}.safetensors"), model.state_dict(), {"arch": a.arch})
    write_safetensors(os.path.join(a.out_dir, f"{a.arch}_io.safetensors"), {"input": x, "logits": logits}, {})
    print(f"{a.arch} {a.size}x{a.size} batch 1, PyTorch {torch.__version__}, {a.threads} threads: "
          f"median {statistics.median(times) * 1e3:.1f} ms over {a.iters} runs")


if __name__ == "__main__":
    main()
