#!/usr/bin/env bash
# The protocol's edge cases that used to leave an independent client
# guessing (issue 23, item 15), each decided and documented in
# docs/protocol.md, checked from a raw Python client: which code a malformed
# or empty pattern list gets, a NACK for an unknown subscription, an
# unparsable HEARTBEAT, ACK/NACK of a seq never delivered, CREDIT 0 and
# CREDIT 4e9, and a NACK whose reason is not UTF-8 (it must not fail the
# commit that dead-letters the event). Steps: tests/e2e/protocol_edges_check.py.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

db=$(fresh_db e2e_protocol_edges)
port=$(free_port)
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
  heartbeat_ms: 1000
  heartbeat_misses: 30  # the client here sends no heartbeats while it waits
database:
  conninfo: "$db"
security:
  curve: false
adapters:
  - name: crm
    publish: ["crm.*", "probe.*"]
    subscribe: ["crm.*", "probe.*"]
YAML
start_hub "$E2E_DIR/hub.yaml"
"$PY" "$E2E_SRC/protocol_edges_check.py" "tcp://127.0.0.1:$port" "$db"
stop_hub
log_has "$E2E_DIR/hub.log" "commit failed|commits are failing" && fail "a commit failed (see hub.log)"
echo "test_protocol_edges: ok"
