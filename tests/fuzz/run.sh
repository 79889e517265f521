#!/bin/sh
# tests/fuzz/run.sh BINDIR SECONDS NAME... - `make fuzz`: runs each
# libFuzzer binary BINDIR/fuzz_NAME for SECONDS, one after another, then
# prints one line per target: executions, seconds, coverage (libFuzzer's
# cov: edges and ft: features), corpus size and the outcome.
#
# Inputs: the committed seeds (tests/fuzz/corpus/NAME) and regression
# inputs (tests/fuzz/regressions/NAME), read only; what the fuzzer finds
# new goes to BINDIR/corpus/NAME, so later runs start from there; a crash
# is written to BINDIR/artifacts/NAME/ and its log kept in
# BINDIR/logs/NAME.log. Exits non-zero if any target crashed.
BIN=$1
SECS=$2
shift 2
[ -n "$BIN" ] && [ -n "$SECS" ] || { echo "usage: $0 BINDIR SECONDS NAME..." >&2; exit 2; }
table=$(mktemp)
trap 'rm -f "$table"' EXIT
status=0
for name in "$@"; do
    corpus="$BIN/corpus/$name"
    art="$BIN/artifacts/$name"
    log="$BIN/logs/$name.log"
    mkdir -p "$corpus" "$art" "$BIN/logs"
    set -- "$corpus" "tests/fuzz/corpus/$name"
    [ -d "tests/fuzz/regressions/$name" ] && set -- "$@" "tests/fuzz/regressions/$name"
    dict=""
    [ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
    echo "== fuzz_$name: ${SECS}s"
    # -timeout: an input that takes 30 s is a hang worth reporting;
    # -rss_limit_mb is libFuzzer's default, and malloc_limit follows it.
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$BIN/fuzz_$name" -max_total_time="$SECS" -timeout=30 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$art/" $dict "$@" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
    secs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$log" | tail -n 1)
    # after a crash there is no "Done" line: the final stats still count
    [ -n "$runs" ] || runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    [ -n "$secs" ] || secs=?
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    corp=$(grep -o 'corp: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    if [ "$rc" -eq 0 ]; then
        result=ok
    else
        status=1
        found=$(ls -t "$art" 2>/dev/null | head -n 1)
        result="CRASH (exit $rc): $art/$found, log $log"
        grep -E 'ERROR|SUMMARY|broken promise|runtime error' "$log" | head -n 5
    fi
    printf '%-12s %12s %7s %7s %8s %7s  %s\n' "$name" "${runs:-?}" "$secs" "${cov:-?}" \
        "${ft:-?}" "${corp:-?}" "$result" >>"$table"
done
echo
printf '%-12s %12s %7s %7s %8s %7s  %s\n' target executions seconds cov ft corpus result
cat "$table"
exit $status
