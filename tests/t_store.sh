#!/bin/sh
# t_store.sh - the store through the unroll command: exact resume after
# SIGINT and after kill -9, --from, listings in their three forms, tags,
# prune, verify, export/import (npy, safetensors, torch names), read-only
# query, plots, two trainers on one file, and one-line errors for bad
# store input. Prints PASS/FAIL lines for tests/run.sh.
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh
check() { name=$1; shift; if "$@" >"$T/out" 2>&1; then ok "$name"; else ko "$name" "$(head -5 "$T/out")"; fi; }

cfg="$T/c.yaml"
cat >"$cfg" <<EOF
name: c
data: {kind: text, path: tests/golden/min_char_rnn/text.txt, valid_fraction: 0.1}
model: {hidden: 10}
train: {dtype: float32, seq_len: 6, batch: 2, steps: 3000, valid_every: 50, log_every: 1000,
        optimizer: {name: adam, lr: 0.01}, checkpoint: {every: 40}}
EOF

# The final checkpoint of a run: tensor names and content hashes.
final_hashes() {
    $UNROLL query --db "$1" --csv "SELECT ct.name, ct.tensor FROM checkpoint_tensors ct
        WHERE ct.checkpoint = (SELECT id FROM checkpoints WHERE run = (SELECT id FROM runs
        WHERE name = '$2') ORDER BY version DESC LIMIT 1) ORDER BY ct.name"
}

# ---- SIGINT mid-run ----------------------------------------------------------
# (started for 100000 steps so that the signal surely lands mid-run; the
# resume below sets the straight run's length, which changes nothing a
# step does)
$UNROLL train "$cfg" --db "$T/int.db" --name r --set train.steps=100000 --quiet 2>"$T/err" &
pid=$!
wait_ckpts "$UNROLL" "$T/int.db" 2
kill -INT "$pid"
wait "$pid"
rc=$?
stopped=$($UNROLL query --db "$T/int.db" --csv "SELECT max(step) FROM checkpoints" | tail -1)
if [ "$rc" -eq 130 ] && [ "$stopped" -gt 0 ] && [ "$stopped" -lt 100000 ]; then
    ok "SIGINT stops with a final checkpoint (step $stopped, exit 130)"
else
    ko "SIGINT stops with a final checkpoint" "exit $rc, step $stopped: $(cat "$T/err")"
fi

# ---- kill -9 after a checkpoint ------------------------------------------------
$UNROLL train "$cfg" --db "$T/k9.db" --name r --set train.steps=100000 --quiet 2>/dev/null &
pid=$!
wait_ckpts "$UNROLL" "$T/k9.db" 3
live=$($UNROLL runs list --db "$T/k9.db" --csv | tail -n +2 | cut -d, -f2,3)
kill -9 "$pid"
wait "$pid" 2>/dev/null
[ "$live" = "r,running" ] && ok "a live run lists as running" || ko "a live run lists as running" "'$live'"
status=$($UNROLL query --db "$T/k9.db" --csv "SELECT status FROM runs" | tail -1)
killed=$($UNROLL query --db "$T/k9.db" --csv "SELECT max(step) FROM checkpoints" | tail -1)
# the listings tell the dead run from a live one
listed=$($UNROLL runs list --db "$T/k9.db" --status lost --csv | tail -n +2 | cut -d, -f2,3)
alive=$($UNROLL runs list --db "$T/k9.db" --status running --csv | tail -n +2)
if [ "$listed" = "r,lost" ] && [ -z "$alive" ] &&
    $UNROLL runs show r --db "$T/k9.db" | grep -q "^status *lost .*unroll train --resume r continues it"; then
    ok "a kill -9'd run lists as lost, not running, and show says how to resume"
else
    ko "a kill -9'd run lists as lost" "lost: '$listed'; running: '$alive'"
fi

# ---- a straight run to compare with --------------------------------------
# N steps: 3000, or more when a run above got further before its signal
# landed (a fast or a loaded machine), so that both resumes write at least
# ten checkpoints of their own.
N=3000
for s in "$stopped" "$killed"; do
    [ $((s + 400)) -gt $N ] && N=$(((s + 400 + 39) / 40 * 40))
done
$UNROLL train "$cfg" --db "$T/straight.db" --name r --set train.steps=$N --quiet 2>"$T/err" ||
    ko "straight run" "$(cat "$T/err")"
