#!/bin/sh
# bench/run.sh BUILD - `make bench`: unroll against oneDNN's RNN primitives,
# PyTorch and numpy on the sizes of issue 10, printed as a table with the
# ratios, each size's FLOPs and the fraction of the machine's FMA peak.
# Never part of `make test`; nothing here passes or fails on time.
#
#   S1  V=65  H=100  T=25   B=1   float32 (and float64, against numpy too)
#   S2  V=65  H=256  T=64   B=32  float32
#   S3  V=128 H=1024 T=32   B=64  float32
#   S4  V=65  H=128  T=1000 B=1   float32
#   L2  V=65  H=256  T=64   B=32  float32, model.cell: lstm (S2's size)
#   G2  V=65  H=256  T=64   B=32  float32, a GRU in PyTorch's formula
#                                 (bench/gru_torch.yaml; oneDNN's lbr_gru)
#
# and each preset (elman, jordan, lstm, gru) against its custom form
# (configs/*_custom.yaml) at V=65 H=128 T=32 B=32: the same sizes set over
# both, so the only difference is the YAML that describes the cell. Both
# nets run in one process, their steps interleaved (bench pair), so the
# machine's load weighs on both alike.
#
# The baselines, in the same run:
#   oneDNN   bench/onednn.c: the recurrent layer alone (no output
#            projection), forward training + backward, Debian's libdnnl,
#            OMP_NUM_THREADS = the cores. Without libdnnl-dev (installed
#            when missing, if apt-get can) its column stays empty.
#   PyTorch  bench/ref.py, twice: OpenBLAS as Debian ships it (its core
#            guessed from the CPU's model name) and with OPENBLAS_CORETYPE
#            set to the strongest core the CPU's features allow (SkylakeX
#            for AVX-512, Haswell for AVX2+FMA: `unroll doctor` says
#            which); each with 1 thread and with every core, the faster kept.
#   peak     bench/fmapeak.c: independent FMA chains on every core.
#
# Each figure is one process (so peak RSS is its own), measured in
# BENCH_ROUNDS interleaved rounds (default 3): unroll, oneDNN, then
# PyTorch, per size per round; the table shows medians over the rounds of
# per-process medians over repeated steps after warm-up.
# PyTorch comes from Debian's python3-torch (installed when missing, if
# apt-get can), numpy from python3-numpy; without them only unroll's and
# oneDNN's figures are printed. Before timing, the script waits (up to
# BENCH_WAIT seconds, default 120) for compilers to finish: timing next to
# a build measures the build.
#
# A quick run (a few minutes): BENCH_ROUNDS=1 BENCH_SIZES="S1 S2 L2"
# BENCH_QUICK=1 (the step table only: no custom forms, sampling, fuse
# levels, graph builds or `unroll train` runs).
set -u
BUILD=${1:-build/rel}
ROUNDS=${BENCH_ROUNDS:-3}
ONLY=${BENCH_SIZES:-}
QUICK=${BENCH_QUICK:-0}
NCORES=$(nproc 2>/dev/null || echo 1)
CUSTOM_REPS=${BENCH_CUSTOM_REPS:-60}
TRAIN_CUSTOM_STEPS=${BENCH_TRAIN_CUSTOM_STEPS:-300}
PY=/usr/bin/python3
CC=${CC:-cc}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
RES="$OUT/results.jsonl"
: >"$RES"

# apt_get PACKAGE...: Debian packages for the baselines (never for the
# tests), when apt-get is there and may install
apt_get() {
    command -v apt-get >/dev/null 2>&1 || return 1
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    echo "bench: installing Debian's $* for the baselines" >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >"$OUT/apt.log" 2>&1 ||
        { tail -3 "$OUT/apt.log" >&2; return 1; }
}

