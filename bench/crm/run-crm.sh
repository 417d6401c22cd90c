#!/usr/bin/env bash
# run-crm.sh [COUNT [CONNS [CONTACTS]]] - Dataverse webhooks per second through joinery-crm ->
# joineryd -> 200, with CONNS keep-alive connections (default 128), each with one webhook awaiting
# its answer, as Dataverse's service endpoint sends them. The hub on its own private PostgreSQL
# (fsync and synchronous_commit on), CurveZMQ on, the person master-data rules on. Every 200 is
# sent after the hub's CONFIRM, so after the commit. A first pass creates CONTACTS contacts per
# connection (default 200: 25,600 golden records); the measured pass sends COUNT (default
# 100,000) contact updates, each a new phone number for an existing golden record.
# PERF=1: perf record joinery-crm and joineryd during the measured pass and print where the
# time went.
set -euo pipefail
cd "$(dirname "$0")/../.."
COUNT=${1:-100000}
CONNS=${2:-128}
CONTACTS=${3:-200}
. bench/lib.sh
bench_build joineryd joinery-crm joinery_cli
cc -O2 -Wall -Wextra -o build-bench/webhook_load bench/crm/webhook_load.c
bench_dir crm
bench_keys hub crm
port=$(bench_port)
http=$((port + 1))
printf 'bench-webhook-key-0123456789abcdef\n' >"$dir/webhook.key"
chmod 600 "$dir/webhook.key"
cat >"$dir/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $dir/data
security:
  curve: true
  hub_key_file: keys/hub.key
adapters:
  - name: crm
    public_key_file: keys/crm.pub
    publish: ["person.*", "crm.*"]
master_data:
  person:
    fields:
      telecom.phone: {owner: crm}
    survivorship: [crm]
YAML
cat >"$dir/crm.yaml" <<YAML
hub: {endpoint: "tcp://127.0.0.1:$port", adapter: crm, keys_dir: $dir/keys}
webhook:
  listen: "127.0.0.1:$http"
  path: /webhook
  key_header: x-joinery-key
  key_file: $dir/webhook.key
  max_waiting: $((CONNS * 2))
YAML
bench_start "$dir/hub.log" build-bench/hub/joineryd --config "$dir/hub.yaml"
hub=$started
bench_start "$dir/crm.log" build-bench/adapters/crm/joinery-crm --config "$dir/crm.yaml"
crm=$started
bench_machine
load() { build-bench/webhook_load 127.0.0.1 "$http" /webhook "$dir/webhook.key" "$@"; }
load "$((CONNS * CONTACTS))" "$CONNS" "$CONTACTS" create
if [[ ${PERF:-0} == 1 ]]; then
    perf record -q -g -o "$dir/crm.perf" -p "$crm" 2>/dev/null &
    p1=$!
    perf record -q -g -o "$dir/hub.perf" -p "$hub" 2>/dev/null &
    p2=$!
    sleep 0.5
fi
load "$COUNT" "$CONNS" "$CONTACTS" update
if [[ ${PERF:-0} == 1 ]]; then
    kill -INT "$p1" "$p2"
    wait "$p1" "$p2" 2>/dev/null || true
    for who in crm hub; do
        echo "---- $who: top symbols (self)"
        perf report -q -i "$dir/$who.perf" --no-children -g none --sort dso,symbol 2>/dev/null |
            grep -v "^$" | head -n 15 || true
    done
fi
echo "CPU seconds used: joinery-crm $(ps -o cputime= -p "$crm"), joineryd $(ps -o cputime= -p "$hub")"
echo "joinery-crm resident memory: $(grep VmRSS /proc/$crm/status | awk '{print $2/1024 " MiB"}')"
kill -TERM "$crm"
wait "$crm" || true
kill -TERM "$hub"
wait "$hub" || true