final_hashes "$T/straight.db" r >"$T/h.straight"
$UNROLL runs metrics r --db "$T/straight.db" --csv >"$T/m.straight"

# ---- --resume after SIGINT: the same bytes and the same log -------------------
$UNROLL train --resume r --set train.steps=$N --db "$T/int.db" --quiet 2>"$T/err" ||
    ko "resume after SIGINT" "$(cat "$T/err")"
final_hashes "$T/int.db" r >"$T/h.int"
$UNROLL runs metrics r --db "$T/int.db" --csv >"$T/m.int"
if cmp -s "$T/h.straight" "$T/h.int" && cmp -s "$T/m.straight" "$T/m.int" && [ -s "$T/h.int" ]; then
    ok "SIGINT at step $stopped + resume = straight run: every tensor and logged loss bit-identical"
else
    ko "SIGINT + resume = straight run" "$(diff "$T/h.straight" "$T/h.int" | head -3)"
fi

# ---- --resume after kill -9 ------------------------------------------------------
$UNROLL train --resume r --set train.steps=$N --db "$T/k9.db" 2>"$T/err" >/dev/null ||
    ko "resume after kill -9" "$(cat "$T/err")"
final_hashes "$T/k9.db" r >"$T/h.k9"
$UNROLL runs metrics r --db "$T/k9.db" --csv >"$T/m.k9"
if [ "$status" = running ] && cmp -s "$T/h.straight" "$T/h.k9" && cmp -s "$T/m.straight" "$T/m.k9"; then
    ok "kill -9 + resume = straight run (the killed run read 'running'; $(grep -c 'dropped' "$T/err") drop notice)"
else
    ko "kill -9 + resume = straight run" "status $status; $(cat "$T/err" | head -3)"
fi
log=$($UNROLL ckpt log r --db "$T/k9.db" --csv)
echo "$log" | grep -q ',resumed from ckpt ' && echo "$log" | tail -1 | grep -q ',start$' &&
    ok "ckpt log shows the resume and the start" || ko "ckpt log shows the resume and the start" "$log"

# ---- verify -----------------------------------------------------------------------
check "ckpt verify: a resumed checkpoint replays bit for bit" $UNROLL ckpt verify r@$((N - 40)) --db "$T/k9.db"
grep -q 'verified: bit-identical' "$T/out" || ko "ckpt verify prints the verdict" "$(cat "$T/out")"

# ---- listings in three forms ------------------------------------------------------
$UNROLL train "$cfg" --db "$T/int.db" --name small --set model.hidden=6 --set train.steps=80 --quiet
$UNROLL runs list --db "$T/int.db" >"$T/plain" && head -1 "$T/plain" | grep -q '^id  name' &&
    $UNROLL runs list --db "$T/int.db" --csv | head -1 | grep -q '^id,name,status,started' &&
    $UNROLL runs list --db "$T/int.db" --json | grep -q '^{"id": 2, "name": "small"' &&
    ok "runs list: plain, --csv, --json" || ko "runs list: plain, --csv, --json" "$(cat "$T/plain")"
[ "$($UNROLL runs list --db "$T/int.db" --where model.hidden=6 --csv | wc -l)" -eq 2 ] &&
    [ "$($UNROLL runs list --db "$T/int.db" --where train.optimizer.lr=1e-2 --csv | wc -l)" -eq 3 ] &&
    [ "$($UNROLL runs list --db "$T/int.db" --status finished --name 'sm*' --csv | wc -l)" -eq 2 ] &&
    ok "runs list filters: --where config key, --status, --name" ||
    ko "runs list filters" "$($UNROLL runs list --db "$T/int.db" --where model.hidden=6)"
$UNROLL ckpt list small --db "$T/int.db" --json | grep -q '"run": "small", "step": 80' &&
    $UNROLL runs metrics small --db "$T/int.db" --json --name valid_loss | grep -q '"name": "valid_loss"' &&
    $UNROLL runs show small --db "$T/int.db" | grep -q '^sessions:' &&
    ok "ckpt list --json, runs metrics --json --name, runs show" || ko "ckpt list / metrics / show"
