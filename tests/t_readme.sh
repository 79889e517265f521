#!/bin/sh
# t_readme.sh - README.md keeps up with the config keys. The key list is
# read from `unroll config show` when the test runs, so a key added to
# models/spec.c fails here until the README documents it:
#   - every key path config show prints (for a minimal config, and the
#     custom-cell keys for a custom config) is in README.md, either in the
#     YAML block marked <!-- t_readme: config show --> or written out as a
#     dotted path (`model.params`);
#   - every value in that block is the one config show prints for the same
#     minimal config, so the defaults the README shows are the real ones.
# Prints PASS/FAIL lines for tests/run.sh.
UNROLL=${UNROLL:-build/rel/unroll}
README=${README:-README.md}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/lib.sh

# "path<TAB>value" for every key line of a YAML block in config show's
# layout (two spaces per level). Comments are dropped; the children of
# model.params, model.state and model.step are the user's names, not keys.
keys() {
    awk '
    { sub(/\r$/, "") }
    /^[ ]*#/ || /^[ ]*$/ || /^[ ]*-/ { next }
    {
        match($0, /^ */); depth = RLENGTH / 2
        line = substr($0, RLENGTH + 1)
        if (line !~ /^[A-Za-z_][A-Za-z0-9_]*:/) next
        k = line; sub(/:.*/, "", k)
        v = line; sub(/^[^:]*:/, "", v)
        if (v ~ /^ *"/) { sub(/^ *"/, "", v); sub(/".*/, "", v) }
        else { sub(/#.*/, "", v); gsub(/^ +| +$/, "", v) }
        path[depth] = k
        p = path[0]
        for (i = 1; i <= depth; i++) p = p "." path[i]
        if (p ~ /^model\.(params|state|step)\./) next
        printf "%s\t%s\n", p, v
    }' "$@"
}

# The README block: the first ```yaml fence after the marker.
awk '/<!-- t_readme: config show -->/ { m = 1; next }
     m == 1 && /^```yaml/ { m = 2; next }
     m == 2 && /^```/ { exit }
     m == 2 { print }' "$README" >"$T/block.yaml"
if [ -s "$T/block.yaml" ]; then
    ok "readme: the config show block is there"
else
    ko "readme: the config show block is there" \
        "$README has no \`\`\`yaml block after <!-- t_readme: config show -->"
fi
keys "$T/block.yaml" | LC_ALL=C sort >"$T/readme.keys"

# The same minimal config the README shows (its name, min, comes from the
# file name).
printf 'data: {path: data/demo.txt}\n' >"$T/min.yaml"
if "$UNROLL" config show "$T/min.yaml" >"$T/min.out" 2>"$T/err" &&
    "$UNROLL" config show configs/elman_custom.yaml >"$T/custom.out" 2>>"$T/err"; then
    ok "readme: config show runs"
else
    ko "readme: config show runs" "$(cat "$T/err")"
fi
keys "$T/min.out" | LC_ALL=C sort >"$T/min.keys"
keys "$T/custom.out" | LC_ALL=C sort >"$T/custom.keys"
cut -f1 "$T/min.keys" "$T/custom.keys" | LC_ALL=C sort -u >"$T/all.paths"
n=$(wc -l <"$T/all.paths")
[ "$n" -ge 40 ] && ok "readme: config show prints $n key paths" ||
    ko "readme: config show prints $n key paths" "expected at least 40"

# Every key documented.
missing=
while IFS= read -r p; do
    if cut -f1 "$T/readme.keys" | grep -qxF "$p"; then continue; fi
    if grep -qF "$p" "$README"; then continue; fi
    missing="$missing $p"
done <"$T/all.paths"
if [ -z "$missing" ]; then
    ok "readme: every config key is documented"
else
    ko "readme: every config key is documented" \
        "not in $README:$missing (add it to the config show block under 'The YAML format')"
fi

# Every value in the block is config show's, up to quoting and number
# spelling (0 and 0.0, 1e-8 and 1.0e-08 are the same).
LC_ALL=C join -t "$(printf '\t')" "$T/readme.keys" "$T/min.keys" | awk -F '\t' '
    function num(s) { return s ~ /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/ }
    $2 != $3 && !(num($2) && num($3) && $2 + 0 == $3 + 0) {
        printf " %s: README %s, config show %s;", $1, ($2 == "" ? "\"\"" : $2), ($3 == "" ? "\"\"" : $3)
    }' >"$T/diff"
if [ -s "$T/diff" ]; then
    ko "readme: the defaults shown are config show's" "$(cat "$T/diff")"
else
    ok "readme: the defaults shown are config show's"
fi
