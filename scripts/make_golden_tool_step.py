#!/usr/bin/env python3
"""make_golden_tool_step.py: one step of `clcnn train` as PyTorch takes it, for
tests/test_tool_step.c (issue 27: an option given, 0 included, means what it says).

The network is clcnn's compact net with 2 classes (make_golden_zoo.build_model), its
weights scripts/detinit.py's with seed 6 (the C test makes the same with
tests/ref/detinit.c and saves them as the --init file). Four 32x32 pictures of random
bytes, classes a, a, b, b, go through what `clcnn train --no-augment` does to them
(ToTensor, ImageNet's Normalize), in train mode, cross-entropy, and one step of
SGD(lr 0.5, momentum 0, weight_decay 0). Writes tests/golden/tool_step.safetensors:
  pictures [4, 32, 32, 3]  the pictures' bytes as floats (the C test writes them as PNGs)
  loss [1]                 the step's loss
  after.NAME               those tensors after the step (NAMES below: the first and last
                           layers, a batch norm with its running statistics, the head)
Needs Debian's python3-torch and python3-torchvision (run with /usr/bin/python3).
usage: /usr/bin/python3 scripts/make_golden_tool_step.py [OUT_DIR]
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import detinit  # noqa: E402
from make_golden import write_safetensors  # noqa: E402
from make_golden_zoo import build_model  # noqa: E402

SEED, LR = 6, 0.5
NAMES = ("conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
         "layer1.0.conv1.weight", "layer4.0.bn2.weight", "fc.weight", "fc.bias")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "golden")
    torch.set_num_threads(1)
    pictures = torch.randint(0, 256, (4, 32, 32, 3), generator=torch.Generator().manual_seed(27), dtype=torch.uint8)
    labels = torch.tensor([0, 0, 1, 1])
    x = pictures.permute(0, 3, 1, 2).float() / 255.0
    x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)

    model = build_model("compact", 2)
    detinit.fill_model(model, SEED)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0, weight_decay=0)
    opt.zero_grad()
    loss = F.cross_entropy(model(x), labels)
    loss.backward()
    opt.step()
    state = model.state_dict()
    out = {"pictures": pictures.float(), "loss": loss.detach().reshape(1)}
    out.update({"after." + n: state[n].detach().clone() for n in NAMES})
    meta = {"made_by": "scripts/make_golden_tool_step.py", "torch": torch.__version__, "seed": str(SEED),
            "lr": str(LR)}
    write_safetensors(os.path.join(out_dir, "tool_step.safetensors"), out, meta)
    print("loss", loss.item())


if __name__ == "__main__":
    main()
