#!/bin/sh
# op_tests.sh: print the names of the op tests, one per line, as clcnn_tests selects
# them: every case registered in the op test files below as =NAME (exactly that test;
# they honour CLCNN_TEST_SMALL), the CAM tests that run cam.cl's
# kernels on small inputs (the others run whole networks), and the Winograd, depthwise
# and fast-backward tests small enough for a checking device (names are substrings:
# backward_fast_ selects all of them), and the batch norm over ranks (its own kernels).
# Used by oclgrind.sh and isa_report.py.
# usage: scripts/op_tests.sh [--no-tiles | --simulator]
#        --no-tiles: without test_tiles.c, whose cases force every GEMM tile rather than
#        the device row's; --simulator (oclgrind.sh): without the tests that need long
#        runs of their kernels (minutes on Oclgrind), whose kernels the others check
#        at small shapes: conv2d_backward_long_rows (sums over 72,200 terms, for
#        llvmpipe's loop limit) and gemm_gpu_rows (every vendor row's gemm_local at its
#        own 128 or 256 work-items; oclgrind.sh's second pass checks gemm_local)
#        scripts/op_tests.sh --cases FILE...  (every case of tests/FILE.c, as =NAME)
cd "$(dirname "$0")/.."
cases_of() {
    for f in "$@"; do
        sed -n '/_cases\[\] = {/,/{NULL, NULL}/p' "tests/$f.c" | grep -o '{"[^"]*"' | sed 's/^{"/=/; s/"$//'
    done
}
if [ "${1:-}" = --cases ]; then
    shift
    cases_of "$@"
    exit 0
fi
OP_FILES="test_ops test_op_table test_tiles test_grad_conv test_grad_eltwise test_grad_norm test_train_ops"
[ "${1:-}" = --no-tiles ] && OP_FILES=$(echo "$OP_FILES" | sed 's/ test_tiles//')
SKIP='^$'  # (no name is empty)
[ "${1:-}" = --simulator ] && SKIP='^=conv2d_backward_long_rows$\|^=gemm_gpu_rows$'
MORE_TESTS="cam_map_kernels cam_eigen_kernel cam_flat_map_is_zero winograd_random depthwise_ im2col_layouts
conv_algorithm_ backward_fast_ dist_batchnorm_matches_whole_batch"
# shellcheck disable=SC2086
cases_of $OP_FILES | grep -v "$SKIP"
echo "$MORE_TESTS" | tr ' ' '\n'
