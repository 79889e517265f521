#!/bin/sh
# t_fuzz.sh - every fuzz target (tests/fuzz/fuzz_NAME.c) still builds and
# replays its seed corpus and its regression inputs without a crash, a
# sanitizer report or a broken promise. `make fuzz` is the real search
# (clang + libFuzzer, minutes per target); this is the cheap check that
# runs with the tests, so it needs no clang: the standalone driver
# (tests/fuzz/driver.c) is linked with each target and the library under
# test, with ASan + UBSan when the compiler has them (the library itself
# is instrumented under make asan). Where clang is installed, each target
# is also compiled as a libFuzzer target, so `make fuzz` cannot rot
# unnoticed. Prints PASS/FAIL lines for tests/run.sh.
UNROLL=${UNROLL:-build/rel/unroll}
BUILD=$(dirname "$UNROLL")
LIB="$BUILD/libunroll.a"
CC=${CC:-cc}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh

[ -f "$LIB" ] || { ko "fuzz replay" "no $LIB (build first)"; exit 0; }
# the library's own flags: MPI when it was built with it
PKGS="yaml-0.1 sqlite3"
pkg-config --exists ompi-c 2>/dev/null && nm "$LIB" 2>/dev/null | grep -q ' U MPI_' && PKGS="$PKGS ompi-c"
PKG=$(pkg-config --cflags --libs $PKGS 2>/dev/null)
WARN="-Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
echo 'int main(void) { return 0; }' >"$T/probe.c"
$CC $SAN "$T/probe.c" -o "$T/probe" 2>/dev/null && "$T/probe" || SAN=""

for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    name=${name#fuzz_}
    if ! $CC -std=c11 -D_GNU_SOURCE -O1 -g $SAN $WARN -I. tests/fuzz/driver.c "$src" "$LIB" \
        $PKG -lm -lpthread -o "$T/$name" 2>"$T/log"; then
        ko "fuzz target $name builds with $CC" "$(head -5 "$T/log")"
        continue
    fi
    set -- "tests/fuzz/corpus/$name"
    [ -d "tests/fuzz/regressions/$name" ] && set -- "$@" "tests/fuzz/regressions/$name"
    if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$T/$name" "$@" >"$T/log" 2>&1; then
        ok "fuzz target $name replays its seeds and regressions ($(tail -n 1 "$T/log"))"
    else
        ko "fuzz target $name replays its seeds and regressions" "$(grep -E 'ERROR|SUMMARY|broken|runtime error|^tests/' "$T/log" | head -5)"
    fi
done

if command -v clang >/dev/null 2>&1; then
    for src in tests/fuzz/fuzz_*.c; do
        name=$(basename "$src" .c)
        name=${name#fuzz_}
        if clang -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer-no-link,address,undefined $WARN -I. \
            $(pkg-config --cflags yaml-0.1 sqlite3 2>/dev/null) -c "$src" \
            -o "$T/$name.o" 2>"$T/log"; then
            ok "fuzz target $name compiles for libFuzzer (clang)"
        else
            ko "fuzz target $name compiles for libFuzzer (clang)" "$(head -5 "$T/log")"
        fi
    done
    # make fuzz builds the library with clang too: every source must pass
    # clang's warnings, not only GCC's
    bad=""
    for src in base/*.c kernels/*.c graph/*.c ops/*.c engine/*.c models/*.c train/*.c store/*.c; do
        clang -std=c11 -D_GNU_SOURCE -O1 $WARN -I. \
            $(pkg-config --cflags yaml-0.1 sqlite3 2>/dev/null) -fsyntax-only "$src" \
            2>>"$T/clang.log" || bad="$bad $src"
    done
    [ -z "$bad" ] && ok "the library compiles with clang and -Werror (make fuzz)" ||
        ko "the library compiles with clang and -Werror (make fuzz):$bad" "$(grep error: "$T/clang.log" | head -5)"
else
    skip "fuzz targets and the library compile with clang" "clang is not installed"
fi
exit 0
