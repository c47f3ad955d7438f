#!/usr/bin/env python3
"""make_golden_train.py: PyTorch's training steps for the C tests to match.

Uses make_golden.py's tiny SE-ResNet (torchvision names, BasicBlocks with SE) with
non-trivial batch-norm statistics, in train mode, on one fixed batch, and writes
tests/golden/train_seresnet_init.safetensors (the starting weights, torchvision names)
and tests/golden/train_seresnet.safetensors holding
  input [4,3,32,32], labels [4] (class indices as floats)
  sgd:    two steps of SGD(lr 0.05, momentum 0.9, weight_decay 1e-3), cross-entropy;
          sgd_loss [2], grad1.NAME (gradients of step 1), sgd.NAME (state after step 2,
          running statistics included)
  adamw:  two steps of AdamW(lr 1e-3, weight_decay 1e-2), cross-entropy with label
          smoothing 0.1; adamw_loss [2], adamw.NAME
  frozen: everything but fc frozen, the backbone's batch norms in eval mode (running
          statistics), one SGD(lr 0.1) step; frozen_loss [1], frozen.NAME
  staged: staged fine-tuning with Adam(lr 1e-3): two steps with everything but fc
          frozen (as frozen), then everything unfrozen and added to the optimizer as
          a new parameter group (fresh moments, its own step count), two more steps;
          staged_loss [4], staged.NAME
Needs Debian's python3-torch (run with /usr/bin/python3). Deterministic (seeded).
usage: /usr/bin/python3 scripts/make_golden_train.py [OUT_DIR]
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import TinyResNet, randomize_batchnorm, write_safetensors  # noqa: E402


def floats(state):
    """The float tensors of a state_dict (num_batches_tracked is int64 and not compared)."""
    return {k: v.detach().clone() for k, v in state.items() if v.dtype == torch.float32}


def fresh(init):
    model = TinyResNet(bottleneck=False)
    model.load_state_dict(init, strict=False)
    return model


def run_steps(model, opt, x, labels, steps, smoothing=0.0):
    losses, grads = [], None
    for i in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), labels, label_smoothing=smoothing)
        loss.backward()
        if i == 0:
            grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
        opt.step()
        losses.append(loss.item())
    return torch.tensor(losses), grads


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "golden")
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(2)
    model = TinyResNet(bottleneck=False)
    randomize_batchnorm(model, gen)
    init = floats(model.state_dict())
    x = torch.randn(4, 3, 32, 32, generator=gen)
    labels = torch.tensor([0, 3, 1, 4])
    out = {"input": x, "labels": labels.float()}
    meta = {"made_by": "scripts/make_golden_train.py", "torch": torch.__version__}
    write_safetensors(os.path.join(out_dir, "train_seresnet_init.safetensors"), init, meta)

    model = fresh(init).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    losses, grads = run_steps(model, opt, x, labels, 2)
    out["sgd_loss"] = losses
    out.update({"grad1." + k: v for k, v in grads.items()})
    out.update({"sgd." + k: v for k, v in floats(model.state_dict()).items()})

    model = fresh(init).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    losses, _ = run_steps(model, opt, x, labels, 2, smoothing=0.1)
    out["adamw_loss"] = losses
    out.update({"adamw." + k: v for k, v in floats(model.state_dict()).items()})

    model = fresh(init).train()
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("fc."))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    losses, _ = run_steps(model, opt, x, labels, 1)
    out["frozen_loss"] = losses
    out.update({"frozen." + k: v for k, v in floats(model.state_dict()).items()})

    model = fresh(init).train()
    backbone = [p for name, p in model.named_parameters() if not name.startswith("fc.")]
    for p in backbone:
        p.requires_grad_(False)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
    opt = torch.optim.Adam(model.fc.parameters(), lr=1e-3)
    head_losses, _ = run_steps(model, opt, x, labels, 2)
    for p in backbone:
        p.requires_grad_(True)
    model.train()
    opt.add_param_group({"params": backbone})
    all_losses, _ = run_steps(model, opt, x, labels, 2)
    out["staged_loss"] = torch.cat([head_losses, all_losses])
    out.update({"staged." + k: v for k, v in floats(model.state_dict()).items()})

    write_safetensors(os.path.join(out_dir, "train_seresnet.safetensors"), out, meta)
    print("sgd_loss", out["sgd_loss"].tolist(), "adamw_loss", out["adamw_loss"].tolist(),
          "frozen_loss", out["frozen_loss"].tolist(), "staged_loss", out["staged_loss"].tolist())


if __name__ == "__main__":
    main()
