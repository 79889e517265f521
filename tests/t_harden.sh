#!/bin/sh
# t_harden.sh - hostile inputs, signals and faults (issue 14): each ends
# with one line naming the place and exit 1 (2 for misuse), or works;
# nothing committed is lost, nothing non-finite is stored as good.
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'umount "$T/small" 2>/dev/null; rm -rf "$T"' EXIT
. tests/lib.sh
G=tests/golden/min_char_rnn/text.txt
printf 'data: {kind: text, path: %s}\nmodel: {hidden: 8}\ntrain: {seq_len: 5, steps: 4}\n' "$G" >"$T/g.yaml"

# one_line NAME WANT_RC WANT_TEXT CMD...: the command fails with WANT_RC
# and exactly one line on stderr holding WANT_TEXT
one_line() {
    name=$1 want_rc=$2 want=$3
    shift 3
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -eq "$want_rc" ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -qF -- "$want" "$T/err"; then
        ok "$name"
    else
        ko "$name" "exit $rc (wanted $want_rc): $(cat "$T/err") (wanted: $want)"
    fi
}

# ---- 2: a checkpoint with NaN weights: sample refuses it, no crash ----------
$UNROLL train "$T/g.yaml" --db "$T/s.db" --name good --quiet 2>/dev/null
$UNROLL ckpt export good --db "$T/s.db" --npy "$T/ex" >/dev/null
sz=$(wc -c <"$T/ex/U.npy")
printf '\000\000\300\177' | dd of="$T/ex/U.npy" bs=1 seek=$((sz - 4)) conv=notrunc 2>/dev/null
one_line "import refuses a tensor holding NaN" 1 "ex: tensor 'U' holds a non-finite value" \
    $UNROLL ckpt import "$T/ex" --name nan --config "$T/g.yaml" --db "$T/s.db"
$UNROLL ckpt import "$T/ex" --name nan --config "$T/g.yaml" --db "$T/s.db" --allow-nonfinite >/dev/null 2>&1
one_line "sample refuses a checkpoint with NaN weights" 1 "parameter 'U' holds a non-finite value" \
    $UNROLL sample nan --db "$T/s.db" --length 5

# ---- 9: divergence stores no non-finite checkpoint and names what stands ----
printf 'data: {kind: text, path: %s}\nmodel: {hidden: 8}\ntrain: {seq_len: 5, steps: 20, optimizer: {name: sgd, lr: 1.0e300}, checkpoint: {every: 1}}\n' "$G" >"$T/div.yaml"
one_line "divergence: no checkpoint of inf weights, and says none was saved" 1 \
    "after the update; training stopped, no checkpoint was saved" \
    $UNROLL train "$T/div.yaml" --db "$T/d.db" --name div
n=$($UNROLL query --db "$T/d.db" --csv "SELECT count(*) FROM checkpoints" 2>/dev/null | tail -1)
[ "$n" = 0 ] && ok "divergence: the store holds no checkpoint" || ko "divergence: the store holds no checkpoint" "$n checkpoints"
one_line "divergence after --from names the checkpoint kept" 1 "the checkpoint of step 0 is kept" \
    $UNROLL train "$T/div.yaml" --from good --db "$T/s.db" --name div2