# ---- the tools -----------------------------------------------------------------
PKG_CFLAGS=$(pkg-config --cflags yaml-0.1 sqlite3)
PKG_LIBS=$(pkg-config --libs yaml-0.1 sqlite3)
mkdir -p "$BUILD/bench"
$CC -std=c11 -D_GNU_SOURCE -O2 -I. $PKG_CFLAGS bench/bench.c "$BUILD/libunroll.a" $PKG_LIBS \
    -lm -lpthread -o "$BUILD/bench/bench" || exit 1
$CC -std=c11 -D_GNU_SOURCE -O2 -I. bench/fmapeak.c -lpthread -o "$BUILD/bench/fmapeak" || exit 1
BENCH="$BUILD/bench/bench"
UNROLL="$BUILD/unroll"

# OpenBLAS's sgemm peak (bench/peak.c), the issue's own yardstick: unroll
# links no BLAS, so a machine may lack its headers (libopenblas-dev)
have_blas=0
blas_build() {
    # shellcheck disable=SC2046
    $CC -std=c11 -D_GNU_SOURCE -O2 -I. $(pkg-config --cflags openblas 2>/dev/null) \
        bench/peak.c $(pkg-config --libs openblas 2>/dev/null) -lpthread \
        -o "$BUILD/bench/peak" 2>"$OUT/blas.log"
}
if blas_build || { apt_get libopenblas-dev && blas_build; }; then
    have_blas=1
else
    echo "bench: skipped OpenBLAS's peak: libopenblas-dev is not installed and could not be" >&2
fi

# oneDNN: a program of its own, so that a machine without it still benches
have_dnnl=0
dnnl_build() {
    $CC -std=c11 -D_GNU_SOURCE -O2 -I. bench/onednn.c -ldnnl -o "$BUILD/bench/onednn" \
        2>"$OUT/dnnl.log"
}
if dnnl_build || { apt_get libdnnl-dev && dnnl_build; }; then
    have_dnnl=1
else
    echo "bench: skipped oneDNN: libdnnl-dev (oneDNN 2.6) is not installed and could not be;" \
        "no oneDNN column" >&2
fi

have_torch=0
if [ -x "$PY" ] && "$PY" -c 'import torch, numpy' 2>/dev/null; then
    have_torch=1
elif apt_get python3-torch python3-numpy; then
    [ -x "$PY" ] && "$PY" -c 'import torch, numpy' 2>/dev/null && have_torch=1
fi
# threadpoolctl reports the OpenBLAS core PyTorch ran (ref.py asks
# OpenBLAS itself without it)
if [ "$have_torch" -eq 1 ] && ! "$PY" -c 'import threadpoolctl' 2>/dev/null; then
    apt_get python3-threadpoolctl || true
fi
[ "$have_torch" -eq 1 ] || echo "bench: no PyTorch here: no PyTorch or numpy columns" >&2

# the strongest OpenBLAS core this CPU's features allow, from unroll doctor
STRONG=$("$UNROLL" doctor 2>/dev/null | sed -n 's/^vector  *\([^,]*\),.*/\1/p')
case "$STRONG" in
AVX-512) STRONG=SkylakeX ;;
AVX2+FMA) STRONG=Haswell ;;
*) STRONG="" ;;
esac
echo "bench: OpenBLAS's own core: $(env -u OPENBLAS_CORETYPE "$UNROLL" doctor |
    sed -n 's/^blas core  *//p'); PyTorch also runs with" \
    "OPENBLAS_CORETYPE=${STRONG:-(none: no AVX2 here)}" >&2

# ---- a quiet machine ------------------------------------------------------------
waited=0
while pgrep -x cc1 >/dev/null 2>&1 && [ "$waited" -lt "${BENCH_WAIT:-120}" ]; do
    [ "$waited" -eq 0 ] && echo "bench: waiting for a compiler to finish" >&2
    sleep 5
    waited=$((waited + 5))
done

