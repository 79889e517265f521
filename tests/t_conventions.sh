#!/bin/sh
# t_conventions.sh - command-line conventions and faults, end to end:
# colour only where asked for or on a terminal without NO_COLOR (or
# TERM=dumb); train's plain progress lines unchanged off a terminal and a
# bar that fits the terminal on one (through script(1), when present);
# the exit status of a sample of commands; SIGINT during train (status
# 130, the message, the checkpoint in ckpt list, and --resume finishing
# the run); and memory faults as one-line errors: UNROLL_GRAPH_LIMIT hit
# while building the graph or by the plan's arena, and a real allocation
# failure under ulimit -v. Prints PASS/FAIL lines for tests/run.sh.
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh
esc=$(printf '\033')
has_esc() { grep -q "$esc" "$1"; }
unset NO_COLOR

cfg="$T/c.yaml"
cat >"$cfg" <<EOF
name: c
data: {kind: text, path: tests/golden/min_char_rnn/text.txt, valid_fraction: 0.1}
model: {hidden: 8}
train: {seq_len: 5, batch: 2, steps: 600, valid_every: 200, log_every: 100,
        checkpoint: {every: 40}}
EOF

# ---- colour ------------------------------------------------------------------
# name | environment | arguments | escapes expected (1) or not (0)
while IFS='|' read -r name envs args want; do
    # shellcheck disable=SC2086
    env $envs $UNROLL $args >"$T/out" 2>"$T/err"
    got=0
    has_esc "$T/err" && got=1
    if [ "$got" = "$want" ] && [ "$(wc -l <"$T/err")" -eq 1 ]; then
        ok "colour: $name"
    else
        ko "colour: $name" "escapes $got, expected $want: $(cat -v "$T/err")"
    fi
done <<EOF
--color=always before the command|X=1|--color=always train $T/none.yaml|1
--color=always after the command|X=1|train $T/none.yaml --color=always|1
--color always (separate value)|X=1|train $T/none.yaml --color always|1
--color=always beats NO_COLOR|NO_COLOR=1|--color=always train $T/none.yaml|1
a pipe: none|X=1|train $T/none.yaml|0
NO_COLOR=1 with --color=auto: none|NO_COLOR=1|--color=auto train $T/none.yaml|0
--color=never|X=1|--color=never train $T/none.yaml|0
EOF
$UNROLL --color=sometimes train "$cfg" >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 2 ] && grep -q "^unroll: --color: expected auto, always or never, found 'sometimes'" "$T/err" &&
    ok "colour: --color=sometimes is a usage error" ||
    ko "colour: --color=sometimes is a usage error" "exit $rc: $(cat "$T/err")"
