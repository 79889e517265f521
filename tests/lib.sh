# tests/lib.sh - what the tests/t_*.sh scripts share; sourced (". tests/lib.sh"),
# never run. tests/run.sh counts the PASS and FAIL lines they print.

ok() { echo "PASS $1"; }

# skip WHAT WHY: a check that cannot run here says so; tests/run.sh counts
# the SKIP lines, so a skipped check is never mistaken for a passed one
skip() { echo "SKIP $1 ($2)"; }

# ko NAME [DETAIL...]: the failure, then up to 30 lines of detail, indented
ko() {
    echo "FAIL $1"
    shift
    [ $# -gt 0 ] && echo "$*" | head -30 | sed 's/^/  /'
    return 0
}

# wait_ckpts UNROLL DB N: until DB holds N checkpoints (about 6 s at most),
# for tests that interrupt a training run after it has saved some
wait_ckpts() {
    n=0
    while [ "$n" -lt 300 ]; do
        c=$("$1" query --db "$2" --csv "SELECT count(*) FROM checkpoints" 2>/dev/null | tail -1)
        [ "${c:-0}" -ge "$3" ] && return 0
        sleep 0.02
        n=$((n + 1))
    done
    return 1
}
