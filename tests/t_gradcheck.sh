#!/bin/sh
# t_gradcheck.sh - gradcheck passes right gradients: every shipped config
# and every cell in tests/cells/ at hidden 3, 6 and 32 and with 3 layers
# (small seq_len and batch, a sample of each parameter's elements), and the
# cases that once failed on finite-difference noise or at relu's kink
# (issue 11). Its verdict prints the rule's tolerances. That it fails
# wrong gradients is tests/test_gradcheck.c (a planted wrong rule).
#
# Exceptions, each for a reason the config states:
# - parity_elman (T = 100 from its data, init std 0.5) at hidden 32 is a
#   chaotic network: |dL/dU| is about 1e9 and the forward pass amplifies
#   its own rounding so far that central differences scatter at every step
#   in float64. It is checked at init std 0.25, where it is not chaotic.
# - word_language's words are up to 24 characters: seq_len stays 24.
# - two_states has no h[t] to pass up a stack: 3 layers are refused with a
#   message naming the missing h[t].
# Under UNROLL_QUICK (make asan) only hidden 6 and 3 layers.
UNROLL=${UNROLL:-build/rel/unroll}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh

for f in configs/*.yaml tests/cells/*.yaml; do
    name=$(basename "$f" .yaml)
    len="--set train.seq_len=6"
    [ "$name" = word_language ] && len=""
    sizes="model.hidden=3 model.hidden=6 model.hidden=32 model.layers=3"
    [ -n "$UNROLL_QUICK" ] && sizes="model.hidden=6 model.layers=3"
    for v in $sizes; do
        extra=""
        [ "$name" = parity_elman ] && [ "$v" = model.hidden=32 ] && extra="--set model.init.std=0.25"
        # shellcheck disable=SC2086
        $UNROLL gradcheck "$f" --set "$v" $len --set train.batch=2 --sample 60 $extra \
            >"$T/out" 2>&1
        rc=$?
        if [ "$name" = two_states ] && [ "$v" = model.layers=3 ]; then
            [ $rc -eq 1 ] && grep -q "the cell must compute h\[t\]" "$T/out" &&
                ok "gradcheck $name --set $v: refused, no h[t] to stack" ||
                ko "gradcheck $name --set $v: refused" "exit $rc: $(cat "$T/out")"
        elif [ $rc -eq 0 ] && grep -q "^passed: .* parameters agree (|a - n| <= atol .* + rtol 1e-06" "$T/out"; then
            ok "gradcheck $name --set $v"
        else
            ko "gradcheck $name --set $v" "exit $rc: $(cat "$T/out")"
        fi
    done
done

# the cases of issue 11: tiny correct gradients, a 3-layer GRU, relu at
# batch 32 (whose kinks are skipped and counted, not failed)
check() {
    want=$1
    shift
    if "$UNROLL" gradcheck "$@" >"$T/out" 2>&1 && grep -q "$want" "$T/out"; then
        ok "gradcheck $*"
    else
        ko "gradcheck $*" "$(cat "$T/out")"
    fi
}
check "^passed: 11 of 11" configs/gru_custom.yaml --set model.hidden=6 --set train.seq_len=5
check "^passed: 29 of 29" configs/elman_char.yaml --set model.cell=gru --set model.layers=3 \
    --set model.hidden=6 --set train.seq_len=5 --set train.batch=4 --sample 40
check "skipped at kinks" configs/elman_char.yaml --set model.activation=relu \
    --set train.batch=32 --set train.seq_len=8 --set model.hidden=6
