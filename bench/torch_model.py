#!/usr/bin/env python3
"""torch_model.py: PyTorch's time for what `clbench model` times, on the same machine.

The peer for clbench model: a torchvision ResNet (random weights, 1000 classes, input
0.5), fp32, one of
  infer  a forward pass in eval mode under no_grad
  train  a whole SGD step (forward, cross-entropy, backward, SGD with momentum 0.9)
  cam    one Grad-CAM per image at layer4 in eval mode: forward, the gradient of the
         top class's score with respect to layer4's output (torch.autograd.grad: no
         parameter gradients, as clcnn_cam), channel weights = its spatial mean,
         map = ReLU(sum_k w_k A_k)
Prints median/min/max ms after one warm-up; --json prints one object with the same
keys as clbench model --json. Denormals are flushed; on CUDA, TF32 is off and every
iteration is synchronised. SE-ResNets are not in torchvision: plain ResNets only.
Needs Debian's python3-torch and python3-torchvision (run with /usr/bin/python3).
usage: torch_model.py --arch resnet18 [--size 224] [--batch 1] [--mode infer|train|cam]
                      [--iters 10] [--threads 2] [--device cpu|cuda] [--json]
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
import torchvision


def make_step(model, x, labels, mode, sync):
    """The function one timed iteration calls."""
    if mode == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step():
            opt.zero_grad()
            F.cross_entropy(model(x), labels).backward()
            opt.step()
            sync()
        return step
    model.eval()
    if mode == "infer":
        def step():
            with torch.no_grad():
                model(x)
            sync()
        return step
    feats = {}
    model.layer4.register_forward_hook(lambda module, inputs, output: feats.__setitem__("a", output))

    def step():
        logits = model(x)
        a = feats["a"]
        score = logits.gather(1, logits.argmax(1, keepdim=True)).sum()
        (g,) = torch.autograd.grad(score, a)
        weights = g.mean((2, 3), keepdim=True)
        torch.relu((weights * a).sum(1)).detach()
        sync()
    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", required=True)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--mode", choices=("infer", "train", "cam"), default="infer")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    dev = torch.device(a.device)
    if a.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        sync = torch.cuda.synchronize
        where = f"PyTorch {torch.__version__} {torch.cuda.get_device_name()}"
    else:
        sync = lambda: None  # noqa: E731
        where = f"PyTorch {torch.__version__} CPU, {a.threads} threads"
    torch.manual_seed(0)
    model = getattr(torchvision.models, a.arch)(weights=None).to(dev)
    x = torch.full((a.batch, 3, a.size, a.size), 0.5, device=dev)
    labels = torch.ones(a.batch, dtype=torch.long, device=dev)
    step = make_step(model, x, labels, a.mode, sync)
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
           "device": where}
    if a.json:
        print(json.dumps(out))
    else:
        print(f"PyTorch {a.arch} {a.mode}, batch {a.batch}, {a.size}x{a.size}: median {med:.2f} ms "
              f"(min {min(ms):.2f}, max {max(ms):.2f}), {out['images_per_s']:.1f} images/s")


if __name__ == "__main__":
    main()
