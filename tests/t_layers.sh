#!/bin/sh
# tests/t_layers.sh - the include order of the library is its definition:
#
#   base <- kernels <- graph <- ops <- engine <- models <- train <- cli
#   base <- store
#   unroll.h, python/ on top of all of them
#
# A file may include its own folder's headers and those of any layer below
# it, never one above: base/ knows nothing of the rest, kernels/ compute on
# plain buffers, graph/ knows op ids (graph/ops.def) but no op, the store
# never sees an op. Each violation is named with its file and line.
. tests/lib.sh

# rank of a folder in the order; store sits on base alone (rank 1 but not
# below kernels: its own rule follows)
rank() {
    case $1 in
    base) echo 0 ;;
    kernels) echo 1 ;;
    graph) echo 2 ;;
    ops) echo 3 ;;
    engine) echo 4 ;;
    models) echo 5 ;;
    store) echo 5 ;;
    train) echo 6 ;;
    cli) echo 7 ;;
    *) echo 99 ;;
    esac
}

# check_tree ROOT: prints one line per upward include under ROOT
check_tree() {
    (cd "$1" && for dir in base kernels graph ops engine models store train cli; do
    mine=$(rank "$dir")
    for f in "$dir"/*.c "$dir"/*.h "$dir"/*.def; do
        [ -f "$f" ] || continue
        grep -n '^#include "' "$f" | while IFS= read -r line; do
            inc=$(echo "$line" | sed 's/^[0-9]*:#include "\([^"]*\)".*/\1/')
            num=${line%%:*}
            top=${inc%%/*}
            [ "$top" = "$inc" ] && continue # same-folder include without a path
            [ "$top" = "$dir" ] && continue
            theirs=$(rank "$top")
            if [ "$dir" = store ] && [ "$top" != base ]; then
                echo "$f:$num: store/ includes $inc (the store sits on base/ alone)"
            elif [ "$theirs" -ge "$mine" ]; then
                echo "$f:$num: $dir/ includes $inc, a layer above or beside its own"
            fi
        done
    done
done)
}

bad=$(mktemp)
check_tree . >"$bad"

if [ -s "$bad" ]; then
    ko "every library include points down the layer order" "$(cat "$bad")"
else
    ok "every library include points down the layer order"
fi

# the check itself must see a violation: a scratch file in base/ that
# includes an engine header
scratch=$(mktemp -d)
mkdir -p "$scratch/base"
printf '#include "engine/plan.h"\n' >"$scratch/base/x.c"
out=$(check_tree "$scratch")
rm -rf "$scratch" "$bad"
if [ "$out" = 'base/x.c:1: base/ includes engine/plan.h, a layer above or beside its own' ]; then
    ok "t_layers sees an upward include in a scratch tree"
else
    ko "t_layers sees an upward include in a scratch tree"
fi
