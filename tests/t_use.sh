#!/bin/sh
# t_use.sh - using a trained model, the edges of issue 12: sample
# --interactive, ckpt import without training state or config, a
# classifier's stored label map, and runs list's parent reference. Prints
# PASS/FAIL lines for tests/run.sh.
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh

cfg="$T/c.yaml"
printf 'name: d\ndata: {kind: text, path: tests/golden/min_char_rnn/text.txt}\nmodel: {hidden: 8}\ntrain: {seq_len: 5, steps: 40, checkpoint: {every: 20}}\n' >"$cfg"
$UNROLL train "$cfg" --db "$T/t.db" --quiet 2>"$T/err" || ko "train the text run" "$(cat "$T/err")"

# ---- runs list: parent is a reference to exactly that checkpoint ------------
# f starts from d@40 (checkpoint 2); then d is resumed from step 20 and
# saves step 40 again (checkpoint 6): d@40 now names the newer one, so f's
# parent can only be given by its id
$UNROLL train "$cfg" --db "$T/t.db" --from d@40 --name f --quiet 2>"$T/err"
p1=$($UNROLL runs list --db "$T/t.db" --json | grep '"name": "f"' | sed 's/.*"parent": //')
$UNROLL train --resume d@20 --db "$T/t.db" --quiet 2>>"$T/err"
p2=$($UNROLL runs list --db "$T/t.db" --json | grep '"name": "f"' | sed 's/.*"parent": //')
plain=$($UNROLL runs list --db "$T/t.db" | grep '^ *2  f ')
id2=$($UNROLL ckpt show "$(echo "$p2" | tr -d '"}')" --db "$T/t.db" 2>&1 | head -1)
if [ "$p1" = '"d@40"}' ] && [ "$p2" = '"2"}' ] && echo "$plain" | grep -q ' ckpt 2$' &&
    echo "$id2" | grep -q "^checkpoint 2: run 'd'"; then
    ok "runs list: parent is RUN@STEP, or the id once RUN@STEP names a later version"
else
    ko "runs list: parent is RUN@STEP, or the id once RUN@STEP names a later version" \
        "$p1 / $p2 / $plain / $id2 $(cat "$T/err")"
fi
