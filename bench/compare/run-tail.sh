#!/usr/bin/env bash
# run-tail.sh [COUNT [RATE]] - where the durable latency tail comes from.
# One paced run of bench_throughput (default 100,000 events at 10,000/s,
# durable, one subscriber) against a private joineryd at log level debug
# (one line per committed batch: its size and where its time went), with
# PostgreSQL's WAL I/O timing on (pg_stat_wal: how many WAL fsyncs and how
# long they took), its checkpoints and autovacuum runs logged, and vmstat
# every second (CPU stolen by the hypervisor, run queue). bench/compare/tail.py
# then lines each slow event (publish -> subscriber over 10 ms) up with the
# batches committed while it waited. Builds in build-bench/ (Release); leaves
# nothing running. KEEP=1 keeps the directory (trace, logs).
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${1:-100000}
RATE=${2:-10000}
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DJOINERY_TESTS=OFF >/dev/null
cmake --build build-bench -j "$(nproc)" --target joineryd bench_throughput joinery_cli >/dev/null
dir=$(mktemp -d /tmp/joinery-tail.XXXXXX)
chmod 0711 "$dir"
hub=
vm=
cleanup() {
    [ -z "$vm" ] || kill "$vm" 2>/dev/null || true
    if [ -n "$hub" ] && kill -0 "$hub" 2>/dev/null; then
        kill -TERM "$hub"
        wait "$hub" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then echo "kept: $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
mkdir -p "$dir/keys"
for n in hub bench-pub bench-sub; do build-bench/adapters/cli/joinery keygen "$n" --dir "$dir/keys" >/dev/null 2>&1; done
port=$(( 20000 + RANDOM % 20000 ))
cat >"$dir/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $dir/data
  log_level: debug
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
hub=$!
for _ in $(seq 1 300); do
    grep -q "ready" "$dir/hub.log" && break
    sleep 0.1
done
psql_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql
sql() {
    local q=(-X -A -t -q -d "host=$dir/data/pg/run dbname=joinery user=joinery" -c "$1")
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$psql_bin" "${q[@]}"; else "$psql_bin" "${q[@]}"; fi
}
# Superuser settings through ALTER SYSTEM (the hub's joinery.conf is rewritten at each start).
for s in "track_wal_io_timing = on" "log_checkpoints = on" "log_autovacuum_min_duration = 0"; do
    runuser -u postgres -- "$psql_bin" -X -q -d "host=$dir/data/pg/run dbname=postgres" \
        -c "ALTER SYSTEM SET ${s/ = / TO }" 2>/dev/null ||
        "$psql_bin" -X -q -d "host=$dir/data/pg/run dbname=postgres user=joinery" -c "ALTER SYSTEM SET ${s/ = / TO }"
done
runuser -u postgres -- "$psql_bin" -X -q -d "host=$dir/data/pg/run dbname=postgres" -c "SELECT pg_reload_conf()" >/dev/null
echo "machine: $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
# A first unpaced run warms the journal's indexes and the WAL segments up.
build-bench/bench/bench_throughput "tcp://127.0.0.1:$port" "$dir/keys" bench.durable 50000 300 >/dev/null
sql "SELECT pg_stat_reset_shared('wal')" >/dev/null
start_log=$(wc -l <"$dir/hub.log")
vmstat -n 1 >"$dir/vmstat.log" &
vm=$!
BENCH_TRACE="$dir/trace" build-bench/bench/bench_throughput "tcp://127.0.0.1:$port" "$dir/keys" \
    bench.durable "$COUNT" 300 "$COUNT" "$RATE"
kill "$vm"
vm=
echo "pg_stat_wal over the paced run:"
sql "SELECT 'records ' || wal_records || ', bytes ' || wal_bytes || ', writes ' || wal_write || ', fsyncs ' || wal_sync || ', fsync time ' || round(wal_sync_time::numeric, 1) || ' ms (' || round((wal_sync_time / greatest(wal_sync, 1))::numeric, 3) || ' ms each), write time ' || round(wal_write_time::numeric, 1) || ' ms, WAL buffers full ' || wal_buffers_full FROM pg_stat_wal"
tail -n +"$((start_log + 1))" "$dir/hub.log" >"$dir/hub-run.log"
grep -hE "checkpoint (starting|complete)|automatic (vacuum|analyze)" "$dir/data/pg/postgres.log" 2>/dev/null | tail -5 || true
/usr/bin/python3 bench/compare/tail.py "$dir/trace" "$dir/hub-run.log" "$dir/vmstat.log"
