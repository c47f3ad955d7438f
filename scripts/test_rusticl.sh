#!/bin/sh
# test_rusticl.sh: the suite on a second OpenCL implementation that presents itself as a
# GPU: Mesa's rusticl on llvmpipe (Debian's mesa-opencl-icd). It enforces what PoCL
# forgives: per-kernel work-group limits (32 work-items for many of our kernels), the GPU
# family of kernels and parameters, and the driver's own local sizes.
#
# usage: scripts/test_rusticl.sh [all | TEST-NAME...]
#   default: every op test (scripts/op_tests.sh: every kernel and code path at small
#            shapes), the runtime, launch and fault tests, the small networks and the
#            graph tests on them, the CAM tests on the tiny network: about 8 minutes here. `all`: the whole suite, over
#            40 minutes, with the failures docs/GPU.md explains (llvmpipe ends every loop
#            of a work-item after 65,535 iterations in all).
# env:   BUILD (default build). Logs: $BUILD/rusticl/run.log.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=$BUILD/rusticl
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
mkdir -p "$OUT/mesa-cache"
if [ "${1:-}" = all ]; then
    set --
elif [ $# -eq 0 ]; then
    # shellcheck disable=SC2046
    # (names are substrings: test_net's cases by exact name, as "net_" is in mobilenet_v2 too)
    set -- $(sh scripts/op_tests.sh) $(sh scripts/op_tests.sh --cases test_runtime test_launch test_graph test_net) \
        faults_launch zoo_golden_compact cam_golden_tiny cam_errors graph_fused_patterns graph_fold_after \
        graph_numerics_ graph_training_relu_fused
fi
# RUSTICL_ENABLE: rusticl offers no device unless told which drivers to expose.
# MESA_SHADER_CACHE_DIR: tests point XDG_CACHE_HOME at folders they delete.
export RUSTICL_ENABLE=llvmpipe RUSTICL_DEVICE_TYPE=gpu CLCNN_DEVICE=rusticl CLCNN_TEST_SMALL=1 \
       MESA_SHADER_CACHE_DIR="$OUT/mesa-cache" CLCNN_TEST_BUILD="$BUILD"
if ! "$BUILD/clcnn" devices 2>/dev/null | grep -q llvmpipe; then
    echo "test_rusticl.sh: no rusticl llvmpipe device (Debian: apt-get install mesa-opencl-icd; scripts/deps.sh)"
    echo "0 passed, 1 failed"
    exit 1
fi
echo "test_rusticl.sh: $# test selections on rusticl/llvmpipe as a GPU; log in $OUT/run.log"
"$BUILD/clcnn_tests" "$@" 2>&1 | tee "$OUT/run.log"
exit "$(grep -q '^[0-9]* passed, 0 failed' "$OUT/run.log" && echo 0 || echo 1)"
