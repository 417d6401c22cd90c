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
# nothing running. KEEP=1 keeps the directory (trace, logs). NICE=-10 (as
# root) runs the hub, its PostgreSQL and the bench ahead of whatever else
# the machine is doing: how the tail looks when the CPU is there.
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
nice -n "${NICE:-0}" build-bench/hub/joineryd --config "$dir/hub.yaml" >"$dir/hub.log" 2>&1 &
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
# Settings through ALTER SYSTEM (the hub's joinery.conf is rewritten at each start);
# the cluster's superuser is the hub's role, joinery.
sql "ALTER SYSTEM SET track_wal_io_timing TO on"
sql "ALTER SYSTEM SET log_checkpoints TO on"
sql "ALTER SYSTEM SET log_autovacuum_min_duration TO 0"
sql "SELECT pg_reload_conf()" >/dev/null
echo "machine: $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
# The disk's own fsync tail, the floor under every COMMIT's: 8 kB appended
# and fdatasync'd 1,000 times beside the cluster, as the WAL writer does.
/usr/bin/python3 - "$dir/fsync.probe" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
block, lat = b"x" * 8192, []
for _ in range(1000):
    t = time.perf_counter()
    os.write(fd, block)
    os.fdatasync(fd)
    lat.append((time.perf_counter() - t) * 1000)
os.close(fd)
os.unlink(sys.argv[1])
lat.sort()
print("disk: 8 kB write + fdatasync x1000: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms"
      % (lat[500], lat[990], lat[999], lat[-1]))
PY
# A first unpaced run warms the journal's indexes and the WAL segments up.
build-bench/bench/bench_throughput "tcp://127.0.0.1:$port" "$dir/keys" bench.durable 50000 300 >/dev/null
sql "SELECT pg_stat_reset_shared('wal')" >/dev/null
start_log=$(wc -l <"$dir/hub.log")
vmstat -n 1 >"$dir/vmstat.log" &
vm=$!
# Its CPU time says whether the publisher spun (a whole core) or waited.
TIMEFORMAT='bench_throughput: %U s user + %S s system CPU in %R s'
time BENCH_TRACE="$dir/trace" BENCH_PACE_TICK_MS="${TICK_MS:-}" nice -n "${NICE:-0}" build-bench/bench/bench_throughput "tcp://127.0.0.1:$port" "$dir/keys" \
    bench.durable "$COUNT" 300 "$COUNT" "$RATE"
kill "$vm"
vm=
echo "pg_stat_wal over the paced run:"
sql "SELECT 'records ' || wal_records || ', bytes ' || wal_bytes || ', writes ' || wal_write || ', fsyncs ' || wal_sync || ', fsync time ' || round(wal_sync_time::numeric, 1) || ' ms (' || round((wal_sync_time / greatest(wal_sync, 1))::numeric, 3) || ' ms each), write time ' || round(wal_write_time::numeric, 1) || ' ms, WAL buffers full ' || wal_buffers_full FROM pg_stat_wal"
tail -n +"$((start_log + 1))" "$dir/hub.log" >"$dir/hub-run.log"
grep -hE "checkpoint (starting|complete)|automatic (vacuum|analyze)" "$dir/data/pg/postgres.log" 2>/dev/null | tail -5 || true
/usr/bin/python3 bench/compare/tail.py "$dir/trace" "$dir/hub-run.log" "$dir/vmstat.log"
