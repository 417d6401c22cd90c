#!/usr/bin/env bash
# run-trained.sh RUN-MATCHING-ARGS... - one data set matched with the built-in defaults, then
# with the parameters `joinery match train` estimates from what that first run loaded (the
# hub trained on the data it holds, issue 17), and both outcomes side by side:
#   1. bench/run-matching.sh ARGS with KEEP=1 (the data directory is kept);
#   2. the hub's own PostgreSQL in that directory started again (pg_ctl, as the cluster's
#      owner), `joinery match train --db ... --out OUTDIR/trained.yaml`, PostgreSQL stopped;
#   3. bench/run-matching.sh ARGS again with EXTRA_YAML naming that file as
#      master_data.matching.parameters_file.
# Examples:
#   bench/matching/run-trained.sh accuracy
#   bench/matching/run-trained.sh external tests/data/matching/febrl-style/set_c.csv \
#       --format febrl --systems 3 --layout spread
# Environment: OUTDIR (default a new /tmp/joinery-trained.XXXXXX) keeps both runs' output, the
# training table and the trained file; SEED, SAMPLE are passed to `match train` (--seed,
# --sample). The first run's data directory is removed at the end unless KEEP=1 (then its path
# is printed, to train again on the same records: TRAIN_FROM=DIR then skips the defaults' run
# and trains on DIR, which it leaves in place).
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ $# -gt 0 ]] || { echo "usage: $0 accuracy|external ARGS..." >&2; exit 2; }
out=${OUTDIR:-$(mktemp -d /tmp/joinery-trained.XXXXXX)}
mkdir -p "$out"
out=$(realpath "$out")
kept=""
pgdata=""
owner=""
as_owner() { # root starts the cluster as its owner; anyone else owns it already
    if [[ $owner == $(id -un) ]]; then "$@"; else runuser -u "$owner" -- "$@"; fi
}
stop_pg() {
    if [[ -n $pgdata && -f $pgdata/postmaster.pid ]]; then
        as_owner "$pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null || true
    fi
}
cleanup() {
    stop_pg
    if [[ -n $kept && -d $kept ]]; then
        if [[ ${KEEP:-0} == 1 || -n ${keep_given:-} ]]; then echo "data directory kept: $kept"; else rm -rf "$kept"; fi
    fi
    return 0
}
trap cleanup EXIT

if [[ -n ${TRAIN_FROM:-} ]]; then
    kept=$TRAIN_FROM # a directory KEEP=1 left: train on it again, skip the defaults' run
    keep_given=1
else
    echo "== defaults: bench/run-matching.sh $*"
    KEEP=1 bash bench/run-matching.sh "$@" | tee "$out/defaults.txt"
    kept=$(sed -n 's/^data directory kept: //p' "$out/defaults.txt" | tail -n1)
fi
[[ -n $kept && -d $kept/data/pg/data ]] || { echo "$0: no kept data directory" >&2; exit 1; }

# The hub runs PostgreSQL as the data directory's owner (hub/store/pgcluster.c) with its
# socket under data/pg/run (its postgresql.conf says so); the bench stopped it, so start it
# again as that user.
pgdata=$kept/data/pg/data
owner=$(stat -c %U "$pgdata")
pg_ctl=$(command -v pg_ctl || ls /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n1)
as_owner "$pg_ctl" -D "$pgdata" -l "$pgdata/train.log" -w start >/dev/null
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DJOINERY_TESTS=OFF >/dev/null
cmake --build build-bench -j "${JOBS:-$(nproc)}" --target joinery_cli >/dev/null
echo "== joinery match train"
build-bench/adapters/cli/joinery match train \
    --db "host=$kept/data/pg/run dbname=joinery user=joinery" \
    ${SEED:+--seed "$SEED"} ${SAMPLE:+--sample "$SAMPLE"} \
    --out "$out/trained.yaml" | tee "$out/train.txt"
stop_pg
pgdata=""

printf 'master_data:\n  matching:\n    parameters_file: %s\n' "$out/trained.yaml" >"$out/extra.yaml"
echo "== trained: EXTRA_YAML=$out/extra.yaml bench/run-matching.sh $*"
KEEP=0 EXTRA_YAML=$out/extra.yaml bash bench/run-matching.sh "$@" | tee "$out/trained.txt"

echo "== $* (output in $out)"
for run in defaults trained; do
    [[ -f $out/$run.txt ]] || continue
    grep -E "^RESULT|^  precision .*recall" "$out/$run.txt" | sed "s/^/$run: /" || true
done
