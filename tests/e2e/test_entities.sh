#!/usr/bin/env bash
# Golden addresses and cases through the real hub, real PostgreSQL and real
# CurveZMQ sessions: a case social care publishes for its own id of a resident
# reaches the CRM in the CRM's own id for that resident; a CRM write to a case
# field social care owns is refused for that field and corrected; one address
# by UPRN from two systems is one golden address with both local ids; the
# rows commit with the journal entry; malformed events are refused with a
# reason and kept; after a restart the hub decides from the reloaded state.
# Each step is in tests/e2e/entities_check.py.
source "$(dirname "$0")/lib.sh"

db=$(fresh_db e2e_entities)
port=$(free_port)
keys=$("$PY" -c 'import zmq
for n in ("hub","socialcare","crm","health","ops"):
    p,s = zmq.curve_keypair(); print(n, p.decode(), s.decode())')
mkdir -p "$E2E_DIR/keys"
while read -r name pub sec; do
    printf '%s\n' "$pub" >"$E2E_DIR/keys/$name.pub"
    printf '%s\n' "$sec" >"$E2E_DIR/keys/$name.key"
done <<<"$keys"

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
    publish: ["person.*", "address.*", "case.*"]
    subscribe: ["person.*", "address.*", "case.*"]
  - name: crm
    public_key_file: keys/crm.pub
    publish: ["person.*", "address.*", "case.*"]
    subscribe: ["person.*", "address.*", "case.*"]
  - name: health
    public_key_file: keys/health.pub
    publish: ["person.*", "address.*"]
    subscribe: ["person.*"]
  - name: ops
    public_key_file: keys/ops.pub
    operator: true
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
check="$(dirname "$0")/entities_check.py"
"$PY" "$check" "tcp://127.0.0.1:$port" "$E2E_DIR/keys" "$db" "$E2E_DIR/state.json" before
stop_hub
grep -q "1 golden address(es), 1 golden case(s)" "$E2E_DIR/hub.log" &&
    fail "the first start already had entities"
start_hub "$E2E_DIR/hub.yaml"
grep -q "1 golden address(es), 1 golden case(s)" "$E2E_DIR/hub.log" ||
    fail "the restarted hub did not load the golden address and case"
make_pgctl
"$PY" "$check" "tcp://127.0.0.1:$port" "$E2E_DIR/keys" "$db" "$E2E_DIR/state.json" after \
    "$E2E_DIR/pgctl.sh"
stop_hub
if grep -q "go as text" "$E2E_DIR/hub.log"; then
    grep "go as text" "$E2E_DIR/hub.log" >&2
    fail "some address or case rows were sent as text COPY"
fi
echo "test_entities: ok"
