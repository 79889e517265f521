#!/bin/sh
# t_memory.sh - train.memory_budget from the command line: `unroll grad`
# under a budget writes the same bytes as without one; training reports
# what it recomputes and keeps to the budget; a budget too small is a
# user error (exit 1) saying what is needed; sizes parse and print back.
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh
G=tests/golden/min_char_rnn/text.txt
long="--set data.path=$G --set model.hidden=16 --set train.seq_len=300 --set train.batch=2
      --set train.dtype=float64 --set train.checkpoint.db=$T/db"

# the full arenas are about 0.7 and 1.4 MiB
for cb in elman:64KiB lstm:128KiB; do
    c=${cb%%:*} b=${cb#*:}
    same=1
    $UNROLL grad configs/min_char_rnn.yaml --set model.cell=$c $long --set train.fuse=exact \
        --out "$T/full_$c" --quiet 2>"$T/err" &&
        $UNROLL grad configs/min_char_rnn.yaml --set model.cell=$c $long \
            --set train.memory_budget=$b --out "$T/budget_$c" --quiet 2>>"$T/err" || same=0
    for f in "$T/full_$c"/grad/*.npy "$T/full_$c"/loss.npy; do
        cmp -s "$f" "$T/budget_$c/${f#"$T/full_$c/"}" || same=0
    done
    [ $same -eq 1 ] && ok "grad $c under a $b budget: the same bytes" ||
        ko "grad $c under a $b budget: the same bytes" "$(cat "$T/err")"
done

if $UNROLL train configs/min_char_rnn.yaml $long --set train.steps=3 \
    --set train.memory_budget=100KiB --verbose >"$T/out" 2>&1 &&
    grep -q "memory budget: forward recomputed in segments of" "$T/out"; then
    kib=$(sed -n 's/^memory budget: .*; \([0-9.]*\) KiB instead of .*/\1/p' "$T/out")
    # the arena the plan reports must not exceed the budget
    if [ -n "$kib" ] && awk "BEGIN { exit !($kib <= 100) }"; then
        ok "train keeps to a 100KiB budget ($kib KiB)"
    else
        ko "train keeps to a 100KiB budget" "$(cat "$T/out")"
    fi
else
    ko "train reports recomputation" "$(cat "$T/out")"
fi

$UNROLL train configs/min_char_rnn.yaml $long --set train.memory_budget=2KiB >"$T/out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "train.memory_budget: 2.0 KiB is too small for this model: it needs .* at least" "$T/out" &&
    [ "$(wc -l <"$T/out")" -eq 1 ]; then
    ok "a budget too small: one line, exit 1"
else
    ko "a budget too small: one line, exit 1" "rc $rc: $(cat "$T/out")"
fi

# sizes: accepted spellings print back in the largest exact unit
for pair in "1048576:1MiB" "64MiB:64MiB" "1.5GiB:1536MiB" "2KB:2000" "'3 GiB':3GiB" "0:0"; do
    in=${pair%%:*} want=${pair#*:}
    got=$($UNROLL config show configs/min_char_rnn.yaml --set "train.memory_budget=$(echo "$in" | tr -d "'")" 2>&1 |
        sed -n 's/^ *memory_budget: \([^ ]*\).*/\1/p')
    [ "$got" = "$want" ] && ok "memory_budget $in shows as $want" || ko "memory_budget $in shows as $want" "got '$got'"
done
for bad in "-1" "1.5" "12 XB" "MiB" "1e6"; do
    if $UNROLL config show configs/min_char_rnn.yaml --set "train.memory_budget=$bad" >"$T/out" 2>&1; then
        ko "memory_budget '$bad' refused" "$(cat "$T/out")"
    elif grep -q "a size in bytes" "$T/out"; then
        ok "memory_budget '$bad' refused"
    else
        ko "memory_budget '$bad' refused with the expected form" "$(cat "$T/out")"
    fi
done

# one grammar (base/bytes.h): UNROLL_GRAPH_LIMIT takes and refuses the same
# spellings as train.memory_budget (1.5GiB and 500MB were refused there)
for sz in 1.5GiB 512M 2g 500MB "3 GiB" 1073741824 1.5 "12 XB" -1 1e6 3Ki MiB; do
    $UNROLL config show configs/min_char_rnn.yaml --set "train.memory_budget=$sz" >/dev/null 2>&1
    a=$?
    UNROLL_GRAPH_LIMIT=$sz $UNROLL graph configs/min_char_rnn.yaml >/dev/null 2>"$T/err"
    b=$?
    if [ $a -eq $b ] && { [ $a -eq 0 ] || grep -q "UNROLL_GRAPH_LIMIT: expected a size in bytes" "$T/err"; }; then
        ok "'$sz' is $([ $a -eq 0 ] && echo taken || echo refused) by memory_budget and UNROLL_GRAPH_LIMIT alike"
    else
        ko "'$sz' read alike by memory_budget and UNROLL_GRAPH_LIMIT" "config $a, graph $b: $(cat "$T/err")"
    fi
done
