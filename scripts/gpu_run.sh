#!/bin/sh
# gpu_run.sh: on a machine with a GPU driver but none of this project's packages (the
# lent NVIDIA machine, docs/GPU.md): the device list, the test suite, clbench and the
# side-by-side run against PyTorch on the GPU, through the driver's OpenCL, with the
# programs and libraries of a bundle made here by scripts/gpu_bundle.sh. Each step's
# output goes to OUTDIR (one file per step, and summary.txt with each step's exit
# status and seconds); a failing step does not stop the others.
#
# usage: scripts/gpu_run.sh BUNDLE OUTDIR [STEP...]
#   steps: devices tests compare profile (default: all, in that order)
#     compare: bench/compare.py's gpu set: clbench peak; ResNet-18 and ResNet-50
#              inference, training step and Grad-CAM at 224² against PyTorch CUDA (fp32,
#              TF32 off), interleaved; GEMMs of 1024³, 2048³ and 4096³ (own kernel,
#              CLBlast, torch.mm). The tables for bench/RESULTS.md go to compare.md, the
#              progress to compare.txt.
# env:   ICD     the OpenCL driver library to load (default: NVIDIA's libnvidia-opencl.so.1,
#                looked up with ldconfig and in /usr/local/nvidia); any other ICD library
#                (PoCL's, here) tries the script out
#        PYTHON  the Python that has PyTorch with CUDA (default python3)
#        CACHE_DIR  the kernel cache (default .gpu-cache in the repository root)
#        ROUNDS, ITERS, TIMEOUT  for compare (default 3 rounds of 10 iterations, 240 s
#                a run at most)
set -u
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n '2,23p' "$0"; exit 2; }
BUNDLE=$(cd "$1" && pwd) || exit 2
OUTDIR=$2
shift 2
STEPS=${*:-devices tests compare profile}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)

find_icd() {
    for d in $(ldconfig -p 2>/dev/null | awk '/libnvidia-opencl\.so/ { print $NF }') \
             /usr/local/nvidia/lib64/libnvidia-opencl.so.1 /usr/local/nvidia/lib/libnvidia-opencl.so.1 \
             /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1 /usr/lib64/libnvidia-opencl.so.1; do
        [ -r "$d" ] && { echo "$d"; return 0; }
    done
    return 1
}
ICD=${ICD:-$(find_icd)} || { echo "gpu_run.sh: no libnvidia-opencl.so.1 found (set ICD=...)" | tee "$OUTDIR/summary.txt"; exit 1; }

# The bundle's libraries first; the driver as the only OpenCL platform (ocl-icd reads
# OCL_ICD_VENDORS as a library path too); a kernel cache of its own in .gpu-cache/ (not
# in OUTDIR, whose files are sent back; ignored by git, so a warm lent machine keeps it
# between calls), never one from another machine.
export LD_LIBRARY_PATH="$BUNDLE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OCL_ICD_VENDORS="$ICD"
export XDG_CACHE_HOME="${CACHE_DIR:-$PWD/.gpu-cache}"
export CLCNN_TEST_BUILD="$BUNDLE"
echo "gpu_run.sh: OpenCL driver $ICD; bundle $BUNDLE; output $OUTDIR" | tee "$OUTDIR/summary.txt"

# step NAME COMMAND...: COMMAND's output to OUTDIR/NAME.txt, its status and time to the summary.
step() {
    name=$1
    shift
    start=$(date +%s)
    "$@" >"$OUTDIR/$name.txt" 2>&1
    rc=$?
    printf '%-10s exit %3d  %5d s  %s\n' "$name" "$rc" $(($(date +%s) - start)) "$*" | tee -a "$OUTDIR/summary.txt"
}

# compare's tables on stdout to compare.md; its progress (stderr) to the step's file.
compare_gpu() {
    "$PYTHON" bench/compare.py --build "$BUNDLE" --torch-device cuda --set gpu --rounds "${ROUNDS:-3}" \
        --iters "${ITERS:-10}" --timeout "${TIMEOUT:-240}" 2>&1 >"$OUTDIR/compare.md"
}

for s in $STEPS; do
    case $s in
    devices) step devices "$BUNDLE/clcnn" devices ;;
    tests) step tests "$BUNDLE/clcnn_tests" ;;
    compare) step compare compare_gpu ;;
    profile) step profile env CLCNN_PROFILE_KERNELS=shapes "$BUNDLE/clbench" model --arch resnet18 --size 96 \
                 --batch 16 --mode train --iters 10 ;;
    *) echo "gpu_run.sh: unknown step $s" | tee -a "$OUTDIR/summary.txt" ;;
    esac
done
