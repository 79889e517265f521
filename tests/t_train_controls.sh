#!/bin/sh
# t_train_controls.sh - the training controls of issue 12 item 4, end to
# end: train.lr_schedule (and a new rate on --resume, verified per
# session), train.weight_decay, train.accumulate (equal to one larger
# batch), model.dropout (exact resume, threads, fuse, gradcheck, off at
# evaluation) and train.early_stop (the best checkpoint tagged, RUN@best).
# Prints PASS/FAIL lines for tests/run.sh.
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh

cfg="$T/c.yaml"
printf 'data: {kind: text, path: tests/golden/min_char_rnn/text.txt, valid_fraction: 0.2}
model: {hidden: 8}
train: {seq_len: 5, steps: 40, dtype: float64, valid_every: 5, checkpoint: {minutes: 0}}
' >"$cfg"
q() { $UNROLL query --db "$1" --csv "$2" 2>/dev/null | tail -n +2; }
metric() { q "$1" "SELECT m.value FROM metrics m JOIN runs r ON r.id = m.run WHERE r.name = '$2' AND m.name = '$3' AND m.step = $4"; }
train() { $UNROLL train "$cfg" --quiet "$@" 2>"$T/err"; }

# ---- the keys ---------------------------------------------------------------
$UNROLL config show "$cfg" >"$T/show"
miss=""
for k in lr_schedule: weight_decay: accumulate: early_stop: patience: min_delta: dropout: \
    warmup: min_lr: gamma: every:; do
    grep -q "^ *$k" "$T/show" || miss="$miss $k"
done
[ -z "$miss" ] && ok "config show has the training controls" || ko "config show has the training controls" "missing:$miss"

# ---- train.lr_schedule ------------------------------------------------------
train --db "$T/s.db" --name cos --set train.lr_schedule.name=cosine \
    --set train.lr_schedule.warmup=4 --set train.lr_schedule.min_lr=0.01
l1=$(metric "$T/s.db" cos lr 1) l4=$(metric "$T/s.db" cos lr 4) l40=$(metric "$T/s.db" cos lr 40)
if [ "$l1" = 0.025000000000000001 ] && [ "$l4" = 0.10000000000000001 ] &&
    awk -v x="$l40" 'BEGIN { exit !(x > 0.01 && x < 0.0102) }'; then
    ok "lr_schedule: linear warm-up, then cosine down to min_lr (logged as metric lr)"
else
    ko "lr_schedule: linear warm-up, then cosine down to min_lr (logged as metric lr)" "$l1 $l4 $l40"
fi
$UNROLL runs show cos --db "$T/s.db" | grep -q '^ *steps: 40 ' &&
    ok "lr_schedule.steps: the run's config records train.steps as the run began" ||
    ko "lr_schedule.steps: the run's config records train.steps as the run began" "$($UNROLL runs show cos --db "$T/s.db" | grep -A3 lr_sched)"
# a step schedule, then a resume to 60 steps with a new rate: the decay
# keeps its 40 steps, the new session is recorded with its config, and
# every checkpoint still verifies, those before the resume included
train --db "$T/r.db" --name st --set train.lr_schedule.name=step --set train.lr_schedule.every=10 \
    --set train.lr_schedule.gamma=0.5 --set train.steps=20
$UNROLL train --resume st --db "$T/r.db" --set train.steps=60 --set train.optimizer.lr=0.05 --quiet 2>"$T/err"
rc=$?
a=$(metric "$T/r.db" st lr 20) b=$(metric "$T/r.db" st lr 21) c=$(metric "$T/r.db" st lr 60)
s2=$(q "$T/r.db" "SELECT count(*) FROM sessions WHERE config_text LIKE '%lr: 0.05 %'")
if [ $rc -eq 0 ] && [ "$a" = 0.050000000000000003 ] && [ "$b" = 0.012500000000000001 ] &&
    [ "$c" = "$b" ] && [ "$s2" = 1 ]; then
    ok "--resume --set train.optimizer.lr: a new session with its config; the decay keeps its steps"
