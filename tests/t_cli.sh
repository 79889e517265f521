#!/bin/sh
# t_cli.sh - the unroll command end to end: bad inputs each give one line
# naming the place and a non-zero exit; shipped configs pass gradcheck;
# training lowers the loss; grad, sample, graph and config show work.
# Prints PASS/FAIL lines for tests/run.sh.
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh

# ---- fixtures for the bad-input table --------------------------------------
good="$T/good.yaml"
printf 'data: {kind: text, path: tests/golden/min_char_rnn/text.txt}\nmodel: {hidden: 8}\ntrain: {seq_len: 5, steps: 2}\n' >"$good"
printf 'model: {hidden: 8\n' >"$T/syntax.yaml"
printf 'data: {path: x.txt}\nmodel:\n  hiden: 8\n' >"$T/unknown.yaml"
printf 'data: {path: x.txt}\nmodel:\n  hidden: 8\n  hidden: 9\n' >"$T/dup.yaml"
{
    printf 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    printf 'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
    printf 'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n'
    printf 'd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n'
} >"$T/bomb.yaml"
python_free_deep() { i=0; s=''; while [ $i -lt 100 ]; do s="$s["; i=$((i + 1)); done; echo "x: $s"; }
python_free_deep >"$T/deep.yaml"
printf 'data: {path: x.txt}\nmodel: {hidden: abc}\n' >"$T/type.yaml"
printf 'data: {path: x.txt}\nmodel: {hidden: 0}\n' >"$T/range.yaml"
printf 'data: {kind: text, path: tests/golden/min_char_rnn/text.txt}\nmodel: {hidden: 65536}\ntrain: {seq_len: 1000000, batch: 65536}\n' >"$T/absurd.yaml"
printf 'data: {kind: text, path: %s/nothere.txt}\n' "$T" >"$T/missing.yaml"
: >"$T/empty.txt"
printf 'data: {kind: text, path: %s/empty.txt}\n' "$T" >"$T/empty.yaml"
printf 'abc\377def\n' >"$T/bad.txt"
printf 'data: {kind: text, path: %s/bad.txt}\n' "$T" >"$T/badutf8.yaml"
printf 'abc\n' >"$T/short.txt"
printf 'data: {kind: text, path: %s/short.txt}\n' "$T" >"$T/short.yaml"
printf 'data: {path: x.txt}\nmodel: !!str {hidden: 8}\n' >"$T/tag.yaml"
mkdir -p "$T/npybad" "$T/npyshape" "$T/npymissing"
for p in U W b V c; do cp "tests/golden/min_char_rnn/$p.npy" "$T/npybad/"; done
printf 'not a numpy file' >"$T/npybad/W.npy"
for p in U W b V c; do cp "tests/golden/min_char_rnn/$p.npy" "$T/npyshape/"; done
cp tests/golden/min_char_rnn/b.npy "$T/npyshape/W.npy"
printf 'this is not sqlite\n' >"$T/text.db"
printf 'abc\tx\nno tab here\n' >"$T/notab.tsv"
printf 'data: {kind: classify, path: %s/notab.tsv}\nmodel: {outputs: last_step}\n' "$T" >"$T/notab.yaml"
printf 'abcdefghij\tx\n' >"$T/long.tsv"
printf 'data: {kind: classify, path: %s/long.tsv}\nmodel: {outputs: last_step}\ntrain: {seq_len: 5}\n' "$T" >"$T/long.yaml"
printf 'data: {kind: classify, path: %s/long.tsv}\n' "$T" >"$T/everystep.yaml"

