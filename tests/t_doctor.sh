#!/bin/sh
# t_doctor.sh - `unroll doctor` prints every line it promises and exits 0;
# --help works; a weak OpenBLAS core (forced with OPENBLAS_CORETYPE=Prescott)
# on a CPU with AVX gives the warning with its fix in doctor, but not in
# `train --verbose` or the run's `program` record (unroll links no BLAS:
# the record says so), and the core the CPU supports gives no warning, and
# `ckpt verify` in the same environment finds the program it recorded. UNROLL_ISA / UNROLL_THREADS
# show in doctor; a bad value is reported there, not fatal. (The check's
# logic on made-up cores and CPUs: tests/test_blascheck.c.) Prints
# PASS/FAIL lines for tests/run.sh.
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh

out=$("$UNROLL" doctor 2>&1)
rc=$?
missing=""
for k in cpu vendor features "os saves" vector kernels cores cache "row runs" blas "blas core" "blas check"; do
    printf '%s\n' "$out" | grep -q "^$k  *[^ ]" || missing="$missing '$k'"
done
if [ "$rc" -eq 0 ] && [ -z "$missing" ]; then
    ok doctor_lines
else
    ko doctor_lines "exit $rc, missing:$missing" "$out"
fi

h=$("$UNROLL" doctor --help 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && printf '%s' "$h" | grep -q '^usage: unroll doctor' &&
    printf '%s' "$h" | grep -q OPENBLAS_CORETYPE; then
    ok doctor_help
else
    ko doctor_help "exit $rc" "$h"
fi
"$UNROLL" doctor --bogus >/dev/null 2>"$T/err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q "unknown option '--bogus'" "$T/err"; then
    ok doctor_bad_option
else
    ko doctor_bad_option "exit $rc" "$(cat "$T/err")"
fi
"$UNROLL" --help | grep -q '^  doctor ' && ok doctor_listed || ko doctor_listed

# the kernels' settings as the environment makes them; a bad value is
# reported, not fatal (every other command stops on it)
e=$(UNROLL_THREADS=3 UNROLL_ISA=generic "$UNROLL" doctor 2>&1)
if printf '%s\n' "$e" | grep -q '^kernels  *generic path, 1 float32 / 1 float64 per vector; UNROLL_ISA=generic' &&
    printf '%s\n' "$e" | grep -q '^cores  *[0-9]* available; the kernels run 3 threads (UNROLL_THREADS=3)'; then
    ok doctor_environment
else
    ko doctor_environment "$e"
fi
e=$(UNROLL_THREADS=lots "$UNROLL" doctor 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && printf '%s\n' "$e" | grep -q '^environment  *UNROLL_THREADS=lots: expected' &&
    printf '%s\n' "$e" | grep -q 'threads (the default: one per core)'; then
    ok doctor_bad_environment
else
    ko doctor_bad_environment "exit $rc" "$e"
fi

# The CPU's level decides whether Prescott is weak here: it is on any CPU
# with AVX (every x86-64 of the last decade), not on an older one.
level=$(printf '%s\n' "$out" | sed -n 's/^vector  *\([^,]*\),.*/\1/p')
weak=1
[ "$level" = SSE3 ] && weak=0
case "$level" in
AVX-512) fix=SkylakeX ;;
AVX2+FMA) fix=Haswell ;;
AVX) fix=Sandybridge ;;
*) fix="" ;;
esac
# run CORETYPE NAME: doctor, a two-step train --verbose and runs show, with
# OPENBLAS_CORETYPE set to CORETYPE
cfg="$T/c.yaml"
printf 'name: dr\ndata: {kind: text, path: tests/golden/min_char_rnn/text.txt}\nmodel: {hidden: 8}\ntrain: {seq_len: 5, steps: 2, log_every: 1}\n' >"$cfg"
check_core() {
    d=$(OPENBLAS_CORETYPE=$1 "$UNROLL" doctor 2>&1)
    OPENBLAS_CORETYPE=$1 "$UNROLL" train "$cfg" --db "$T/$2.db" --name "$2" --verbose \
        >/dev/null 2>"$T/$2.log"
    trc=$?
    s=$("$UNROLL" runs show "$2" --db "$T/$2.db" 2>&1 | grep '^program')
    w_doc=$(printf '%s\n' "$d" | grep -c '^blas check  *warning: .*OPENBLAS_CORETYPE=')
    w_train=$(grep -c '^warning: OpenBLAS runs its .*OPENBLAS_CORETYPE=' "$T/$2.log")
    w_prog=$(printf '%s' "$s" | grep -c '\[OpenBLAS runs its .*OPENBLAS_CORETYPE=.*\]')
}
if [ "$weak" -eq 1 ]; then
    check_core Prescott weak
    if [ "$trc" -eq 0 ] && [ "$w_doc$w_train$w_prog" = 100 ] &&
        printf '%s\n' "$d" | grep -q "OPENBLAS_CORETYPE=$fix\$" &&
        printf '%s' "$s" | grep -q "kernels [a-z0-9]*; no BLAS" && ! grep -qi openblas "$T/weak.log"; then
        ok doctor_weak_core_warns
    else
        ko doctor_weak_core_warns "train exit $trc, warnings doctor/train/program: $w_doc/$w_train/$w_prog (fix $fix)" \
            "$d" "$s" "$(cat "$T/weak.log")"
    fi
    check_core "$fix" strong
    # the record is compared, not rebuilt differently: a replay in the
    # same environment finds the same program
    v=$(OPENBLAS_CORETYPE=$fix "$UNROLL" ckpt verify strong --db "$T/strong.db" 2>&1)
    if [ "$trc" -eq 0 ] && [ "$w_doc$w_train$w_prog" = 000 ] && [ -n "$s" ] &&
        printf '%s\n' "$d" | grep -q '^blas check  *ok' &&
        printf '%s\n' "$v" | grep -q 'verified: bit-identical' &&
        ! printf '%s\n' "$v" | grep -q 'trained with BLAS'; then
        ok doctor_right_core_quiet
    else
        ko doctor_right_core_quiet "train exit $trc, warnings doctor/train/program: $w_doc/$w_train/$w_prog" \
            "$d" "$s" "$v" "$(cat "$T/strong.log")"
    fi
else
    ok "doctor_weak_core_warns # skipped: this CPU has no AVX"
    ok "doctor_right_core_quiet # skipped: this CPU has no AVX"
fi
