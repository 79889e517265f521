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

# ---- ckpt import without training state, and without a config ----------------
$UNROLL ckpt export d@20 --npy "$T/w" --db "$T/t.db" >/dev/null 2>"$T/err"
$UNROLL ckpt import "$T/w" --name imp --config "$cfg" --db "$T/i.db" >/dev/null 2>>"$T/err"
$UNROLL train --resume imp --db "$T/i.db" --quiet 2>>"$T/err"
rc=$?
$UNROLL train "$cfg" --from imp@0 --name fresh --db "$T/i.db" --quiet 2>>"$T/err"
# every tensor of the two final checkpoints, the optimiser's and the cursor's too
a=$($UNROLL query --db "$T/i.db" --csv "SELECT group_concat(name || '=' || tensor, ' ') FROM (SELECT name, tensor FROM checkpoint_tensors WHERE checkpoint = (SELECT max(id) FROM checkpoints WHERE run = (SELECT id FROM runs WHERE name = 'imp')) ORDER BY name)" | tail -1)
b=$($UNROLL query --db "$T/i.db" --csv "SELECT group_concat(name || '=' || tensor, ' ') FROM (SELECT name, tensor FROM checkpoint_tensors WHERE checkpoint = (SELECT max(id) FROM checkpoints WHERE run = (SELECT id FROM runs WHERE name = 'fresh')) ORDER BY name)" | tail -1)
if [ "$rc" = 0 ] && [ -n "$a" ] && [ "$a" = "$b" ] && echo "$a" | grep -q "adagrad.mem.W=.*cursor="; then
    ok "ckpt import (parameters only) + --resume trains what --from it does, bit for bit"
else
    ko "ckpt import (parameters only) + --resume trains what --from it does, bit for bit" "rc $rc; $a; $b; $(cat "$T/err")"
fi
$UNROLL ckpt verify imp --db "$T/i.db" >"$T/out" 2>&1 && grep -q "bit-identical" "$T/out" &&
    ok "ckpt verify replays the steps resumed from an import" ||
    ko "ckpt verify replays the steps resumed from an import" "$(cat "$T/out")"
$UNROLL ckpt verify imp@0 --db "$T/i.db" >"$T/out" 2>&1
[ $? = 1 ] && grep -q "was imported into run 'imp': there is no training to replay" "$T/out" &&
    ok "ckpt verify of the imported checkpoint itself: nothing to replay" ||
    ko "ckpt verify of the imported checkpoint itself: nothing to replay" "$(cat "$T/out")"
# an --all export imported back resumes with its own state: the same as d's own resume
$UNROLL ckpt export d@20 --all --npy "$T/all" --db "$T/t.db" >/dev/null 2>"$T/err"
$UNROLL ckpt import "$T/all" --name full --config "$cfg" --step 20 --db "$T/i.db" >/dev/null 2>>"$T/err"
$UNROLL train --resume full --db "$T/i.db" --quiet 2>>"$T/err"
a=$($UNROLL ckpt export full --all --npy "$T/full40" --db "$T/i.db" 2>&1 && $UNROLL ckpt export d@40 --all --npy "$T/d40" --db "$T/t.db" 2>&1)
if cmp -s "$T/full40/W.npy" "$T/d40/W.npy" && cmp -s "$T/full40/adagrad.mem.U.npy" "$T/d40/adagrad.mem.U.npy" &&
    cmp -s "$T/full40/cursor.npy" "$T/d40/cursor.npy"; then
    ok "ckpt import of an --all export resumes with its own state"
else
    ko "ckpt import of an --all export resumes with its own state" "$a $(cat "$T/err")"
fi

# without --config: weights only; what needs the model says how to give one
$UNROLL ckpt import "$T/w" --name bare --db "$T/i.db" >/dev/null 2>"$T/err" ||
    ko "ckpt import without --config" "$(cat "$T/err")"
