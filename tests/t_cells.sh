#!/bin/sh
# t_cells.sh - what custom cells refuse, at the command line (issue 11
# item 7): each error is one line naming the key, at file:line:col when
# the file has it, and exits 1. model.activation on a custom cell (in the
# file or by --set; config show prints none for one), a parameter no
# equation reads, a vector that multiplies without a model.init entry,
# train.scheduled_sampling and eval --free-running on a model without
# y[t-1] (and --free-running on a jordan run still works).
# Prints PASS/FAIL lines for tests/run.sh.
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh

# expect NAME WANT CMD...: exit 1 and exactly one stderr line holding WANT
expect() {
    name=$1 want=$2
    shift 2
    "$@" >/dev/null 2>"$T/err"
    rc=$?
    if [ $rc -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -qF -- "$want" "$T/err"; then
        ok "cells: $name"
    else
        ko "cells: $name" "exit $rc: $(cat "$T/err") (wanted: $want)"
    fi
}

text=tests/golden/min_char_rnn/text.txt
cat >"$T/act.yaml" <<EOF2
data: {kind: text, path: $text}
model:
  cell: custom
  hidden: 4
  activation: relu
  params: {W: [hidden, hidden], U: [hidden, input], b: [hidden], V: [output, hidden], c: [output]}
  state: {h: hidden}
  step:
    - h[t] = tanh(W @ h[t-1] + U @ x[t] + b)
    - o[t] = V @ h[t] + c
EOF2
expect "model.activation on a custom cell" \
    "act.yaml:5:3: model.activation: a custom cell names its functions in its equations" \
    "$UNROLL" config show "$T/act.yaml"
grep -v activation "$T/act.yaml" >"$T/cell.yaml"
expect "model.activation on a custom cell, by --set" \
    "cell.yaml: model.activation: a custom cell names its functions" \
    "$UNROLL" grad "$T/cell.yaml" --set model.activation=relu --out "$T/g"
if "$UNROLL" config show "$T/cell.yaml" >"$T/show" 2>&1 && ! grep -q "activation:" "$T/show" &&
    "$UNROLL" config show configs/elman_char.yaml | grep -q "^  activation: tanh"; then
    ok "cells: config show prints no activation for a custom cell, one for a preset"
else
    ko "cells: config show prints no activation for a custom cell" "$(cat "$T/show")"
fi

sed 's/c: \[output\]}/c: [output], Z: [hidden]}/' "$T/cell.yaml" >"$T/unused.yaml"
expect "an unused parameter" \
    "unused.yaml:5:100: model.params.Z: no equation in model.step reads it (remove it, or use it)" \
    "$UNROLL" grad "$T/unused.yaml" --out "$T/g"
sed 's/tanh(W @ h\[t-1\]/tanh(b * h[t-1]/' "$T/cell.yaml" >"$T/gain.yaml"
sed -i 's/{W: \[hidden, hidden\], /{/' "$T/gain.yaml"
expect "a vector that multiplies, without a start" \
    "gain.yaml:5:32: model.params.b: a vector that is not only added (a bias starts at 0) has no default start" \
    "$UNROLL" grad "$T/gain.yaml" --out "$T/g"
if "$UNROLL" grad "$T/gain.yaml" --set model.init.b.kind=constant --set model.init.b.value=0.5 \
    --out "$T/g" --quiet 2>"$T/err"; then
    ok "cells: the same with a start given by --set"
else
    ko "cells: the same with a start given by --set" "$(cat "$T/err")"
fi

printf 'data: {path: %s}\ntrain:\n  steps: 2\n  scheduled_sampling: {end: 0.5}\n' "$text" \
    >"$T/ss.yaml"
expect "scheduled sampling on elman" \
    "ss.yaml:4:3: train.scheduled_sampling: no equation reads y[t-1] (no output-to-hidden path" \
    "$UNROLL" train "$T/ss.yaml" --db "$T/ss.db"
expect "scheduled sampling on elman, by --set" "cell.yaml: train.scheduled_sampling: no equation" \
    "$UNROLL" grad "$T/cell.yaml" --set train.scheduled_sampling.start=0.3 --out "$T/g"

# eval --free-running: refused for an elman run, run for a jordan one
small="--set model.hidden=4 --set train.steps=2 --set train.seq_len=5 --set train.batch=2 --set train.valid_every=0 --quiet"
for c in elman jordan; do
    # shellcheck disable=SC2086
    "$UNROLL" train configs/elman_char.yaml --set data.path=$text --set model.cell=$c $small \
        --name "r_$c" --db "$T/r.db" 2>"$T/err" || ko "cells: train $c" "$(cat "$T/err")"
done
expect "eval --free-running on elman" \
    "--free-running: no equation of the run's model reads y[t-1] (no output-to-hidden path" \
    "$UNROLL" eval r_elman --free-running --db "$T/r.db"
if "$UNROLL" eval r_jordan --free-running --db "$T/r.db" 2>"$T/err" | grep -q "free-running"; then
    ok "cells: eval --free-running on jordan"
else
    ko "cells: eval --free-running on jordan" "$(cat "$T/err")"
fi