else
    ko "--resume --set train.optimizer.lr: a new session with its config; the decay keeps its steps" \
        "rc $rc, lr $a $b $c, sessions $s2: $(cat "$T/err")"
fi
v1=$($UNROLL ckpt verify 1 --db "$T/r.db" 2>&1 | tail -1)
v2=$($UNROLL ckpt verify 2 --db "$T/r.db" 2>&1 | tail -1)
[ "$v1" = "verified: bit-identical" ] && [ "$v2" = "verified: bit-identical" ] &&
    ok "ckpt verify replays each checkpoint with its own session's rate" ||
    ko "ckpt verify replays each checkpoint with its own session's rate" "$v1 / $v2"
$UNROLL train --resume st --db "$T/r.db" --set train.steps=80 --set model.hidden=9 --quiet 2>"$T/err"
[ $? -eq 1 ] && grep -q "train.optimizer.lr, train.lr_schedule" "$T/err" &&
    ok "--resume still refuses a key that changes the model" ||
    ko "--resume still refuses a key that changes the model" "$(cat "$T/err")"

# ---- train.weight_decay -----------------------------------------------------
for o in sgd adam; do
    train --db "$T/w.db" --name "$o" --set train.optimizer.name=$o
    train --db "$T/w.db" --name "${o}0" --set train.optimizer.name=$o --set train.weight_decay=0
    train --db "$T/w.db" --name "${o}wd" --set train.optimizer.name=$o --set train.weight_decay=0.5
    a=$(metric "$T/w.db" $o loss 40) b=$(metric "$T/w.db" ${o}0 loss 40) c=$(metric "$T/w.db" ${o}wd loss 40)
    [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "$c" ] &&
        ok "weight_decay ($o): 0 changes no bit, 0.5 changes the run" ||
        ko "weight_decay ($o): 0 changes no bit, 0.5 changes the run" "'$a' '$b' '$c'"
done

