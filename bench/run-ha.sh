#!/usr/bin/env bash
# run-ha.sh [COUNT] - what a synchronous streaming standby costs the durable
# rate: bench_throughput (bench.durable: publisher -> joineryd -> subscriber,
# CurveZMQ on, ~300-byte payloads, confirmed after commit) against a hub whose
# database is the primary of tests/support/pg-pair.sh (primary + streaming
# standby on private sockets, fsync on), run twice on the same clusters:
#   1. synchronous_standby_names = 'standby': a commit waits for the standby
#      to flush it (a CONFIRM means both machines have the event);
#   2. synchronous_standby_names = '': the standby streams asynchronously.
# Both clusters and the hub share this machine's cores, so read the pair of
# figures, not either alone. Builds in build-bench/ (Release) first.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-100000}
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER_LAUNCHER=ccache >/dev/null
cmake --build build-bench -j 2 --target joineryd bench_throughput joinery_cli >/dev/null
dir=$(mktemp -d /tmp/joinery-bench-ha.XXXXXX)
chmod 0711 "$dir"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; bash tests/support/pg-pair.sh "$dir/ha" stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
db=$(bash tests/support/pg-pair.sh "$dir/ha" start)
psql_primary() {
    "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)/psql" -X -A -t -q \
        -d "host=$dir/ha/primary/run dbname=postgres user=joinery" -c "$1"
}
mkdir -p "$dir/keys"
for n in hub bench-pub bench-sub; do build-bench/adapters/cli/joinery keygen "$n" --dir "$dir/keys" >/dev/null; done
port=$((20000 + RANDOM % 20000))
cat >"$dir/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $dir/data
  log_level: info
database:
  conninfo: "$db"
security:
  curve: true
  hub_key_file: keys/hub.key
adapters:
  - name: bench-pub
    public_key_file: keys/bench-pub.pub
    publish: ["bench.*"]
  - name: bench-sub
    public_key_file: keys/bench-sub.pub
    subscribe: ["bench.*"]
YAML
build-bench/hub/joineryd --config "$dir/hub.yaml" >"$dir/hub.log" 2>&1 &
for _ in $(seq 1 300); do
    grep -q "ready: listening" "$dir/hub.log" && break
    sleep 0.1
done
echo "machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print int($2/1048576)" GiB"}'), $(date -u +%Y-%m-%d)"
echo "== 1. synchronous standby ($(psql_primary "SELECT application_name || ' ' || sync_state FROM pg_stat_replication"))"
build-bench/bench/bench_throughput "tcp://127.0.0.1:$port" "$dir/keys" bench.durable "$COUNT" 300
psql_primary "ALTER SYSTEM SET synchronous_standby_names = ''"
psql_primary "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 100); do
    [[ $(psql_primary "SELECT sync_state FROM pg_stat_replication") == async ]] && break
    sleep 0.1
done
echo "== 2. asynchronous standby ($(psql_primary "SELECT application_name || ' ' || sync_state FROM pg_stat_replication"))"
build-bench/bench/bench_throughput "tcp://127.0.0.1:$port" "$dir/keys" bench.durable "$COUNT" 300