# name | expected exit | expected text in the one line | command
cat >"$T/table" <<EOF2
syntax|1|syntax.yaml:2:1:|train $T/syntax.yaml --db $T/x.db
unknown key|1|unknown.yaml:3:3: unknown key 'model.hiden' (did you mean 'model.hidden'?)|train $T/unknown.yaml --db $T/x.db
duplicate key|1|dup.yaml:4:3: duplicate key 'hidden'|train $T/dup.yaml --db $T/x.db
alias bomb|1|bomb.yaml:1:4: anchors and aliases are not supported|train $T/bomb.yaml --db $T/x.db
deep nesting|1|deep.yaml:1:|train $T/deep.yaml --db $T/x.db
yaml tag|1|tag.yaml:2:8:|train $T/tag.yaml --db $T/x.db
wrong type|1|type.yaml:2:17: model.hidden: expected an integer from 1 to 65536, found 'abc'|train $T/type.yaml --db $T/x.db
out of range|1|range.yaml:2:17: model.hidden: expected an integer from 1 to 65536, found '0'|train $T/range.yaml --db $T/x.db
absurd size|1|absurd.yaml: the unrolled model needs about|train $T/absurd.yaml --db $T/x.db
missing data|1|nothere.txt|train $T/missing.yaml --db $T/x.db
empty data|1|empty.txt: empty text|train $T/empty.yaml --db $T/x.db
invalid utf-8|1|bad.txt: invalid UTF-8 at byte 3|train $T/badutf8.yaml --db $T/x.db
text too short|1|too short for batch 1 x seq_len 25|train $T/short.yaml --db $T/x.db
bad npy|1|npybad/W.npy:|train $good --set model.hidden=100 --params $T/npybad --db $T/x.db
mis-shaped npy|1|npyshape/W.npy: expected float32 or float64 [100, 100], found float64 [100]|train $good --set model.hidden=100 --params $T/npyshape --db $T/x.db
missing npy|1|npymissing/U.npy|train $good --params $T/npymissing --db $T/x.db
unknown --set key|1|--set model.size=3: unknown key 'model.size'|train $good --set model.size=3 --db $T/x.db
bad --set value|1|--set train.steps=-4:|train $good --set train.steps=-4 --db $T/x.db
missing config|1|nope.yaml|train $T/nope.yaml --db $T/x.db
not a database|1|text.db: file is not a database|train $good --db $T/text.db
no such run|1|ghost|sample ghost --db $T/x.db
tsv without a tab|1|notab.tsv:2: expected 'sequence<TAB>label'|train $T/notab.yaml --db $T/x.db
sequence too long|1|long.tsv:1: sequence of 10 characters is longer than train.seq_len 5|train $T/long.yaml --db $T/x.db
classify needs last_step|1|everystep.yaml: model.outputs: data.kind classify goes with last_step|train $T/everystep.yaml --db $T/x.db
unknown command|2|unknown command 'trian'|trian $good
unknown option|2|unknown option '--fast'|train $good --fast
EOF2
n=0
while IFS='|' read -r name code want cmd; do
    n=$((n + 1))
    # shellcheck disable=SC2086
    $UNROLL $cmd >"$T/out" 2>"$T/err"
    rc=$?
    lines=$(wc -l <"$T/err")
    if [ "$rc" -ne "$code" ]; then
        ko "bad input: $name" "exit $rc, expected $code: $(cat "$T/err")"
    elif [ "$lines" -ne 1 ]; then
        ko "bad input: $name" "expected one line, got $lines: $(cat "$T/err")"
    elif ! grep -qF -- "$want" "$T/err"; then
        ko "bad input: $name" "expected '$want' in: $(cat "$T/err")"
    else
        ok "bad input: $name"
    fi
done <"$T/table"
[ "$n" -ge 15 ] && ok "bad-input table has $n cases" || ko "bad-input table has only $n cases"