# record KIND SIZE IMPL THREADS ROUND JSON: one line of results
record() {
    json=$(printf '%s' "$6" | sed 's/^{//')
    printf '{"kind": "%s", "size": "%s", "impl": "%s", "threads": %s, "round": %s, %s\n' \
        "$1" "$2" "$3" "$4" "$5" "$json" >>"$RES"
}

# what unroll's kernels run here, for the report's header
doc=$("$UNROLL" doctor 2>/dev/null)
record info unroll unroll 0 0 "{\"kernels\": \"$(printf '%s\n' "$doc" |
    sed -n 's/^kernels  *//p')\", \"cores\": \"$(printf '%s\n' "$doc" | sed -n 's/^cores  *//p')\"}"

# torch_step SIZE ROUND IMPL THREADS V H T B DTYPE REPS CELL [CORETYPE]: one
# PyTorch (or numpy) measurement. OpenBLAS runs its own guess of the core,
# or CORETYPE (then the record's impl is IMPL_core).
torch_step() {
    wait_env="-u OMP_WAIT_POLICY"
    [ "$4" -gt 1 ] && wait_env=OMP_WAIT_POLICY=PASSIVE
    impl=$3
    core_env="-u OPENBLAS_CORETYPE"
    if [ -n "${12:-}" ]; then
        impl="${3}_core"
        core_env="OPENBLAS_CORETYPE=${12}"
    fi
    # the two settings are split into words on purpose (none holds a space)
    # shellcheck disable=SC2086
    j=$(env $wait_env $core_env "$PY" bench/ref.py step --impl "$3" --threads "$4" \
        --V "$5" --H "$6" --T "$7" --B "$8" --dtype "$9" --reps "${10}" --cell "${11}" \
        2>/dev/null)
    [ -n "$j" ] && record step "$1" "$impl" "$4" "$2" "$j"
}
THREADS=1
[ "$NCORES" -gt 1 ] && THREADS="1 $NCORES"


# `unroll train`'s two runs differ by this much training at least (ms)
TRAIN_DIFF_MS=${TRAIN_DIFF_MS:-1500}

# size name, V H T B dtype, unroll reps, torch reps, cell
SIZES="S1:65:100:25:1:float32:800:200:elman
S1f64:65:100:25:1:float64:800:200:elman
S2:65:256:64:32:float32:40:20:elman
S3:128:1024:32:64:float32:8:5:elman
S4:65:128:1000:1:float32:40:10:elman
L2:65:256:64:32:float32:30:10:lstm
G2:65:256:64:32:float32:30:10:bench/gru_torch.yaml"
CELLS="elman jordan lstm gru"
# wanted NAME: NAME is in BENCH_SIZES, or BENCH_SIZES is empty
wanted() {
    [ -z "$ONLY" ] && return 0
    for w in $ONLY; do
        [ "$w" = "$1" ] && return 0
    done
    return 1
}

# random texts of 65 and 128 symbols, for `unroll train`
"$BENCH" text "$OUT/t65.txt" 65 400000
"$BENCH" text "$OUT/t128.txt" 128 400000

