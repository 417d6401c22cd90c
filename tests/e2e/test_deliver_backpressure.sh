#!/usr/bin/env bash
# A subscriber that grants far more credit than it reads, against the hub's send queue
# (10,000 messages per peer): every delivery arrives once it reads again, none is lost in
# flight. The scenario is in tests/e2e/backpressure_check.py.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

db=$(fresh_db e2e_backpressure)
port=$(free_port)
make_keys "$E2E_DIR/keys" hub crm socialcare
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
  heartbeat_ms: 10000  # the Python clients here send no heartbeats while busy
database:
  conninfo: "$db"
security:
  curve: true
  hub_key_file: keys/hub.key
adapters:
  - name: crm
    public_key_file: keys/crm.pub
    publish: ["crm.*"]
  - name: socialcare
    public_key_file: keys/socialcare.pub
    subscribe: ["crm.*"]
YAML
start_hub "$E2E_DIR/hub.yaml"
"$PY" "$E2E_SRC/backpressure_check.py" "tcp://127.0.0.1:$port" "$E2E_DIR/keys"
stop_hub
echo "test_deliver_backpressure: ok"