# ---- train.accumulate -------------------------------------------------------
for ba in 4:1 2:2 1:4; do
    train --db "$T/a.db" --name "b${ba%:*}a${ba#*:}" --set train.batch=${ba%:*} \
        --set train.accumulate=${ba#*:} --set train.optimizer.name=adam
done
bad=$(q "$T/a.db" "SELECT count(*) FROM metrics x JOIN metrics y ON x.step = y.step AND x.name = y.name
    WHERE x.run = 1 AND y.run > 1 AND x.name IN ('loss', 'valid_loss')
    AND abs(x.value - y.value) > 1e-12 * abs(x.value)")
n=$(q "$T/a.db" "SELECT count(*) FROM metrics WHERE run > 1 AND name IN ('loss', 'valid_loss')")
[ "$bad" = 0 ] && [ "$n" = 96 ] &&
    ok "accumulate: 2 x 2 and 4 x 1 micro-batches train as one batch of 4 (to 1e-12)" ||
    ko "accumulate: 2 x 2 and 4 x 1 micro-batches train as one batch of 4 (to 1e-12)" "$bad of $n differ"
train --db "$T/a.db" --name cut --set train.batch=2 --set train.accumulate=2 --set train.steps=13 \
    --set train.optimizer.name=adam
$UNROLL train --resume cut --db "$T/a.db" --set train.steps=40 --quiet 2>"$T/err"
a=$(metric "$T/a.db" b2a2 loss 40) b=$(metric "$T/a.db" cut loss 40)
v=$($UNROLL ckpt verify cut --db "$T/a.db" 2>&1 | tail -1)
[ -n "$a" ] && [ "$a" = "$b" ] && [ "$v" = "verified: bit-identical" ] &&
    ok "accumulate: a resumed run is bit-identical (every block's state is in the checkpoint)" ||
    ko "accumulate: a resumed run is bit-identical (every block's state is in the checkpoint)" "'$a' '$b' $v"

# ---- model.dropout ----------------------------------------------------------
D="--set model.dropout.input=0.2 --set model.dropout.output=0.3 --set model.dropout.state=0.25"
for cell in elman lstm; do
    for th in 1 3; do
        for f in exact none; do
            UNROLL_THREADS=$th train --db "$T/d.db" --name "$cell$th$f" $D --set model.cell=$cell \
                --set train.batch=3 --set model.hidden=24 --set train.fuse=$f
        done
    done
    train --db "$T/d.db" --name "${cell}cut" $D --set model.cell=$cell --set train.batch=3 \
        --set model.hidden=24 --set train.fuse=exact --set train.steps=17
    $UNROLL train --resume "${cell}cut" --db "$T/d.db" --set train.steps=40 --quiet
    train --db "$T/d.db" --name "${cell}off" --set model.cell=$cell --set train.batch=3 --set model.hidden=24
    ref=$(metric "$T/d.db" "${cell}1exact" loss 40)
    same=1
    for r in "${cell}3exact" "${cell}1none" "${cell}3none" "${cell}cut"; do
        [ "$(metric "$T/d.db" "$r" loss 40)" = "$ref" ] || same=0
    done
    [ -n "$ref" ] && [ $same = 1 ] && [ "$(metric "$T/d.db" "${cell}off" loss 40)" != "$ref" ] &&
        ok "dropout ($cell): the same bits with 1 and 3 threads, fuse exact and none, straight and resumed" ||
        ko "dropout ($cell): the same bits with 1 and 3 threads, fuse exact and none, straight and resumed" \
            "$(q "$T/d.db" "SELECT r.name, m.value FROM metrics m JOIN runs r ON r.id = m.run WHERE m.name = 'loss' AND m.step = 40")"
    $UNROLL gradcheck "$cfg" $D --set model.cell=$cell >"$T/gc" 2>&1 &&
        ok "dropout ($cell): gradcheck passes with the masks of step 1" ||
        ko "dropout ($cell): gradcheck passes with the masks of step 1" "$(tail -3 "$T/gc")"
done
# off at evaluation and sampling: the same parameters in a run without
# dropout (--params, its step-0 checkpoint) score and sample the same
$UNROLL ckpt export elman1exact --npy "$T/p" --db "$T/d.db" >/dev/null 2>&1
train --db "$T/d.db" --name plain --params "$T/p" --set train.batch=3 --set model.hidden=24 --set train.steps=1
e1=$($UNROLL eval elman1exact --db "$T/d.db" 2>&1 | sed 's/.*step [0-9]*://')
e2=$($UNROLL eval plain@0 --db "$T/d.db" 2>&1 | sed 's/.*step [0-9]*://')
s1=$($UNROLL sample elman1exact --db "$T/d.db" --length 30 2>/dev/null)
s2=$($UNROLL sample plain@0 --db "$T/d.db" --length 30 2>/dev/null)
[ -n "$e1" ] && [ "$e1" = "$e2" ] && [ -n "$s1" ] && [ "$s1" = "$s2" ] &&
    ok "dropout: off at eval and sampling (the same as the parameters without it)" ||
    ko "dropout: off at eval and sampling (the same as the parameters without it)" "'$e1' '$e2' '$s1' '$s2'"
train --db "$T/d.db" --name jd --set model.cell=jordan --set model.dropout.state=0.5
[ $? -eq 1 ] && grep -q "model.dropout.state drops units of h\[t-1\], but this cell has no state h" "$T/err" &&
    ok "dropout: state dropout on a cell without h is refused" ||
    ko "dropout: state dropout on a cell without h is refused" "$(cat "$T/err")"

# ---- train.early_stop -------------------------------------------------------
train --db "$T/e.db" --name es --set train.steps=400 --set train.early_stop.patience=3 \
    --set train.optimizer.lr=0.5
rc=$?
last=$(q "$T/e.db" "SELECT max(step) FROM metrics WHERE name = 'loss'")
best=$(q "$T/e.db" "SELECT id FROM checkpoints WHERE tag = 'es.best'")
at=$($UNROLL ckpt show es@best --db "$T/e.db" 2>&1 | head -1 | sed 's/^checkpoint \([0-9]*\):.*/\1/')
low=$(q "$T/e.db" "SELECT step FROM metrics WHERE name = 'valid_loss' ORDER BY value, step LIMIT 1")
bstep=$(q "$T/e.db" "SELECT step FROM checkpoints WHERE tag = 'es.best'")
if [ $rc -eq 0 ] && [ "$last" -lt 400 ] && [ -n "$best" ] && [ "$best" = "$at" ] && [ "$low" = "$bstep" ] &&
    [ $((last - bstep)) = 15 ]; then
    ok "early_stop: stops 3 validations after the best, which is checkpointed, tagged es.best and es@best"
else
    ko "early_stop: stops 3 validations after the best, which is checkpointed, tagged es.best and es@best" \
        "rc $rc, last step $last, tag on $best (step $bstep), es@best $at, lowest at $low"
fi
v=$($UNROLL ckpt verify es --db "$T/e.db" 2>&1 | tail -1)
[ "$v" = "verified: bit-identical" ] && ok "early_stop: the final checkpoint verifies" ||
    ko "early_stop: the final checkpoint verifies" "$v"
# a checkpoint between validations (step 14, validated at 10 and 15)
# replays with its run's train.steps: no extra validation at 14 in the
# early-stopping record; nor, with scheduled sampling, another ramp
train --db "$T/v.db" --name es7 --set train.steps=400 --set train.early_stop.patience=3 \
    --set train.optimizer.lr=0.5 --set train.checkpoint.every=7
train --db "$T/v.db" --name ss7 --set model.cell=jordan --set train.scheduled_sampling.end=0.5 \
    --set train.checkpoint.every=7
v1=$($UNROLL ckpt verify es7@14 --db "$T/v.db" 2>&1 | tail -1)
v2=$($UNROLL ckpt verify ss7@14 --db "$T/v.db" 2>&1 | tail -1)
[ "$v1" = "verified: bit-identical" ] && [ "$v2" = "verified: bit-identical" ] &&
    ok "ckpt verify of a checkpoint between validations (early_stop, scheduled sampling)" ||
    ko "ckpt verify of a checkpoint between validations (early_stop, scheduled sampling)" "$v1 / $v2"
$UNROLL train --resume es --db "$T/e.db" --quiet 2>"$T/err"
[ $? -eq 1 ] && grep -q "the run stopped early" "$T/err" &&
    ok "early_stop: resuming a stopped run says it stopped early" ||
    ko "early_stop: resuming a stopped run says it stopped early" "$(cat "$T/err")"
$UNROLL train --resume es --db "$T/e.db" --set train.early_stop.patience=0 --quiet 2>"$T/err" &&
    [ "$(q "$T/e.db" "SELECT max(step) FROM metrics WHERE name = 'loss'")" = 400 ] &&
    ok "early_stop: --set train.early_stop.patience=0 trains on" ||
    ko "early_stop: --set train.early_stop.patience=0 trains on" "$(cat "$T/err")"
# a straight run and one cut before it stops stop at the same step
train --db "$T/e2.db" --name cut --set train.steps=30 --set train.early_stop.patience=3 --set train.optimizer.lr=0.5
$UNROLL train --resume cut --db "$T/e2.db" --set train.steps=400 --quiet 2>"$T/err"
[ "$(q "$T/e2.db" "SELECT max(step) FROM metrics WHERE name = 'loss'")" = "$last" ] &&
    ok "early_stop: a resumed run stops where the straight one did" ||
    ko "early_stop: a resumed run stops where the straight one did" "$(cat "$T/err")"
$UNROLL train "$cfg" --db "$T/x.db" --set train.early_stop.patience=2 --set train.valid_every=0 2>"$T/err"
[ $? -eq 1 ] && grep -q "train.early_stop: watches the validation loss" "$T/err" &&
    ok "early_stop without validation is refused" || ko "early_stop without validation is refused" "$(cat "$T/err")"
$UNROLL train "$cfg" --db "$T/x.db" --set train.early_stop.patience=2 --set data.valid_fraction=0 2>"$T/err"
[ $? -eq 1 ] && grep -q "no data is held out" "$T/err" &&
    ok "early_stop without held-out data is refused" || ko "early_stop without held-out data is refused" "$(cat "$T/err")"