# train_diff NAME ROUND V H T B DTYPE CELL N1 N2: `unroll train`'s time per
# step, the difference of two runs of N1 and N2 steps over (N2 - N1), so
# start-up, data loading, graph build and the final checkpoint cancel:
# what issue 10's targets compare. SGD, every step's loss stored, no
# validation, a progress line every 100 steps. CELL is a preset or a
# config file (its model is used).
train_diff() {
    td_cfg="$OUT/td_$8.yaml"
    case "$8" in
    *.yaml) td_cfg=$8 ;;
    *) printf 'name: td\ndata: {kind: text, path: x}\nmodel: {cell: %s}\n' "$8" >"$td_cfg" ;;
    esac
    td_t=""
    for td_n in "$9" "${10}"; do
        rm -f "$OUT/td.db" "$OUT/td.db-wal" "$OUT/td.db-shm"
        td_t0=$(date +%s.%N)
        "$UNROLL" train "$td_cfg" --set "data.path=$OUT/t$3.txt" --set data.valid_fraction=0 \
            --set "model.hidden=$4" --set model.init.std=0.01 --set "train.seq_len=$5" \
            --set "train.batch=$6" --set "train.dtype=$7" --set "train.steps=$td_n" \
            --set train.optimizer.name=sgd --set train.optimizer.lr=0.001 \
            --set train.valid_every=0 --set train.log_every=100 \
            --set train.checkpoint.every=0 --set "train.checkpoint.db=$OUT/td.db" \
            >/dev/null 2>&1 || return 1
        td_t="$td_t $td_t0 $(date +%s.%N)"
    done
    # shellcheck disable=SC2086
    set -- "$1" "$2" "$9" "${10}" $td_t
    td_ms=$(awk -v a="$5" -v b="$6" -v c="$7" -v d="$8" -v n1="$3" -v n2="$4" \
        'BEGIN { printf "%.6f", 1000 * ((d - c) - (b - a)) / (n2 - n1) }')
    record train_step "$1" unroll 0 "$2" "{\"ms\": $td_ms, \"n1\": $3, \"n2\": $4}"
}

r=1
while [ "$r" -le "$ROUNDS" ]; do
    echo "bench: round $r of $ROUNDS" >&2
    # the machine's sgemm peak, each round (the best round is its peak)
    if [ "$have_blas" -eq 1 ]; then
        record peak all openblas 0 "$r" "$(env -u OPENBLAS_CORETYPE "$BUILD/bench/peak")"
        [ -n "$STRONG" ] &&
            record peak all openblas_core 0 "$r" "$(OPENBLAS_CORETYPE=$STRONG "$BUILD/bench/peak")"
    fi
    record fma all unroll 0 "$r" "$("$BUILD/bench/fmapeak")"
    for line in $SIZES; do
        IFS=: read -r name V H T B dt ureps treps cell <<EOF
$line
EOF
        base=${name%f64}
        wanted "$name" || wanted "$base" || continue
        tcell=$cell
        case "$cell" in *.yaml) tcell=gru ;; esac
        j=$("$BENCH" step "$V" "$H" "$T" "$B" "$dt" "$ureps" all "$cell") &&
            record step "$name" unroll 0 "$r" "$j"
        # the step with min-char-rnn's own update (Adagrad, clipping), which
        # the numpy loop runs: what its ratio compares
        if [ "$name" = S1f64 ]; then
            jm=$("$BENCH" step "$V" "$H" "$T" "$B" "$dt" "$ureps" all "$cell" minchar) &&
                record step_minchar "$name" unroll 0 "$r" "$jm"
        fi
        # the two runs differ by TRAIN_DIFF_MS of steps at least (at the
        # step's time just measured): a start-up that varies by a few ms
        # was a tenth of S1's and S4's step over ureps steps
        tn=$(printf '%s' "$j" | sed -n 's/.*"ms": \([0-9.]*\).*/\1/p' |
            awk -v u="$ureps" -v t="$TRAIN_DIFF_MS" '{ n = int(t / $1); print (n > u ? n : u) }')
        train_diff "$name" "$r" "$V" "$H" "$T" "$B" "$dt" "$cell" "$treps" $((${tn:-$ureps} + treps))
        # oneDNN on every core (the table's figure), and on one for comparison
        if [ "$have_dnnl" -eq 1 ] && [ "$name" = "$base" ]; then
            for th in $THREADS; do
                j=$(OMP_NUM_THREADS=$th "$BUILD/bench/onednn" "$ureps" "$name" 2>/dev/null |
                    grep "\"size\": \"$name\"" | sed 's/"size": "[^"]*", //')
                impl=onednn
                [ "$th" -ne "$NCORES" ] && impl=onednn1
                [ -n "$j" ] && record onednn "$name" "$impl" "$th" "$r" "$j"
            done
        fi
        if [ "$have_torch" -eq 1 ]; then
            for th in $THREADS; do
                torch_step "$name" "$r" rnn "$th" "$V" "$H" "$T" "$B" "$dt" "$treps" "$tcell"
                [ -n "$STRONG" ] && torch_step "$name" "$r" rnn "$th" "$V" "$H" "$T" "$B" \
                    "$dt" "$treps" "$tcell" "$STRONG"
                [ "$tcell" = gru ] ||
                    torch_step "$name" "$r" cell "$th" "$V" "$H" "$T" "$B" "$dt" "$treps" "$tcell"
            done
            [ "$name" = S1f64 ] &&
                torch_step "$name" "$r" numpy 1 "$V" "$H" "$T" "$B" "$dt" "$treps" elman
        fi
    done
    if [ "$QUICK" = 1 ]; then
        r=$((r + 1))
        continue
    fi
    # each preset and its custom form, their steps interleaved in one
    # process, in turn first (a drift in the machine's load favours neither)
    for cell in $CELLS; do
        j=$("$BENCH" pair 65 128 32 32 float32 "$CUSTOM_REPS" all "$cell" \
            "configs/${cell}_custom.yaml") && record custom "$cell" pair 0 "$r" "$j"
    done
    j=$("$BENCH" sample 65 100 2000 3) && record sample S1 unroll 0 "$r" "$j"
    if [ "$have_torch" -eq 1 ]; then
        for impl in rnn cell numpy; do
            j=$("$PY" bench/ref.py sample --impl "$impl" --threads 1 --V 65 --H 100 --length 2000 \
                --reps 3 2>/dev/null) && record sample S1 "$impl" 1 "$r" "$j"
        done
    fi
    # the rewrites off and on (train.fuse): where the speed comes from
    for fuse in none exact all; do
        j=$("$BENCH" step 65 100 25 1 float32 400 "$fuse") && record fuse "S1:$fuse" unroll 0 "$r" "$j"
        j=$("$BENCH" step 65 256 64 32 float32 20 "$fuse") && record fuse "S2:$fuse" unroll 0 "$r" "$j"
    done
    r=$((r + 1))
