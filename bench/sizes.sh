#!/bin/sh
# bench/sizes.sh BUILD [SIZE...] - `make bench-sizes`: unroll's whole
# training step against oneDNN's recurrent layer alone at sizes you name,
# not only issue 10's (bench/run.sh). SIZE is CELL:H:T:B[:V] (CELL rnn,
# lstm or gru; V, the vocabulary, 65 unless given: oneDNN's layer has no
# output projection, so V weighs on unroll's side only). Without SIZEs, or
# with BENCH_SIZES set, a spread nobody tuned for: odd hidden sizes, long
# and short sequences, batches from 1 to 128, vocabularies up to 5000.
# Where Debian's python3-torch is installed, PyTorch doing the same work
# as unroll is measured too.
#
# Each figure is its own process: unroll's `bench step` (forward over T,
# softmax cross-entropy, full BPTT, SGD) and oneDNN's forward training +
# backward (bench/onednn.c, OMP_NUM_THREADS = the cores), in
# BENCH_ROUNDS interleaved rounds (default 3), medians printed. The ratio
# is oneDNN's time over unroll's: above 1, unroll is faster. Nothing here
# passes or fails on time.
set -u
BUILD=${1:-build/rel}
[ $# -gt 0 ] && shift
ROUNDS=${BENCH_ROUNDS:-3}
NCORES=$(nproc 2>/dev/null || echo 1)
CC=${CC:-cc}
SPREAD="rnn:100:25:1 rnn:77:50:3 rnn:129:200:1 rnn:333:40:8 rnn:512:50:16 rnn:700:20:128
rnn:2048:10:4 lstm:96:100:1 lstm:200:35:20 lstm:511:30:48 gru:64:64:64 gru:300:25:10:1000
rnn:512:32:64:5000 lstm:256:32:8:3000"
SIZES=${BENCH_SIZES:-$SPREAD}
[ $# -gt 0 ] && SIZES=$*
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

mkdir -p "$BUILD/bench"
PKG=$(pkg-config --cflags --libs yaml-0.1 sqlite3)
# shellcheck disable=SC2086
$CC -std=c11 -D_GNU_SOURCE -O2 -I. bench/bench.c "$BUILD/libunroll.a" $PKG -lm -lpthread \
    -o "$BUILD/bench/bench" || exit 1
if ! $CC -std=c11 -D_GNU_SOURCE -O2 -I. bench/onednn.c -ldnnl -o "$BUILD/bench/onednn" \
    2>"$OUT/dnnl.log"; then
    echo "bench-sizes: oneDNN does not build here (apt-get install libdnnl-dev):" >&2
    head -3 "$OUT/dnnl.log" >&2
    exit 1
fi

# json_field FILE NAME: a number field of the last line; json_ms FILE: "ms"
json_field() { tail -1 "$1" | grep -o "\"$2\": [0-9.]*" | head -1 | sed 's/.*: //'; }
json_ms() { json_field "$1" ms; }

# unroll_ms CELL H T B V REPS
unroll_ms() {
    case $1 in
    rnn) ucell=elman ;;
    gru) ucell=bench/gru_torch.yaml ;;
    *) ucell=$1 ;;
    esac
    "$BUILD/bench/bench" step "$5" "$2" "$3" "$4" float32 "$6" all "$ucell" >"$OUT/u.json" 2>&1 &&
        json_ms "$OUT/u.json"
}

# PyTorch, when Debian's python3-torch is there: nn.RNN (nn.LSTM, nn.GRU)
# + Linear, the same work as unroll's step (bench/ref.py), the faster of 1
# thread and all of them. At a large V it is the fair baseline: oneDNN's
# layer leaves the projection out.
PY=/usr/bin/python3
TORCH=0
[ -x "$PY" ] && "$PY" -c 'import torch' 2>/dev/null && TORCH=1

# torch_ms CELL H T B V REPS THREADS
torch_ms() {
    case $1 in rnn) tcell=elman ;; *) tcell=$1 ;; esac
    wait_env="-u OMP_WAIT_POLICY"
    [ "$7" -gt 1 ] && wait_env=OMP_WAIT_POLICY=PASSIVE
    # shellcheck disable=SC2086
    env $wait_env "$PY" bench/ref.py step --impl rnn --cell "$tcell" --V "$5" --H "$2" --T "$3" \
        --B "$4" --dtype float32 --threads "$7" --reps "$6" >"$OUT/t.json" 2>&1 &&
        json_ms "$OUT/t.json"
}

