#!/usr/bin/env bash
# run-health.sh [COUNT [CONNS [WINDOW]]] - HL7 messages per second through MLLP -> joinery-health
# -> joineryd -> AA, with CONNS trust connections (default 20) each keeping WINDOW (default 32)
# ADT^A08 messages in flight; the hub on its own private PostgreSQL (fsync and synchronous_commit
# on), CurveZMQ on. Every AA is sent after the hub's CONFIRM, so after the commit.
# PERF=1: perf record joinery-health and joineryd during the run and print where the time went.
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${1:-100000}
CONNS=${2:-20}
WINDOW=${3:-32}
. bench/lib.sh
bench_build joineryd joinery-health joinery_cli
cc -O2 -Wall -Wextra -o build-bench/mllp_load bench/health/mllp_load.c
bench_dir health
bench_keys hub health
port=$(bench_port)
mllp=$((port + 1))
cat >"$dir/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $dir/data
security:
  curve: true
  hub_key_file: keys/hub.key
adapters:
  - name: health
    public_key_file: keys/health.pub
    publish: ["person.*", "health.*"]
master_data:
  person:
    fields:
      nhs_number: {owner: health}
    survivorship: [health]
YAML
cat >"$dir/health.yaml" <<YAML
hub: {endpoint: "tcp://127.0.0.1:$port", adapter: health, keys_dir: $dir/keys}
mllp: {listen: "127.0.0.1:$mllp", max_connections: 256, window: 64}
trust: {ods_code: RR8}
YAML
bench_start "$dir/hub.log" build-bench/hub/joineryd --config "$dir/hub.yaml"
hub=$started
bench_start "$dir/health.log" build-bench/adapters/health/joinery-health --config "$dir/health.yaml"
health=$started
bench_machine
# A first pass creates the golden records; the measured pass updates them.
build-bench/mllp_load 127.0.0.1 "$mllp" "$((CONNS * 500))" "$CONNS" "$WINDOW" >/dev/null
if [[ ${PERF:-0} == 1 ]]; then
    perf record -q -g -o "$dir/health.perf" -p "$health" 2>/dev/null &
    p1=$!
    perf record -q -g -o "$dir/hub.perf" -p "$hub" 2>/dev/null &
    p2=$!
    sleep 0.5
fi
build-bench/mllp_load 127.0.0.1 "$mllp" "$COUNT" "$CONNS" "$WINDOW"
if [[ ${PERF:-0} == 1 ]]; then
    kill -INT "$p1" "$p2"
    wait "$p1" "$p2" 2>/dev/null || true
    for who in health hub; do
        echo "---- $who: top symbols (self)"
        perf report -q -i "$dir/$who.perf" --no-children -g none --sort dso,symbol 2>/dev/null |
            grep -v "^$" | head -n 15 || true
    done
fi
echo "CPU seconds used: joinery-health $(ps -o cputime= -p "$health"), joineryd $(ps -o cputime= -p "$hub")"
echo "joinery-health resident memory: $(grep VmRSS /proc/$health/status | awk '{print $2/1024 " MiB"}')"
kill -TERM "$health"
wait "$health" || true
grep "counters:" "$dir/health.log" | tail -n1
kill -TERM "$hub"
wait "$hub" || true
