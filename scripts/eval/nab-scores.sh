#!/bin/sh
# NAB scores of each built-in detector over the NAB subset: hydra detect on every series, then hydra score-nab per
# profile. Prints a Markdown table (the README's). Usage: scripts/eval/nab-scores.sh [NAB_DIR] [BUILD_DIR]
set -eu
nab=${1:-../shared/datasets/nab}
build=${2:-build}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export HYDRA_PLUGIN_DIR="$build/plugins"
echo "| detector | standard | reward_low_FP_rate | reward_low_FN_rate | windows detected (standard) | false positives (standard) |"
echo "| --- | --- | --- | --- | --- | --- |"
for detector in robust_z ewma residual isolation_forest consensus; do
    for series in "$nab"/data/*/*.csv; do
        "$build/hydra" detect --detector "$detector" "$series" --out "$out/${detector}_$(basename "$series")"
    done
    row="| \`$detector\`"
    for profile in standard reward_low_FP_rate reward_low_FN_rate; do
        report=$("$build/hydra" score-nab "$out/${detector}"_*.csv --labels "$nab/labels/combined_windows.json" \
                 --profile "$profile")
        row="$row | $(echo "$report" | sed -n 's/^score: \([-0-9.]*\).*/\1/p')"
        [ "$profile" = standard ] && counts=$(echo "$report" | sed -n \
            's/.*: \([0-9]*\) of \([0-9]*\) windows detected, \([0-9]*\) false positives/\1 of \2 | \3/p')
    done
    echo "$row | $counts |"
done
