#!/usr/bin/env python3
"""make_golden_jet.py: OpenCV's COLORMAP_JET table, for the C test that checks
clcnn_colormap_jet and clcnn_heatmap_render reproduce it entry for entry.

Writes tests/golden/opencv_jet.txt: a comment line naming the OpenCV version, then 256
lines "INDEX R G B", the colour cv2.applyColorMap gives the uint8 value INDEX.
Needs cv2 (not in Debian's python3 here): e.g.
  python3 -m pip install --no-deps --target /tmp/cv opencv-python-headless
  PYTHONPATH=/tmp/cv /usr/bin/python3 scripts/make_golden_jet.py
The committed file was made with opencv-python-headless 4.10.0.84; 5.0.0.93 gives the
same table.
usage: /usr/bin/python3 scripts/make_golden_jet.py [OUT_DIR]
"""
import os
import sys

import cv2
import numpy as np


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "golden")
    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    rgb = cv2.applyColorMap(ramp, cv2.COLORMAP_JET)[:, 0, ::-1]  # OpenCV gives BGR
    lines = ["# cv2.applyColorMap(arange(256), COLORMAP_JET) as RGB, OpenCV %s" % cv2.__version__]
    lines += ["%d %d %d %d" % (i, r, g, b) for i, (r, g, b) in enumerate(rgb)]
    with open(os.path.join(out_dir, "opencv_jet.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
