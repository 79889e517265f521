#!/bin/sh
# t_predict.sh - a stored model on new data through the command: unroll
# predict for classify (TSV and JSON, --top, optional labels), text (loss
# and next characters) and npy runs (outputs.npy shapes), eval --data on a
# new classify file, RUN@best, and the one-line refusals (a character
# outside a vocabulary without an unknown id, --out with the wrong kind,
# sample on a classifier). Prints PASS/FAIL lines for tests/run.sh.
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh
tab=$(printf '\t')
# expect NAME STATUS PATTERN CMD...: exit status and a line matching PATTERN
expect() {
    name=$1 want=$2 pat=$3
    shift 3
    "$@" >"$T/out" 2>&1
    rc=$?
    if [ "$rc" -eq "$want" ] && grep -q -- "$pat" "$T/out"; then
        ok "$name"
    else
        ko "$name" "status $rc (expected $want); $(head -5 "$T/out")"
    fi
}

printf '%s\n' "data: {kind: classify, path: tests/data/words_small.tsv, valid_fraction: 0.2}" \
    "model: {cell: elman, hidden: 6, outputs: last_step}" \
    "train: {dtype: float32, seq_len: 12, batch: 4, steps: 20, valid_every: 10," \
    "        checkpoint: {every: 10}}" >"$T/cls.yaml"
printf '%s\n' "data: {kind: text, path: tests/golden/min_char_rnn/text.txt}" \
    "model: {cell: elman, hidden: 8}" \
    "train: {dtype: float64, seq_len: 6, steps: 10}" >"$T/txt.yaml"
for n in cls txt; do
    $UNROLL train "$T/$n.yaml" --db "$T/p.db" --name $n --quiet 2>"$T/err" ||
        ko "train $n" "$(cat "$T/err")"
done
$UNROLL train "$T/cls.yaml" --set model.bidirectional=true --db "$T/p.db" --name bi --quiet \
    2>"$T/err" || ko "train bi" "$(cat "$T/err")"
printf 'house\nwasser\tgerman\n\nmaison\tfrench\n' >"$T/new.tsv"

# ---- classify ---------------------------------------------------------------
$UNROLL predict cls --data "$T/new.tsv" --db "$T/p.db" >"$T/out" 2>"$T/err"
if [ $? -eq 0 ] && [ "$(wc -l <"$T/out")" -eq 3 ] &&
    awk -F'\t' 'NF != 3 || $3 <= 0 || $3 > 1 { bad = 1 } END { exit bad }' "$T/out" &&
    head -1 "$T/out" | grep -q "^house$tab" && sed -n 2p "$T/out" | grep -q "^wasser$tab" &&
    grep -q '2 labelled sequences, accuracy' "$T/err"; then
    ok "predict classify: input, label, probability per sequence; labels optional"
else
    ko "predict classify: input, label, probability per sequence; labels optional" \
        "$(cat "$T/out" "$T/err")"
fi
$UNROLL predict cls@best --data "$T/new.tsv" --top 3 --db "$T/p.db" --quiet >"$T/out" 2>&1
if awk -F'\t' 'NF != 7 || $3 < $5 || $5 < $7 { bad = 1 } END { exit bad }' "$T/out" &&
    [ "$(wc -l <"$T/out")" -eq 3 ]; then
    ok "predict --top 3: three label/probability pairs, most probable first (RUN@best)"
else
    ko "predict --top 3: three label/probability pairs, most probable first (RUN@best)" \
        "$(cat "$T/out")"
fi
expect "predict --format json: one object per line" 0 \
    '^{"input": "house", "top": \[{"label": "[a-z]*", "p": [0-9.e-]*}, {"label"' \
    $UNROLL predict cls --data "$T/new.tsv" --format json --top 2 --db "$T/p.db" --quiet
expect "predict a bidirectional classifier" 0 "^maison$tab" \
    $UNROLL predict bi --data "$T/new.tsv" --db "$T/p.db" --quiet
printf 'house\tenglish\nwasser\tgerman\n' >"$T/lab.tsv"
expect "eval --data on a new classify file" 0 "2 labelled sequences, loss [0-9.]*/sequence" \
    $UNROLL eval cls --data "$T/lab.tsv" --db "$T/p.db"