# ---- 4: SIGTERM and SIGHUP act as SIGINT: a checkpoint, then 128 + signal ----
for sig in TERM:143 HUP:129; do
    name=${sig%:*} want=${sig#*:}
    $UNROLL train "$T/g.yaml" --db "$T/sig$name.db" --name s --set train.steps=2000000 \
        --set train.checkpoint.every=50 >/dev/null 2>"$T/err" &
    pid=$!
    wait_ckpts "$UNROLL" "$T/sig$name.db" 1
    kill -"$name" "$pid"
    wait "$pid"
    rc=$?
    stopped=$(sed -n 's/^interrupted after \([0-9]*\) steps in .*/\1/p' "$T/err")
    last=$($UNROLL query --db "$T/sig$name.db" --csv "SELECT max(step) FROM checkpoints" | tail -1)
    if [ "$rc" -eq "$want" ] && [ -n "$stopped" ] && [ "$last" = "$stopped" ]; then
        ok "SIG$name: checkpoint at step $stopped, exit $want"
    else
        ko "SIG$name: checkpoint, exit $want" "exit $rc, stopped '$stopped', last checkpoint '$last': $(tail -3 "$T/err")"
    fi
done

# ---- 5: a closed progress pipe ends the progress lines, not the run ---------
( $UNROLL train "$T/g.yaml" --db "$T/pipe.db" --name p --set train.steps=3000 \
    --set train.log_every=1 2>&1; echo "rc=$?" >"$T/pipe.rc" ) | head -1 >/dev/null
last=$($UNROLL query --db "$T/pipe.db" --csv "SELECT max(step) FROM checkpoints" | tail -1)
status=$($UNROLL query --db "$T/pipe.db" --csv "SELECT status FROM runs" | tail -1)
if [ "$(cat "$T/pipe.rc")" = "rc=0" ] && [ "$last" = 3000 ] && [ "$status" = finished ]; then
    ok "a closed progress pipe: training goes on to its last step"
else
    ko "a closed progress pipe: training goes on" "$(cat "$T/pipe.rc"), last checkpoint '$last', status '$status'"
fi

# ---- 6: a failed write removes nothing that stood at the output path --------
ln -s /dev/full "$T/full.st"
one_line "export --safetensors through a link to /dev/full fails" 1 "full.st: write failed" \
    $UNROLL ckpt export good --db "$T/s.db" --safetensors "$T/full.st"
[ -L "$T/full.st" ] && ok "export: the link is still there" || ko "export: the link is still there"
ln -s /dev/full "$T/full.svg"
one_line "runs plot -o a link to /dev/full fails" 1 "full.svg: plot: writing failed" \
    $UNROLL runs plot good --db "$T/s.db" -o "$T/full.svg"
[ -L "$T/full.svg" ] && ok "runs plot: the link is still there" || ko "runs plot: the link is still there"
mkdir "$T/gout"
ln -s /dev/full "$T/gout/loss.npy"
$UNROLL grad "$T/g.yaml" --out "$T/gout" --quiet >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && [ -L "$T/gout/loss.npy" ] && ok "grad --out: a failed npy write leaves the link" ||
    ko "grad --out: a failed npy write leaves the link" "exit $rc: $(cat "$T/err")"
printf 'old' >"$T/real.st"
ln -s real.st "$T/link.st"
$UNROLL ckpt export good --db "$T/s.db" --safetensors "$T/link.st" >/dev/null 2>&1
if [ -L "$T/link.st" ] && [ "$(wc -c <"$T/real.st")" -gt 3 ] && [ "$(ls -A "$T" | grep -c '^\.')" -eq 0 ]; then
    ok "export through a link replaces its target, keeps the link, leaves no temporary file"
else
    ko "export through a link" "$(ls -la "$T")"
fi

# ---- 7: a config edited inside the store is refused, not trained ----------
$UNROLL train "$T/g.yaml" --db "$T/h.db" --name h --quiet --set train.checkpoint.every=2 2>/dev/null
sqlite3 "$T/h.db" "UPDATE runs SET config_text = replace(config_text, 'lr: 0.1', 'lr: 0.3')"
for c in "train --resume h --set train.steps=8" "ckpt verify h" "sample h --length 3" "eval h"; do
    one_line "stored config edited: $c refuses it" 1 "run 'h': the stored config does not match its stored hash" \
        $UNROLL $c --db "$T/h.db"
done

# ---- 8: eval of a classifier whose TSV changed is refused -------------------
cp tests/data/words_small.tsv "$T/w.tsv"
$UNROLL train configs/word_language.yaml --set data.path="$T/w.tsv" --set model.hidden=4 \
    --set train.batch=3 --set train.steps=5 --db "$T/w.db" --name w --quiet 2>/dev/null
if $UNROLL eval w --db "$T/w.db" >/dev/null 2>"$T/err"; then ok "eval: the unchanged TSV scores"; else ko "eval: the unchanged TSV scores" "$(cat "$T/err")"; fi
sed 's/german$/deutsch/' tests/data/words_small.tsv >"$T/w.tsv"
# the run's stored label map names the first difference (tests/t_use.sh has more)
one_line "eval: a renamed label is refused" 1 "w.tsv: label 'deutsch' is in the file but not among run 'w''s classes as trained" \
    $UNROLL eval w --db "$T/w.db"
grep -v german tests/data/words_small.tsv >"$T/w.tsv"
one_line "eval: a removed class is refused" 1 "w.tsv: run 'w''s class 'german' is not in the file" \
    $UNROLL eval w --db "$T/w.db"
printf 'haus\n' >"$T/words.txt"
if $UNROLL predict w --data "$T/words.txt" --db "$T/w.db" 2>"$T/err" | grep -Eq '^haus	(english|german|italian)	'; then
    ok "predict: a changed TSV changes nothing: the classes are the run's stored ones"
else
    ko "predict: a changed TSV changes nothing: the classes are the run's stored ones" "$(cat "$T/err")"
fi

# ---- 11: a FIFO never hangs a reader ----------------------------------------
mkfifo "$T/fifo"
printf 'data: {kind: text, path: %s}\nmodel: {hidden: 8}\ntrain: {seq_len: 5, steps: 2}\n' "$T/fifo" >"$T/fifodata.yaml"
mkdir "$T/npyfifo"
mkfifo "$T/npyfifo/inputs.npy"
cp tests/data/parity_ids/targets.npy "$T/npyfifo/"
while IFS='|' read -r name want cmd; do
    one_line "FIFO: $name" 1 "$want" timeout 20 $UNROLL $cmd
done <<EOF2
config|fifo|train $T/fifo --db $T/f.db
text data|fifo: empty text|train $T/fifodata.yaml --db $T/f.db
npy member|inputs.npy: not a regular file|train configs/parity_elman.yaml --set data.path=$T/npyfifo --db $T/f.db
--db|fifo: not a regular file|runs list --db $T/fifo
safetensors import|fifo: not a regular file|ckpt import $T/fifo --name x --db $T/f.db
EOF2
if cat "$T/g.yaml" | $UNROLL train /dev/stdin --db "$T/pipe2.db" --name piped --quiet 2>"$T/err"; then
    ok "a config from a pipe trains"
else
    ko "a config from a pipe trains" "$(cat "$T/err")"
fi

# ---- 13: odd --db targets are refused, naming them ---------------------------
mkdir "$T/dbdir"
sqlite3 "$T/marked.db" "PRAGMA application_id = 1433293420"
while IFS='|' read -r name want db; do
    one_line "--db $name" 1 "$want" $UNROLL train "$T/g.yaml" --db "$db"
done <<EOF2
a directory|dbdir: not a regular file|$T/dbdir
/dev/null|/dev/null: not a regular file|/dev/null
:memory:|':memory:': not a database file|:memory:
unroll's mark, no tables|marked.db: damaged unroll store|$T/marked.db
EOF2
one_line "--db ''" 1 "'': not a database file" $UNROLL train "$T/g.yaml" --db ""

# ---- 13: a store that cannot grow: one line naming the file and why, exit
# 1; the committed checkpoints stay and the run resumes once there is room.
# A file past ulimit -f (any user; SIGXFSZ would kill the run, so unroll
# ignores it and the write fails with EFBIG):
$UNROLL train "$T/g.yaml" --db "$T/fz.db" --name fz --set model.hidden=40 --set train.steps=20 \
    --set train.checkpoint.every=10 --quiet 2>/dev/null
one_line "a store past ulimit -f: status 1 naming the limit" 1 "fz.db-wal reached the file size limit (ulimit -f" \
    sh -c "ulimit -f 2000; exec $UNROLL train --resume fz --db $T/fz.db --set train.steps=4000 --quiet"
$UNROLL train --resume fz --db "$T/fz.db" --set train.steps=200 --quiet 2>"$T/err" &&
    ok "after ulimit -f, the run resumes" || ko "after ulimit -f, the run resumes" "$(cat "$T/err")"
# A full disk: a small tmpfs where mounting one is allowed (root in a
# container that permits it); elsewhere skipped.
mkdir "$T/small"
if mount -t tmpfs -o size=24k tmpfs "$T/small" 2>/dev/null; then
    one_line "--db on a 24 KiB disk: status 1, no space" 1 "small/f.db: disk I/O error: No space left on device" \
        $UNROLL train "$T/g.yaml" --db "$T/small/f.db" --quiet
    rm -f "$T/small/"*
    mount -o remount,size=400k "$T/small"
    one_line "a disk that fills during training: status 1, the disk is full" 1 "small/f.db: database or disk is full: the disk is full" \
        $UNROLL train "$T/g.yaml" --db "$T/small/f.db" --name full --set train.steps=400 \
        --set train.checkpoint.every=10 --set model.hidden=40 --quiet
    mount -o remount,size=8m "$T/small"
    $UNROLL train --resume full --db "$T/small/f.db" --quiet 2>"$T/err" &&
        ok "after the disk filled, the run resumes" || ko "after the disk filled, the run resumes" "$(cat "$T/err")"
    umount "$T/small"
else
    skip "a full disk (a small tmpfs)" "mounting a tmpfs is not allowed here"
fi

# ---- 12: standard output that cannot be written is status 1 -----------------
for c in "sample good --length 5 --db $T/s.db" "config show $T/g.yaml" "graph $T/g.yaml"; do
    $UNROLL $c >/dev/full 2>"$T/err"
    rc=$?
    [ $rc -eq 1 ] && grep -q "write failed" "$T/err" && ok "stdout on /dev/full: $c exits 1" ||
        ko "stdout on /dev/full: $c exits 1" "exit $rc: $(cat "$T/err")"
done

# ---- 14: a PyTorch name without --torch (never stored half-renamed): the file is named ----
$UNROLL ckpt export good --db "$T/s.db" --npy "$T/ex2" >/dev/null
cp "$T/ex2/U.npy" "$T/ex2/weight_ih_l0.npy"
one_line "import: U and weight_ih_l0 both present" 1 \
    "ex2: tensor 'weight_ih_l0' is named as in a PyTorch state_dict; import it with --torch" \
    $UNROLL ckpt import "$T/ex2" --name dup --db "$T/s.db"

# ---- 15, 16: messages name the place; names and options -----------------------
printf 'abcdef' >"$T/six.txt"
printf 'data: {kind: text, path: %s}\nmodel: {hidden: 8}\ntrain: {seq_len: 5, steps: 2}\n' "$T/six.txt" >"$T/six.yaml"
one_line "a text too short names its file" 1 "six.txt: text of" $UNROLL train "$T/six.yaml" --db "$T/n.db"
printf 'name: "12345"\n' | cat - "$T/g.yaml" >"$T/digits.yaml"
one_line "an all-digit name: key is blamed on the config" 1 "digits.yaml: name: run name '12345' is all digits" \
    $UNROLL train "$T/digits.yaml" --db "$T/n.db"
one_line "--name a@b is blamed on --name" 1 "--name: run name 'a@b' contains '@'" \
    $UNROLL train "$T/g.yaml" --db "$T/n.db" --name a@b
one_line "--name '' is misuse" 2 "--name: a run name cannot be empty" \
    $UNROLL train "$T/g.yaml" --db "$T/n.db" --name ""
one_line "--set KEY without = is misuse" 2 "--set 'train.steps': expected KEY=VALUE" \
    $UNROLL train "$T/g.yaml" --db "$T/n.db" --set train.steps
one_line "--temperature 1e300 says the bound" 2 "at most 1e6, found '1e300'" \
    $UNROLL sample good --db "$T/s.db" --temperature 1e300
cp "$T/g.yaml" "$T/123.yaml"
if $UNROLL train "$T/123.yaml" --db "$T/n.db" --quiet 2>"$T/err" &&
    [ "$($UNROLL query --db "$T/n.db" --csv "SELECT name FROM runs" | tail -1)" = run-123 ]; then
    ok "123.yaml trains as run 'run-123'"
else
    ko "123.yaml trains as run 'run-123'" "$(cat "$T/err")"
fi
one_line "a held-out part too short for one validation batch is refused" 1 \
    "g.yaml: data.valid_fraction 0.001 holds out too little for one validation batch" \
    $UNROLL train "$T/g.yaml" --set data.valid_fraction=0.001 --set train.valid_every=1 \
    --set train.batch=4 --db "$T/n.db"
cell() {
    printf 'data: {kind: text, path: %s}\nmodel:\n  cell: custom\n  hidden: 4\n' "$G"
    printf '  params: {W: [hidden, hidden], U: [hidden, input], b: [hidden], V: [output, hidden], c: [output]%s}\n' "$1"
    printf '  state: {h: hidden%s}\n  step:\n' "$2"
    printf '    - h[t] = tanh(W @ h[t-1] + U @ x[t] + b)\n    - o[t] = V @ h[t] + c\n'
}
cell ", Z: [0, 4294967297]" "" >"$T/unused.yaml"
one_line "an impossible shape of an unused parameter is refused" 1 "unused.yaml:5:100: dimension '0'" \
    $UNROLL grad "$T/unused.yaml" --out "$T/gu"
cell "" ", x: hidden" >"$T/statex.yaml"
one_line "a state named x is refused" 1 "statex.yaml:6:22: state 'x' has the name of a parameter or an input" \
    $UNROLL grad "$T/statex.yaml" --out "$T/gx"

# ---- 10: readers bound what they read: data.max_bytes --------------------------
awk 'BEGIN { for (i = 0; i < 64; i++) print "the quick brown fox jumps over the lazy dog" }' >"$T/big.txt"
printf 'data: {kind: text, path: %s, max_bytes: 1KiB}\nmodel: {hidden: 8}\n' "$T/big.txt" >"$T/big.yaml"
one_line "a text over data.max_bytes is refused naming the key" 1 "data.max_bytes" \
    $UNROLL train "$T/big.yaml" --db "$T/big.db"
printf 'data: {kind: text, path: /dev/zero, max_bytes: 1MiB}\nmodel: {hidden: 8}\n' >"$T/zero1.yaml"
one_line "/dev/zero as text stops at data.max_bytes" 1 "/dev/zero: more than 1.0 MiB (data.max_bytes)" \
    timeout 60 $UNROLL train "$T/zero1.yaml" --db "$T/big.db"
awk 'BEGIN { for (i = 0; i < 200; i++) print "word" i "\tclass" (i % 2) }' >"$T/big.tsv"
printf 'data: {kind: classify, path: %s, max_bytes: 1KiB}\nmodel: {hidden: 8}\n' "$T/big.tsv" >"$T/bigc.yaml"
one_line "a TSV over data.max_bytes is refused naming the key" 1 "data.max_bytes" \
    $UNROLL train "$T/bigc.yaml" --db "$T/big.db"
$UNROLL train "$T/big.yaml" --set data.max_bytes=1MiB --set train.steps=2 --db "$T/big.db" \
    --quiet 2>"$T/err" && ok "the same text under a raised data.max_bytes trains" ||
    ko "the same text under a raised data.max_bytes trains" "$(cat "$T/err")"

# ---- 12: a query that never ends stops at --limit with one line -------------
endless="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"
one_line "query: an endless result stops at the default limit" 1 "query: more than 100000 rows" \
    timeout 60 $UNROLL query --db "$T/s.db" "$endless"
one_line "query --limit 5" 1 "query: more than 5 rows" $UNROLL query --db "$T/s.db" --limit 5 "$endless"
n=$(wc -l <"$T/out")
[ "$n" = 6 ] && ok "query --limit 5 prints its 5 rows, then the error" || ko "query --limit 5 prints its 5 rows" "$n lines"
# streamed: rows show while the query runs, so a reader that wants 3000
# rows of a result that never ends gets them at once (collected, none
# would come before the limit)
n=$(timeout 60 $UNROLL query --db "$T/s.db" --limit 1000000000000 --csv "$endless" 2>/dev/null |
    head -n 3000 | wc -l)
[ "$n" = 3000 ] && ok "query streams its rows" || ko "query streams its rows" "$n lines"
# parts join without a seam: CSV one header, JSON one array
upto="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 2500) SELECT x FROM c"
$UNROLL query --db "$T/s.db" --csv "$upto" >"$T/out"
seq 2500 | sed '1i x' | cmp -s - "$T/out" && ok "query --csv over three parts: one header, every row" ||
    ko "query --csv over three parts" "$(head -3 "$T/out")"
$UNROLL query --db "$T/s.db" --json "$upto" >"$T/out"
if [ "$(head -c 1 "$T/out")" = "[" ] && [ "$(grep -c '^{"x": [0-9]*},$' "$T/out")" = 2499 ] &&
    [ "$(grep -c '^{"x": 2500}$' "$T/out")" = 1 ] &&
    [ "$(tail -n 1 "$T/out")" = "]" ] && [ "$(grep -c '^\[' "$T/out")" = 1 ]; then
    ok "query --json over three parts: one array, every row"
else
    ko "query --json over three parts" "$(sed -n '1p;999,1003p' "$T/out")"
fi

# ---- 10: out of memory is status 1 (release build only: ASan cannot run
# under ulimit -v) ---------------------------------------------------------
case $UNROLL in
*asan*) skip "out of memory under ulimit -v" "AddressSanitizer's shadow memory needs more address space" ;;
*)
    if [ "$(sh -c 'ulimit -v 1000000 2>/dev/null && ulimit -v')" = 1000000 ]; then
        one_line "parameters larger than ulimit -v: status 1" 1 "out of memory" \
            sh -c "ulimit -v 330000; exec timeout 60 $UNROLL train $T/g.yaml --set model.hidden=6000 \
                --set train.seq_len=2 --db $T/oom.db --quiet"
        # a small model at every limit, the 60-150 MB where OpenBLAS's
        # threaded start-up once retried forever before main among them:
        # it trains or says out of memory in one line, within seconds
        bad=""
        for v in 12000 25000 60000 100000 150000; do
            sh -c "ulimit -v $v; exec timeout 30 $UNROLL train $T/g.yaml --db $T/v$v.db --quiet" \
                >/dev/null 2>"$T/err"
            rc=$?
            { [ "$rc" -eq 0 ] && [ ! -s "$T/err" ]; } ||
                { [ "$rc" -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "out of memory" "$T/err"; } ||
                bad="$bad; ulimit -v $v: exit $rc $(head -c 200 "$T/err")"
        done
        [ -z "$bad" ] && ok "a small model under ulimit -v from 12 to 150 MB: trains or status 1" ||
            ko "a small model under ulimit -v from 12 to 150 MB: trains or status 1" "$bad"
        one_line "hidden 2000 under ulimit -v 30000: status 1 within seconds" 1 "out of memory" \
            sh -c "ulimit -v 30000; exec timeout 30 $UNROLL train $T/g.yaml --set model.hidden=2000 \
                --db $T/oom2.db --quiet"
        # a million rows of 500 bytes held at once need 500 MB: streamed,
        # they pass under 100 MB and stop at the limit with one line
        wide="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x, printf('%0500d', x) FROM c"
        one_line "query streams a million wide rows under ulimit -v 100000" 1 "query: more than 1000000 rows" \
            sh -c "ulimit -v 100000; exec timeout 120 $UNROLL query --db $T/s.db --csv --limit 1000000 \"$wide\""
        # rows too large to hold: one line, status 1, whether SQLite or the
        # copy of a row runs out first
        huge="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 5) SELECT printf('%.*c', 60000000, 'x') FROM c"
        one_line "query: a row too large for ulimit -v 100000" 1 "out of memory" \
            sh -c "ulimit -v 100000; exec timeout 60 $UNROLL query --db $T/s.db --csv \"$huge\""
        printf 'data: {kind: text, path: /dev/zero}\nmodel: {hidden: 8}\n' >"$T/zero.yaml"
        one_line "/dev/zero as text under ulimit -v: status 1" 1 "/dev/zero: out of memory" \
            sh -c "ulimit -v 300000; exec timeout 60 $UNROLL train $T/zero.yaml --db $T/oom.db"
    else
        skip "out of memory under ulimit -v" "ulimit -v does not take effect here"
    fi
    ;;
esac
cell "" ", g: [hidden]" >"$T/seqstate.yaml"
one_line "a state size that is a list: 'found a sequence'" 1 "expected a name or a number, found a sequence" \
    $UNROLL grad "$T/seqstate.yaml" --out "$T/gs"
