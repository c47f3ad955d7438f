#!/usr/bin/env python3
"""make_golden.py: write the PyTorch golden files the C tests compare against.

Builds a tiny SE-ResNet exactly as torchvision names and wires a ResNet (conv1/bn1/
relu/maxpool stem, BasicBlocks with a Squeeze-and-Excitation module after bn2 and
before the residual addition, a 1x1-conv+BN downsample, global average pool, fc),
with random weights and non-trivial batch-norm statistics, in eval mode, and writes
  tests/golden/tiny_seresnet.safetensors     the weights (torchvision state_dict names)
  tests/golden/tiny_seresnet_io.safetensors  "input" [2,3,32,32] and "logits" [2,5]
and the same pair for a tiny bottleneck ResNet without SE (two Bottlenecks per stage,
the second with an identity shortcut): tests/golden/tiny_bottleneck{,_io}.safetensors
Needs Debian's python3-torch (run with /usr/bin/python3). Deterministic (seeded).
usage: /usr/bin/python3 scripts/make_golden.py [OUT_DIR]
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class SqueezeExcite(nn.Module):
    def __init__(self, channels, reduced):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, reduced, 1, bias=True)
        self.fc2 = nn.Conv2d(reduced, channels, 1, bias=True)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


def se_width(channels):
    """max(8, C/16 rounded to the nearest multiple of 8), as clcnn's SE-ResNets use."""
    return max(8, int(round(channels / 16 / 8)) * 8)


def projection(cin, cout, stride):
    """torchvision's downsample (1x1 conv + BN) where the shortcut changes shape, else None."""
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.se = SqueezeExcite(cout, se_width(cout))
        self.downsample = projection(cin, cout, stride)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        return F.relu(out + identity)


class Bottleneck(nn.Module):
    """torchvision's Bottleneck (ResNet v1.5: the stride sits in the 3x3), no SE."""

    expansion = 4

    def __init__(self, cin, planes, stride):
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = projection(cin, cout, stride)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return F.relu(self.bn3(self.conv3(out)) + identity)


class TinyResNet(nn.Module):
    """A ResNet with torchvision's names: stem, one block per stage, global pool, fc."""

    def __init__(self, bottleneck=False, widths=(8, 16), classes=5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = widths[0]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            if bottleneck:
                block = nn.Sequential(Bottleneck(cin, w, stride), Bottleneck(w * 4, w, 1))
                cin = w * 4
            else:
                block = nn.Sequential(BasicBlock(cin, w, stride))
                cin = w
            setattr(self, f"layer{i + 1}", block)
        self.stages = len(widths)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        for i in range(self.stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def randomize_batchnorm(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = 0.5 + torch.rand(c, generator=gen)
            m.bias.data = 0.1 * torch.randn(c, generator=gen)
            m.running_mean.data = 0.1 * torch.randn(c, generator=gen)
            m.running_var.data = 0.5 + torch.rand(c, generator=gen)
            m.num_batches_tracked.fill_(7)


DTYPES = {torch.float32: "F32", torch.int64: "I64"}


def write_safetensors(path, tensors, metadata):
    """The safetensors layout: u64 header length, JSON header, raw little-endian data."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def write_golden(out_dir, name, model, gen):
    randomize_batchnorm(model, gen)
    with torch.no_grad():  # larger head weights: logits that differ clearly between inputs
        model.fc.weight.mul_(8.0)
    model.eval()
    x = torch.randn(2, 3, 32, 32, generator=gen)
    with torch.no_grad():
        logits = model(x)
    meta = {"arch": name, "classes": "5", "made_by": "scripts/make_golden.py", "torch": torch.__version__}
    write_safetensors(os.path.join(out_dir, f"{name}.safetensors"), model.state_dict(), meta)
    write_safetensors(os.path.join(out_dir, f"{name}_io.safetensors"), {"input": x, "logits": logits},
                      {"made_by": "scripts/make_golden.py"})
    print(name, "logits:", logits.tolist())


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "golden")
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    write_golden(out_dir, "tiny_seresnet", TinyResNet(bottleneck=False), gen)
    write_golden(out_dir, "tiny_bottleneck", TinyResNet(bottleneck=True, widths=(4, 8)), gen)


if __name__ == "__main__":
    main()