done

# oneDNN's version and ISA, once
if [ "$have_dnnl" -eq 1 ]; then
    j=$(OMP_NUM_THREADS=$NCORES "$BUILD/bench/onednn" 1 none 2>/dev/null |
        grep '"size": "info"' | sed 's/"size": "info", //')
    [ -n "$j" ] && record info onednn onednn "$NCORES" 1 "$j"
fi
if [ "$QUICK" = 1 ]; then
    "$PY" bench/report.py "$RES"
    exit 0
fi

# graph build + autodiff + plan, growing T
for T in 1000 10000 100000; do
    j=$("$BENCH" build 65 100 "$T") && record build "T=$T" unroll 0 1 "$j"
done

# `unroll train` itself: per-step loss logged to the store, checkpoints,
# progress; SGD as in the step figures, and min-char-rnn as shipped. Each
# run's own tensors (`bench own`: the same config, the same net) give its
# memory limit.
# train_one NAME CONFIG [--set KEY=VALUE]...: one `unroll train`, recorded
train_one() {
    name=$1 cfg=$2
    shift 2
    /usr/bin/time -f '%M' -o "$OUT/rss" "$UNROLL" train "$cfg" "$@" >"$OUT/train.log" 2>&1
    line=$(grep -o 'trained [0-9]* steps in [0-9.]* s ([0-9.]* steps/s)' "$OUT/train.log" || true)
    sps=$(printf '%s' "$line" | sed 's/.*(\([0-9.]*\) steps\/s).*/\1/')
    last=$(grep -o 'last step [0-9.]*' "$OUT/train.log" | sed 's/last step //')
    rss=$(cat "$OUT/rss" 2>/dev/null || echo 0)
    V=$(grep -o '(vocabulary [0-9]*' "$OUT/train.log" | tr -dc '0-9')
    sets=""
    while [ $# -ge 2 ]; do
        sets="$sets $2"
        shift 2
    done
    # the KEY=VALUE words are split on purpose (none holds a space)
    # shellcheck disable=SC2086
    own=$([ -n "$V" ] && "$BENCH" own "$cfg" "$V" $sets | sed 's/^{//; s/}$//')
    [ -n "$sps" ] && record train "$name" unroll 0 1 \
        "{\"steps_per_s\": $sps, \"rss_kib\": $rss, \"last\": \"${last:-?}\", ${own:-\"own_mib\": null}}"
}
train_run() { # NAME STEPS EVERY TEXT HIDDEN T B DTYPE OPTIMIZER [CELL]
    cat >"$OUT/$1.yaml" <<EOF
name: $1
data: {kind: text, path: $4}
model: {cell: ${10:-elman}, hidden: $5, init: {std: 0.01}}
train: {dtype: $8, seq_len: $6, batch: $7, steps: $2, optimizer: $9,
        log_every: 100, checkpoint: {every: $3, db: $OUT/train.db}}
EOF
    train_one "$1" "$OUT/$1.yaml"
}
train_run S1 3000 1000 "$OUT/t65.txt" 100 25 1 float32 '{name: sgd, lr: 0.001}'
train_run S1f64_minchar 3000 1000 "$OUT/t65.txt" 100 25 1 float64 \
    '{name: adagrad, lr: 0.1}, clip: {value: 5}'
train_run S2 150 50 "$OUT/t65.txt" 256 64 32 float32 '{name: sgd, lr: 0.001}'
train_run S3 16 8 "$OUT/t128.txt" 1024 32 64 float32 '{name: sgd, lr: 0.001}'
train_run S4 150 50 "$OUT/t65.txt" 128 1000 1 float32 '{name: sgd, lr: 0.001}'
train_run L2 60 20 "$OUT/t65.txt" 256 64 32 float32 '{name: sgd, lr: 0.001}' lstm
# the GRU in PyTorch's formula (bench/gru_torch.yaml's model)
train_run G2 60 20 "$OUT/t65.txt" 256 64 32 float32 '{name: sgd, lr: 0.001}' 'gru, gru: torch'
# each preset and its custom form as a user trains them: the preset
# written here, the custom form as shipped, the same --set over both (so
# every key but the model's cell is the same, and so are the losses)
for cell in $CELLS; do
    cat >"$OUT/${cell}_preset.yaml" <<EOF
name: ${cell}_preset
data: {kind: text, path: $OUT/t65.txt}
model: {cell: $cell, hidden: 128, init: {std: 0.05}}
EOF
    for form in preset custom; do
        cfg="$OUT/${cell}_preset.yaml"
        [ "$form" = custom ] && cfg="configs/${cell}_custom.yaml"
        train_one "$cell:$form" "$cfg" --set "data.path=$OUT/t65.txt" \
            --set data.valid_fraction=0 --set model.hidden=128 --set model.init.std=0.05 \
            --set train.dtype=float32 --set train.seq_len=32 --set train.batch=32 \
            --set "train.steps=$TRAIN_CUSTOM_STEPS" --set train.optimizer.name=adam \
            --set train.optimizer.lr=0.003 --set train.clip.norm=5 --set train.seed=1 \
            --set train.log_every=100 --set train.checkpoint.every=100 \
            --set "train.checkpoint.db=$OUT/custom.db"
    done
done
if [ -f data/demo.txt ]; then
    train_one min_char_rnn configs/min_char_rnn.yaml --set "train.checkpoint.db=$OUT/mc.db"
    if [ "$have_torch" -eq 1 ]; then
        j=$("$PY" bench/ref.py step --impl numpy --V 112 --H 100 --T 25 --B 1 --dtype float64 \
            --reps 300) && record step min_char_rnn numpy 1 1 "$j"
    fi
fi

if [ -x "$PY" ]; then
    "$PY" bench/report.py "$RES"
else
    cat "$RES"
fi
