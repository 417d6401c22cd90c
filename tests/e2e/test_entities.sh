#!/usr/bin/env bash
# Golden addresses and cases through the real hub, real PostgreSQL and real
# CurveZMQ sessions: a case social care publishes for its own id of a resident
# reaches the CRM in the CRM's own id for that resident; a CRM write to a case
# field social care owns is refused for that field and corrected; one address
# by UPRN from two systems is one golden address with both local ids; the
# rows commit with the journal entry; malformed events are refused with a
# reason and kept; after a restart the hub decides from the reloaded state.
# Each step is in tests/e2e/entities_check.py; probe.* is what its clients
# show "nothing else came" with (pyjoinery's Client.sync).
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

db=$(fresh_db e2e_entities)
port=$(free_port)
make_keys "$E2E_DIR/keys" hub socialcare crm health ops

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
adapters:
  - name: socialcare
    public_key_file: keys/socialcare.pub
    publish: ["person.*", "address.*", "case.*", "probe.*"]
    subscribe: ["person.*", "address.*", "case.*", "probe.*"]
  - name: crm
    public_key_file: keys/crm.pub
    publish: ["person.*", "address.*", "case.*", "probe.*"]
    subscribe: ["person.*", "address.*", "case.*", "probe.*"]
  - name: health
    public_key_file: keys/health.pub
    publish: ["person.*", "address.*", "probe.*"]
    subscribe: ["person.*", "probe.*"]
  - name: ops
    public_key_file: keys/ops.pub
    operator: true
    publish: ["probe.*"]
    subscribe: ["*"]
master_data:
  person:
    fields:
      nhs_number: {owner: health}
  address:
    fields:
      lines:    {owner: socialcare}
      town:     {owner: socialcare}
      postcode: {owner: socialcare}
  case:
    fields:
      person: {owner: socialcare}
      status: {owner: socialcare}
      team:   {owner: socialcare}
YAML
start_hub "$E2E_DIR/hub.yaml"
check="$E2E_SRC/entities_check.py"
"$PY" "$check" "tcp://127.0.0.1:$port" "$E2E_DIR/keys" "$db" "$E2E_DIR/state.json" before
stop_hub
log_has "$E2E_DIR/hub.log" "0 golden address\(es\), 0 golden case\(s\)" ||
    fail "the first start did not begin without entities"
log_has "$E2E_DIR/hub.log" "1 golden address\(es\), 1 golden case\(s\)" &&
    fail "the first start already had entities"
start_hub "$E2E_DIR/hub.yaml"
log_has "$E2E_DIR/hub.log" "1 golden address\(es\), 1 golden case\(s\)" ||
    fail "the restarted hub did not load the golden address and case"
make_pgctl
"$PY" "$check" "tcp://127.0.0.1:$port" "$E2E_DIR/keys" "$db" "$E2E_DIR/state.json" after \
    "$E2E_DIR/pgctl.sh"
stop_hub
# The operator's view: golden show and xref export read the same tables.
ids=$("$PY" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["case"], s["address"], s["person"])' "$E2E_DIR/state.json")
read -r case_id address_id person_id <<<"$ids"
"$JOINERY" golden show "$case_id" --db "$db" >"$E2E_DIR/case.txt" || fail "golden show CASE failed"
for want in "^Golden case $case_id   version 4   about person $person_id\$" "^crm +CRM-CASE-9 +MATCH" \
    "^socialcare +CASE-1 +MATCH" "^status +open +socialcare" "^lead_worker +K. Mensah" \
    "^4 +lead_worker +J. Bloggs -> K. Mensah +socialcare"; do
    grep -qE -- "$want" "$E2E_DIR/case.txt" || { cat "$E2E_DIR/case.txt" >&2; fail "golden show of the case lacks '$want'"; }
done
"$JOINERY" golden show "$address_id" --db "$db" --json >"$E2E_DIR/address.json" || fail "golden show ADDRESS failed"
"$PY" - "$E2E_DIR/address.json" <<'PY' || fail "golden show --json of the address is wrong"
import json, sys
g = json.load(open(sys.argv[1]))
assert g["entity"] == "address" and g["uprn"] == "10023336956", g
assert g["fields"]["postcode"]["value"] == "LS1 5AB" and g["fields"]["postcode"]["source"] == "socialcare"
assert sorted(x["system"] + "/" + x["local_id"] for x in g["xref"]) == \
    ["crm/CRM-ADDR-7", "health/RR8-ADDR-1", "socialcare/SC-ADDR-1"], g["xref"]
assert any(h["field"] == "district" and h["new"] == "West Yorkshire" and h["source"] == "crm"
           for h in g["history"]), g["history"]
PY
expect_fail 1 "crm's local id for case $case_id" "$JOINERY" golden show CRM-CASE-9 --db "$db"
"$JOINERY" xref export --entity address --db "$db" >"$E2E_DIR/axref.csv" || fail "xref export --entity address failed"
printf 'system,local_id,master_id,link_state,score,linked_records\ncrm,CRM-ADDR-7,%s,MATCH,,2\nhealth,RR8-ADDR-1,%s,MATCH,,2\nsocialcare,SC-ADDR-1,%s,MATCH,,2\n' \
    "$address_id" "$address_id" "$address_id" | diff - "$E2E_DIR/axref.csv" || fail "xref export --entity address"
"$JOINERY" xref export --entity case --system crm --db "$db" >"$E2E_DIR/cxref.csv" ||
    fail "xref export --entity case --system crm failed"
grep -qx "crm,CRM-CASE-9,$case_id,MATCH,,1" "$E2E_DIR/cxref.csv" ||
    fail "xref export --entity case --system crm: $(cat "$E2E_DIR/cxref.csv")"
expect_fail 2 "--entity is person, address or case" "$JOINERY" xref export --entity nobody --db "$db"
if log_has "$E2E_DIR/hub.log" "go as text"; then
    grep "go as text" "$E2E_DIR/hub.log" >&2
    fail "some address or case rows were sent as text COPY"
fi
echo "test_entities: ok"
