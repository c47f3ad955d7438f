#!/bin/sh
# oclgrind.sh: the op tests on Oclgrind, an OpenCL device that checks every memory
# access, barrier and work-item interleaving; fails on any test failure and on any
# Oclgrind report. `make test-oclgrind` builds what it needs and runs it.
#
# usage: scripts/oclgrind.sh [TEST-NAME...]   (default: every case of the op test files
#        below, plus the CAM kernel tests; a name selects the tests containing it)
# env:   BUILD (default build): where clcnn_tests and oclgrind_fill.so are
#        OCLGRIND_ICD (default /usr/lib/oclgrind/liboclgrind-rt-icd.so)
#        OCLGRIND_MAX_ERRORS (default 100): reports printed before Oclgrind stops printing
#
# How: Oclgrind is the only OpenCL platform (OCL_ICD_VENDORS names its ICD), with its
# data-race (OCLGRIND_DATA_RACES), uninitialised-value (OCLGRIND_UNINITIALIZED) and API
# (OCLGRIND_CHECK_API) checks on; invalid accesses are always checked. Kernels are built
# with -cl-opt-disable: Oclgrind 21.10's uninitialised-value check stops with "Unsupported
# instruction: freeze" on the optimiser's output, and unoptimised code is the source as
# written. The LD_PRELOAD shim oclgrind_fill.so makes clEnqueueFillBuffer visible to the
# uninitialised-value check (scripts/oclgrind_fill.c says why). CLCNN_TEST_SMALL=1 keeps
# the shapes small (tests/harness.h). CLCNN_GEMM_LOCAL (default off: the GPU family's
# gemm_tiled, as on devices that cannot run gemm_local) says which GEMM runs: Oclgrind
# simulates gemm_local's barriers and local-memory accesses 4 to 5 times slower than
# gemm_tiled, so `make test-oclgrind` checks it apart, on the GEMM tests, with a small
# tile (16x16x8:4x4: the same kernel and 4 x 4 outputs a work-item). CLCNN_RED_WG
# (default 8 here, 64 on devices) sizes the work-group reductions (group_sum's tree):
# at 64 Oclgrind took 15 to 20 times longer over the batch-norm tests, for the same
# code. Everything Oclgrind prints goes to stderr, so any
# byte there is a report. Logs: $BUILD/oclgrind/{run,reports}.log.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=$BUILD/clcnn_tests
SHIM=$BUILD/oclgrind_fill.so
ICD=${OCLGRIND_ICD:-/usr/lib/oclgrind/liboclgrind-rt-icd.so}
OUT=$BUILD/oclgrind

[ -r "$ICD" ] || { echo "oclgrind.sh: no Oclgrind ICD at $ICD (Debian: apt-get install oclgrind; scripts/deps.sh)"; exit 1; }
for f in "$BIN" "$SHIM"; do
    [ -x "$f" ] || [ -r "$f" ] || { echo "oclgrind.sh: $f missing (make test-oclgrind builds it)"; exit 1; }
done

# The op tests (scripts/op_tests.sh says which).
if [ $# -eq 0 ]; then
    # shellcheck disable=SC2046
    set -- $(sh scripts/op_tests.sh --simulator)
fi

mkdir -p "$OUT"
RUN=$OUT/run.log REPORTS=$OUT/reports.log
rm -f "$RUN" "$REPORTS" "$OUT/rc"
echo "oclgrind.sh: $# tests on Oclgrind ($(oclgrind --version 2>/dev/null | sed -n 's/^Oclgrind \([0-9.]*\).*/\1/p'))" \
     "with data-race, uninitialised-value, API and bounds checks; log in $RUN"
start=$(date +%s)
# The tests' stdout and Oclgrind's stderr both reach the console and run.log in order;
# stderr alone also goes to reports.log.
# XDG_CACHE_HOME: no tuning file from an earlier clcnn_tune changes the tile under test.
( { env OCL_ICD_VENDORS="$ICD" LD_PRELOAD="$PWD/$SHIM" CLCNN_DEVICE= CLCNN_CACHE=off CLCNN_TEST_SMALL=1 \
        CLCNN_GEMM_LOCAL=${CLCNN_GEMM_LOCAL:-off} CLCNN_RED_WG=${CLCNN_RED_WG:-8} \
        XDG_CACHE_HOME="$PWD/$OUT/cache" \
        OCLGRIND_DATA_RACES=1 OCLGRIND_UNINITIALIZED=1 OCLGRIND_CHECK_API=1 \
        OCLGRIND_BUILD_OPTIONS=-cl-opt-disable OCLGRIND_MAX_ERRORS="${OCLGRIND_MAX_ERRORS:-100}" \
        "$BIN" "$@" 2>&1 1>&3 3>&-; echo $? >"$OUT/rc"; } | tee "$REPORTS" ) 3>&1 | tee "$RUN"
rc=$(cat "$OUT/rc" 2>/dev/null || echo 1)
secs=$(($(date +%s) - start))

# A report is a block that Oclgrind's logger starts after an empty line; its first line
# says what (addresses dropped so that equal kinds count together), "Kernel:" (or, for
# an API error, "Function:") where.
summary=$(awk '
    function flush() { if (kind != "") count[kind]++; kind = "" }
    prev == "" && $0 != "" && $0 !~ /^\t/ { flush(); kind = $0; gsub(/ 0x[0-9a-f]+/, "", kind) }
    /^\t(Kernel|Function): / && kind != "" { w = $0; sub(/^\t/, "", w); kind = kind " (" w ")"; flush() }
    { prev = $0 }
    END { flush(); for (k in count) printf "%6d  %s\n", count[k], k }
' "$REPORTS" | sort -rn)
bytes=$(wc -c <"$REPORTS")
if [ "$bytes" -gt 0 ]; then
    echo "oclgrind.sh: Oclgrind reported problems ($bytes bytes on stderr, in $REPORTS):"
    echo "${summary:-    (unrecognised output: see the file)}"
fi
echo "oclgrind.sh: tests exit status $rc, $bytes bytes of reports, $secs s"
[ "$rc" = 0 ] && [ "$bytes" -eq 0 ]
