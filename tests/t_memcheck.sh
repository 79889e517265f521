#!/bin/sh
# t_memcheck.sh - the end-to-end paths under valgrind memcheck: training
# (with validation, checkpoints, resume, a memory budget, classification,
# npy data, Jordan with scheduled sampling), sampling, eval, grad (with
# the Jacobian ledger) and
# gradcheck, the checkpoint and run commands, and error paths. Each
# command must exit as expected with no memory error and no definite or
# indirect leak. Sizes are tiny: valgrind runs the code about 30x slower.
#
# `make asan` runs every test under AddressSanitizer and UBSan as well;
# this script is the part of `make test` that checks memory without a
# second build.
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh

# valgrind cannot run a sanitized binary; under make asan the other tests
# run these paths with the sanitizers watching instead
if grep -q __asan_init "$UNROLL" 2>/dev/null; then
    skip "valgrind memcheck" "an AddressSanitizer build: the sanitizers watch these paths"
    exit 0
fi
if ! command -v valgrind >/dev/null 2>&1; then
    ko "valgrind is installed (tools/setup.sh installs it)"
    exit 0
fi

# vg NAME WANT CMD...: CMD under memcheck must exit WANT (0, or 1 for a
# user error) with nothing reported; 99 is memcheck's own verdict.
vg() {
    name=$1 want=$2
    shift 2
    valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect --log-file="$T/vg.log" "$UNROLL" "$@" \
        >"$T/out" 2>&1
    rc=$?
    if [ "$rc" -eq "$want" ] && [ ! -s "$T/vg.log" ]; then
        ok "memcheck: $name"
    else
        ko "memcheck: $name (exit $rc, wanted $want)" "$(cat "$T/vg.log" "$T/out")"
    fi
}

G=tests/golden/min_char_rnn/text.txt
DB="--db $T/u.db"
tiny="--set data.path=$G --set model.hidden=12 --set train.seq_len=8 --set train.batch=2"

vg "train with validation and checkpoints" 0 train configs/elman_char.yaml $tiny $DB --name e \
    --set train.steps=30 --set train.checkpoint.every=10 --set train.valid_every=10 \
    --set data.valid_fraction=0.1 --quiet
vg "train --resume" 0 train --resume e --set train.steps=40 $DB --quiet
vg "train lstm under a memory budget" 0 train configs/min_char_rnn.yaml $tiny $DB --name l \
    --set model.cell=lstm --set train.seq_len=40 --set train.memory_budget=64KiB \
    --set train.steps=5 --quiet
vg "train jordan, scheduled sampling, ledger" 0 train configs/min_char_rnn.yaml $tiny $DB \
    --name j --set model.cell=jordan --set train.scheduled_sampling.end=0.5 \
    --set train.ledger_every=2 --set train.steps=6 --quiet
vg "train a bidirectional classifier" 0 train configs/word_language.yaml $DB --name w \
    --set data.path=tests/data/words_small.tsv --set model.hidden=8 --set train.steps=5 \
    --set model.bidirectional=true --set train.batch=4 --quiet
vg "train on npy data (dense inputs, real targets)" 0 train configs/parity_jordan.yaml $DB \
    --name p --set data.path=tests/data/parity_real --set model.hidden=6 --set train.steps=5 \
    --set model.output=linear --set model.loss=mse --set train.batch=4 --quiet
vg "sample" 0 sample e $DB --length 40
vg "eval" 0 eval e $DB
vg "grad --per-step" 0 grad configs/gru_custom.yaml $tiny --per-step --out "$T/g"
vg "grad --jacobian --plot, a stacked LSTM" 0 grad configs/min_char_rnn.yaml $tiny \
    --set model.hidden=4 --set model.cell=lstm --set model.layers=2 --jacobian --layer 0 \
    --plot "$T/j.svg" --out "$T/j"
vg "runs plot --ledger sigma: Jordan has no recurrent matrix" 1 runs plot j $DB --ledger sigma \
    -o "$T/s.svg"
vg "gradcheck" 0 gradcheck configs/min_char_rnn.yaml $tiny --set model.hidden=4 \
    --set train.seq_len=3
vg "ckpt list" 0 ckpt list e $DB
vg "ckpt diff" 0 ckpt diff e@10 e@20 $DB
vg "ckpt verify" 0 ckpt verify e@20 $DB
vg "ckpt export --safetensors" 0 ckpt export e $DB --safetensors "$T/e.safetensors"
vg "ckpt import" 0 ckpt import "$T/e.safetensors" --name imported $DB \
    --config configs/elman_char.yaml --set model.hidden=12 --set data.path=$G
vg "runs list --json" 0 runs list $DB --json
vg "runs plot" 0 runs plot e j $DB -o "$T/curves.svg"
vg "query" 0 query $DB "SELECT name, status FROM runs"
vg "graph" 0 graph configs/lstm_custom.yaml --steps 2 -o "$T/g.dot"

# error paths free what they built
printf 'model: {cell: elman, hidden: 8}\ntrain: {stepz: 3}\n' >"$T/bad.yaml"
vg "error: unknown config key" 1 train "$T/bad.yaml" $DB
printf 'data: {path: %s}\nmodel: {cell: custom, params: {W: [4, 4]}, state: {h: 4}, step: "h = tanh(W @ h +"}\n' \
    "$G" >"$T/badeq.yaml"
vg "error: bad equation" 1 train "$T/badeq.yaml" $DB
vg "error: budget too small" 1 train configs/min_char_rnn.yaml $tiny $DB \
    --set train.memory_budget=1KiB
vg "error: missing checkpoint" 1 sample nosuchrun $DB