$UNROLL ckpt export bare --npy "$T/bare" --db "$T/i.db" >/dev/null 2>&1 && cmp -s "$T/bare/W.npy" "$T/w/W.npy" &&
    $UNROLL ckpt diff bare imp@0 --db "$T/i.db" >/dev/null 2>&1 &&
    [ "$($UNROLL query --db "$T/i.db" --csv "SELECT count(*) FROM checkpoint_tensors WHERE checkpoint = (SELECT max(id) FROM checkpoints)" | tail -1)" = 5 ] &&
    ok "ckpt import without --config: export, diff and SQL work on the weights" ||
    ko "ckpt import without --config: export, diff and SQL work on the weights"
printf 'abc\n' >"$T/lines.txt"
for c in "sample bare" "predict bare --data $T/lines.txt" "eval bare" "train --resume bare"; do
    # shellcheck disable=SC2086
    $UNROLL $c --db "$T/i.db" >"$T/out" 2>&1
    rc=$?
    if [ $rc = 1 ] && [ "$(wc -l <"$T/out")" = 1 ] &&
        grep -q "run 'bare' has no config (imported without --config): import it again with one, 'unroll ckpt import FILE --name RUN --config CONFIG', or train from its weights with 'unroll train CONFIG --from bare'" "$T/out"; then
        ok "$c: the run has no config, and how to give one"
    else
        ko "$c: the run has no config, and how to give one" "rc $rc: $(cat "$T/out")"
    fi
done

# ---- sample --interactive ------------------------------------------------------
# a line, then an empty one: the answers continue one text with one random
# stream, so together they are the plain sample of 2N after the line as prime
S="sample d --db $T/t.db --length 30 --seed 5"
# shellcheck disable=SC2086
printf 'The \n\n' | $UNROLL $S --interactive >"$T/ia" 2>"$T/err"
rc=$?
# shellcheck disable=SC2086
$UNROLL $S --prime 'The ' --length 60 --quiet >"$T/plain" 2>>"$T/err"
a=$(tr -d '\n' <"$T/ia")
b=$(tr -d '\n' <"$T/plain")
if [ "$rc" = 0 ] && [ -n "$a" ] && [ "The $a" = "$b" ]; then
    ok "sample --interactive: state and random stream carried from line to line"
else
    ko "sample --interactive: state and random stream carried from line to line" "rc $rc: '$a' vs '$b' $(cat "$T/err")"
fi
# each answer is N characters and a newline; the same input, the same answers
# shellcheck disable=SC2086
printf 'a\nb\nc\n' | $UNROLL $S --interactive --length 1 --temperature 0 >"$T/ib" 2>"$T/err"
rc=$?
# shellcheck disable=SC2086
printf 'a\nb\nc\n' | $UNROLL $S --interactive --length 1 --temperature 0 >"$T/ic" 2>>"$T/err"
n=$(wc -l <"$T/ib")
[ "$rc" = 0 ] && [ "$n" -ge 3 ] && cmp -s "$T/ib" "$T/ic" && [ ! -s "$T/err" ] &&
    ok "sample --interactive: one answer per line, repeatable, nothing on stderr from a pipe" ||
    ko "sample --interactive: one answer per line, repeatable, nothing on stderr from a pipe" "rc $rc, $n lines: $(cat "$T/ib" "$T/err")"
# end of input at once: no answer, exit 0
# shellcheck disable=SC2086
$UNROLL $S --interactive </dev/null >"$T/out" 2>"$T/err"
[ $? = 0 ] && [ ! -s "$T/out" ] && [ ! -s "$T/err" ] && ok "sample --interactive: end of input ends cleanly" ||
    ko "sample --interactive: end of input ends cleanly" "$(cat "$T/out" "$T/err")"
