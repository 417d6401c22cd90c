#!/usr/bin/env bash
# joinery-crm's webhook end to end (issue 19): a real joineryd and PostgreSQL, a real joinery-crm
# on Curve keys, Python's urllib as Dynamics 365 / Dataverse POSTing the RemoteExecutionContext
# samples of tests/data/crm. crm_check.py holds the scenarios:
#   create      a contact Create: 200 only once the journal and the golden record have it
#   update      an Update carrying the new phone alone: the golden record's phone follows
#   duplicate   the same POST again (Dataverse's retry): 200 "duplicate", the journal unchanged
#   invalid     malformed JSON (400), an account (422), no key and a wrong key (401): none
#               published; a Delete (200, ignored)
#   incident    an incident Create: crm.service_request.created with the contact's id
#   bad_values  a birthdate in the future and an impossible postcode: 200 naming both as
#               dropped, the golden record without them
# then the durability check: the hub frozen (SIGSTOP) while a webhook is in flight and killed
# (SIGKILL) before it could CONFIRM: no 2xx (503 with Retry-After once answer_timeout_ms has
# passed); the hub restarted, Dataverse's retry is 200 and the journal holds it exactly once.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

CRM="$JOINERY_BUILD_DIR/adapters/crm/joinery-crm"
[[ -x $CRM ]] || fail "$CRM not built"

db=$(fresh_db e2e_crm)
port=$(free_port)
http_port=$(free_port)
keys="$E2E_DIR/keys"
make_keys "$keys" hub crm health
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
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
  - name: health
    public_key_file: keys/health.pub
    publish: ["person.*"]
    subscribe: ["person.*"]
master_data:
  person:
    fields:
      nhs_number: {owner: health}
      telecom.phone: {owner: crm}
    survivorship: [health, crm]
YAML
printf 'k3y-for-the-crm-webhook-0123456789\n' >"$E2E_DIR/webhook.key"
chmod 600 "$E2E_DIR/webhook.key"
cat >"$E2E_DIR/crm.yaml" <<YAML
hub:
  endpoint: tcp://127.0.0.1:$port
  adapter: crm
  keys_dir: $keys
log:
  level: info
webhook:
  listen: "127.0.0.1:$http_port"
  path: /dataverse/webhook
  key_header: x-joinery-key
  key_file: $E2E_DIR/webhook.key
  max_body_bytes: 65536
  answer_timeout_ms: 3000
nhs_number_attribute: jn_nhsnumber
YAML

"$CRM" --config "$E2E_DIR/crm.yaml" --check-config >/dev/null || fail "--check-config refused a valid file"
sed 's/^  key_header:/  key_headr:/' "$E2E_DIR/crm.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "bad.yaml:[0-9]+: unknown key 'key_headr' in 'webhook'" "$CRM" --config "$E2E_DIR/bad.yaml" --check-config
sed 's/^  key_file: .*$/  key: short/' "$E2E_DIR/crm.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "the webhook key must be 16 to" "$CRM" --config "$E2E_DIR/bad.yaml" --check-config
sed 's/^  key_file: .*$//' "$E2E_DIR/crm.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "give exactly one of 'webhook.key' and 'webhook.key_file'" "$CRM" --config "$E2E_DIR/bad.yaml" --check-config

start_hub "$E2E_DIR/hub.yaml"
"$CRM" --config "$E2E_DIR/crm.yaml" >"$E2E_DIR/crm.log" 2>&1 &
CRM_PID=$!
wait_for 30 "joinery-crm to listen" log_has "$E2E_DIR/crm.log" "ready: listening for webhooks on port $http_port"

check() { "$PY" "$E2E_SRC/crm_check.py" "$1" "$http_port" "$db" "$E2E_DIR"; }
check create
check update
check duplicate
check invalid
check incident
check bad_values
log_has "$E2E_DIR/crm.log" "Delete of contact .* ignored" || fail "the ignored Delete was not logged"

# Durability: the webhook reaches the adapter, which publishes it; the hub is frozen, so it
# cannot journal or confirm it, and then dies.
kill -STOP "$HUB_PID"
check durable_first &
first=$!
sleep 1.5 # the request is in and published; no CONFIRM can come
kill_hub
wait_exit "$first" "the first POST's check"
start_hub "$E2E_DIR/hub.yaml"
check durable_retry

kill -TERM "$CRM_PID"
wait_exit "$CRM_PID" "joinery-crm on SIGTERM"
stop_hub
echo "test_crm_webhook: ok"
