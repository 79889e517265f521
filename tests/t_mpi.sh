#!/bin/sh
# t_mpi.sh - data-parallel training: 2 MPI ranks, each on half of every
# global batch, reach the parameters of one process within float64
# rounding after 25 SGD steps.
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh
if ! $UNROLL --version | grep -q "MPI: built in"; then
    ko "data-parallel training" "unroll was built without MPI (tools/setup.sh installs libopenmpi-dev)"
    exit 0
fi
if ! command -v mpirun >/dev/null 2>&1; then
    ko "data-parallel training" "mpirun is missing (tools/setup.sh installs openmpi-bin)"
    exit 0
fi
set -- --set data.path=tests/golden/min_char_rnn/text.txt --set train.batch=4 \
    --set train.seq_len=8 --set model.hidden=16 --set train.dtype=float64 \
    --set train.optimizer.name=sgd --set train.optimizer.lr=0.05 --set train.steps=25 \
    --db "$T/m.db" --quiet
$UNROLL train configs/min_char_rnn.yaml "$@" --name single 2>"$T/err" ||
    { ko "one process trains" "$(cat "$T/err")"; exit 0; }
# Open MPI keeps memory to the end of the process on purpose: under the
# sanitizer build, leak reports would be its own, not unroll's.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
OPENBLAS_NUM_THREADS=1 mpirun -np 2 --allow-run-as-root --oversubscribe \
    $UNROLL train configs/min_char_rnn.yaml "$@" --name ranks2 >"$T/out" 2>&1 ||
    { ko "mpirun -np 2 trains" "$(tail -5 "$T/out")"; exit 0; }
ok "mpirun -np 2 trains, rank 0 writes the run"
worst=$($UNROLL ckpt diff single ranks2 --db "$T/m.db" --csv 2>"$T/err" |
    awk -F, 'NR > 1 && $2 == "param" { m = $NF > m ? $NF : m } END { printf "%g", m + 0 }')
echo "  2 ranks vs 1 process after 25 SGD steps: largest relative parameter change $worst"
if [ -n "$worst" ] && awk "BEGIN { exit !($worst < 1e-12) }"; then
    ok "2 ranks reach the parameters of one process (float64, 25 steps)"
else
    ko "2 ranks reach the parameters of one process (float64, 25 steps)" "$worst $(cat "$T/err")"
fi
n=$($UNROLL runs metrics ranks2 --db "$T/m.db" --csv | grep -c ',loss,')
[ "$n" -eq 25 ] && ok "rank 0 alone logged the 25 losses" || ko "rank 0 alone logged the 25 losses" "$n rows"
OPENBLAS_NUM_THREADS=1 mpirun -np 3 --allow-run-as-root --oversubscribe \
    $UNROLL train configs/min_char_rnn.yaml "$@" --name ranks3 >"$T/out" 2>&1
grep -q "needs a batch divisible by the number of ranks" "$T/out" &&
    ok "a batch that does not split over the ranks is refused" ||
    ko "a batch that does not split over the ranks is refused" "$(head -3 "$T/out")"
