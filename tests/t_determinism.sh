#!/bin/sh
# t_determinism.sh - the determinism contract of kernels/gemm.h end to end:
# Elman, Jordan, LSTM and GRU trained a few steps on a text of 600
# distinct symbols (CJK code points, generated here), float32 and float64,
# at sizes where every kind of work (the per-step recurrence, run as row
# runs that split the batch's rows among the threads, or by columns a
# recurrent weight larger than a core's L2; the stacked output
# projection; the stacked weight sums) is large enough to be split among
# threads, and at a batch of one row (two lanes: engine/plan_lanes.c),
# and at a vocabulary of thousands (the output projection's weight past
# the L2, its products grouped over the steps),
# give byte-identical checkpoints (every tensor the checkpoint stores:
# parameters and optimiser state) on 1, 2 and 3 threads
# (UNROLL_THREADS, 3 on 2 cores too), on the AVX-512 and the AVX2 path
# (UNROLL_ISA; a path the CPU lacks is skipped), and straight against
# stopped and resumed. --verbose must say that each kind of product ran on
# more than one thread somewhere in these runs (which thread claims a part
# depends on the load, so it is counted over all of them).
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh

# 20,000 characters drawn from 600 code points
cjk_text 20000 600 12345 >"$T/text.txt"

cat >"$T/c.yaml" <<EOF
name: det
data: {kind: text, path: $T/text.txt, valid_fraction: 0.05}
model: {cell: elman, hidden: 160, init: {std: 0.05}}
train: {dtype: float32, seq_len: 8, batch: 48, steps: 4, valid_every: 0, log_every: 1000,
        optimizer: {name: adam, lr: 0.003}, clip: {norm: 5}, seed: 7,
        checkpoint: {every: 2}}
EOF

# run NAME ENV... -- SETS...: trains into $T/NAME.db, keeps --verbose's lines
run() {
    name=$1
    shift
    env "$@" "$UNROLL" train "$T/c.yaml" --db "$T/$name.db" --name r $sets --verbose \
        >/dev/null 2>"$T/$name.err" || { cat "$T/$name.err"; return 1; }
    cat "$T/$name.err" >>"$T/verbose.log"
    last_ckpt_hashes "$T/$name.db" >"$T/$name.h"
}

# the widest path here: unroll refuses a UNROLL_ISA the CPU lacks
isa_ok() { UNROLL_ISA=$1 "$UNROLL" config show "$T/c.yaml" >/dev/null 2>&1; }
isa_best=generic
isa_ok avx2 && isa_best=avx2
isa_ok avx512 && isa_best=avx512
UNROLL_ISA=avx1024 "$UNROLL" config show "$T/c.yaml" >/dev/null 2>"$T/isa.err"
[ $? -eq 1 ] && grep -q "UNROLL_ISA=avx1024" "$T/isa.err" &&
    ok "an unknown UNROLL_ISA is a one-line error" || ko "an unknown UNROLL_ISA is a one-line error" "$(cat "$T/isa.err")"
: >"$T/verbose.log"
# under sanitizers (make asan sets UNROLL_QUICK) two cells are enough
cells="elman jordan lstm gru"
[ -n "${UNROLL_QUICK:-}" ] && cells="elman gru"
# the config's batch of 48 (row runs), a batch of one row (two lanes),
# and a recurrent weight larger than a core's L2 in float32 (row runs
# whose products by it go by columns; `unroll doctor` says from which
# size): Elman and LSTM, SGD (checkpoints of parameters alone), not under
# sanitizers
cols_from=$("$UNROLL" doctor | sed -n 's/^row runs .* weight of \([0-9]*\) bytes.*/\1/p')
units=$(awk -v b="${cols_from:-0}" 'BEGIN { printf "%d", sqrt(b / 4) + 13 }')
big="--set model.hidden=$units --set train.batch=32 --set train.seq_len=6 --set train.optimizer.name=sgd"
shapes="'' '--set train.batch=1 --set train.seq_len=48 --set model.hidden=96'"
if [ -z "${UNROLL_QUICK:-}" ] && [ "$units" -gt 13 ] && [ "$units" -le 1500 ]; then
    shapes="$shapes '$big'"
else
    echo "SKIP a weight larger than the L2 (under sanitizers, or doctor says '$cols_from' bytes)"
    big=""