# median FILE: the middle of a file's numbers, one a line (none: nothing)
median() { sort -n "$1" | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'; }

# reps for about half a second a figure, from one probing step
reps_for() { awk -v ms="$1" 'BEGIN { r = int(500 / (ms > 0.01 ? ms : 0.01)); print r < 3 ? 3 : (r > 5000 ? 5000 : r) }'; }

for size in $SIZES; do
    IFS=: read -r cell H T B V <<EOF
$size
EOF
    V=${V:-65}
    case $cell in rnn | lstm | gru) ;; *)
        echo "bench-sizes: '$size' is not CELL:H:T:B[:V] (CELL rnn, lstm or gru)" >&2
        exit 2
        ;;
    esac
    probe=$(unroll_ms "$cell" "$H" "$T" "$B" "$V" 2) || {
        echo "bench-sizes: unroll failed at $size:" >&2
        tail -3 "$OUT/u.json" >&2
        continue
    }
    reps=$(reps_for "$probe")
    treps=0
    # a probe that fails leaves PyTorch out of this size
    [ $TORCH = 1 ] && tp=$(torch_ms "$cell" "$H" "$T" "$B" "$V" 3 1) && treps=$(reps_for "$tp")
    : >"$OUT/us" && : >"$OUT/ds" && : >"$OUT/ts"
    r=0
    while [ $r -lt "$ROUNDS" ]; do
        unroll_ms "$cell" "$H" "$T" "$B" "$V" "$reps" >>"$OUT/us"
        OMP_NUM_THREADS=$NCORES "$BUILD/bench/onednn" "$reps" "$cell:$H:$T:$B" 2>/dev/null |
            grep -v '"size": "info"' >"$OUT/d.json"
        json_ms "$OUT/d.json" >>"$OUT/ds"
        if [ "$treps" -gt 0 ]; then
            t1=$(torch_ms "$cell" "$H" "$T" "$B" "$V" "$treps" 1)
            tn=$(torch_ms "$cell" "$H" "$T" "$B" "$V" "$treps" "$NCORES")
            echo "${t1:-0} ${tn:-0}" | awk '{ m = $1; if ($2 > 0 && ($2 < m || m <= 0)) m = $2; if (m > 0) print m }' >>"$OUT/ts"
        fi
        r=$((r + 1))
    done
    # peak RSS against issue 10's bound: 1.5 x unroll's own tensors + 16 MiB
    rss=$(json_field "$OUT/u.json" rss_mib)
    own=$(json_field "$OUT/u.json" own_mib)
    u=$(median "$OUT/us")
    d=$(median "$OUT/ds")
    t=$(median "$OUT/ts")
    [ -n "${hdr:-}" ] || {
        hdr=1
        printf '%-20s %6s %12s %12s %8s %6s %12s %8s %9s %6s\n' size V "unroll ms" "oneDNN ms" \
            ratio work "PyTorch ms" ratio "RSS MiB" limit
    }
    awk -v s="$cell:$H:$T:$B" -v v="$V" -v u="${u:-0}" -v d="${d:-0}" -v t="${t:-0}" \
        -v rss="${rss:-0}" -v own="${own:-0}" -v cell="$cell" -v H="$H" -v T="$T" -v B="$B" 'BEGIN {
        # the products of each side (bench/report.py step_flops, bench/onednn.c layer_flops)
        G = cell == "lstm" ? 4 : cell == "gru" ? 3 : 1
        mine = T * (6 * G * B * H * H + 6 * B * H * v) - 2 * G * B * H * H
        theirs = 12 * T * B * G * H * H
        printf "%-20s %6s %12.4f %12.4f %7.2fx %5.2fx", s, v, u, d, (u > 0 ? d / u : 0), theirs / mine
        if (t > 0) printf " %12.4f %7.2fx", t, (u > 0 ? t / u : 0)
        else printf " %12s %8s", "-", "-"
        lim = 1.5 * own + 16
        printf " %9.1f %6.1f %s\n", rss, lim, (rss <= lim ? "ok" : "OVER") }'
done
echo "  unroll: the whole step (output projection V wide, softmax, BPTT, SGD); oneDNN: the" \
    "recurrent layer alone; work: oneDNN's layer's FLOPs over unroll's step's, the ratio the" \
    "two would have at the same FLOP rate (about 1 for an Elman layer as wide as the vocabulary);" \
    "PyTorch: nn.RNN/LSTM/GRU + Linear, the same work as unroll, the" \
    "faster of 1 and $NCORES threads ('-': no python3-torch); ratios = baseline / unroll," \
    "medians of $ROUNDS interleaved rounds, $NCORES threads; RSS: unroll's peak resident" \
    "memory, limit 1.5 x its own tensors (parameters, gradients, optimiser state, values" \
    "kept for the backward) + 16 MiB"
