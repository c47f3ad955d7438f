#!/bin/sh
# deps.sh: install the Debian packages clcnn needs to build, test and run, if missing.
# Run as root (or with sudo available) it installs them; otherwise it prints the
# exact command to run. Nothing is downloaded at run time by the library itself.
set -u

# Build and runtime: OpenCL ICD loader + headers, PoCL (the CPU device CI tests on),
# CLBlast, libpng, libjpeg-turbo, cairo (text and boxes on CAM overlays, curves),
# jansson (JSON: safetensors headers, metrics), pkg-config; Open MPI for data-parallel
# training (optional when building: make MPI=0 builds without it; the tests use mpirun).
PKGS="build-essential pkg-config ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd clinfo
libclblast-dev libpng-dev libjpeg62-turbo-dev libcairo2-dev libjansson-dev libopenmpi-dev openmpi-bin"
# Only needed to regenerate the PyTorch golden files (scripts/make_golden.py).
if [ "${CLCNN_DEPS_TORCH:-0}" = 1 ]; then PKGS="$PKGS python3-torch python3-numpy"; fi
# Only for `make fuzz` (clang's libFuzzer and sanitizer runtimes) and `make test-valgrind`.
if [ "${CLCNN_DEPS_FUZZ:-0}" = 1 ]; then PKGS="$PKGS clang libclang-rt-14-dev"; fi
if [ "${CLCNN_DEPS_VALGRIND:-0}" = 1 ]; then PKGS="$PKGS valgrind"; fi
# Only for `make test-rusticl` (Mesa's OpenCL: rusticl, llvmpipe presented as a GPU; it
# brings libclc-15, which conflicts with libclc-14: the LLVM 15 tools go with it).
if [ "${CLCNN_DEPS_RUSTICL:-0}" = 1 ]; then PKGS="$PKGS mesa-opencl-icd"; fi
# Only for `make isa-report` (OpenCL C to PTX and AMD GCN; ptxas comes from the CUDA toolkit).
if [ "${CLCNN_DEPS_ISA:-0}" = 1 ]; then PKGS="$PKGS clang-15 llvm-15 libclc-15 python3"; fi
# Only for `make test-oclgrind` (the checking OpenCL device, with its ICD).
if [ "${CLCNN_DEPS_OCLGRIND:-0}" = 1 ]; then PKGS="$PKGS oclgrind"; fi

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps.sh: missing Debian packages:$missing"
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo"; else
    echo "deps.sh: cannot install them without root; run:"
    echo "  sudo apt-get update && sudo apt-get install -y$missing"
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || { echo "deps.sh: apt-get update failed"; exit 1; }
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq $missing >/dev/null || {
    echo "deps.sh: installing failed; run: sudo apt-get install -y$missing"; exit 1; }
echo "deps.sh: installed$missing"
