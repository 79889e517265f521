#!/bin/sh
# bench/memory.sh BUILD - `make bench-memory`: peak memory of `unroll train`
# against the unroll length T, storing every step and under
# train.memory_budget (checkpointed BPTT), with the time per step of each.
# Elman, H=128, B=32, float32, one-hot characters; validation off so the
# figures are the training step's own. Never part of `make test`.
#
# Columns: the plan's arena (activations and gradients, what the budget
# bounds), peak RSS of the whole process (/usr/bin/time), the segment
# length the planner chose, and the median time per step over the run's
# progress lines (BENCH_STEPS steps, default 6, the first excluded).
set -u
BUILD=${1:-build/rel}
UNROLL="$BUILD/unroll"
STEPS=${BENCH_STEPS:-6}
BUDGET=${BENCH_BUDGET:-16MiB}
TS=${BENCH_TS:-100 1000 10000}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
[ -x /usr/bin/time ] || { echo "bench-memory: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
[ -f data/demo.txt ] || { echo "bench-memory: data/demo.txt is missing (make data)" >&2; exit 1; }

run() { # T BUDGET -> "arena_MiB seg rss_MiB ms_per_step"
    /usr/bin/time -f '%M' -o "$OUT/rss" "$UNROLL" train configs/elman_char.yaml \
        --set train.seq_len="$1" --set train.batch=32 --set train.steps="$STEPS" \
        --set train.log_every=1 --set data.valid_fraction=0 --set train.memory_budget="$2" \
        --set train.checkpoint.db="$OUT/db" --name "mem$1_$2" --verbose >"$OUT/log" 2>&1 ||
        { echo "- - - -"; sed 's/^/  # /' "$OUT/log" >&2; return; }
    arena=$(sed -n 's/.*; \([0-9.]*\) MiB of activations.*/\1/p' "$OUT/log")
    seg=$(sed -n 's/.*segments of \([0-9]*\) steps.*/\1/p' "$OUT/log")
    # tokens/s of each progress line after the first -> ms per step
    ms=$(tr '\r' '\n' <"$OUT/log" | sed -n 's/^step \([0-9]*\)\/.*  \([0-9]*\) tokens\/s.*/\1 \2/p' |
        awk -v tok=$((32 * $1)) '$1 > 1 && $2 > 0 { print 1000 * tok / $2 }' | sort -n |
        awk '{ v[NR] = $1 } END { if (NR) printf "%.1f", v[int((NR + 1) / 2)]; else print "-" }')
    echo "$arena ${seg:--} $(awk '{ printf "%.1f", $1 / 1024 }' "$OUT/rss") $ms"
}

echo "unroll train configs/elman_char.yaml, H=128 B=32 float32, budget $BUDGET"
printf '%7s | %28s | %40s\n' "" "storing every step" "train.memory_budget: $BUDGET"
printf '%7s | %9s %9s %8s | %9s %5s %9s %8s %5s\n' T "arena MiB" "RSS MiB" "ms/step" \
    "arena MiB" seg "RSS MiB" "ms/step" "x time"
for T in $TS; do
    set -- $(run "$T" 0)
    a0=$1 r0=$3 m0=$4
    set -- $(run "$T" "$BUDGET")
    a1=$1 s1=$2 r1=$3 m1=$4
    ratio=$(awk -v a="$m1" -v b="$m0" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", a / b; else print "-" }')
    printf '%7s | %9s %9s %8s | %9s %5s %9s %8s %5s\n' "$T" "$a0" "$r0" "$m0" "$a1" "$s1" "$r1" "$m1" "$ratio"
done
