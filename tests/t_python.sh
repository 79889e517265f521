#!/bin/sh
# t_python.sh - the Python package (python/unroll) over the library this
# build made (libunroll.so beside the unroll command): runs
# tests/python/test_unroll.py with a python3 that has numpy (Debian's
# python3-numpy, which tools/setup.sh installs). Prints one SKIP line, and
# no PASS or FAIL, only where no python3 with numpy can be found.
UNROLL=${UNROLL:-build/rel/unroll}
BUILD=$(dirname "$UNROLL")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh

py=""
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import numpy' >/dev/null 2>&1; then
        py=$p
        break
    fi
done
if [ -z "$py" ]; then
    echo "SKIP python: no python3 with numpy here (sh tools/setup.sh installs python3-numpy)"
    exit 0
fi
lib="$BUILD/libunroll.so"
if [ ! -f "$lib" ]; then
    ko "python: $lib is built (make shared)"
    exit 0
fi
# a sanitizer build's library needs its runtime loaded first; Python's own
# allocations are not ours to report
pre=""
if nm -D "$lib" 2>/dev/null | grep -q ' U __asan_init'; then
    pre=$(${CC:-cc} -print-file-name=libasan.so)
    export ASAN_OPTIONS=detect_leaks=0
fi
UNROLL="$UNROLL" UNROLL_LIBRARY="$lib" TMPDIR="$T" PYTHONPATH=python LD_PRELOAD="$pre" \
    "$py" tests/python/test_unroll.py
