#!/bin/sh
# t_hvp.sh - second-order gradients from the command line (issue 11):
# `grad --hvp VDIR` and `--hvp-seed N` write H v under hvp/ (and the drawn
# v under hvp_v/) beside the usual layout; a v read back from hvp_v/ gives
# the same H v bit for bit; a missing v file means zeros; a mis-shaped one
# is refused naming it; `gradcheck --second-order` passes H v against
# central differences of the gradients on every shipped config and test
# cell (through softmax cross-entropy, masks and `where`, sigmoid BCE and
# MSE, gather/scatter and a stacked bidirectional classifier); `graph
# --backward --hvp` draws the second-order nodes.
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh

TXT="--set data.path=tests/golden/min_char_rnn/text.txt --set model.hidden=4 --set train.seq_len=5"

# listing NAME DIR WANT: the entries of DIR, space-separated, must be WANT
listing() {
    got=$(cd "$2" 2>/dev/null && ls | tr '\n' ' ')
    [ "$got" = "$3" ] && ok "$1" || ko "$1" "got:  $got" "want: $3" "$(cat "$T/err" 2>/dev/null)"
}

# the data of an .npy file (after its header) is all zero bytes
all_zero() {
    hl=$(od -An -j8 -N2 -tu2 "$1" | tr -d ' ')
    [ -n "$hl" ] && [ -z "$(tail -c +$((11 + hl)) "$1" | od -An -v -tx1 | tr -d ' 0\n')" ]
}

# shellcheck disable=SC2086
$UNROLL grad configs/min_char_rnn.yaml $TXT --hvp-seed 7 --out "$T/a" --quiet 2>"$T/err"
listing "grad --hvp-seed: the top level keeps its layout" "$T/a" \
    "U.npy V.npy W.npy b.npy c.npy grad h0.npy hvp hvp_v inputs.npy loss.npy targets.npy "
listing "grad --hvp-seed: H v in hvp/" "$T/a/hvp" "U.npy V.npy W.npy b.npy c.npy "
listing "grad --hvp-seed: v in hvp_v/" "$T/a/hvp_v" "U.npy V.npy W.npy b.npy c.npy "

# the drawn v read back gives the same H v, bit for bit; no hvp_v/ then
# shellcheck disable=SC2086
$UNROLL grad configs/min_char_rnn.yaml $TXT --hvp "$T/a/hvp_v" --out "$T/b" --quiet 2>"$T/err"
same=1
for p in U V W b c; do cmp -s "$T/a/hvp/$p.npy" "$T/b/hvp/$p.npy" || same=0; done
[ $same -eq 1 ] && [ ! -e "$T/b/hvp_v" ] && ok "grad --hvp VDIR: the same v gives the same H v" ||
    ko "grad --hvp VDIR: the same v gives the same H v" "$(cat "$T/err")"
cmp -s "$T/a/grad/W.npy" "$T/b/grad/W.npy" && ok "grad --hvp: the gradients unchanged" ||
    ko "grad --hvp: the gradients unchanged"

# a missing file means zeros: an empty VDIR gives H v = 0, a VDIR with
# only c.npy a nonzero H v
mkdir -p "$T/none" "$T/onlyc"
cp "$T/a/hvp_v/c.npy" "$T/onlyc/"
# shellcheck disable=SC2086
$UNROLL grad configs/min_char_rnn.yaml $TXT --hvp "$T/none" --out "$T/z" --quiet 2>"$T/err"
zero=1
for p in U V W b c; do all_zero "$T/z/hvp/$p.npy" || zero=0; done
[ $zero -eq 1 ] && ok "grad --hvp: missing files mean v = 0, so H v = 0" ||
    ko "grad --hvp: missing files mean v = 0" "$(cat "$T/err")"
# shellcheck disable=SC2086
$UNROLL grad configs/min_char_rnn.yaml $TXT --hvp "$T/onlyc" --out "$T/c" --quiet 2>"$T/err"
all_zero "$T/c/hvp/V.npy" && ko "grad --hvp VDIR with only c.npy: H v is not 0" ||
    ok "grad --hvp VDIR with only c.npy: H v is not 0"
# shellcheck disable=SC2086
if $UNROLL gradcheck configs/min_char_rnn.yaml $TXT --second-order --hvp "$T/onlyc" \
    >"$T/out" 2>&1 && grep -q "^passed: 5 of 5 parameters agree .* for H v" "$T/out"; then
    ok "gradcheck --second-order --hvp VDIR with missing files"