fi
# a vocabulary of thousands (CJK text of some 4000 symbols) at 64 rows a
# step, the output projection's weight past the L2: its product and its
# gradient's grouped over the steps, the logits' gradients written over
# the logits (engine/plan_stack.c, plan_over.c); Elman and LSTM, SGD
cjk_text 60000 4200 777 >"$T/big.txt"
vh=$(awk -v b="${cols_from:-0}" 'BEGIN { printf "%d", b / (4 * 4000) + 8 }')
vocab="--set data.path=$T/big.txt --set model.hidden=$vh --set train.batch=64 --set train.seq_len=4 --set train.optimizer.name=sgd"
if [ -z "${UNROLL_QUICK:-}" ] && [ "$vh" -gt 8 ] && [ "$vh" -le 1000 ]; then
    shapes="$shapes '$vocab'"
else
    echo "SKIP a vocabulary of thousands (under sanitizers, or doctor says '$cols_from' bytes)"
fi
eval "set -- $shapes"
for shape in "$@"; do
    shape_cells=$cells
    case "$shape" in
    *big.txt*) label=", a vocabulary of thousands, $vh units" shape_cells="elman lstm" ;;
    *batch=1*) label=", batch 1" ;;
    *train.optimizer.name=sgd*) label=", $units units" shape_cells="elman lstm" ;;
    *) label="" ;;
    esac
    for cell in $shape_cells; do
        for dt in float32 float64; do
            sets="--set model.cell=$cell --set train.dtype=$dt $shape"
            what="$cell $dt$label"
            if ! run t1 UNROLL_THREADS=1 || ! run t2 UNROLL_THREADS=2 || ! run t3 UNROLL_THREADS=3; then
                ko "$what: training ran" "$(tail -3 "$T"/t*.err)"
                continue
            fi
            [ -s "$T/t1.h" ] && cmp -s "$T/t1.h" "$T/t2.h" && cmp -s "$T/t1.h" "$T/t3.h" &&
                ok "$what: 1, 2 and 3 threads give the same checkpoint bytes" ||
                ko "$what: 1, 2 and 3 threads give the same checkpoint bytes" \
                    "$(diff "$T/t1.h" "$T/t3.h" | head -6)"
            if [ "$isa_best" = avx512 ]; then
                run avx2 UNROLL_ISA=avx2 UNROLL_THREADS=2 && cmp -s "$T/t1.h" "$T/avx2.h" &&
                    ok "$what: the AVX-512 and AVX2 paths give the same checkpoint bytes" ||
                    ko "$what: the AVX-512 and AVX2 paths give the same checkpoint bytes" \
                        "$(diff "$T/t1.h" "$T/avx2.h" | head -6)"
            else
                echo "SKIP $what: AVX-512 against AVX2 (this CPU's best path is $isa_best)"
            fi
            # stopped at step 2 (its checkpoint), resumed to 4 on other threads
            if UNROLL_THREADS=1 $UNROLL train "$T/c.yaml" --db "$T/res.db" --name r $sets \
                --set train.steps=2 --quiet 2>"$T/res.err" &&
                UNROLL_THREADS=3 $UNROLL train --resume r --set train.steps=4 --db "$T/res.db" \
                    --quiet 2>>"$T/res.err"; then
                last_ckpt_hashes "$T/res.db" >"$T/res.h"
                cmp -s "$T/t1.h" "$T/res.h" &&
                    ok "$what: straight and resumed runs give the same checkpoint bytes" ||
                    ko "$what: straight and resumed runs give the same checkpoint bytes" \
                        "$(diff "$T/t1.h" "$T/res.h" | head -6)"
            else
                ko "$what: stopped and resumed" "$(tail -3 "$T/res.err")"
            fi
            rm -f "$T"/*.db
        done
    done
done

# every kind of product ran on more than one thread somewhere
kinds="per-step rows|stacked rows|stacked weight sums|two lanes"
[ -n "$big" ] && kinds="$kinds|per-step columns"
IFS='|'
# shellcheck disable=SC2086
set -- $kinds
unset IFS
for kind in "$@"; do
    n=$(grep "^threads: $kind:" "$T/verbose.log" |
        sed 's/.* calls, \([0-9]*\) on more than one thread.*/\1/' | awk '{s += $1} END {print s + 0}')
    [ "$n" -gt 0 ] && ok "--verbose: $kind ran on more than one thread ($n calls)" ||
        ko "--verbose: $kind ran on more than one thread" "$(grep "^threads:" "$T/verbose.log" | head -6)"
done
exit 0