# ---- every shipped config passes gradcheck at a reduced size ---------------
for c in configs/*.yaml; do
    data=tests/golden/min_char_rnn/text.txt len=4
    if grep -q 'kind: classify' "$c"; then data=tests/data/words_small.tsv len=12; fi
    if grep -q 'kind: npy' "$c"; then data=tests/data/parity_ids; fi
    if $UNROLL gradcheck "$c" --set model.hidden=6 --set train.seq_len=$len --set train.batch=2 \
        --set data.path=$data >"$T/gc" 2>&1; then
        ok "gradcheck $c"
    else
        ko "gradcheck $c" "$(cat "$T/gc")"
    fi
done

# ---- min_char_rnn trains: 1000 float64 steps lower the loss ----------------
if [ -f data/demo.txt ]; then
    if $UNROLL train configs/min_char_rnn.yaml --set train.steps=1000 --db "$T/m.db" \
        --quiet --name mcr 2>"$T/err" &&
        $UNROLL runs metrics mcr --db "$T/m.db" --csv >"$T/m.csv"; then
        # mean per-step loss of the first and the last 100 steps
        figures=$(awk -F, '$2=="loss" { if ($1 <= 100) a += $3; if ($1 > 900) b += $3; n++ }
            END { printf "%d %.3f %.3f", n, a / 100, b / 100 }' "$T/m.csv")
        set -- $figures
        echo "  min_char_rnn float64: $1 steps logged, mean loss of steps 1-100 $2, of steps 901-1000 $3"
        if [ "$1" -eq 1000 ] && awk "BEGIN { exit !($3 < 0.75 * $2) }"; then
            ok "min_char_rnn 1000 steps: loss falls"
        else
            ko "min_char_rnn 1000 steps: loss falls" "$figures"
        fi
    else
        ko "min_char_rnn 1000 steps: loss falls" "$(cat "$T/err")"
    fi
else
    ko "min_char_rnn 1000 steps: loss falls" "data/demo.txt missing (make data)"
fi

# ---- sample from the run just trained ---------------------------------------
out=$($UNROLL sample mcr --db "$T/m.db" --length 50 --seed 3 --prime "The " 2>/dev/null)
again=$($UNROLL sample mcr --db "$T/m.db" --length 50 --seed 3 --prime "The " 2>/dev/null)
if [ -n "$out" ] && [ "$out" = "$again" ] && [ "${out#The }" != "$out" ]; then
    ok "sample: primed, seeded, repeatable"
else
    ko "sample: primed, seeded, repeatable" "'$out' vs '$again'"
fi
# greedy draws nothing: any seed gives the same text, and top-k 1 is greedy
g1=$($UNROLL sample mcr --db "$T/m.db" --length 40 --temperature 0 --seed 1 2>/dev/null)
g2=$($UNROLL sample mcr --db "$T/m.db" --length 40 --temperature 0 --seed 2 2>/dev/null)
k1=$($UNROLL sample mcr --db "$T/m.db" --length 40 --top-k 1 --seed 5 2>/dev/null)
if [ -n "$g1" ] && [ "$g1" = "$g2" ] && [ "$g1" = "$k1" ]; then
    ok "sample: --temperature 0 is greedy, --top-k 1 the same"
else
    ko "sample: --temperature 0 is greedy, --top-k 1 the same" "'$g1' '$g2' '$k1'"
fi
p1=$($UNROLL sample mcr --db "$T/m.db" --length 40 --top-p 0.8 --top-k 5 --seed 4 2>/dev/null)
p2=$($UNROLL sample mcr --db "$T/m.db" --length 40 --top-p 0.8 --top-k 5 --seed 4 2>/dev/null)
if [ -n "$p1" ] && [ "$p1" = "$p2" ]; then
    ok "sample: --top-p and --top-k repeat given the seed"
else
    ko "sample: --top-p and --top-k repeat given the seed" "'$p1' vs '$p2'"
fi
for bad in "--top-p 0" "--top-p 1.5" "--top-p x" "--top-k 0" "--top-k 2.5" "--temperature -1"; do
    # shellcheck disable=SC2086
    $UNROLL sample mcr --db "$T/m.db" --length 5 $bad >/dev/null 2>"$T/err"
    rc=$?
    if [ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q -- "${bad%% *}" "$T/err"; then
        ok "sample $bad: one line, exit 2"
    else
        ko "sample $bad: one line, exit 2" "exit $rc: $(cat "$T/err")"
    fi
done

# ---- grad writes the contract's files ---------------------------------------
if $UNROLL grad "$good" --out "$T/g" --quiet 2>"$T/err"; then
    missing=""
    for f in U W b V c grad/U grad/W grad/b grad/V grad/c inputs targets loss; do
        [ -f "$T/g/$f.npy" ] || missing="$missing $f"
    done
    [ -z "$missing" ] && ok "grad writes parameters, gradients, inputs, targets, loss" ||
        ko "grad writes parameters, gradients, inputs, targets, loss" "missing:$missing"
else
    ko "grad writes parameters, gradients, inputs, targets, loss" "$(cat "$T/err")"
fi

# ---- config show round trip --------------------------------------------------
$UNROLL config show configs/elman_char.yaml --set model.hidden=33 >"$T/c1.yaml" 2>&1 &&
    $UNROLL config show "$T/c1.yaml" >"$T/c2.yaml" 2>&1
if grep -q 'hidden: 33' "$T/c1.yaml" && grep -q 'valid_every' "$T/c1.yaml" &&
    diff -q "$T/c1.yaml" "$T/c2.yaml" >/dev/null; then
    ok "config show: every key, reads back the same"
else
    ko "config show: every key, reads back the same" "$(head -5 "$T/c1.yaml")"
fi

# ---- graph: clusters per step, backward nodes --------------------------------
if $UNROLL graph "$good" --steps 3 --backward -o "$T/g.dot" 2>"$T/err" &&
    grep -q 'cluster_t2' "$T/g.dot" && grep -q 'd loss / d W (sum over t)' "$T/g.dot"; then
    ok "graph: DOT with time clusters and summed gradients"
else
    ko "graph: DOT with time clusters and summed gradients" "$(cat "$T/err")"
fi

# ---- help everywhere ----------------------------------------------------------
h=0
for c in train sample grad gradcheck graph runs config; do
    $UNROLL $c --help 2>/dev/null | grep -q 'usage: unroll' || h=1
done
[ $h -eq 0 ] && ok "--help on every command" || ko "--help on every command"

# graph as a picture through Graphviz, or a one-line error without it
if command -v dot >/dev/null 2>&1; then
    if $UNROLL graph "$good" --steps 2 --backward -o "$T/g.svg" 2>"$T/err" && grep -q '<svg' "$T/g.svg"; then
        ok "graph -o FILE.svg draws through Graphviz"
    else
        ko "graph -o FILE.svg draws through Graphviz" "$(cat "$T/err")"
    fi
fi
PATH=/nonexistent $UNROLL graph "$good" -o "$T/g2.svg" 2>"$T/err"
if [ $? -eq 1 ] && grep -q "needs Graphviz's dot" "$T/err" && [ "$(wc -l <"$T/err")" -eq 1 ]; then
    ok "graph -o FILE.svg without Graphviz: a clear error"
else
    ko "graph -o FILE.svg without Graphviz: a clear error" "$(cat "$T/err")"
fi

# --verbose says what was built; --quiet says nothing
$UNROLL train "$good" --db "$T/v.db" --verbose 2>"$T/err" >/dev/null
grep -q '^graph: [0-9]* nodes (forward and backward), [0-9]* kernel calls per step' "$T/err" &&
    ok "train --verbose reports the graph and the plan" ||
    ko "train --verbose reports the graph and the plan" "$(head -3 "$T/err")"
# at 32 units W^T is copied, and the updates keep the copy from step to step
$UNROLL train "$good" --db "$T/v.db" --set model.hidden=32 --verbose 2>"$T/err" >/dev/null
grep -q '^plan: transposed weight copies (W^T, U^T): [1-9]; kept up to date by the updates, rather than made at every step: [1-9]' "$T/err" &&
    ok "train --verbose counts the transposed copies the updates keep" ||
    ko "train --verbose counts the transposed copies the updates keep" "$(grep plan: "$T/err")"
$UNROLL train "$good" --db "$T/v.db" --quiet >"$T/out" 2>"$T/err"
[ ! -s "$T/err" ] && [ ! -s "$T/out" ] && ok "train --quiet prints nothing" ||
    ko "train --quiet prints nothing" "$(head -3 "$T/err")"