best=$($UNROLL ckpt best --db "$T/int.db" --csv | tail -1)
echo "$best" | grep -q ',r,' && ok "ckpt best --metric valid_loss: $best" || ko "ckpt best" "$best"
$UNROLL ckpt diff r small --db "$T/int.db" >"$T/diff"
grep -q '^  model.hidden: 10 -> 6' "$T/diff" && grep -q '^c  *param  *\[47\]  *no' "$T/diff" &&
    ok "ckpt diff: per-tensor distances and the config keys that differ" || ko "ckpt diff" "$(cat "$T/diff")"

# ---- tags, prune ---------------------------------------------------------------------
$UNROLL ckpt tag r@200 keepme --db "$T/int.db" >/dev/null &&
    $UNROLL ckpt show keepme --db "$T/int.db" | grep -q '^checkpoint [0-9]*: run .r. (id 1), step 200' &&
    ok "ckpt tag, and the tag as a reference" || ko "ckpt tag"
before=$($UNROLL query --db "$T/int.db" --csv "SELECT count(*) FROM checkpoints WHERE run = 1" | tail -1)
$UNROLL ckpt prune r --keep-last 2 --db "$T/int.db" >"$T/out"
left=$($UNROLL ckpt list r --db "$T/int.db" --csv | tail -n +2 | cut -d, -f9 | sort | tr '\n' ' ')
after=$($UNROLL query --db "$T/int.db" --csv "SELECT count(*) FROM checkpoints WHERE run = 1" | tail -1)
if echo "$left" | grep -q keepme && [ "$after" -ge 3 ] && [ "$after" -le 4 ] && [ "$before" -gt "$after" ]; then
    ok "ckpt prune --keep-last 2: $before -> $after checkpoints, tagged and best kept"
else
    ko "ckpt prune" "$before -> $after; $(cat "$T/out")"
fi
check "PRAGMA integrity_check after prune" sh -c "$UNROLL query --db $T/int.db 'PRAGMA integrity_check' | grep -qx ok"

# ---- --from -------------------------------------------------------------------------------
$UNROLL train "$cfg" --db "$T/int.db" --from r --name ft --set model.hidden=12 --set train.steps=40 \
    2>"$T/err" >/dev/null
grep -q '^from the checkpoint: loaded c; not loaded (initialised): U (float32 \[10, 47\] there, \[12, 47\] here)' "$T/err" &&
    [ "$($UNROLL query --db "$T/int.db" --csv "SELECT parent_checkpoint IS NOT NULL FROM runs WHERE name = 'ft'" | tail -1)" = 1 ] &&
    ok "train --from: parent recorded, loaded and skipped parameters reported" ||
    ko "train --from" "$(cat "$T/err")"

# the starting point of a --from or --params run is a checkpoint at step 0: the
# run's first checkpoints replay from it, bit for bit
first=$($UNROLL query --db "$T/int.db" --csv "SELECT c.step FROM checkpoints c JOIN runs r ON r.id = c.run WHERE r.name = 'ft' ORDER BY c.step LIMIT 1" | tail -1)
step1=$($UNROLL query --db "$T/int.db" --csv "SELECT min(c.step) FROM checkpoints c JOIN runs r ON r.id = c.run WHERE r.name = 'ft' AND c.step > 0" | tail -1)
if [ "$first" = 0 ] && $UNROLL ckpt verify "ft@$step1" --db "$T/int.db" >"$T/out" 2>&1 &&
    grep -q "verified: bit-identical" "$T/out"; then
    ok "train --from: a step-0 checkpoint, and the first checkpoint after it verifies"
else
    ko "train --from: step-0 checkpoint and verify" "first '$first', next '$step1': $(cat "$T/out")"
fi
$UNROLL ckpt export ft@0 --npy "$T/start" --db "$T/int.db" >/dev/null &&
    $UNROLL train "$cfg" --db "$T/int.db" --params "$T/start" --name fp --set model.hidden=12 \
        --set train.steps=20 --set train.checkpoint.every=10 --quiet 2>"$T/err" &&
    $UNROLL ckpt verify fp@10 --db "$T/int.db" >"$T/out" 2>&1 &&
    grep -q "verified: bit-identical" "$T/out" &&
    ! $UNROLL ckpt verify fp@0 --db "$T/int.db" 2>"$T/err0" && grep -q "at step 0, where run 'fp' started" "$T/err0" &&
    ok "train --params: step 0 stored; ckpt verify replays the first checkpoint from it" ||
    ko "train --params: verify" "$(cat "$T/err" "$T/out" "$T/err0" 2>/dev/null)"

