#!/usr/bin/env bash
# ERROR replies a client can trust and act on (issue 23, items 11-13), from
# raw Python clients over CurveZMQ: every reply parses although the requests
# put invalid UTF-8 wherever the hub quotes them; an Error names the request
# (request_id) it refuses; refused HELLOs are logged, rate-limited per key.
# The steps are in tests/e2e/errors_check.py.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

db=$(fresh_db e2e_errors)
port=$(free_port)
make_keys "$E2E_DIR/keys" hub crm socialcare flooder forger

cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
  heartbeat_ms: 1000
  heartbeat_misses: 30  # the clients here send no heartbeats
  max_batch: 5
database:
  conninfo: "$db"
security:
  curve: true
  hub_key_file: keys/hub.key
adapters:
  - name: crm
    public_key_file: keys/crm.pub
    publish: ["person.*", "crm.*"]
    subscribe: ["person.*"]
  - name: socialcare
    public_key_file: keys/socialcare.pub
    publish: ["person.*"]
  - name: flooder
    public_key_file: keys/flooder.pub
  - name: forger
    public_key_file: keys/forger.pub
YAML
start_hub "$E2E_DIR/hub.yaml"
"$PY" "$E2E_SRC/errors_check.py" "tcp://127.0.0.1:$port" "$E2E_DIR/keys" "$E2E_DIR/hub.log"
stop_hub
log_has "$E2E_DIR/hub.log" "stopped cleanly" || fail "no clean stop logged"
echo "test_errors: ok"
