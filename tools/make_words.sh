#!/bin/sh
# tools/make_words.sh OUT - builds the word-language data set from the word
# lists of Debian packages (wamerican, wngerman, wfrench, witalian,
# wspanish, wportuguese, wdutch): 3,000 words of each language, every k-th
# word of the list (deterministic), lowercase-initial words of 2 to 20
# bytes without apostrophes, as TSV lines "word<TAB>language".
set -e
out=$1
dict=/usr/share/dict
tmp=$out.tmp
: >"$tmp"
for pair in american-english:english ngerman:german french:french italian:italian \
    spanish:spanish portuguese:portuguese dutch:dutch; do
    file=${pair%%:*}
    lang=${pair#*:}
    [ -f "$dict/$file" ] || { echo "make_words: $dict/$file missing (run tools/setup.sh)" >&2; exit 1; }
    grep -v "'" "$dict/$file" | grep -v '^[A-Z]' | awk 'length($0) >= 2 && length($0) <= 20' >"$tmp.l"
    n=$(wc -l <"$tmp.l")
    awk -v k=$((n / 3000)) -v lang="$lang" 'NR % k == 0 && c < 3000 { print $0 "\t" lang; c++ }' \
        "$tmp.l" >>"$tmp"
done
rm -f "$tmp.l"
mv "$tmp" "$out"
