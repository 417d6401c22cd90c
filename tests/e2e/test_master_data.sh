#!/usr/bin/env bash
# The master-data engine through the real hub: one golden record for a
# resident known to three systems; a write to a field another system owns is
# refused and the writer corrected, with the owner told nothing; the owner's
# change reaches every other system in its own local id; a steward's merge
# and unmerge leave every system's cross-reference as it was. Each step is
# in tests/e2e/master_check.py. probe.*: what its clients show "nothing
# else came" with (pyjoinery's Client.sync).
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

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
    publish: ["person.*", "probe.*"]
    subscribe: ["person.*", "probe.*"]
  - name: crm
    publish: ["person.*", "probe.*"]
    subscribe: ["person.*", "probe.*"]
  - name: health
    publish: ["person.*", "probe.*"]
    subscribe: ["person.*", "probe.*"]
  - name: ops
    publish: ["steward.*", "probe.*"]
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
"$PY" "$E2E_SRC/master_check.py" "tcp://127.0.0.1:$port" "$db" "$E2E_DIR/pgctl.sh"
stop_hub
# The engine's rows went to PostgreSQL as binary COPY (every column type known).
if log_has "$E2E_DIR/hub.log" "go as text"; then
    grep "go as text" "$E2E_DIR/hub.log" >&2
    fail "some master-data rows were sent as text COPY"
fi
log_has "$E2E_DIR/hub.log" "master data" || fail "the hub log does not show the engine ran"
echo "test_master_data: ok"
