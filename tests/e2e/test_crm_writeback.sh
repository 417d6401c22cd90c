#!/usr/bin/env bash
# joinery-crm's write-back end to end (issue 19): a real joineryd and PostgreSQL with master data,
# a real joinery-crm on Curve keys with a `dataverse:` section pointing at a fake Dataverse
# (Python's http.server, in crm_writeback_check.py), the CRM's webhooks POSTed by urllib, and
# social care as a raw protocol client. The scenarios, in order:
#   link        the CRM's contact and social care's person link; the NI number the link brings
#               is settled without a request (the CRM holds none)
#   rename      social care's new family name: PATCH contacts(<the CRM's contactid>), If-Match: *,
#               the bearer token, {"lastname": ...} only; unsettled until Dataverse answers
#   retry       503, then 204: the same PATCH twice, applied once, settled, no dead letter
#   give_up     503 for every one of max_attempts tries: NACK retry (never an ACK), the hub's
#               redelivery answered 204
#   reject      400 with Dataverse's error JSON: dead-lettered at once with its message
#   correction  the CRM's change of a field social care owns: person.correction, PATCHed back
#   no_echo     the CRM's own phone change is not sent back to it
#   notes       case.updated by social care: a note (POST annotations) on the CRM's contact,
#               for the opening and again for the closure
#   restart     the hub killed (-9) and restarted while Dataverse holds a PATCH: the redelivery
#               joins the request in flight (one PATCH), settled once Dataverse answers
# and before them the dataverse section's configuration checks; after them a clean SIGTERM.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

CRM="$JOINERY_BUILD_DIR/adapters/crm/joinery-crm"
[[ -x $CRM ]] || fail "$CRM not built"

db=$(fresh_db e2e_crm_writeback)
port=$(free_port)
http_port=$(free_port)
dv_port=$(free_port)
keys="$E2E_DIR/keys"
make_keys "$keys" hub crm socialcare
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
database:
  conninfo: "$db"
security:
  curve: true
  hub_key_file: keys/hub.key
delivery:
  retry_base_ms: 200
adapters:
  - name: crm
    public_key_file: keys/crm.pub
    publish: ["person.*", "crm.*"]
    subscribe: ["person.*", "case.*"]
  - name: socialcare
    public_key_file: keys/socialcare.pub
    publish: ["person.*", "case.*"]
    subscribe: ["person.*", "case.*"]
master_data:
  person:
    fields:
      name.family: {owner: socialcare, fallback: [crm]}
      telecom.phone: {owner: crm}
    survivorship: [socialcare, crm]
  case:
    fields:
      person: {owner: socialcare}
      status: {owner: socialcare}
YAML
printf 'k3y-for-the-crm-webhook-0123456789\n' >"$E2E_DIR/webhook.key"
printf 'test-token-for-the-fake-dataverse\n' >"$E2E_DIR/dataverse.token"
chmod 600 "$E2E_DIR/webhook.key" "$E2E_DIR/dataverse.token"
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
  answer_timeout_ms: 5000
nhs_number_attribute: jn_nhsnumber
dataverse:
  base_url: http://127.0.0.1:$dv_port
  token_file: $E2E_DIR/dataverse.token
  timeout_ms: 60000
  max_attempts: 4
  retry_min_ms: 100
  retry_max_ms: 400
YAML

"$CRM" --config "$E2E_DIR/crm.yaml" --check-config >/dev/null || fail "--check-config refused a valid file"
sed 's/^  retry_max_ms:/  retry_maxms:/' "$E2E_DIR/crm.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "bad.yaml:[0-9]+: unknown key 'retry_maxms' in 'dataverse'" "$CRM" --config "$E2E_DIR/bad.yaml" --check-config
sed '/^  base_url:/d' "$E2E_DIR/crm.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "'dataverse.base_url' is required" "$CRM" --config "$E2E_DIR/bad.yaml" --check-config
sed 's|^  base_url: .*$|  base_url: http://127.0.0.1:1/|' "$E2E_DIR/crm.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "'dataverse.base_url' must not end with '/'" "$CRM" --config "$E2E_DIR/bad.yaml" --check-config
sed 's|^  token_file: .*$|&\n  token: abc|' "$E2E_DIR/crm.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "give one of 'dataverse.token' and 'dataverse.token_file'" "$CRM" --config "$E2E_DIR/bad.yaml" --check-config

start_hub "$E2E_DIR/hub.yaml"
"$CRM" --config "$E2E_DIR/crm.yaml" >"$E2E_DIR/crm.log" 2>&1 &
CRM_PID=$!
wait_for 30 "joinery-crm to listen" log_has "$E2E_DIR/crm.log" "ready: listening for webhooks on port $http_port"
log_has "$E2E_DIR/crm.log" "writing back to Dataverse at http://127.0.0.1:$dv_port \(subscription crm-writeback\)" ||
    fail "joinery-crm did not say it writes back"
# The subscription exists before anything is published (a new one starts after the newest event).
subscribed() {
    [[ $(psql_db "$db" "SELECT count(*) FROM subscription WHERE adapter = 'crm' AND name = 'crm-writeback'") == 1 ]]
}
wait_for 30 "the crm-writeback subscription" subscribed

"$PY" "$E2E_SRC/crm_writeback_check.py" "$dv_port" "$http_port" "$port" "$db" "$E2E_DIR"

"$PY" "$E2E_SRC/crm_writeback_check.py" "$dv_port" "$http_port" "$port" "$db" "$E2E_DIR" restart &
restart_check=$!
wait_for 60 "a PATCH held by the fake Dataverse" test -e "$E2E_DIR/inflight"
kill_hub
start_hub "$E2E_DIR/hub.yaml"
touch "$E2E_DIR/restarted"
wait_exit "$restart_check" "the restart checks"

log_has "$E2E_DIR/crm.log" "write-back: seq [0-9]+ to be retried by the hub: Dataverse did not answer: gave up after 4 attempts" ||
    fail "giving up was not logged"
log_has "$E2E_DIR/crm.log" "write-back: seq [0-9]+ rejected: Dataverse refused it \(HTTP 400\)" ||
    fail "the refused PATCH was not logged"
kill -TERM "$CRM_PID"
wait_exit "$CRM_PID" "joinery-crm on SIGTERM"
stop_hub
echo "test_crm_writeback: ok"
