#!/bin/sh
# How much a detector's NAB score (standard profile) hangs on its defaults: the score with the defaults, then with
# each setting of SETTINGS changed alone. Prints a Markdown table.
# Usage: scripts/eval/nab-sensitivity.sh DETECTOR [NAB_DIR] [BUILD_DIR] -- "setting = value;" ...
# Example: scripts/eval/nab-sensitivity.sh consensus -- "lag = 10;" "onset_hold = 60;" "seed = 2;"
set -eu
detector=$1
shift
nab=../shared/datasets/nab
build=build
[ $# -gt 0 ] && [ "$1" != -- ] && { nab=$1; shift; }
[ $# -gt 0 ] && [ "$1" != -- ] && { build=$1; shift; }
[ $# -gt 0 ] && [ "$1" = -- ] && shift
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export HYDRA_PLUGIN_DIR="$build/plugins"
echo "| $detector settings | standard | windows detected | false positives |"
echo "| --- | --- | --- | --- |"
for change in "" "$@"; do
    printf 'plugins = ( { kind = "anomaly"; name = "%s"; settings = { %s }; } );\n' "$detector" "$change" \
        > "$out/config"
    rm -f "$out"/*.csv
    for series in "$nab"/data/*/*.csv; do
        "$build/hydra" detect --detector "$detector" --config "$out/config" "$series" --out "$out/$(basename "$series")"
    done
    report=$("$build/hydra" score-nab "$out"/*.csv --labels "$nab/labels/combined_windows.json" --profile standard)
    score=$(echo "$report" | sed -n 's/^score: \([-0-9.]*\).*/\1/p')
    counts=$(echo "$report" | sed -n \
        's/.*: \([0-9]*\) of \([0-9]*\) windows detected, \([0-9]*\) false positives/\1 of \2 | \3/p')
    echo "| ${change:-defaults} | $score | $counts |"
done
