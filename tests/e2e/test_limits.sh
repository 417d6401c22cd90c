#!/usr/bin/env bash
# The hub's limits at their real values, from a raw protocol client over
# CurveZMQ: max_message_bytes, max_batch and default_credit left at their
# defaults (docs/protocol.md, hub/base/config.c) and a small journal window
# (delivery.window_events: 64) so a slow subscriber must catch up from the
# journal. Each scenario is in tests/e2e/limits_check.py; probe.* is what
# its clients show "nothing else came" with (pyjoinery's Client.sync).
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

db=$(fresh_db e2e_limits)
port=$(free_port)
make_keys "$E2E_DIR/keys" hub crm socialcare
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
  heartbeat_ms: 5000  # the Python clients here send no heartbeats while busy
database:
  conninfo: "$db"
security:
  curve: true
  hub_key_file: keys/hub.key
delivery:
  window_events: 64
adapters:
  - name: crm
    public_key_file: keys/crm.pub
    publish: ["crm.*"]
  - name: socialcare
    public_key_file: keys/socialcare.pub
    publish: ["probe.*"]
    subscribe: ["crm.*", "probe.*"]
YAML
start_hub "$E2E_DIR/hub.yaml"
"$PY" "$E2E_SRC/limits_check.py" "tcp://127.0.0.1:$port" "$E2E_DIR/keys" "$db"
stop_hub
echo "test_limits: ok"
