#!/usr/bin/env python3
"""make_golden_names.py: torchvision's state_dict names and shapes, for the C test that
checks clcnn_resnet_build lays out parameters exactly as torchvision does.

Writes tests/golden/torchvision_names.txt: for each of resnet18 and resnet50 (1000
classes), a line "ARCH NAME D0xD1x..." per float tensor (num_batches_tracked, an
int64 counter clcnn does not keep, is left out).
Needs Debian's python3-torchvision (run with /usr/bin/python3). Downloads nothing.
usage: /usr/bin/python3 scripts/make_golden_names.py [OUT_DIR]
"""
import os
import sys

import torch
import torchvision


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "golden")
    lines = []
    for arch in ("resnet18", "resnet50"):
        model = getattr(torchvision.models, arch)(weights=None)
        for name, t in model.state_dict().items():
            if t.dtype == torch.float32:
                lines.append(f"{arch} {name} {'x'.join(str(d) for d in t.shape)}")
    with open(os.path.join(out_dir, "torchvision_names.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(len(lines), "tensors")


if __name__ == "__main__":
    main()