# ---- export / import ------------------------------------------------------------------------
$UNROLL ckpt export r --npy "$T/npy" --db "$T/int.db" >/dev/null &&
    $UNROLL ckpt export r --safetensors "$T/r.safetensors" --db "$T/int.db" >/dev/null &&
    $UNROLL ckpt export r --safetensors "$T/torch.safetensors" --torch --db "$T/int.db" >/dev/null
magic=$(head -c 6 "$T/npy/W.npy" | od -An -c | tr -d ' ')
if [ "$magic" = '223NUMPY' ] && [ -f "$T/npy/U.npy" ] && [ "$(ls "$T/npy" | wc -l)" -eq 5 ]; then
    ok "ckpt export --npy: one .npy per parameter"
else
    ko "ckpt export --npy" "magic '$magic', $(ls "$T/npy")"
fi
head -c 300 "$T/torch.safetensors" | grep -q '"rnn.weight_ih_l0":{"dtype":"F32","shape":\[10,47\]' &&
    ok "ckpt export --torch: state_dict names" || ko "ckpt export --torch"
k=0
for src in "$T/npy" "$T/r.safetensors" "$T/torch.safetensors"; do
    k=$((k + 1))
    nm=imp$k
    torch=
    case "$src" in *torch*) torch=--torch ;; esac
    $UNROLL ckpt import "$src" $torch --name "$nm" --config "$cfg" --db "$T/int.db" >/dev/null 2>"$T/err" ||
        ko "ckpt import $(basename "$src")" "$(cat "$T/err")"
    same=$($UNROLL ckpt diff r "$nm" --db "$T/int.db" --json | grep -c '"role": "param".*"same": "yes"')
    [ "$same" -eq 5 ] && ok "ckpt import $(basename "$src"): the 5 parameters bit-identical" ||
        ko "ckpt import $(basename "$src")" "$same of 5 identical"
done
$UNROLL sample imp1 --db "$T/int.db" --length 20 >/dev/null 2>&1 &&
    ok "an imported checkpoint (with --config) samples" || ko "an imported checkpoint samples"

# ---- query is read-only ----------------------------------------------------------------------
$UNROLL query --db "$T/int.db" "DELETE FROM runs" >/dev/null 2>"$T/err"
rc=$?
[ "$rc" -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q 'only statements that read' "$T/err" &&
    [ "$($UNROLL query --db "$T/int.db" --csv "SELECT count(*) FROM runs" | tail -1)" -ge 5 ] &&
    ok "query refuses writes (exit 1, one line)" || ko "query refuses writes" "exit $rc: $(cat "$T/err")"

# ---- plot ----------------------------------------------------------------------------------
if $UNROLL runs plot r small --db "$T/int.db" -o "$T/curves.svg" 2>"$T/err" &&
    grep -q '<polyline' "$T/curves.svg" && grep -q '<circle' "$T/curves.svg" &&
    grep -q '>small (valid)</text>' "$T/curves.svg" && tail -1 "$T/curves.svg" | grep -q '</svg>'; then
    ok "runs plot: SVG with a curve and validation markers per run, legend"
else
    ko "runs plot" "$(cat "$T/err")"
fi

# ---- rename, rm ------------------------------------------------------------------------------
$UNROLL runs rename small tiny --db "$T/int.db" >/dev/null &&
    $UNROLL ckpt show tiny@80 --db "$T/int.db" >/dev/null &&
    ok "runs rename" || ko "runs rename"
tensors=$($UNROLL query --db "$T/int.db" --csv "SELECT count(*) FROM tensors" | tail -1)
$UNROLL runs rm imp1 --db "$T/int.db" >"$T/out"
after=$($UNROLL query --db "$T/int.db" --csv "SELECT count(*) FROM tensors" | tail -1)
# imp1's parameters are also r's and the other imports': nothing freed
[ "$after" -eq "$tensors" ] && $UNROLL ckpt verify r --db "$T/int.db" >/dev/null &&
    ok "runs rm keeps tensors other checkpoints share" || ko "runs rm" "$tensors -> $after: $(cat "$T/out")"

# ---- two trainers on one file ------------------------------------------------------------------
$UNROLL train "$cfg" --db "$T/two.db" --name one --set train.steps=300 --set train.checkpoint.every=3 --quiet 2>"$T/e1" &
p1=$!
$UNROLL train "$cfg" --db "$T/two.db" --name two --set train.steps=300 --set train.checkpoint.every=3 --quiet 2>"$T/e2" &
p2=$!
wait $p1
r1=$?
wait $p2
r2=$?
n=$($UNROLL query --db "$T/two.db" --csv "SELECT count(*) FROM checkpoints" | tail -1)
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] && [ "$n" -eq 200 ] &&
    ok "two trainers write one file at once (200 checkpoints)" ||
    ko "two trainers write one file at once" "exit $r1 $r2, $n checkpoints: $(cat "$T/e1" "$T/e2")"

