#!/bin/sh
# t_install.sh - make install into a scratch prefix, then build
# examples/embed.c against the installed copy through pkg-config and run
# it, and examples/stream.c on the run it stored: the library is usable
# through its public header alone.
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh
# a clean release build: not the sanitizer flags of an enclosing make asan
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s install BUILD=build/rel SAN= OPT="-O2 -g" \
    PREFIX="$T/prefix" >"$T/log" 2>&1; then
    ok "make install"
else
    ko "make install" "$(tail -5 "$T/log")"
    exit 0
fi
for f in bin/unroll lib/libunroll.a lib/libunroll.so include/unroll/unroll.h \
    include/unroll/graph/graph.h include/unroll/graph/ops.def lib/pkgconfig/unroll.pc \
    share/man/man1/unroll.1; do
    [ -e "$T/prefix/$f" ] || { ko "installed files" "missing $f"; exit 0; }
done
ok "installed files"
export PKG_CONFIG_PATH="$T/prefix/lib/pkgconfig"
# one version (base/version.h) for the command, the header and unroll.pc
v=$("$T/prefix/bin/unroll" --version | sed -n 's/^unroll \([^ ]*\).*/\1/p')
if [ -n "$v" ] && [ "$(pkg-config --modversion unroll)" = "$v" ] &&
    grep -q "UNROLL_VERSION \"$v\"" "$T/prefix/include/unroll/base/version.h"; then
    ok "unroll --version, unroll.pc and base/version.h agree ($v)"
else
    ko "unroll --version, unroll.pc and base/version.h agree" "'$v' '$(pkg-config --modversion unroll)'"
fi
if cc examples/embed.c $(pkg-config --cflags --libs unroll) -o "$T/embed" 2>"$T/log"; then
    ok "examples/embed.c builds against the installed copy (pkg-config unroll)"
else
    ko "examples/embed.c builds against the installed copy (pkg-config unroll)" "$(cat "$T/log")"
    exit 0
fi
if LD_LIBRARY_PATH="$T/prefix/lib" "$T/embed" configs/min_char_rnn.yaml \
    tests/golden/min_char_rnn/text.txt "$T/e.db" >"$T/out" 2>&1 &&
    grep -q '^loss ' "$T/out" && grep -q '^trained 30 steps' "$T/out" && grep -q '^sample: ' "$T/out"; then
    ok "embed: graph, gradient, training, checkpoint and sampling through the public header"
else
    ko "embed: graph, gradient, training, checkpoint and sampling through the public header" "$(cat "$T/out")"
fi
if cc examples/stream.c $(pkg-config --cflags --libs unroll) -lm -o "$T/stream" 2>"$T/log" &&
    LD_LIBRARY_PATH="$T/prefix/lib" "$T/stream" "$T/e.db" embedded@best "the ca" >"$T/out" 2>&1 &&
    grep -q '^loss .* nats/char over 5 characters' "$T/out" && grep -q "^after +'e'" "$T/out"; then
    ok "examples/stream.c: a stored model one step at a time through the public header"
else
    ko "examples/stream.c: a stored model one step at a time through the public header" \
        "$(cat "$T/log" "$T/out" 2>/dev/null)"
fi
pydir=$(find "$T/prefix/lib" -path '*dist-packages/unroll/__init__.py' 2>/dev/null | head -1)
py=""
for p in python3 /usr/bin/python3; do
    command -v "$p" >/dev/null 2>&1 && "$p" -c 'import numpy' >/dev/null 2>&1 && { py=$p; break; }
done
if [ -z "$py" ]; then
    echo "SKIP installed Python package: no python3 with numpy here"
elif [ -n "$pydir" ] && (cd "$T" && PYTHONPATH=$(dirname "$(dirname "$pydir")") "$py" -c \
    'import unroll; print(unroll.open("e.db").runs()[0]["name"])') >"$T/out" 2>&1 &&
    grep -qx embedded "$T/out"; then
    ok "the installed Python package finds the installed library"
else
    ko "the installed Python package finds the installed library" "$pydir $(cat "$T/out")"
fi
if MANPATH="$T/prefix/share/man" man -w unroll >/dev/null 2>&1 || [ -s "$T/prefix/share/man/man1/unroll.1" ]; then
    ok "man page installed"
else
    ko "man page installed"
fi
