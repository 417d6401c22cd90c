#!/usr/bin/env bash
# run-matching.sh [accuracy|throughput] [PEOPLE] [SEED] - identity-matching accuracy and load
# throughput of the hub's master-data engine (bench/MATCHING.md). Builds in build-bench/
# (Release), starts joineryd with a private data directory under /tmp (no database configured,
# so the hub runs its own PostgreSQL; CurveZMQ on), loads a synthetic population as the
# socialcare and crm adapters, reads the outcome back from PostgreSQL and prints precision,
# recall, the steward queue, the false merges, events/s and the hub's memory. Stops everything
# it started and removes the directory.
#   accuracy    (default) 20,000 people
#   throughput  312,500 people: socialcare holds 80% of them, so crm is loaded against about
#               250,000 golden records
# run-matching.sh external FILE [FILE2] [--format splink|febrl] [--systems 2|3]
#                 [--layout spread|split] - another's data set (bench/MATCHING.md, "External
#               data"): every record loaded as person.updated from two or three systems, scored
#               against the file's truth (splink `cluster`, FEBRL rec-N-org / rec-N-dup-K)
# Environment: SHARED_ID=0 (external) leaves FEBRL's soc_sec_id out (by default it is sent as an
# identifier every system shares, which the hub compares); SYSTEMS=3 also loads a health
# system; UPPER and LOWER set the matching
# thresholds (master_data.matching); CSV=FILE writes every record with its person; OUTCOME=FILE
# (external) every record with the golden record it went to; KEEP=1 keeps
# the data directory (the hub and PostgreSQL are stopped all the same); ENTITIES=1 then loads
# every system's addresses and socialcare's cases and checks them in the database. MOVES=1: before
# the loads, each system that holds a person's current address while another still has the one
# they left first sends them at that old address (bench_matching --moves).
# BENCH_MATCHING=PATH runs another build of bench_matching (a sanitizer build, say) against the
# Release hub. EXTRA_YAML=FILE is appended to the hub's configuration (say, a master_data section
# naming a parameters file); UPPER/LOWER and the shared identifier then go into its
# master_data.matching section.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() {
    echo "usage: $0 [accuracy|throughput] [PEOPLE] [SEED]" >&2
    echo "       $0 external FILE [FILE2] [--format splink|febrl] [--systems 2|3] [--layout spread|split]" >&2
    exit 2
}
mode=${1:-accuracy}
systems=${SYSTEMS:-2}
external=()
case $mode in
accuracy) people=${2:-20000} ;;
throughput) people=${2:-312500} ;;
external)
    shift
    layout=spread
    format=""
    while [[ $# -gt 0 ]]; do
        case $1 in
        --format) format=${2:-}; shift 2 || usage ;;
        --systems) systems=${2:-}; shift 2 || usage ;;
        --layout) layout=${2:-}; shift 2 || usage ;;
        -*) usage ;;
        *)
            [[ -f $1 ]] || { echo "$0: no such file: $1" >&2; exit 2; }
            external+=(--external "$(realpath "$1")")
            shift
            ;;
        esac
    done
    [[ ${#external[@]} -gt 0 ]] || usage
    [[ $systems == 2 || $systems == 3 ]] || usage
    [[ $layout == spread || $layout == split ]] || usage
    [[ -z $format || $format == splink || $format == febrl ]] || usage
    external+=(--layout "$layout")
    [[ -n $format ]] && external+=(--format "$format")
    # FEBRL's soc_sec_id is a national identifier: sent as one every system records alike,
    # and compared by the hub (master_data.matching.shared_identifier), unless SHARED_ID=0.
    [[ ${SHARED_ID:-1} == 0 ]] || external+=(--shared-id)
    ;;
*) usage ;;
esac
seed=${3:-1}
[[ $mode == external ]] && seed=1
if [[ -n ${UPPER:-} || -n ${LOWER:-} ]] && [[ -z ${UPPER:-} || -z ${LOWER:-} ]]; then
    echo "$0: set both UPPER and LOWER, or neither" >&2
    exit 2
fi

cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DJOINERY_TESTS=OFF >/dev/null
cmake --build build-bench -j "${JOBS:-$(nproc)}" --target joineryd joinery_cli bench_matching >/dev/null

dir=$(mktemp -d /tmp/joinery-matching.XXXXXX)
chmod 0711 "$dir" # PostgreSQL runs as an unprivileged user and must reach its data below
hub=""
cleanup() {
    if [[ -n $hub ]] && kill -0 "$hub" 2>/dev/null; then
        kill -TERM "$hub"
        wait "$hub" 2>/dev/null || true
    fi
    # SIGTERM makes the hub stop its PostgreSQL; if the hub died first, stop the postmaster
    # it left, by the pid PostgreSQL recorded.
    local pidfile=$dir/data/pg/data/postmaster.pid pg
    if [[ -f $pidfile ]]; then
        pg=$(head -n1 "$pidfile")
        if [[ $pg =~ ^[0-9]+$ ]] && kill -0 "$pg" 2>/dev/null; then
            kill -INT "$pg" || true # fast shutdown
            for _ in $(seq 1 100); do
                kill -0 "$pg" 2>/dev/null || break
                sleep 0.1
            done
        fi
    fi
    if [[ ${KEEP:-0} == 1 ]]; then
        echo "data directory kept: $dir"
    else
        rm -rf "$dir"
    fi
}
trap cleanup EXIT

mkdir -p "$dir/keys"
adapters=(socialcare crm)
[[ $systems == 3 ]] && adapters+=(health)
for n in hub "${adapters[@]}"; do
    out=$(build-bench/adapters/cli/joinery keygen "$n" --dir "$dir/keys" 2>&1) || {
        echo "$out" >&2
        exit 1
    }
done
port=$((20000 + RANDOM % 20000))
{
    cat <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $dir/data
  log_level: info
security:
  curve: true
  hub_key_file: keys/hub.key
adapters:
YAML
    for n in "${adapters[@]}"; do
        printf '  - name: %s\n    public_key_file: keys/%s.pub\n    publish: ["person.*", "address.*", "case.*"]\n' "$n" "$n"
    done
    shared=""
    [[ $mode == external && ${SHARED_ID:-1} != 0 ]] && shared=urn:joinery:bench:soc-sec-id
    matching=""
    [[ -z ${UPPER:-} ]] || matching+=$(printf '    upper: %s\n    lower: %s' "$UPPER" "$LOWER")$'\n'
    [[ -z $shared ]] || matching+="    shared_identifier: $shared"$'\n'
    if [[ -n ${EXTRA_YAML:-} ]] && grep -q '^master_data:' "$EXTRA_YAML"; then
        # One master_data section: these settings go into the file's own matching section.
        # (A file with master_data but no matching section must end with master_data.)
        awk -v add="$matching" '
            { print }
            /^master_data:/ && add != "" { pending = 1 }
            /^  matching:/ && pending { printf "%s", add; pending = 0 }
            END { if (pending) printf "  matching:\n%s", add }' "$EXTRA_YAML"
    else
        [[ -z $matching ]] || printf 'master_data:\n  matching:\n%s' "$matching"
        [[ -z ${EXTRA_YAML:-} ]] || cat "$EXTRA_YAML"
    fi
} >"$dir/hub.yaml"

build-bench/hub/joineryd --config "$dir/hub.yaml" >"$dir/hub.log" 2>&1 &
hub=$!
for _ in $(seq 1 600); do
    grep -q "ready" "$dir/hub.log" && break
    kill -0 "$hub" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q "ready" "$dir/hub.log"; then
    echo "$0: the hub did not become ready; its log:" >&2
    tail -n 30 "$dir/hub.log" >&2
    exit 1
fi

echo "machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print int($2/1048576)" GiB"}'), $(date -u +%Y-%m-%d)"
if [[ $mode == external ]]; then
    echo "mode: external, $systems systems, thresholds ${UPPER:-default}/${LOWER:-default}"
    "${BENCH_MATCHING:-build-bench/bench/bench_matching}" "${external[@]}" --systems "$systems" ${OUTCOME:+--outcome "$OUTCOME"} \
        --endpoint "tcp://127.0.0.1:$port" --keys "$dir/keys" \
        --pg "host=$dir/data/pg/run dbname=joinery user=joinery" --hub-pid "$hub"
else
    echo "mode: $mode, $people people, seed $seed, $systems systems, thresholds ${UPPER:-default}/${LOWER:-default}"
    "${BENCH_MATCHING:-build-bench/bench/bench_matching}" --people "$people" --seed "$seed" --systems "$systems" --stats \
        --endpoint "tcp://127.0.0.1:$port" --keys "$dir/keys" \
        --pg "host=$dir/data/pg/run dbname=joinery user=joinery" --hub-pid "$hub" \
        --pg-pid "$(head -n1 "$dir/data/pg/data/postmaster.pid")" \
        ${CSV:+--csv "$CSV"} ${ENTITIES:+--entities} ${MOVES:+--moves}
fi

kill -TERM "$hub"
wait "$hub" || true
hub=""
grep -o "master data: .*" "$dir/hub.log" | sed 's/^/hub: /' || true
problems=$(grep -ciE " (warn|error|fatal)" "$dir/hub.log" || true)
echo "hub log: $problems warning/error lines$([[ $problems -gt 0 ]] && echo "; first ones:")"
grep -iE " (warn|error|fatal)" "$dir/hub.log" | head -n 5 || true