expect "eval --data: a line without a label" 1 "new.tsv:1: expected 'sequence<TAB>label'" \
    $UNROLL eval cls --data "$T/new.tsv" --db "$T/p.db"
expect "sample on a classifier says to use predict" 1 "is a classify model.*(use predict)" \
    $UNROLL sample cls --db "$T/p.db"

# ---- text -------------------------------------------------------------------
printf 'the cat\nhello there\n' >"$T/lines.txt"
$UNROLL predict txt --data "$T/lines.txt" --db "$T/p.db" >"$T/out" 2>&1
if [ "$(wc -l <"$T/out")" -eq 2 ] &&
    awk -F'\t' 'NF != 8 || $2 <= 0 || $4 < $6 || $6 < $8 { bad = 1 } END { exit bad }' "$T/out"; then
    ok "predict text: line, loss per character, three next characters"
else
    ko "predict text: line, loss per character, three next characters" "$(cat "$T/out")"
fi
printf 'the cat\nthe Qat\n' >"$T/q.txt"
expect "a character outside a vocabulary without an unknown id: one line" 1 \
    "q.txt:2: 'Q' (U+0051) at position 4 is not in the vocabulary" \
    $UNROLL predict txt --data "$T/q.txt" --db "$T/p.db"
expect "--out is for npy runs" 1 "is for npy runs" \
    $UNROLL predict txt --data "$T/q.txt" --out "$T/o" --db "$T/p.db"
expect "--prime outside the vocabulary: its position" 1 \
    "prime text: 'Q' (U+0051) at position 1" $UNROLL sample txt --prime "aQ" --db "$T/p.db"
expect "RUN@ with a bad suffix names RUN@best" 1 "RUN@best" \
    $UNROLL sample txt@bestest --db "$T/p.db"

# ---- npy --------------------------------------------------------------------
printf '%s\n' "data: {kind: npy, path: tests/data/parity_dense}" \
    "train: {dtype: float32, batch: 4, steps: 4}" >"$T/pd.yaml"
printf '%s\n' "data: {kind: npy, path: tests/data/parity_lastreal}" \
    "model: {outputs: last_step, output: sigmoid, loss: bce}" \
    "train: {dtype: float32, batch: 4, steps: 4}" >"$T/pl.yaml"
for n in pd pl; do
    $UNROLL train "$T/$n.yaml" --set model.hidden=5 --db "$T/p.db" --name $n --quiet \
        2>"$T/err" || ko "train $n" "$(cat "$T/err")"
done
expect "npy needs --out" 1 "npy arrays: --out DIR writes outputs.npy" \
    $UNROLL predict pd --data tests/data/parity_dense --db "$T/p.db"
# the shape in an .npy header: "N, T" of "'shape': (N, T, ...)"
shape() { head -c 128 "$1" | LC_ALL=C tr -d '\000' | LC_ALL=C sed -n "s/.*'shape': (\([0-9, ]*\)).*/\1/p"; }
want="$(shape tests/data/parity_dense/inputs.npy | cut -d, -f1-2), 2"
if $UNROLL predict pd --data tests/data/parity_dense --out "$T/o1" --db "$T/p.db" \
    >"$T/out" 2>&1 && [ "$(shape "$T/o1/outputs.npy")" = "$want" ]; then
    ok "predict npy: outputs.npy [N, T, O] per step"
else
    ko "predict npy: outputs.npy [N, T, O] per step" \
        "$(cat "$T/out"; shape "$T/o1/outputs.npy"; echo "want $want")"
fi
want="$(shape tests/data/parity_lastreal/inputs.npy | cut -d, -f1),$(shape \
    tests/data/parity_lastreal/targets.npy | cut -d, -f2)"
if $UNROLL predict pl --data tests/data/parity_lastreal --out "$T/o2" --db "$T/p.db" \
    >"$T/out" 2>&1 && [ "$(shape "$T/o2/outputs.npy")" = "$want" ]; then
    ok "predict npy: outputs.npy [N, O] for a last-step model"
else
    ko "predict npy: outputs.npy [N, O] for a last-step model" \
        "$(cat "$T/out"; shape "$T/o2/outputs.npy"; echo "want $want")"
fi
