#!/usr/bin/env bash
# Issue 17's hub-side master-data rules through the real hub and PostgreSQL: a system's own
# duplicate is linked (both local ids on one golden record, the xref export shows the cluster)
# and that system alone receives person.duplicate_found in its own ids; twins in one system stay
# apart; a Person with an invalid birth date is journaled and matched on the rest, the field a
# person_data_quality finding and person.data_quality to its sender. Each step is in
# tests/e2e/master_rules_check.py.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

db=$(fresh_db e2e_master_rules)
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
YAML
start_hub "$E2E_DIR/hub.yaml"
"$PY" "$E2E_SRC/master_rules_check.py" "tcp://127.0.0.1:$port" "$db"
"$JOINERY" xref export --db "$db" --system socialcare >"$E2E_DIR/xref.csv" || fail "xref export failed"
cat "$E2E_DIR/xref.csv"
anne=$(psql_db "$db" "SELECT master_id FROM xref WHERE local_id = 'SC-1'")
grep -qx "socialcare,SC-1,$anne,MATCH,,1" "$E2E_DIR/xref.csv" &&
    grep -qE "^socialcare,SC-1b,$anne,MATCH,[0-9.e+-]*,1\$" "$E2E_DIR/xref.csv" ||
    fail "xref export does not show both of social care's ids for Anne as MATCH with 1 linked"
stop_hub
echo "test_master_rules: ok"
