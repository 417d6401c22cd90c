#!/usr/bin/env bash
# The master-data engine through the real hub: one golden record for a
# resident known to three systems; a write to a field another system owns is
# refused and the writer corrected, with the owner told nothing; the owner's
# change reaches every other system in its own local id; a steward's merge
# and unmerge leave every system's cross-reference as it was.
source "$(dirname "$0")/lib.sh"

db=$(fresh_db e2e_master)
port=$(free_port)
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
  heartbeat_ms: 5000  # the Python clients here send no heartbeats while busy
database:
  conninfo: "$db"
security:
  curve: false
adapters:
  - name: socialcare
    publish: ["person.*"]
    subscribe: ["person.*"]
  - name: crm
    publish: ["person.*"]
    subscribe: ["person.*"]
  - name: health
    publish: ["person.*"]
    subscribe: ["person.*"]
  - name: ops
    publish: ["steward.*"]
    subscribe: ["*"]
    operator: true
master_data:
  person:
    fields:
      birth_date: {owner: socialcare}
      name.given: {owner: socialcare}
      name.family: {owner: socialcare}
      nhs_number: {owner: health}
      telecom.phone: {owner: crm}
    survivorship: [health, socialcare, crm]
YAML
start_hub "$E2E_DIR/hub.yaml"
make_pgctl
"$PY" "$(dirname "$0")/master_check.py" "tcp://127.0.0.1:$port" "$db" "$E2E_DIR/pgctl.sh"
stop_hub
# The engine's rows went to PostgreSQL as binary COPY (every column type known).
if grep -q "go as text" "$E2E_DIR/hub.log"; then
    grep "go as text" "$E2E_DIR/hub.log" >&2
    fail "some master-data rows were sent as text COPY"
fi
grep -q "master data" "$E2E_DIR/hub.log" || fail "the hub log does not show the engine ran"
echo "test_master_data: ok"
