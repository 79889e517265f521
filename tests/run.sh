#!/bin/sh
# tests/run.sh BUILD_DIR - runs every test binary and every tests/t_*.sh
# script, adds up their PASS/FAIL lines and ends with "N passed, N failed",
# or "N passed, N failed, N skipped" when some check could not run here
# (a "SKIP what (why)" line: a missing tool, a sanitizer build).
# A binary that exits non-zero without printing a FAIL line counts as one
# failure, so a crash can never pass.
BUILD=${1:-build/rel}
UNROLL="$BUILD/unroll"
export UNROLL
pass=0
fail=0
skip=0
log=$(mktemp)
run_one() {
    name=$1
    shift
    "$@" >"$log" 2>&1
    rc=$?
    cat "$log"
    p=$(grep -c '^PASS ' "$log")
    f=$(grep -c '^FAIL ' "$log")
    s=$(grep -c '^SKIP ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $name (exit status $rc)"
        f=1
    fi
    pass=$((pass + p))
    fail=$((fail + f))
    skip=$((skip + s))
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    echo "== $(basename "$t")"
    run_one "$(basename "$t")" "$t"
done
for s in tests/t_*.sh; do
    [ -f "$s" ] || continue
    echo "== $s"
    run_one "$s" sh "$s"
done
rm -f "$log"
if [ "$skip" -gt 0 ]; then
    echo "$pass passed, $fail failed, $skip skipped"
else
    echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
