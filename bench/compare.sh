#!/bin/sh
# compare.sh: clcnn against PyTorch on this machine, in one run, as a Markdown table of
# clcnn / PyTorch ratios (bench/compare.py has the details and options, e.g.
# --rounds 3 --iters 5 --build build --device gpu --torch-device cuda).
# Needs build/clbench (make) and Debian's python3-torch for /usr/bin/python3.
set -e
here=$(dirname "$0")
exec /usr/bin/python3 "$here/compare.py" "$@"
