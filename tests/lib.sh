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

# cjk_text COUNT SYMBOLS SEED: COUNT characters drawn from SYMBOLS code
# points from U+4E00 on, as UTF-8, 60 to a line, by a fixed linear
# congruential generator (the same text for the same arguments): a
# vocabulary as large as wanted
cjk_text() {
    LC_ALL=C awk -v n="$1" -v m="$2" -v s="$3" 'BEGIN {
        for (i = 0; i < n; i++) {
            s = (s * 1103515245 + 12345) % 2147483648
            cp = 19968 + int(s / 65536) % m
            printf "%c%c%c", 224 + int(cp / 4096), 128 + int(cp / 64) % 64, 128 + cp % 64
            if (i % 60 == 59) printf "\n"
        }
    }'
}

# last_ckpt_hashes DB: the names and content hashes of the tensors of the
# newest checkpoint in DB (what two runs that must agree are compared by)
last_ckpt_hashes() {
    "$UNROLL" query --db "$1" --csv "SELECT ct.name, ct.tensor FROM checkpoint_tensors ct
        WHERE ct.checkpoint = (SELECT id FROM checkpoints ORDER BY step DESC, version DESC
        LIMIT 1) ORDER BY ct.name"
}