# ---- four trainers creating one new file at once ------------------------------------------------
# (the first open of a file switches it to WAL and creates the schema; the
# others must wait for that, not mistake a half-seen file for a foreign one)
bad=0
for i in 1 2 3 4 5; do
    rm -f "$T/fresh.db" "$T/fresh.db-wal" "$T/fresh.db-shm"
    for k in 1 2 3 4; do
        $UNROLL train "$cfg" --db "$T/fresh.db" --name "f$k" --set train.steps=20 --quiet 2>>"$T/fresh.err" &
    done
    wait
    n=$($UNROLL query --db "$T/fresh.db" --csv "SELECT count(*) FROM runs WHERE status = 'finished'" | tail -1)
    [ "$n" = 4 ] || bad=$((bad + 1))
done
[ "$bad" -eq 0 ] && ok "4 trainers creating one file at once, 5 times" ||
    ko "4 trainers creating one file at once" "$bad of 5 rounds failed: $(sort -u "$T/fresh.err")"

# ---- tampered bytes are caught on load --------------------------------------------------------
if command -v sqlite3 >/dev/null 2>&1; then
    cp "$T/two.db" "$T/tamper.db"
    sqlite3 "$T/tamper.db" "UPDATE tensors SET data = zeroblob(nbytes) WHERE hash = (SELECT tensor FROM checkpoint_tensors WHERE name = 'W' AND checkpoint = (SELECT max(id) FROM checkpoints))"
    $UNROLL ckpt show one --db "$T/tamper.db" >/dev/null 2>"$T/err"
    grep -q "tensor 'W' of checkpoint [0-9]*: stored bytes do not match their hash" "$T/err" &&
        ok "altered tensor bytes are named on load" || ko "altered tensor bytes are named on load" "$(cat "$T/err")"
fi

# ---- bad store input: one line, the right exit ------------------------------------------------
printf 'not a safetensors file at all' >"$T/bad.safetensors"
cat >"$T/table" <<EOF
no such checkpoint|1|no checkpoint with id 999|ckpt show 999 --db $T/int.db
bad RUN@STEP|1|bad checkpoint reference 'r@x'|ckpt show r@x --db $T/int.db
no step|1|run 'r' has no checkpoint at step 7|ckpt show r@7 --db $T/int.db
unknown run|1|no run named 'ghost'|runs show ghost --db $T/int.db
resume changes the model|1|--set model.hidden=99: a resume continues the same run|train --resume r --set model.hidden=99 --db $T/int.db
resume and config|2|--resume continues a stored run|train $cfg --resume r --db $T/int.db
tag taken|1|tag 'keepme' is already on checkpoint|ckpt tag r keepme --db $T/int.db
tag is a run|1|is the name of run|ckpt tag r tiny --db $T/int.db
bad safetensors|1|bad.safetensors: header length|ckpt import $T/bad.safetensors --name x --db $T/int.db
import name taken|1|run 'r' already exists|ckpt import $T/npy --name r --db $T/int.db
import wrong model|1|tensor 'U' is float32 [10, 47], the model needs float32 [8, 47]|ckpt import $T/npy --name y --config $cfg --set model.hidden=8 --db $T/int.db
best of nothing|1|has a value of 'bleu'|ckpt best r --metric bleu --db $T/int.db
prune needs K|2|--keep-last K is required|ckpt prune r --db $T/int.db
bad query|1|query: no such table: nope|query "SELECT * FROM nope" --db $T/int.db
no database|1|unable to open database file|runs list --db $T/nodir/x.db
EOF
while IFS='|' read -r name code want cmd; do
    eval "$UNROLL $cmd" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -eq "$code" ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -qF -- "$want" "$T/err"; then
        ok "store error: $name"
    else
        ko "store error: $name" "exit $rc: $(cat "$T/err")"
    fi
done <"$T/table"
