#!/bin/sh
# t_grad_out.sh - the layout of `unroll grad --out DIR`: at the top only the
# parameters under their own names and the reserved inputs, targets, mask,
# lengths, h0 and loss; everything else in a folder (grad/, per_step/);
# missing parent folders created, a file in the way refused in one line;
# the reserved names refused as parameter names.
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh

# listing NAME DIR WANT: the entries of DIR, space-separated, must be WANT
listing() {
    got=$(cd "$2" 2>/dev/null && ls | tr '\n' ' ')
    [ "$got" = "$3" ] && ok "$1" || ko "$1" "got:  $got" "want: $3" "$(cat "$T/err" 2>/dev/null)"
}

# a text model, with the ledger, into a folder whose parents do not exist
$UNROLL grad configs/min_char_rnn.yaml --set model.hidden=4 --set train.seq_len=5 --per-step \
    --out "$T/a/b/text" --quiet >/dev/null 2>"$T/err"
listing "grad --out: a text model's top level, parents created" "$T/a/b/text" \
    "U.npy V.npy W.npy b.npy c.npy grad h0.npy inputs.npy loss.npy per_step targets.npy "
listing "grad --out: gradients in grad/" "$T/a/b/text/grad" "U.npy V.npy W.npy b.npy c.npy "

# a masked many-to-one model: mask and lengths beside the parameters
$UNROLL grad configs/word_language.yaml --set model.layers=2 --set model.bidirectional=true \
    --set model.hidden=3 --set train.batch=3 --set data.path=tests/data/words_small.tsv \
    --out "$T/cls" --quiet 2>"$T/err"
listing "grad --out: a stacked bidirectional classifier's top level" "$T/cls" \
    "V.npy c.npy grad h0.npy inputs.npy l0.bw.U.npy l0.bw.W.npy l0.bw.b.npy l0.fw.U.npy l0.fw.W.npy l0.fw.b.npy l1.bw.U.npy l1.bw.W.npy l1.bw.b.npy l1.fw.U.npy l1.fw.W.npy l1.fw.b.npy lengths.npy loss.npy mask.npy targets.npy "
if head -c 128 "$T/cls/lengths.npy" | grep -aq "'descr': '<i4'.*'shape': (3,)" &&
    head -c 128 "$T/cls/h0.npy" | grep -aq "'shape': (3, 12)"; then
    ok "grad --out: lengths.npy int32 [B], h0.npy [B, S]"
else
    ko "grad --out: lengths.npy int32 [B], h0.npy [B, S]" "$(head -c 128 "$T/cls/lengths.npy")"
fi

# a file where a folder should be: one line, status 1
: >"$T/file"
$UNROLL grad configs/min_char_rnn.yaml --set model.hidden=4 --out "$T/file/g" 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "cannot create directory: a file is in the way" "$T/err" &&
    ok "grad --out: a file in the way is one line" || ko "grad --out: a file in the way" "exit $rc: $(cat "$T/err")"

# the reserved names cannot be parameters
for name in h0 lengths per_step; do
    cat >"$T/r.yaml" <<EOF
data: {kind: text, path: tests/golden/min_char_rnn/text.txt}
model:
  cell: custom
  hidden: 4
  params: {$name: [hidden, hidden], U: [hidden, input], b: [hidden], V: [output, hidden], c: [output]}
  state: {h: hidden}
  step:
    - h[t] = tanh($name @ h[t-1] + U @ x[t] + b)
    - o[t] = V @ h[t] + c
EOF
    $UNROLL grad "$T/r.yaml" --out "$T/r" 2>"$T/err"
    grep -q "'$name' is a reserved name" "$T/err" && ok "parameter '$name' refused: reserved" ||
        ko "parameter '$name' refused: reserved" "$(cat "$T/err")"
done
