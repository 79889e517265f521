#!/bin/sh
# t_controls.sh - the training controls and words of issue 12 item 6:
# timed checkpoints by default, --resume on a finished run, the loss
# labels, and the rough edges of the tables, options and exports, each
# checked end to end. Prints PASS/FAIL lines for tests/run.sh.
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh

cfg="$T/c.yaml"
printf 'data: {kind: text, path: tests/golden/min_char_rnn/text.txt}\nmodel: {hidden: 8}\ntrain: {seq_len: 5, steps: 6}\n' >"$cfg"
nckpt() { $UNROLL query --db "$1" --csv "SELECT count(*) FROM checkpoints" 2>/dev/null | tail -1; }

# ---- train.checkpoint.minutes -----------------------------------------------
if $UNROLL config show "$cfg" | grep -q '^    minutes: 10.0 '; then
    ok "checkpoint.minutes: 10 by default"
else
    ko "checkpoint.minutes: 10 by default" "$($UNROLL config show "$cfg" | grep -A4 checkpoint)"
fi
# a tiny period: every step is past it, so each step but the last saves,
# and the last saves as the end of the run
$UNROLL train "$cfg" --db "$T/m.db" --quiet --set train.checkpoint.minutes=0.0000001 2>"$T/err"
n=$(nckpt "$T/m.db")
[ "$n" = 6 ] && ok "checkpoint.minutes: a checkpoint each period" ||
    ko "checkpoint.minutes: a checkpoint each period" "$n checkpoints: $(cat "$T/err")"
$UNROLL train "$cfg" --db "$T/z.db" --quiet --set train.checkpoint.minutes=0 2>"$T/err"
n=$(nckpt "$T/z.db")
[ "$n" = 1 ] && ok "checkpoint.minutes: 0 is off (one at the end)" ||
    ko "checkpoint.minutes: 0 is off (one at the end)" "$n checkpoints: $(cat "$T/err")"
# the timer never changes the bits
a=$($UNROLL query --db "$T/m.db" --csv "SELECT value FROM metrics WHERE name='loss' ORDER BY step DESC LIMIT 1" | tail -1)
b=$($UNROLL query --db "$T/z.db" --csv "SELECT value FROM metrics WHERE name='loss' ORDER BY step DESC LIMIT 1" | tail -1)
[ -n "$a" ] && [ "$a" = "$b" ] && ok "checkpoint.minutes: the same losses with and without" ||
    ko "checkpoint.minutes: the same losses with and without" "'$a' vs '$b'"

# ---- --resume on a finished run ---------------------------------------------
$UNROLL train --resume c --db "$T/z.db" >"$T/out" 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "run 'c' finished" "$T/err" &&
    grep -q -- "--set train.steps=" "$T/err"; then
    ok "--resume on a finished run: says so and how to extend it, exit 1"
else
    ko "--resume on a finished run: says so and how to extend it, exit 1" "exit $rc: $(cat "$T/err")"
fi
if $UNROLL train --resume c --db "$T/z.db" --set train.steps=8 --quiet 2>"$T/err" &&
    [ "$(nckpt "$T/z.db")" = 2 ]; then
    ok "--resume with a larger train.steps extends it"
else
    ko "--resume with a larger train.steps extends it" "$(cat "$T/err")"
fi

# ---- --help everywhere, config show included --------------------------------
if $UNROLL config show --help >"$T/out" 2>"$T/err" && grep -q "^usage: unroll config show" "$T/out"; then
    ok "config show --help: the usage, exit 0"
else
    ko "config show --help: the usage, exit 0" "$(cat "$T/err")"
fi

# ---- folders that do not exist yet are made, as grad --out does ------------
if $UNROLL ckpt export c --db "$T/z.db" --npy "$T/a/b/c" >/dev/null 2>"$T/err" && [ -f "$T/a/b/c/W.npy" ]; then
    ok "ckpt export --npy a/b/c creates the parents"
else
    ko "ckpt export --npy a/b/c creates the parents" "$(cat "$T/err")"
fi
: >"$T/afile"
$UNROLL ckpt export c --db "$T/z.db" --npy "$T/afile/x" 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -q "afile: cannot create directory: a file is in the way" "$T/err" &&
    ok "ckpt export --npy under a file: one line, exit 1" ||
    ko "ckpt export --npy under a file: one line, exit 1" "exit $rc: $(cat "$T/err")"

