#!/bin/sh
# t_profile.sh - `unroll train --profile FILE`: the last step traced task by
# task. At batch 1 (two lanes, most often) and batch 32 (in order) it prints where the
# step's time went by kind of work and writes a trace-event timeline with
# one event per task it counted; the checkpoint it stores has the bytes of
# the same run unprofiled; a file it cannot write fails before training.
# Prints PASS/FAIL lines for tests/run.sh.
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh

cfg=configs/min_char_rnn.yaml
run() { "$UNROLL" train "$cfg" --set train.steps=40 --set train.checkpoint.every=0 "$@"; }

out=$(run --db "$T/p.db" --profile "$T/lanes.json" 2>&1)
rc=$?
# the tasks the summary counts: the last whole number on its "busy" line
tasks_of() { printf '%s\n' "$1" | awk '$1 == "busy" { for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) n = $i; print n }'; }
tasks=$(tasks_of "$out")
events=$(grep -c '"ph": "X"' "$T/lanes.json" 2>/dev/null)
# two lanes unless the executor's timing found them slower here (exec.h)
mode=lanes
printf '%s\n' "$out" | grep -q "partly on two lanes" || mode="in order"
if [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -q "^profile of step 40 " &&
    printf '%s\n' "$out" | grep -q "^per-step products  *[0-9.]" &&
    { [ "$mode" != lanes ] || printf '%s\n' "$out" | grep -q "^waiting "; } &&
    head -c 40 "$T/lanes.json" | grep -q '"traceEvents"' && tail -1 "$T/lanes.json" | grep -q '^]}$' &&
    [ -n "$tasks" ] && [ "$tasks" = "$events" ]; then
    ok "profile at batch 1 ($mode): $events tasks in the summary and the timeline"
else
    ko profile_lanes "exit $rc, $tasks tasks counted, $events events" "$out"
fi

run --db "$T/plain.db" --quiet
if [ "$(last_ckpt_hashes "$T/p.db")" = "$(last_ckpt_hashes "$T/plain.db")" ] &&
    [ -n "$(last_ckpt_hashes "$T/p.db")" ]; then
    ok "a profiled run stores the checkpoint bytes of the run unprofiled"
else
    ko profile_bits "$(last_ckpt_hashes "$T/p.db")" "$(last_ckpt_hashes "$T/plain.db")"
fi

out=$(run --set train.batch=32 --db "$T/b.db" --profile "$T/rows.json" 2>&1)
rc=$?
tasks=$(tasks_of "$out")
events=$(grep -c '"ph": "X"' "$T/rows.json" 2>/dev/null)
if [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -q "ran [0-9.]* us, in order" &&
    printf '%s\n' "$out" | grep -q "^stacked products  *[0-9.]* us" &&
    [ -n "$tasks" ] && [ "$tasks" = "$events" ]; then
    ok "profile at batch 32: in order, $events tasks in the summary and the timeline"
else
    ko profile_in_order "exit $rc, $tasks tasks counted, $events events" "$out"
fi

out=$(run --db "$T/x.db" --profile "$T/no/such/dir/p.json" 2>&1)
rc=$?
runs=$("$UNROLL" query --db "$T/x.db" --csv "SELECT count(*) FROM runs" 2>/dev/null | tail -1)
"$UNROLL" train "$cfg" --profile "" >/dev/null 2>&1
rc2=$?
if [ "$rc" -eq 1 ] && printf '%s\n' "$out" | grep -q "no/such/dir/p.json" &&
    [ "${runs:-0}" -eq 0 ] && [ "$rc2" -eq 2 ]; then
    ok "--profile to a folder that is not there fails before training; an empty one is a usage error"
else
    ko profile_bad_path "exit $rc ($runs runs stored), empty: exit $rc2" "$out"
fi
