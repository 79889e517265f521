#!/bin/sh
# t_ledger.sh - the vanishing-gradient ledger from the command line (the
# numbers themselves: tests/test_jacobian.c): `grad --jacobian` writes
# jacobian/dL_dh.npy and dh_dh.npy [T, T] and the fitted decay per step;
# configs/vanishing_elman.yaml, as shipped, vanishes plainly and an LSTM
# in its place less so; --plot draws colour bars labelled in whole decades
# (1e-3, never 1e-0.0 or 1e0.8); a layer the model lacks is refused;
# training the config stores ledger.sigma.W, below 1 at the start as its
# comment says,
# and runs plot --ledger draws it and the heat map in decades too.
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh
C=configs/vanishing_elman.yaml

# factor WHAT FILE: the fitted factor per step of WHAT (dL or dh) in FILE
factor() { awk -v w="||$1" 'index($0, w) == 1 { sub(/^x/, "", $2); print $2 }' "$2"; }

# labels FILE: every colour-bar and axis decade label (text "1e..."), one a line
labels() { grep -o '>1e[-0-9.]*<' "$1" | tr -d '<>'; }

if $UNROLL grad $C --out "$T/e" --jacobian --plot "$T/e.svg" >"$T/e.out" 2>"$T/err" &&
    head -c 128 "$T/e/jacobian/dL_dh.npy" | grep -q "'shape': (50, 50)" &&
    head -c 128 "$T/e/jacobian/dh_dh.npy" | grep -q "'descr': '<f8'"; then
    ok "grad --jacobian writes jacobian/dL_dh.npy and dh_dh.npy, float64 [T, T]"
else
    ko "grad --jacobian writes jacobian/dL_dh.npy and dh_dh.npy, float64 [T, T]" "$(cat "$T/err")"
fi
fe=$(factor dL "$T/e.out")
fh=$(factor dh "$T/e.out")
awk -v a="$fe" -v b="$fh" 'BEGIN { exit !(a > 0.1 && a < 0.5 && b > 0.1 && b < 0.5) }' &&
    ok "$C vanishes plainly: x$fe (dL) and x$fh (dh) per step" ||
    ko "$C vanishes plainly" "$(cat "$T/e.out")"

$UNROLL grad $C --set model.cell=lstm --out "$T/l" --jacobian >"$T/l.out" 2>"$T/err"
fl=$(factor dL "$T/l.out")
awk -v a="$fe" -v b="$fl" 'BEGIN { exit !(b > a) }' &&
    ok "the same config with an LSTM loses less per step (x$fl against x$fe)" ||
    ko "the same config with an LSTM loses less per step" "$(cat "$T/l.out" "$T/err")"

n=$(grep -c '<path fill' "$T/e.svg")
bad=$(labels "$T/e.svg" | grep -v -x '1e-\{0,1\}[1-9][0-9]*' | tr '\n' ' ')
if [ "$n" -gt 20 ] && [ -z "$bad" ] && labels "$T/e.svg" | grep -q -x '1e-3' &&
    grep -q 'fit x0\.[0-9]* per step' "$T/e.svg" && grep -q '</svg>' "$T/e.svg"; then
    ok "--plot: two triangular heat maps, decade labels (1e-3), the decay and its fit"
else
    ko "--plot: two triangular heat maps, decade labels (1e-3), the decay and its fit" \
        "$n paths; labels not of the form 1e-N: $bad"
fi

$UNROLL grad $C --set train.seq_len=5 --out "$T/x" --jacobian --layer 1 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -q -- "--layer 1: the model has layers 0 to 0" "$T/err" &&
    ok "--layer beyond the model's layers: refused in one line" ||
    ko "--layer beyond the model's layers: refused in one line" "exit $rc: $(cat "$T/err")"
$UNROLL grad $C --set train.seq_len=5 --out "$T/x" --plot "$T/x.svg" 2>"$T/err"
rc=$?
[ $rc -eq 2 ] && grep -q -- "--plot draws or picks the ledger of --jacobian: add it" "$T/err" &&
    [ ! -e "$T/x.svg" ] && ok "--plot without --jacobian: a usage error" ||
    ko "--plot without --jacobian: a usage error" "exit $rc: $(cat "$T/err")"
if $UNROLL grad $C --set model.layers=2 --set train.seq_len=6 --out "$T/s" --jacobian \
    --layer 0 --quiet 2>"$T/err" && [ -f "$T/s/jacobian/dh_dh.npy" ]; then
    ok "--layer 0 of a 2-layer model"
else
    ko "--layer 0 of a 2-layer model" "$(cat "$T/err")"
fi

# the config as shipped trains; sigma(W) starts below 1 (about 2 * 0.05 *
# sqrt(32)) and Adagrad's first steps push it up
if $UNROLL train $C --set train.steps=50 --set train.ledger_every=1 --db "$T/v.db" --name v \
    --quiet 2>"$T/err" &&
    s=$($UNROLL runs metrics v --db "$T/v.db" --csv | awk -F, '$2 == "ledger.sigma.W" { print $3 }') &&
    [ "$(echo "$s" | wc -l)" -eq 50 ] &&
    echo "$s" | awk 'NR == 1 { a = $1 } NR == 50 { b = $1 } END { exit !(a > 0.4 && a < 0.8 && b > a) }'; then
    ok "$C trains; ledger.sigma.W at each step, $(echo "$s" | head -1 | cut -c1-5) < 1 at the start"
else
    ko "$C trains; ledger.sigma.W at each step, < 1 at the start" "${s:-no sigma} $(cat "$T/err")"
fi
if $UNROLL runs plot v --db "$T/v.db" --ledger dh -o "$T/h.svg" 2>"$T/err" &&
    [ -z "$(labels "$T/h.svg" | grep -v -x '1e-\{0,1\}[1-9][0-9]*')" ] &&
    grep -q '>1<\|>1e-[0-9]*<' "$T/h.svg"; then
    ok "runs plot --ledger dh: the colour bar in whole decades"
else
    ko "runs plot --ledger dh: the colour bar in whole decades" "$(labels "$T/h.svg") $(cat "$T/err")"
fi
