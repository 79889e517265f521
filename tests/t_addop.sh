#!/bin/sh
# t_addop.sh - adding an op is one file and one line, as the README's
# "Adding an op" says. In a scratch copy of the library's sources, the
# README's own softsign example is added exactly so (its ops/softsign.c
# block and its graph/ops.def line, nothing else), the command is built
# (only the command, -O0, two jobs: the test's time is mostly this), then
# a custom cell calls softsign from an equation and a preset cell takes it
# as model.activation, and `unroll gradcheck` passes on both. The example
# must not be an op the tree has: the test first checks that it is new.
# Prints PASS/FAIL lines for tests/run.sh.
. tests/lib.sh
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

cp -R Makefile unroll.h base kernels graph ops engine models train store cli "$T"/
mkdir -p "$T/data"
cp tests/golden/min_char_rnn/text.txt "$T/data/text.txt"

# The README's file: the ```c block under "**The file**", unindented.
awk '/^1\. \*\*The file\*\*/ { f = 1; next }
     f == 1 && /^ *```c/ { f = 2; next }
     f == 2 && /^ *```/ { exit }
     f == 2 { sub(/^   /, ""); print }' README.md >"$T/ops/softsign.c"
# The README's line: the X(...) under "**The line**".
awk '/^2\. \*\*The line\*\*/ { f = 1; next }
     f == 1 && /^ *X\(/ { sub(/^ */, ""); print; exit }' README.md >"$T/line"
if [ -s "$T/ops/softsign.c" ] && grep -q '^X(SOFTSIGN' "$T/line"; then
    ok "addop: the README shows the file and the line"
else
    ko "addop: the README shows the file and the line" "$(cat "$T/line")"
fi
# a demonstration of an op the tree already has would prove nothing (and
# would not build: the name would be defined twice)
if [ ! -e ops/softsign.c ] && ! grep -q '^X(SOFTSIGN' graph/ops.def; then
    ok "addop: the README's example is an op the tree lacks"
else
    ko "addop: the README's example is an op the tree lacks" "softsign is already an op: pick another"
fi
cat "$T/line" >>"$T/graph/ops.def"

# A make of its own: under `make asan` the caller's variables (BUILD,
# SAN, ...) would reach this one through MAKEFLAGS.
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$T" -j2 MPI=0 BUILD=build/rel OPT=-O0 \
    SAN= VECFLAGS= build/rel/unroll >"$T/build.log" 2>&1; then
    ok "addop: the tree builds with one file and one line more"
else
    ko "addop: the tree builds with one file and one line more" "$(tail -20 "$T/build.log")"
fi

cat >"$T/cell.yaml" <<'EOF'
data: {kind: text, path: data/text.txt}
model:
  cell: custom
  hidden: 5
  init: {std: 0.4}
  params: {W: [hidden, hidden], U: [hidden, input], b: [hidden],
           V: [output, hidden], c: [output]}
  state: {h: hidden}
  step:
    - h[t] = softsign(W @ h[t-1] + U @ x[t] + b)
    - o[t] = V @ h[t] + c
train: {dtype: float64, seq_len: 4, batch: 2}
EOF
cat >"$T/preset.yaml" <<'EOF'
data: {kind: text, path: data/text.txt}
model: {cell: gru, hidden: 4, activation: softsign, init: {std: 0.4}}
train: {dtype: float64, seq_len: 3, batch: 2}
EOF
for c in cell preset; do
    if (cd "$T" && build/rel/unroll gradcheck "$c.yaml") >"$T/$c.out" 2>&1; then
        ok "addop: softsign in a $c passes gradcheck"
    else
        ko "addop: softsign in a $c passes gradcheck" "$(cat "$T/$c.out")"
    fi
done
# the equations really called it: the graph names the op
if (cd "$T" && build/rel/unroll graph cell.yaml 2>&1) | grep -q softsign; then
    ok "addop: the graph has softsign nodes"
else
    ko "addop: the graph has softsign nodes"
fi
