#!/bin/sh
# gpu_bundle.sh: the programs built here and every shared library they load (the
# OpenCL ICD loader, CLBlast, libpng, libjpeg, cairo, jansson and what those need),
# copied into one folder, so that they run on a machine that has a GPU driver but none
# of this project's Debian packages (the lent NVIDIA machine: docs/GPU.md).
#
# usage: scripts/gpu_bundle.sh [BUNDLE]   (default .gpu; BUILD=build picks the build folder)
# Then, there: scripts/gpu_run.sh BUNDLE OUTDIR
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${1:-.gpu}
PROGRAMS="clcnn_tests clcnn clbench make_synthetic"

for p in $PROGRAMS; do
    [ -x "$BUILD/$p" ] || { echo "gpu_bundle.sh: no $BUILD/$p: run make test (or make $BUILD/$p) first" >&2; exit 1; }
done
rm -rf "$OUT"
mkdir -p "$OUT/lib"
for p in $PROGRAMS; do
    cp "$BUILD/$p" "$OUT/"
    strip --strip-debug "$OUT/$p" # symbols stay for backtraces; the debug info would not fit the carry limit
done

# Every library ldd resolves, except the C and C++ runtimes (libc, libm, libpthread,
# libdl, librt, the dynamic loader, libstdc++, libgcc_s) and zlib: the target's own,
# at least as new, must serve the GPU driver that the process loads as well.
for p in $PROGRAMS; do ldd "$BUILD/$p"; done |
    awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
    grep -Ev '/(libc|libm|libpthread|libdl|librt|ld-linux-x86-64|libresolv|libstdc\+\+|libgcc_s|libz)\.so' |
    while read -r lib; do cp -L "$lib" "$OUT/lib/"; done
# No tuning file or kernel cache goes along: the target builds and measures its own.

echo "gpu_bundle.sh: $OUT holds $(ls "$OUT" | grep -vc '^lib$') programs and $(ls "$OUT/lib" | wc -l) libraries," \
     "$(du -sh "$OUT" | cut -f1) in all"
