#!/bin/sh
# t_torch.sh - `ckpt import --torch` and `ckpt export --torch` at the
# command line (test_torch.c checks the numbers against PyTorch): a
# state_dict that does not fit the config is refused with one line naming
# the first tensor that does not, and no run is stored; --map renames;
# torch names without --torch are refused; export writes PyTorch's names
# and refuses models PyTorch has no module for.
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh
G=tests/golden/torch
db="$T/t.db"

runs() { $UNROLL query --db "$db" --csv "SELECT count(*) FROM runs" | tail -1; }

$UNROLL ckpt import $G/lstm2_bi/state --torch --config $G/lstm2_bi/config.yaml --name lstm \
    --db "$db" >"$T/out" 2>&1 && grep -q "imported 50 tensors" "$T/out" &&
    ok "import --torch: a 2-layer bidirectional nn.LSTM state_dict" ||
    ko "import --torch: nn.LSTM" "$(cat "$T/out")"

# name | extra arguments | expected line
mkdir -p "$T/missing"
cp $G/lstm2_bi/state/*.npy "$T/missing/" && rm "$T/missing/rnn.bias_hh_l1_reverse.npy"
while IFS='|' read -r name args want; do
    before=$(runs)
    # shellcheck disable=SC2086
    $UNROLL ckpt import $args --name bad --db "$db" >/dev/null 2>"$T/err"
    rc=$?
    if [ $rc -ne 0 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -qF -- "$want" "$T/err" &&
        [ "$(runs)" = "$before" ]; then
        ok "import --torch refuses: $name (one line, nothing stored)"
    else
        ko "import --torch refuses: $name" "exit $rc: $(cat "$T/err") (wanted: $want)"
    fi
done <<EOF
fewer layers|$G/lstm2_bi/state --torch --config $G/lstm2_bi/config.yaml --set model.layers=1|tensor 'rnn.bias_hh_l1' is not in the config's nn.LSTM, 1 layer, bidirectional, hidden 3
other hidden|$G/lstm2_bi/state --torch --config $G/lstm2_bi/config.yaml --set model.hidden=4|tensor 'rnn.weight_ih_l0' is float64 [12, 5], the config's nn.LSTM, 2 layers, bidirectional, hidden 4 needs [16, 5]
other cell|$G/lstm2_bi/state --torch --config $G/lstm2_bi/config.yaml --set model.cell=elman|tensor 'rnn.weight_ih_l0' is float64 [12, 5], the config's nn.RNN, 2 layers, bidirectional, hidden 3 needs [3, 5]
a tensor missing|$T/missing --torch --config $G/lstm2_bi/config.yaml|no tensor 'rnn.bias_hh_l1_reverse' (the config's nn.LSTM, 2 layers, bidirectional, hidden 3 needs [12])
one direction|$G/lstm2_bi/state --torch --config $G/lstm2_bi/config.yaml --set model.bidirectional=false|tensor 'rnn.weight_ih_l1' is float64 [12, 6], the config's nn.LSTM, 2 layers, hidden 3 needs [12, 3]
gru cho|$G/gru2/state --torch --config $G/gru2/config.yaml --set model.gru=cho|model.gru: cho computes Wn @ (r * h), which nn.GRU does not
jordan|$G/rnn2/state --torch --config $G/rnn2/config.yaml --set model.cell=jordan|PyTorch has no module for model.cell jordan
sigmoid|$G/rnn2/state --torch --config $G/rnn2/config.yaml --set model.activation=sigmoid|nn.RNN's nonlinearity is tanh or relu
no --torch|$G/rnn2/state --config $G/rnn2/config.yaml|tensor 'bias_hh_l0' is named as in a PyTorch state_dict; import it with --torch --config CONFIG
no --config|$G/rnn2/state --torch|--torch needs --config CONFIG
map of nothing|$G/rnn2/state --torch --config $G/rnn2/config.yaml --map head.weight=fc.weight|--map head.weight=fc.weight: no tensor 'head.weight'
EOF

# --map: a head under other names
mkdir -p "$T/head"
cp $G/gru2/state/*.npy "$T/head/"
mv "$T/head/fc.weight.npy" "$T/head/head.weight.npy"
mv "$T/head/fc.bias.npy" "$T/head/head.bias.npy"
$UNROLL ckpt import $G/gru2/state --torch --config $G/gru2/config.yaml --name gru --db "$db" \
    >/dev/null 2>"$T/err" &&
    $UNROLL ckpt import "$T/head" --torch --config $G/gru2/config.yaml --name gru_map \
        --map head.weight=fc.weight --map head.bias=fc.bias --db "$db" >/dev/null 2>>"$T/err" &&
    [ "$($UNROLL ckpt diff gru gru_map --db "$db" --json | grep -c '"same": "yes"')" -eq 22 ] &&
    ok "import --torch --map head.weight=fc.weight: the same 22 parameters" ||
    ko "import --torch --map" "$(cat "$T/err")"

# export: PyTorch's names, as the state_dict it came from
$UNROLL ckpt export lstm --torch --npy "$T/x" --db "$db" >/dev/null 2>"$T/err" &&
    [ "$(ls "$T/x")" = "$(ls $G/lstm2_bi/state)" ] &&
    ok "export --torch: the names of the nn.LSTM state_dict" ||
    ko "export --torch names" "$(cat "$T/err") $(ls "$T/x")"

# export refuses what PyTorch has no module for
cfg="$T/j.yaml"
printf 'data: {path: tests/golden/min_char_rnn/text.txt}\nmodel: {cell: jordan, hidden: 3}\ntrain: {steps: 1, seq_len: 4, checkpoint: {every: 1}}\n' >"$cfg"
$UNROLL train "$cfg" --db "$db" --name jordan --quiet 2>"$T/err" &&
    $UNROLL train "$cfg" --set model.cell=gru --db "$db" --name cho --quiet 2>>"$T/err" ||
    ko "train jordan, gru" "$(cat "$T/err")"
for r in jordan:"no module for model.cell jordan" cho:"model.gru: cho computes"; do
    $UNROLL ckpt export "${r%%:*}" --torch --npy "$T/no" --db "$db" >/dev/null 2>"$T/err"
    rc=$?
    [ $rc -ne 0 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -qF "${r#*:}" "$T/err" && [ ! -e "$T/no" ] &&
        ok "export --torch refuses ${r%%:*} (one line, nothing written)" ||
        ko "export --torch refuses ${r%%:*}" "exit $rc: $(cat "$T/err")"
done
