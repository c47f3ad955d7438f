#!/bin/sh
# run_fuzz.sh BUILD SECONDS NAME...: run each libFuzzer target BUILD/fuzz_NAME for SECONDS
# from the committed seeds fuzz/corpus/NAME (read only; new inputs go to BUILD/corpus/NAME,
# crashes to BUILD/crashes/), with fuzz/NAME.dict when there is one, and print one summary
# line per target: executions, coverage (cov: edges, ft: features), corpus, crash or not.
# Exits 1 if any target crashed. `make fuzz` calls it.
set -u
build=$1 seconds=$2
shift 2
mkdir -p "$build/crashes" "$build/logs"
# The file parsers' targets write each input to a scratch file: in memory it is ~7x faster.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
failed=""
for name in "$@"; do
    bin="$build/fuzz_$name"
    [ -x "$bin" ] || { echo "run_fuzz: $bin is missing (make fuzz-build)"; exit 2; }
    mkdir -p "$build/corpus/$name"
    dict=""
    [ -f "fuzz/$name.dict" ] && dict="-dict=fuzz/$name.dict"
    log="$build/logs/$name.log"
    echo "fuzz_$name: $seconds s (log $log)"
    # close_fd_mask=3: the targets' own stdout/stderr (the tool's messages) are dropped;
    # libFuzzer keeps its reports. timeout: a unit slower than 25 s is a finding.
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2560 -close_fd_mask=3 -print_final_stats=1 \
        -artifact_prefix="$build/crashes/$name-" $dict "$build/corpus/$name" "fuzz/corpus/$name" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
    if [ $rc -eq 0 ]; then result="no crash"; else result="CRASH (exit $rc, see $log)"; failed="$failed $name"; fi
    echo "  $name: ${execs:-?} executions, ${rate:-?}/s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}: $result"
done
if [ -n "$failed" ]; then
    echo "run_fuzz: crashes in:$failed (inputs in $build/crashes/)"
    exit 1
fi
