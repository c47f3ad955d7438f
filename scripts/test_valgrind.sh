#!/bin/sh
# test_valgrind.sh: valgrind's memcheck over the host-side code (`make test-valgrind`).
#  1. the host-side tests (images, preprocessing, data sets, the threaded loader, metrics,
#     pictures, weight files, fuzz regressions): the runner still opens its context on
#     the default device, but these tests compile no kernel;
#  2. the clcnn tool's error paths: with no OpenCL platform visible (the ICD loader reads
#     an empty vendor folder), with --device pointing nowhere, and with the default
#     device and a bad weight file (a context is opened, no kernel is compiled).
# Any memory error or definite leak fails (--errors-for-leak-kinds=definite); "possibly
# lost" and "still reachable" blocks are not errors. scripts/valgrind.supp holds the
# suppressions for third-party code, each with its reason. BUILD=build by default.
set -u
BUILD=${BUILD:-build}
VG_ERR=99
VG="valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=$VG_ERR
    --suppressions=scripts/valgrind.supp --num-callers=40"
TESTS=${VALGRIND_TESTS:-"image_ png_gray8 jpeg_baseline resize_constant resize_identity resize_ramp
    resize_checkerboard resize_matches_pil resize_bad_args prepare_ dataset_ loader_ metrics_ render_
    weights_io_file_layout weights_io_truncated weights_io_save_errors fuzz_regress"}
failed=""

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/no-vendors" "$tmp/data" "$tmp/data/cat"
printf 'not an image' > "$tmp/data/cat/a.png"
printf 'garbage' > "$tmp/bad.safetensors"

echo "== host-side tests under memcheck"
# shellcheck disable=SC2086
CLCNN_TEST_BUILD=$BUILD $VG "./$BUILD/clcnn_tests" $TESTS
rc=$?
[ $rc -eq 0 ] || { echo "test-valgrind: tests exit $rc ($VG_ERR: memcheck errors)"; failed="$failed tests"; }

# One tool invocation: it must fail cleanly (exit 1 or 2), and memcheck must be clean.
tool() {
    env=$1
    shift
    # shellcheck disable=SC2086
    env $env $VG "./$BUILD/clcnn" "$@" >/dev/null 2>"$tmp/err"
    rc=$?
    if [ $rc -eq $VG_ERR ] || [ $rc -eq 0 ] || [ $rc -gt 2 ]; then
        echo "test-valgrind: clcnn $* -> exit $rc"
        cat "$tmp/err"
        failed="$failed '$*'"
    else
        echo "ok (exit $rc): clcnn $* [$(grep -v "^==" "$tmp/err" | tail -n 1 | cut -c1-90)]"
    fi
}

echo "== clcnn error paths under memcheck"
none="OCL_ICD_VENDORS=$tmp/no-vendors CLCNN_DEVICE="
tool "$none" bogus
tool "$none" train --bogus
tool "$none" train --data "$tmp/data" --epochs 0 --out "$tmp/run"
tool "$none" train --data "$tmp/data" --out "$tmp/run"
tool "$none" train --resume "$tmp/nothing"
tool "$none" eval --data "$tmp/data" --weights "$tmp/bad.safetensors"
tool "$none" predict --weights "$tmp/bad.safetensors" "$tmp/data/cat/a.png"
tool "$none" predict --weights "$tmp/bad.safetensors" "$tmp/missing.png"
tool "$none" cam --weights "$tmp/bad.safetensors" --out "$tmp/cam" --threshold 2 "$tmp/data/cat"
tool "$none" layers --arch resnet18
tool "$none" layers --arch nope
tool "$none" devices --bogus
tool "CLCNN_DEVICE=" predict --weights "$tmp/bad.safetensors" --device nowhere "$tmp/data/cat"
tool "CLCNN_DEVICE=" layers --arch compact --device nowhere
# With the default device (a context is opened, no kernel is compiled): bad weight files.
claim=tests/golden/fuzz/safetensors_1gib_claim.safetensors
tool "CLCNN_DEVICE=" predict --weights "$tmp/bad.safetensors" "$tmp/data/cat"
tool "CLCNN_DEVICE=" eval --data "$tmp/data" --weights "$claim"
tool "CLCNN_DEVICE=" cam --weights "$claim" --out "$tmp/cam" "$tmp/data/cat"

if [ -n "$failed" ]; then
    echo "test-valgrind: FAILED:$failed"
    exit 1
fi
echo "test-valgrind: clean"
