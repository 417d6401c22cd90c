#!/usr/bin/env bash
# The wire protocol as a black box, from a client that is not the C SDK:
# malformed frames, refusals with reasons, permissions, unknown Curve keys,
# dead letters. Each step is in tests/e2e/protocol_check.py; the limits are
# in test_limits.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

db=$(fresh_db e2e_protocol)
port=$(free_port)
make_keys "$E2E_DIR/keys" hub crm socialcare ops intruder

cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
  heartbeat_ms: 1000
database:
  conninfo: "$db"
security:
  curve: true
  hub_key_file: keys/hub.key
delivery:
  transient: ["crm.presence.*"]
  max_attempts: 3
  retry_base_ms: 50
  retry_max_ms: 200
adapters:
  - name: crm
    public_key_file: keys/crm.pub
    publish: ["person.*", "crm.*"]
    subscribe: ["person.*"]
  - name: socialcare
    public_key_file: keys/socialcare.pub
    publish: ["person.*", "case.*"]
    subscribe: ["person.*", "crm.*"]
  - name: ops
    public_key_file: keys/ops.pub
    operator: true
    subscribe: ["*"]
YAML
start_hub "$E2E_DIR/hub.yaml"
"$PY" "$E2E_SRC/protocol_check.py" "tcp://127.0.0.1:$port" "$E2E_DIR/keys" "$db"
stop_hub
grep -qF "refused a connection with unknown Curve key $(cat "$E2E_DIR/keys/intruder.pub")" "$E2E_DIR/hub.log" ||
    fail "the intruder's key is not named in the log"
log_has "$E2E_DIR/hub.log" "stopped cleanly" || fail "no clean stop logged"
echo "test_protocol: ok"