else
    ko "gradcheck --second-order --hvp VDIR with missing files" "$(cat "$T/out")"
fi

# a v of the wrong shape is refused, naming the file
cp "$T/a/hvp_v/c.npy" "$T/none/W.npy"
# shellcheck disable=SC2086
$UNROLL grad configs/min_char_rnn.yaml $TXT --hvp "$T/none" --out "$T/w" 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -q "none/W.npy: expected float32 or float64 \[4, 4\]" "$T/err" &&
    ok "grad --hvp: a mis-shaped v is refused naming it" ||
    ko "grad --hvp: a mis-shaped v is refused" "exit $rc: $(cat "$T/err")"
$UNROLL grad configs/min_char_rnn.yaml --hvp "$T/none" --hvp-seed 1 --out "$T/w" 2>"$T/err"
grep -q "choose one" "$T/err" && ok "grad: --hvp with --hvp-seed is a usage error" ||
    ko "grad: --hvp with --hvp-seed" "$(cat "$T/err")"

# every shipped config and test cell: H v against central differences
for f in configs/*.yaml tests/cells/*.yaml; do
    name=$(basename "$f" .yaml)
    len="--set train.seq_len=5"
    [ "$name" = word_language ] && len="--set data.path=tests/data/words_small.tsv"
    for v in model.hidden=3 model.layers=2; do
        [ "$name" = two_states ] && [ "$v" = model.layers=2 ] && continue
        # shellcheck disable=SC2086
        if $UNROLL gradcheck "$f" --set "$v" $len --set train.batch=2 --second-order \
            >"$T/out" 2>&1 && grep -q "^passed: .* agree (|a - n| <= atol .* + rtol 1e-06.* for H v" "$T/out"; then
            ok "gradcheck --second-order $name --set $v"
        else
            ko "gradcheck --second-order $name --set $v" "$(cat "$T/out")"
        fi
    done
done
# a stacked bidirectional classifier (masks, where, last step) and real
# targets: sigmoid BCE and MSE, per step with lengths
for args in "configs/word_language.yaml --set model.bidirectional=true --set model.layers=2 --set data.path=tests/data/words_small.tsv" \
    "configs/parity_elman.yaml --set data.path=tests/data/parity_real --set model.output=sigmoid --set model.loss=bce" \
    "configs/parity_elman.yaml --set data.path=tests/data/parity_real --set model.output=linear --set model.loss=mse --set model.cell=gru"; do
    # shellcheck disable=SC2086
    if $UNROLL gradcheck $args --set model.hidden=3 --set train.batch=3 --second-order \
        >"$T/out" 2>&1 && grep -q "^passed: .* for H v" "$T/out"; then
        ok "gradcheck --second-order $args"
    else
        ko "gradcheck --second-order $args" "$(cat "$T/out")"
    fi
done

# the second-order nodes in the drawing: orange, each H v marked
$UNROLL graph configs/min_char_rnn.yaml --steps 2 --backward --hvp >"$T/g.dot" 2>"$T/err"
if grep -q 'fillcolor="#ffd8b0"' "$T/g.dot" && [ "$(grep -c 'H v for' "$T/g.dot")" -eq 5 ] &&
    grep -q 'label="v.W' "$T/g.dot"; then
    ok "graph --backward --hvp: second-order nodes and every H v marked"
else
    ko "graph --backward --hvp" "$(cat "$T/err")"
fi
$UNROLL graph configs/min_char_rnn.yaml --steps 2 --backward >"$T/g1.dot" 2>"$T/err"
grep -q 'ffd8b0' "$T/g1.dot" && ko "graph --backward: no second-order nodes without --hvp" ||
    ok "graph --backward: no second-order nodes without --hvp"

# determinism: H v's bits do not depend on the thread count (float32, the
# vector kernels)
for th in 1 3; do
    UNROLL_THREADS=$th $UNROLL grad configs/elman_char.yaml \
        --set data.path=tests/golden/min_char_rnn/text.txt --set train.seq_len=6 \
        --set model.hidden=16 --hvp-seed 2 --out "$T/t$th" --quiet 2>"$T/err"
done
same=1
for p in U V W b c; do cmp -s "$T/t1/hvp/$p.npy" "$T/t3/hvp/$p.npy" || same=0; done
[ $same -eq 1 ] && [ -s "$T/t1/hvp/W.npy" ] && ok "grad --hvp: 1 and 3 threads give the same H v bits" ||
    ko "grad --hvp: 1 and 3 threads give the same H v bits" "$(cat "$T/err")"
