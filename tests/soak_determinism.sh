#!/bin/sh
# soak_determinism.sh - the determinism contract over sizes nobody chose:
# SOAK_N (default 40) configs drawn by a fixed generator (SOAK_SEED) from
# every preset cell and the custom forms, odd and even hidden sizes, batch
# 1 to 70, 1 to 40 steps, vocabularies from 2 to 3,000 symbols, both dtypes
# and every rewrite level; each trained a few steps on 1, 2 and 3 threads
# and on the AVX2 path, and stopped and resumed, must store the same
# checkpoint bytes. Not part of `make test` (minutes, not seconds): `make
# soak`. Prints the config of any failure so it can be replayed.
# SOAK_HIDDEN, SOAK_BATCH and SOAK_STEPS replace the lists the sizes are
# drawn from (e.g. SOAK_HIDDEN="300 512 1024" SOAK_BATCH="1 2 4": the
# recurrence split among the threads by columns, weights past the L2).
UNROLL=${UNROLL:-build/rel/unroll}
N=${SOAK_N:-40}
SEED=${SOAK_SEED:-1}
HIDDEN=${SOAK_HIDDEN:-1 2 7 16 33 64 100 129 256}
BATCH=${SOAK_BATCH:-1 2 3 8 17 32 48 70}
STEPS=${SOAK_STEPS:-1 2 5 13 40}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh

# 30,000 characters over 900 code points
cjk_text 30000 900 4242 >"$T/wide.txt"
# 3,000 symbols: the output weight passes the L2 (H >= 100 in float64,
# H = 256 in float32), so the two lanes cut its products into fewer
# chunks, and their parts pack it together
cjk_text 60000 3000 977 >"$T/huge.txt"
# a text of few symbols: where one-hot tables are small next to the rows
head -c 20000 tests/golden/min_char_rnn/text.txt >"$T/narrow.txt"

# the i-th config's settings, one per line, from a fixed generator
draw() {
    awk -v i="$1" -v seed="$SEED" -v H="$HIDDEN" -v B="$BATCH" -v T="$STEPS" 'BEGIN {
        s = seed * 7919 + i * 104729
        n = split("elman jordan lstm gru gru_torch elman_custom lstm_custom gru_custom jordan_custom", cells, " ")
        nh = split(H, hs, " "); nb = split(B, bs, " "); nt = split(T, ts, " ")
        split("all exact none", fs, " ")
        for (k = 0; k < 8; k++) { s = (s * 1103515245 + 12345) % 2147483648; r[k] = int(s / 65536) }
        print cells[1 + r[0] % n]; print hs[1 + r[1] % nh]; print bs[1 + r[2] % nb]
        print ts[1 + r[3] % nt]; print (r[4] % 2 ? "float64" : "float32"); print fs[1 + r[5] % 3]
        print (r[6] % 6 == 0 ? "huge" : r[6] % 3 ? "wide" : "narrow")
    }'
}

i=0
while [ $i -lt "$N" ]; do
    set -- $(draw $i)
    cell=$1 hidden=$2 batch=$3 steps=$4 dt=$5 fuse=$6 text=$7
    # T*B rows must fit the text; tiny texts are not what this soaks
    base=$cell extra=
    case $cell in
    gru_torch) base=gru extra="gru: torch," ;;
    *_custom) base= ;;
    esac
    if [ -n "$base" ]; then
        model="{cell: $base, $extra hidden: $hidden, init: {std: 0.1}}"
        cfg="$T/c$i.yaml"
        cat >"$cfg" <<EOF
name: soak
data: {kind: text, path: $T/$text.txt, valid_fraction: 0.05}
model: $model
train: {dtype: $dt, seq_len: $steps, batch: $batch, steps: 4, valid_every: 0, log_every: 1000,
        fuse: $fuse, optimizer: {name: adam, lr: 0.003}, clip: {norm: 5}, seed: $i,
        checkpoint: {every: 2}}
EOF
    else
        cfg=configs/$cell.yaml
    fi
    sets="--set model.hidden=$hidden --set train.seq_len=$steps --set train.batch=$batch
          --set train.dtype=$dt --set train.fuse=$fuse --set train.steps=4
          --set train.checkpoint.every=2 --set train.valid_every=0 --set data.path=$T/$text.txt
          --set data.valid_fraction=0.05 --set train.seed=$i"
    what="#$i $cell H=$hidden B=$batch T=$steps $dt fuse=$fuse $text"
    good=1
    for run in "t1 UNROLL_THREADS=1" "t2 UNROLL_THREADS=2" "t3 UNROLL_THREADS=3" \
        "avx2 UNROLL_THREADS=2 UNROLL_ISA=avx2"; do
        set -- $run
        name=$1
        shift
        # shellcheck disable=SC2086
        if ! env "$@" "$UNROLL" train "$cfg" $sets --db "$T/$name.db" --name r --quiet \
            2>"$T/err"; then
            # a path the CPU lacks, or a size the text cannot feed
            grep -q "UNROLL_ISA\|too short\|shorter than" "$T/err" && continue
            ko "$what: $name trained" "$(tail -2 "$T/err")"
            good=0
            continue
        fi
        last_ckpt_hashes "$T/$name.db" >"$T/$name.h"
    done
    # shellcheck disable=SC2086
    if [ -s "$T/t1.h" ] && UNROLL_THREADS=2 $UNROLL train "$cfg" $sets --set train.steps=2 \
        --db "$T/res.db" --name r --quiet 2>"$T/err" &&
        UNROLL_THREADS=3 $UNROLL train --resume r --set train.steps=4 --db "$T/res.db" \
            --quiet 2>>"$T/err"; then
        last_ckpt_hashes "$T/res.db" >"$T/res.h"
    fi
    if [ -s "$T/t1.h" ]; then
        for other in t2 t3 avx2 res; do
            [ -f "$T/$other.h" ] || continue
            cmp -s "$T/t1.h" "$T/$other.h" || {
                ko "$what: $other gives the bytes of 1 thread" "$(diff "$T/t1.h" "$T/$other.h" | head -4)"
                good=0
            }
        done
        [ $good -eq 1 ] && ok "$what: 1, 2, 3 threads, AVX2 and resumed agree"
    else
        echo "SKIP $what: $(tail -1 "$T/err")"
    fi
    rm -f "$T"/*.db "$T"/*.h
    i=$((i + 1))
done
exit 0
