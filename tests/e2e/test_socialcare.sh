#!/usr/bin/env bash
# joinery-socialcare end to end (issue 19): a real joineryd and PostgreSQL with master data, a
# real joinery-socialcare on Curve keys, Python's urllib as the case system POSTing the samples
# of tests/data/socialcare, and a raw protocol client as the trust's `health`.
# socialcare_check.py holds the scenarios:
#   inbound        a person: 201 only once the journal and the golden record have it; an open
#                  case for that person and a referral journaled (the referral's retry 200
#                  duplicate); a body that is not JSON 400, no key or a wrong key 401, a planned
#                  care package without a cost 422, none published; a case for a person the hub
#                  does not know: 422 with the hub's reason
#   discharged     the trust's person.updated with Mary's NHS number, then its health.discharge
#                  for the trust's own id: case.discharge_notified journaled, named by the case
#                  id, the discharge acknowledged only after; another patient's discharge: no task
#   after_restart  joinery-socialcare restarted: it still knows the open case (its data_dir)
#   closed         the case closed: a discharge makes no task
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

SC="$JOINERY_BUILD_DIR/adapters/socialcare/joinery-socialcare"
[[ -x $SC ]] || fail "$SC not built"

db=$(fresh_db e2e_socialcare)
port=$(free_port)
http_port=$(free_port)
keys="$E2E_DIR/keys"
make_keys "$keys" hub socialcare health
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
  - name: socialcare
    public_key_file: keys/socialcare.pub
    publish: ["person.*", "case.*"]
    subscribe: ["person.*", "case.*", "health.discharge"]
  - name: health
    public_key_file: keys/health.pub
    publish: ["person.*", "health.*"]
    subscribe: ["person.*"]
master_data:
  person:
    fields:
      nhs_number: {owner: health}
    survivorship: [health, socialcare]
  case:
    fields:
      person: {owner: socialcare}
      status: {owner: socialcare}
YAML
printf 'k3y-for-the-case-system-0123456789\n' >"$E2E_DIR/api.key"
chmod 600 "$E2E_DIR/api.key"
mkdir -p "$E2E_DIR/sc-data"
cat >"$E2E_DIR/socialcare.yaml" <<YAML
hub:
  endpoint: tcp://127.0.0.1:$port
  adapter: socialcare
  keys_dir: $keys
log:
  level: info
api:
  listen: "127.0.0.1:$http_port"
  key_header: x-joinery-key
  key_file: $E2E_DIR/api.key
  max_body_bytes: 65536
  answer_timeout_ms: 5000
discharge:
  data_dir: $E2E_DIR/sc-data
YAML

"$SC" --config "$E2E_DIR/socialcare.yaml" --check-config >/dev/null || fail "--check-config refused a valid file"
sed 's/^  key_header:/  key_headr:/' "$E2E_DIR/socialcare.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "bad.yaml:[0-9]+: unknown key 'key_headr' in 'api'" "$SC" --config "$E2E_DIR/bad.yaml" --check-config
sed 's/^  key_file: .*$/  key: short/' "$E2E_DIR/socialcare.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "the api key must be 16 to" "$SC" --config "$E2E_DIR/bad.yaml" --check-config

start_hub "$E2E_DIR/hub.yaml"
start_sc() {
    "$SC" --config "$E2E_DIR/socialcare.yaml" >>"$E2E_DIR/socialcare.log" 2>&1 &
    SC_PID=$!
    wait_for 30 "joinery-socialcare to listen" log_has "$E2E_DIR/socialcare.log" "ready: listening on port $http_port" "$1"
}
start_sc 1

check() { "$PY" "$E2E_SRC/socialcare_check.py" "$1" "$http_port" "$port" "$db" "$E2E_DIR"; }
check inbound
check discharged

kill -TERM "$SC_PID"
wait_exit "$SC_PID" "joinery-socialcare on SIGTERM"
start_sc 2
log_has "$E2E_DIR/socialcare.log" "discharges become tasks \(1 open cases known\)" ||
    fail "the restarted adapter did not read its open case back"
check after_restart
check closed

kill -TERM "$SC_PID"
wait_exit "$SC_PID" "joinery-socialcare on SIGTERM"
stop_hub
echo "test_socialcare: ok"
