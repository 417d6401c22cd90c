#!/usr/bin/env bash
# joinery-health's FHIR endpoint end to end (issue 18): a real joineryd and PostgreSQL, a real
# joinery-health on Curve keys with its fhir section, Python's urllib as the trust and a raw
# protocol client as the CRM. fhir_check.py holds the scenarios:
#   metadata    GET /metadata: the CapabilityStatement
#   create      POST a UK Core Patient: 201 only once the journal and the golden record have it
#   bad_nhs     a bad NHS check digit: 201 without that value, the OperationOutcome names it
#   invalid     not JSON, not a Patient (400), no trust id (422), too large (413), PUT id mismatch
#   pgdown      PostgreSQL stopped: no answer until it is back, then 201
#   crm_change  the CRM changes the phone: the view follows (person.changed), GET by the trust's
#               id, by the master id, search by NHS number, an unknown id (404)
# then joinery-health restarts (persisted: the view is read back from its directory) and the hub
# stops (hubdown: 503 with Retry-After once answer_timeout_ms has passed).
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

HEALTH="$JOINERY_BUILD_DIR/adapters/health/joinery-health"
[[ -x $HEALTH ]] || fail "$HEALTH not built"

db=$(fresh_db e2e_fhir)
port=$(free_port)
http_port=$(free_port)
keys="$E2E_DIR/keys"
make_keys "$keys" hub health crm
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
  - name: health
    public_key_file: keys/health.pub
    publish: ["person.*"]
    subscribe: ["person.*"]
  - name: crm
    public_key_file: keys/crm.pub
    publish: ["person.*"]
    subscribe: ["person.*"]
master_data:
  person:
    fields:
      nhs_number: {owner: health}
      telecom.phone: {owner: crm}
    survivorship: [health, crm]
YAML
health_yaml() { # ANSWER_TIMEOUT_MS
    cat <<YAML
hub:
  endpoint: tcp://127.0.0.1:$port
  adapter: health
  keys_dir: $keys
log:
  level: info
mllp:
  listen: "127.0.0.1:0"
trust:
  ods_code: RR8
fhir:
  listen: "127.0.0.1:$http_port"
  data_dir: $E2E_DIR/fhir
  local_system: https://fhir.rr8.nhs.uk/Id/local-patient-identifier
  base_url: http://127.0.0.1:$http_port
  max_body_bytes: 65536
  answer_timeout_ms: $1
YAML
}
health_yaml 60000 >"$E2E_DIR/health.yaml"
health_yaml 2000 >"$E2E_DIR/health2.yaml"

"$HEALTH" --config "$E2E_DIR/health.yaml" --check-config >/dev/null || fail "--check-config refused a valid file"
sed 's/^  data_dir: .*fhir$//' "$E2E_DIR/health.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "'fhir.data_dir' is required" "$HEALTH" --config "$E2E_DIR/bad.yaml" --check-config
sed 's/^  base_url:/  base_ur:/' "$E2E_DIR/health.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "bad.yaml:[0-9]+: unknown key 'base_ur' in 'fhir'" "$HEALTH" --config "$E2E_DIR/bad.yaml"

start_hub "$E2E_DIR/hub.yaml"
make_pgctl
start_health() { # CONFIG LOG
    "$HEALTH" --config "$1" >"$2" 2>&1 &
    HEALTH_PID=$!
    wait_for 30 "joinery-health to listen" log_has "$2" "ready: listening"
}
stop_health() {
    local rc=0
    kill -TERM "$HEALTH_PID"
    wait "$HEALTH_PID" || rc=$?
    [[ $rc -eq 0 ]] || fail "joinery-health exited with status $rc on SIGTERM, not 0"
}
start_health "$E2E_DIR/health.yaml" "$E2E_DIR/health.log"
log_has "$E2E_DIR/health.log" "fhir: listening on port $http_port; the view holds 0 records" ||
    fail "joinery-health did not log its FHIR endpoint"

check() { "$PY" "$E2E_SRC/fhir_check.py" "$1" "$http_port" "$port" "$db" "$E2E_DIR"; }
check metadata
check create
check bad_nhs
check invalid
check pgdown
check crm_change
stop_health

# The view is read back from its directory: GET answers without the hub's help.
start_health "$E2E_DIR/health2.yaml" "$E2E_DIR/health2.log"
log_has "$E2E_DIR/health2.log" "the view holds [1-9][0-9]* records" ||
    fail "the restarted joinery-health did not read its view back"
check persisted
stop_hub
check hubdown
stop_health
echo "test_health_fhir: ok"