gc="gradcheck $cfg --set model.hidden=3 --set train.seq_len=3"
# shellcheck disable=SC2086
$UNROLL $gc --color=always >"$T/gc1" 2>/dev/null
# shellcheck disable=SC2086
$UNROLL $gc >"$T/gc2" 2>/dev/null
# shellcheck disable=SC2086
$UNROLL $gc --color=never >"$T/gc3" 2>/dev/null
if has_esc "$T/gc1" && ! has_esc "$T/gc2" && cmp -s "$T/gc2" "$T/gc3" &&
    [ "$(sed "s/$esc\[[0-9;]*m//g" "$T/gc1")" = "$(cat "$T/gc2")" ]; then
    ok "colour: gradcheck's verdicts coloured on request, the text otherwise the same"
else
    ko "colour: gradcheck's verdicts coloured on request" "$(cat -v "$T/gc1" | tail -2)"
fi

# ---- the plain progress lines (not a terminal) ---------------------------------
$UNROLL train "$cfg" --db "$T/p.db" --name plain 2>"$T/err" >/dev/null
line='^step [0-9]+/600  loss [0-9.]+/token \([0-9.]+ bpc, ppl [0-9.]+\)(  valid [0-9.]+ \([0-9.]+ bpc\))?  [0-9]+ tokens/s  ETA [0-9]+:[0-9][0-9]$'
n=$(grep -Ec "$line" "$T/err")
nv=$(grep -Ec '  valid ' "$T/err")
if [ "$n" -eq 6 ] && [ "$nv" -eq 3 ] && ! grep -q "$(printf '\r')" "$T/err" && ! has_esc "$T/err" &&
    grep -q '^trained 600 steps in ' "$T/err"; then
    ok "progress off a terminal: a plain line every log_every steps, none rewritten"
else
    ko "progress off a terminal: a plain line every log_every steps" "$n lines, $nv valid: $(head -3 "$T/err")"
fi

# ---- the bar on a terminal (script(1) gives one) --------------------------------
if command -v script >/dev/null 2>&1 && script -qec true /dev/null >/dev/null 2>&1; then
    for cols in 60 200; do
        NO_COLOR=1 script -qec "stty cols $cols; $UNROLL train $cfg --db $T/p.db --name bar$cols" \
            /dev/null </dev/null >"$T/tty" 2>&1
        # every piece between carriage returns and newlines is what the screen shows
        tr '\r' '\n' <"$T/tty" >"$T/screen"
        long=$(awk -v c="$cols" 'length($0) > c - 1' "$T/screen" | grep -c '^\[')
        if grep -q '^\[#*\.*\]  100%  step 600/600  loss [0-9.]*  ' "$T/screen" &&
            grep -q '^\[#####.*\]   50%  step 300/600' "$T/screen" && [ "$long" -eq 0 ] &&
            grep -q '^step 200/600  loss .*  valid [0-9.]* (.* bpc)  (best)$' "$T/screen" &&
            grep -q '^trained 600 steps' "$T/screen" && ! has_esc "$T/tty"; then
            ok "progress on a $cols-column terminal: a bar that fits, validation lines kept"
        else
            ko "progress on a $cols-column terminal" "$long lines too long: $(grep -a '600/600' "$T/screen" | head -2)"
        fi
    done
    # colour on a terminal: on by default, off with NO_COLOR or TERM=dumb
    while IFS='|' read -r name envs want; do
        # shellcheck disable=SC2086
        env $envs script -qec "$UNROLL train $T/none.yaml" /dev/null </dev/null >"$T/tty" 2>&1
        got=0
        has_esc "$T/tty" && got=1
        [ "$got" = "$want" ] && ok "colour on a terminal: $name" ||
            ko "colour on a terminal: $name" "escapes $got, expected $want: $(cat -v "$T/tty")"
    done <<EOF
by default|TERM=xterm|1
NO_COLOR empty counts as unset|TERM=xterm NO_COLOR=|1
NO_COLOR=1|TERM=xterm NO_COLOR=1|0
TERM=dumb|TERM=dumb|0
EOF
else
    skip "colour on a terminal" "script(1) is missing"
fi

# ---- exit statuses ---------------------------------------------------------------
# expected status | command
while IFS='|' read -r want cmd; do
    # shellcheck disable=SC2086
    $UNROLL $cmd >/dev/null 2>"$T/err"
    rc=$?
    if [ $rc -eq "$want" ] && { [ "$want" -eq 0 ] || [ "$(wc -l <"$T/err")" -eq 1 ]; }; then
        ok "exit $want: unroll $cmd"
    else
        ko "exit $want: unroll $cmd" "exit $rc: $(cat "$T/err")"
    fi
done <<EOF
0|--help
0|train --help
0|runs list --db $T/p.db
2|trian
2|train
2|train $cfg --steps 3
2|runs frobnicate --db $T/p.db
2|sample plain --db $T/p.db --length 0
2|train --resume plain $cfg --db $T/p.db
1|train $T/none.yaml
1|train $cfg --set model.hidden=0 --db $T/p.db
1|runs show ghost --db $T/p.db
1|ckpt verify 9999 --db $T/p.db
1|query VACUUM --db $T/p.db
1|eval ghost --db $T/p.db
EOF
printf 'not a database, just text\n' >"$T/text.db"
$UNROLL runs list --db "$T/text.db" >/dev/null 2>"$T/err"
rc=$?
[ $rc -ne 0 ] && [ $rc -ne 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && ok "exit $rc: a file that is not a store" ||
    ko "a file that is not a store" "exit $rc: $(cat "$T/err")"

# ---- SIGINT during train: a checkpoint, status 130, then --resume ---------------
$UNROLL train "$cfg" --db "$T/int.db" --name int --set train.steps=2000000 2>"$T/err" >/dev/null &
pid=$!
wait_ckpts "$UNROLL" "$T/int.db" 1
kill -INT "$pid"
wait "$pid"
rc=$?
stopped=$(sed -n 's/^interrupted after \([0-9]*\) steps in .*/\1/p' "$T/err")
ck=$(sed -n "s/^run 'int' (.*), checkpoint \([0-9]*\) in .*/\1/p" "$T/err")
listed=$($UNROLL ckpt list int --db "$T/int.db" --csv | awk -F, -v c="$ck" '$1 == c { print $3 }')
if [ "$rc" -eq 130 ] && [ -n "$stopped" ] && [ -n "$ck" ] && [ "$listed" = "$stopped" ]; then
    ok "SIGINT: exit 130, 'interrupted after $stopped steps', checkpoint $ck at that step in ckpt list"
else
    ko "SIGINT: exit 130, the message, the checkpoint" "exit $rc, step '$stopped', ckpt '$ck', listed '$listed': $(tail -3 "$T/err")"
fi
want=$((stopped + 50))
$UNROLL train --resume int --set train.steps=$want --db "$T/int.db" 2>"$T/err" >/dev/null
rc=$?
last=$($UNROLL query --db "$T/int.db" --csv "SELECT max(step) FROM checkpoints" | tail -1)
if [ $rc -eq 0 ] && grep -q "^resuming from checkpoint $ck (step $stopped, " "$T/err" &&
    grep -q "^trained 50 steps in .*, steps $((stopped + 1)) to $want" "$T/err" && [ "$last" = "$want" ]; then
    ok "SIGINT then train --resume: continues from step $stopped to $want"
else
    ko "SIGINT then train --resume" "exit $rc, last checkpoint $last: $(cat "$T/err")"
fi

# ---- memory: the graph limit, the arena, a real allocation failure ----------------
one_line_fail() { # name, expected status, expected text, command...
    name=$1 want=$2 text=$3
    shift 3
    "$@" >/dev/null 2>"$T/err"
    rc=$?
    if [ $rc -eq "$want" ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -qF -- "$text" "$T/err"; then
        ok "$name"
    else
        ko "$name" "exit $rc: $(head -3 "$T/err")"
    fi
}
one_line_fail "UNROLL_GRAPH_LIMIT reached while building the graph and its gradient" 1 \
    "graph: memory limit of 262144 bytes reached at" \
    env UNROLL_GRAPH_LIMIT=256K $UNROLL train "$cfg" --set train.seq_len=400 --db "$T/m.db"
one_line_fail "UNROLL_GRAPH_LIMIT below the plan's arena" 1 \
    "of activations and gradients, over the memory limit of 2097152 bytes (UNROLL_GRAPH_LIMIT)" \
    env UNROLL_GRAPH_LIMIT=2M $UNROLL train "$cfg" --set model.hidden=1500 --set train.batch=64 \
    --set train.seq_len=3 --db "$T/m.db"
one_line_fail "UNROLL_GRAPH_LIMIT that is not a size" 1 \
    "UNROLL_GRAPH_LIMIT: expected a size in bytes such as 1048576, 64MiB or 1.5GiB, above 0, found 'lots'" \
    env UNROLL_GRAPH_LIMIT=lots $UNROLL gradcheck "$cfg"
# Address space capped at 1 GB, a 3.3 GiB arena: malloc returns NULL. Not
# under AddressSanitizer (its shadow memory needs terabytes of address
# space), and only where ulimit -v takes effect.
case "$UNROLL" in
*asan*) skip "an arena larger than ulimit -v" "AddressSanitizer's shadow memory needs more address space" ;;
*)
    if [ "$(sh -c 'ulimit -v 1000000 2>/dev/null && ulimit -v')" = 1000000 ]; then
        one_line_fail "an arena larger than ulimit -v: a one-line error, not a crash" 1 \
            "of activations and gradients: out of memory; lower train.seq_len" \
            sh -c "ulimit -v 1000000; exec timeout 120 $UNROLL train $cfg --set model.hidden=1024 \
                --set train.batch=256 --set train.seq_len=1600 --set train.steps=1 --db $T/m.db"
    else
        skip "an arena larger than ulimit -v" "ulimit -v does not take effect here"
    fi
    ;;
esac

# The tree is in the committed .clang-format's form: `make format` would
# change nothing (clang-format is on Debian's build machines; without it
# there is nothing to compare with).
if command -v clang-format >/dev/null 2>&1; then
    srcs=$(git ls-files '*.c' '*.h' 2>/dev/null | grep -v '^tests/fuzz/\|^bench/\|^tools/\|^examples/')
    [ -n "$srcs" ] || srcs=$(ls base/*.[ch] kernels/*.[ch] graph/*.[ch] ops/*.[ch] engine/*.[ch] \
        models/*.[ch] train/*.[ch] store/*.[ch] cli/*.[ch] tests/*.[ch])
    # shellcheck disable=SC2086
    unformatted=$(clang-format --dry-run $srcs 2>&1 | grep -o '^[^:]*\.[ch]' | sort -u)
    if [ -z "$unformatted" ]; then
        ok "every C source is in .clang-format's form (make format changes nothing)"
    else
        ko "every C source is in .clang-format's form (make format changes nothing)" \
            "run make format; these differ: $(echo $unformatted)"
    fi
else
    skip "every C source is in .clang-format's form" "clang-format is not installed"
fi