# a model without an unknown id: a line it cannot read is refused, the rest answered
printf 'name: exact\ndata: {kind: text, path: tests/golden/min_char_rnn/text.txt, valid_fraction: 0}\nmodel: {hidden: 8}\ntrain: {seq_len: 5, steps: 3}\n' >"$T/x.yaml"
$UNROLL train "$T/x.yaml" --db "$T/t.db" --quiet 2>"$T/err"
printf 'The\nQ\xe2\x82\xac\nThe\n' | $UNROLL sample exact --db "$T/t.db" --interactive --length 5 >"$T/out" 2>"$T/err"
rc=$?
if [ "$rc" = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q "^unroll: line 2: .*not in the vocabulary" "$T/err" &&
    [ "$(tr -d '\n' <"$T/out" | wc -m)" = 10 ]; then
    ok "sample --interactive: a line the model cannot read is refused in one line; the rest answered; exit 1"
else
    ko "sample --interactive: a line the model cannot read is refused in one line; the rest answered; exit 1" "rc $rc: $(cat "$T/out" "$T/err")"
fi
# on a terminal: a prompt on standard error, answers as from a pipe
if command -v script >/dev/null 2>&1 && script -qec true /dev/null >/dev/null 2>&1; then
    printf 'The \n\n' | script -qec "$UNROLL $S --interactive </dev/tty" /dev/null >"$T/tty" 2>&1
    t=$(tr -d '\r\n' <"$T/tty" | sed 's/> //g')
    case "$(cat "$T/tty")$t" in
    *"> "*"$a"*) ok "sample --interactive on a terminal: a prompt, the same answers" ;;
    *) ko "sample --interactive on a terminal: a prompt, the same answers" "$t / $a" ;;
    esac
else
    skip "sample --interactive on a terminal" "no script(1) to make one"
fi
$UNROLL sample --help | grep -q -- "--interactive reads lines from standard input" &&
    ok "sample --help documents --interactive" || ko "sample --help documents --interactive"

# ---- a classifier's label map, stored with the run -----------------------------
cp tests/data/words_small.tsv "$T/w.tsv"
printf 'name: words\ndata: {kind: classify, path: %s/w.tsv, valid_fraction: 0.2}\nmodel: {cell: elman, hidden: 6, outputs: last_step}\ntrain: {dtype: float64, seq_len: 12, batch: 4, steps: 20}\n' "$T" >"$T/w.yaml"
$UNROLL train "$T/w.yaml" --db "$T/w.db" --quiet 2>"$T/err" || ko "train the classifier" "$(cat "$T/err")"
labels=$($UNROLL query --db "$T/w.db" --csv "SELECT group_concat(label, ' ') FROM (SELECT label FROM run_labels ORDER BY id)" | tail -1)
[ "$labels" = "english german italian" ] && ok "a classifier's run stores its label map" ||
    ko "a classifier's run stores its label map" "$labels"
printf 'hello\nwasser\n' >"$T/in.txt"
$UNROLL predict words --data "$T/in.txt" --db "$T/w.db" >"$T/before" 2>"$T/err"
$UNROLL eval words --db "$T/w.db" --data tests/data/words_small.tsv >"$T/ebefore" 2>>"$T/err"
# relabelled, then gone: predict and eval --data FILE use the stored map
sed 's/	german$/	German/' tests/data/words_small.tsv >"$T/w.tsv"
$UNROLL predict words --data "$T/in.txt" --db "$T/w.db" >"$T/after" 2>>"$T/err"
rm "$T/w.tsv"
$UNROLL predict words --data "$T/in.txt" --db "$T/w.db" >"$T/gone" 2>>"$T/err"
$UNROLL eval words --db "$T/w.db" --data tests/data/words_small.tsv >"$T/eafter" 2>>"$T/err"
if [ -s "$T/before" ] && cmp -s "$T/before" "$T/after" && cmp -s "$T/before" "$T/gone" &&
    [ -s "$T/ebefore" ] && cmp -s "$T/ebefore" "$T/eafter" && [ ! -s "$T/err" ]; then
    ok "predict and eval --data use the stored label map, whatever data.path says now"
else
    ko "predict and eval --data use the stored label map, whatever data.path says now" "$(cat "$T/before" "$T/after" "$T/gone" "$T/err")"
