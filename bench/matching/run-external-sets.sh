#!/usr/bin/env bash
# run-external-sets.sh - the external data sets of bench/MATCHING.md ("External data"), one after
# the other through bench/run-matching.sh external, each run's output kept in OUTDIR, then the
# table of their RESULT lines (set, P, R auto, F1, R with stewards, queue, refused, events/s).
# Environment as bench/run-matching.sh (UPPER/LOWER, EXTRA_YAML, BENCH_MATCHING, ...).
#   run-external-sets.sh [OUTDIR]      (default: a new directory under /tmp)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-$(mktemp -d /tmp/joinery-external.XXXXXX)}
mkdir -p "$out"
data=tests/data/matching
runs=(
    "splink3|$data/splink_fake_20000.csv --systems 3"
    "set_a|$data/febrl-style/set_a.csv --layout split"
    "set_b|$data/febrl-style/set_b.csv --systems 3"
    "set_c|$data/febrl-style/set_c.csv --systems 3"
    "set_d|$data/febrl-style/set_d.csv --systems 3"
)
for r in "${runs[@]}"; do
    name=${r%%|*}
    # shellcheck disable=SC2086 # the arguments are meant to split
    bench/run-matching.sh external ${r#*|} >"$out/$name.txt" 2>&1 ||
        echo "$name: bench/run-matching.sh failed; see $out/$name.txt" >&2
done
echo "outputs in $out"
echo "| set | P auto | R auto | F1 | R with stewards | queue (% of records) | refused | events/s |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for r in "${runs[@]}"; do
    grep -h '^RESULT' "$out/${r%%|*}.txt" | sed 's/^RESULT //' || echo "| ${r%%|*} | (no result) |"
done
