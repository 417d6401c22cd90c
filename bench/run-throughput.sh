#!/usr/bin/env bash
# run-throughput.sh [COUNT] - durable and transient throughput and latency,
# publisher -> joineryd -> subscriber, on this machine, with CurveZMQ on and
# the hub's own private PostgreSQL (fsync and synchronous_commit on).
# Builds in build-bench/ (Release) first.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-200000}
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DJOINERY_TESTS=OFF >/dev/null
cmake --build build-bench -j "$(nproc)" --target joineryd bench_throughput joinery_cli >/dev/null
dir=$(mktemp -d /tmp/joinery-bench.XXXXXX)
chmod 0711 "$dir"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
mkdir -p "$dir/keys"
for n in hub bench-pub bench-sub; do build-bench/adapters/cli/joinery keygen "$n" --dir "$dir/keys" >/dev/null; done
port=$(( 20000 + RANDOM % 20000 ))
cat >"$dir/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $dir/data
  log_level: info
security:
  curve: true
  hub_key_file: keys/hub.key
delivery:
  transient: ["bench.transient"]
adapters:
  - name: bench-pub
    public_key_file: keys/bench-pub.pub
    publish: ["bench.*"]
  - name: bench-sub
    public_key_file: keys/bench-sub.pub
    subscribe: ["bench.*"]
YAML
build-bench/hub/joineryd --config "$dir/hub.yaml" >"$dir/hub.log" 2>&1 &
hub=$!
for _ in $(seq 1 300); do
    grep -q "ready" "$dir/hub.log" && break
    sleep 0.1
done
echo "machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print int($2/1048576)" GiB"}'), $(date -u +%Y-%m-%d)"
build-bench/bench/bench_throughput "tcp://127.0.0.1:$port" "$dir/keys" bench.durable "$COUNT" 300
echo "hub resident memory: $(grep VmRSS /proc/$hub/status | awk '{print $2/1024 " MiB"}')"
# Latency under a steady load well below saturation. The paced publisher waits (up to 1 ms) in
# joinery_poll when ahead of its schedule instead of spinning: a spinning publisher takes one of
# the two cores from the hub and PostgreSQL and was most of the tail measured before
# (bench/README.md, "Where the latency tail comes from").
BENCH_PACE_TICK_MS=1 build-bench/bench/bench_throughput "tcp://127.0.0.1:$port" "$dir/keys" \
    bench.durable 100000 300 100000 10000
build-bench/bench/bench_throughput "tcp://127.0.0.1:$port" "$dir/keys" bench.transient "$((COUNT * 5))" 300
echo "hub resident memory: $(grep VmRSS /proc/$hub/status | awk '{print $2/1024 " MiB"}')"
kill -TERM $hub
wait $hub || true