fi
# the file's labels differ from the map: refused, naming the first difference
one_line() { # NAME WANT COMMAND...: exit 1 and one line on standard error
    name=$1 want=$2
    shift 2
    "$@" >/dev/null 2>"$T/out"
    rc=$?
    if [ $rc = 1 ] && [ "$(wc -l <"$T/out")" = 1 ] && grep -qF -- "$want" "$T/out"; then
        ok "$name"
    else
        ko "$name" "rc $rc: $(cat "$T/out")"
    fi
}
sed 's/	german$/	German/' tests/data/words_small.tsv >"$T/w.tsv"
one_line "eval on a relabelled data.path: the first label not in the map" \
    "w.tsv: label 'German' is in the file but not among run 'words''s classes as trained (english, german, italian); train a new run for new labels" \
    $UNROLL eval words --db "$T/w.db"
grep -v italian tests/data/words_small.tsv >"$T/w.tsv"
one_line "eval on a data.path without a class: the first class of the map missing" \
    "w.tsv: run 'words''s class 'italian' is not in the file" $UNROLL eval words --db "$T/w.db"
sed 's/	german$/	German/' tests/data/words_small.tsv >"$T/new.tsv"
one_line "eval --data: a label outside the map is named with its line" \
    "new.tsv:11: label 'German' is not a class of run 'words'" \
    $UNROLL eval words --db "$T/w.db" --data "$T/new.tsv"
cp tests/data/words_small.tsv "$T/w.tsv"
$UNROLL eval words --db "$T/w.db" >"$T/out" 2>&1 && grep -q "held-out sequences" "$T/out" &&
    ok "eval on the unchanged data.path still scores its held-out part" ||
    ko "eval on the unchanged data.path still scores its held-out part" "$(cat "$T/out")"
# a store from before label maps (schema 2): upgraded, its runs read data.path as before
cp "$T/w.db" "$T/old.db"
sqlite3 "$T/old.db" "DROP TABLE run_labels; ALTER TABLE sessions DROP COLUMN config_text;
    PRAGMA user_version = 2" 2>/dev/null || cp "$T/w.db" "$T/old.db"
$UNROLL predict words --data "$T/in.txt" --db "$T/old.db" >"$T/old" 2>"$T/err"
rc1=$?
sed 's/	german$/	German/' tests/data/words_small.tsv >"$T/w.tsv"
$UNROLL predict words --data "$T/in.txt" --db "$T/old.db" >/dev/null 2>"$T/err2"
rc2=$?
v=$($UNROLL query --db "$T/old.db" --csv "PRAGMA user_version" | tail -1)
if ! command -v sqlite3 >/dev/null 2>&1; then
    skip "a store from before label maps" "no sqlite3 to make one"
elif [ $rc1 = 0 ] && cmp -s "$T/old" "$T/before" && [ $rc2 = 1 ] && grep -q "the data changed since run 'words'" "$T/err2" &&
    [ "$v" = 4 ]; then
    ok "a store from before label maps: upgraded; predict reads data.path (and its hash) as before"
else
    ko "a store from before label maps: upgraded; predict reads data.path (and its hash) as before" "$rc1 $rc2 v$v $(cat "$T/err" "$T/err2")"
fi
# an import with --config stores the map too
cp tests/data/words_small.tsv "$T/w.tsv"
$UNROLL ckpt export words --npy "$T/wnpy" --db "$T/w.db" >/dev/null 2>&1
$UNROLL ckpt import "$T/wnpy" --name wi --config "$T/w.yaml" --db "$T/w.db" >/dev/null 2>"$T/err"
n=$($UNROLL query --db "$T/w.db" --csv "SELECT count(*) FROM run_labels WHERE run = (SELECT id FROM runs WHERE name = 'wi')" | tail -1)
[ "$n" = 3 ] && ok "ckpt import --config of a classifier stores its label map" ||
    ko "ckpt import --config of a classifier stores its label map" "$n $(cat "$T/err")"