# ---- --params takes numpy's column-vector biases ----------------------------
# the export of c's step-8 checkpoint, with b.npy rewritten as shape (8, 1)
col() {
    python3 - "$1" <<'PY'
import sys
p = sys.argv[1]
d = open(p, 'rb').read()
n = int.from_bytes(d[8:10], 'little')
h = d[10:10 + n].decode('latin1')
new = h.replace("(8,)", "(8, 1)").rstrip()
new = new + ' ' * (n - len(new) - 1) + '\n'
assert len(new) == n and '(8, 1)' in new
open(p, 'wb').write(d[:10] + new.encode('latin1') + d[10 + n:])
PY
}
if command -v python3 >/dev/null 2>&1; then
    mkdir -p "$T/p1" "$T/p2"
    cp "$T/a/b/c/"*.npy "$T/p1/" && cp "$T/a/b/c/"*.npy "$T/p2/" && col "$T/p2/b.npy"
    $UNROLL train "$cfg" --db "$T/p.db" --name flat --params "$T/p1" --quiet 2>"$T/err"
    $UNROLL train "$cfg" --db "$T/p.db" --name column --params "$T/p2" --quiet 2>>"$T/err"
    a=$($UNROLL query --db "$T/p.db" --csv "SELECT value FROM metrics m JOIN runs r ON r.id = m.run WHERE r.name = 'flat' AND m.name = 'loss' ORDER BY step DESC LIMIT 1" | tail -1)
    b=$($UNROLL query --db "$T/p.db" --csv "SELECT value FROM metrics m JOIN runs r ON r.id = m.run WHERE r.name = 'column' AND m.name = 'loss' ORDER BY step DESC LIMIT 1" | tail -1)
    [ -n "$a" ] && [ "$a" = "$b" ] && ok "--params: a bias of shape [n, 1] loads as [n]" ||
        ko "--params: a bias of shape [n, 1] loads as [n]" "'$a' vs '$b': $(cat "$T/err")"
else
    skip "--params: a bias of shape [n, 1] loads as [n]" "no python3 to write the file"
fi

# ---- the words of the listings ----------------------------------------------
$UNROLL train "$cfg" --db "$T/z.db" --from c --name kid --quiet 2>"$T/err"
$UNROLL runs list --db "$T/z.db" >"$T/plain"
$UNROLL runs list --db "$T/z.db" --csv >"$T/csv"
if head -1 "$T/plain" | grep -q "last_loss_sum" && head -1 "$T/csv" | grep -q ",last_loss," &&
    grep -q "^ *2  kid .* c@8$" "$T/plain" && grep -q ",c@8$" "$T/csv"; then
    ok "runs list: a summed loss headed as a sum; parent as RUN@STEP"
else
    ko "runs list: a summed loss headed as a sum; parent as RUN@STEP" "$(cat "$T/plain" "$T/csv" "$T/err")"
fi
$UNROLL ckpt list c --db "$T/z.db" | head -1 | grep -q " loss_sum " &&
    ok "ckpt list: loss_sum" || ko "ckpt list: loss_sum" "$($UNROLL ckpt list c --db "$T/z.db")"

# ---- ckpt verify says what changed ------------------------------------------
cp tests/golden/min_char_rnn/text.txt "$T/v.txt"
printf 'data: {kind: text, path: %s/v.txt}\nmodel: {hidden: 8}\ntrain: {seq_len: 5, steps: 4}\n' "$T" >"$T/v.yaml"
$UNROLL train "$T/v.yaml" --db "$T/v.db" --quiet 2>"$T/err"
if $UNROLL ckpt verify v --db "$T/v.db" >"$T/out" 2>"$T/err" && grep -q "verified: bit-identical" "$T/out"; then
    ok "ckpt verify: unchanged verifies"
else
    ko "ckpt verify: unchanged verifies" "$(cat "$T/out" "$T/err")"
fi
rev <tests/golden/min_char_rnn/text.txt >"$T/v.txt"
$UNROLL ckpt verify v --db "$T/v.db" >"$T/out" 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && [ ! -s "$T/out" ] &&
    grep -q "v.txt: the data changed since run 'v' was trained (data hash [0-9a-f]*, now [0-9a-f]*): a replay would not be the run's" "$T/err"; then
    ok "ckpt verify: changed data is refused, naming the file and both hashes"
else
    ko "ckpt verify: changed data is refused, naming the file and both hashes" "exit $rc: $(cat "$T/out" "$T/err")"
fi
