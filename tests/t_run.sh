#!/bin/sh
# t_run.sh - tests/run.sh's closing line, on scratch trees of fake tests:
# "N passed, N failed" when nothing was skipped, "N passed, N failed,
# N skipped" when a check printed "SKIP what (why)", and a crash without
# a FAIL line still counts as a failure.
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh

# scratch DIR LINES...: a tree whose one test binary prints the lines
scratch() {
    d=$1
    shift
    mkdir -p "$d/b/tests" "$d/tests"
    cp tests/run.sh "$d/tests/run.sh"
    {
        echo '#!/bin/sh'
        for l in "$@"; do echo "echo '$l'"; done
    } >"$d/b/tests/test_fake"
    chmod +x "$d/b/tests/test_fake"
}
last() { (cd "$1" && sh tests/run.sh b 2>&1 | tail -1); }

scratch "$T/plain" "PASS a" "PASS b"
got=$(last "$T/plain")
[ "$got" = "2 passed, 0 failed" ] && ok "run.sh without skips: '$got'" ||
    ko "run.sh without skips" "got '$got'"

scratch "$T/skips" "PASS a" "SKIP b (no such tool here)" "SKIP c (a sanitizer build)"
got=$(last "$T/skips")
[ "$got" = "1 passed, 0 failed, 2 skipped" ] && ok "run.sh counts skips: '$got'" ||
    ko "run.sh counts skips" "got '$got'"

scratch "$T/crash" "PASS a"
echo 'exit 3' >>"$T/crash/b/tests/test_fake"
got=$(last "$T/crash")
[ "$got" = "1 passed, 1 failed" ] && ok "run.sh: a crash without FAIL is a failure" ||
    ko "run.sh: a crash without FAIL is a failure" "got '$got'"
