#!/usr/bin/env bash
# joinery-socialcare's outbound side end to end (issue 19): a real joineryd and PostgreSQL with
# master data, a real joinery-socialcare whose outbound section points at a fake case system
# (an http.server in socialcare_outbound_check.py that records each request and answers as
# scripted), the CRM and the trust as raw pyjoinery clients. The scenarios, in
# socialcare_outbound_check.py:
#   setup               Mary POSTed in by social care (and her open case), linked by the CRM
#   retried_then_taken  the CRM changes her phone: POST /people/LL-100234 with only the phone;
#                       503, 503, then 201: three tries of one delivery, settled once
#   refused             a 422 with {"message": ...}: dead-lettered with the case system's words
#   exhausted           503 on all of max_attempts: NACKed RETRY, the hub's redelivery taken
#   not_held            a person social care does not hold changes: acknowledged, no request
#   corrected           social care sends a phone the CRM owns: the hub's person.correction
#                       comes back as POST /people/LL-100234 with the CRM's phone
#   referral            crm.service_request.created: POST /referrals/inbound
#   discharge           the trust discharges Mary: case.discharge_notified journaled AND
#                       POST /tasks; the discharge unsettled while the answer is held, settled
#                       after the 2xx
#   restart             the adapter stopped (SIGTERM) while the case system holds its answer:
#                       it exits at once, the change unsettled; restarted, it sends it again
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

SC="$JOINERY_BUILD_DIR/adapters/socialcare/joinery-socialcare"
[[ -x $SC ]] || fail "$SC not built"

db=$(fresh_db e2e_socialcare_out)
port=$(free_port)
http_port=$(free_port)
case_port=$(free_port)
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
  heartbeat_ms: 5000  # the Python clients send no heartbeats while they wait
database:
  conninfo: "$db"
security:
  curve: false
delivery:
  retry_base_ms: 200
  retry_max_ms: 1000
adapters:
  - name: socialcare
    publish: ["person.*", "case.*"]
    subscribe: ["person.*", "case.*", "health.discharge", "crm.service_request.*"]
  - name: crm
    publish: ["person.*", "crm.*"]
    subscribe: ["person.*"]
  - name: health
    publish: ["person.*", "health.*"]
    subscribe: ["person.*"]
master_data:
  person:
    fields:
      nhs_number: {owner: health}
      telecom.phone: {owner: crm}
    survivorship: [health, socialcare, crm]
  case:
    fields:
      person: {owner: socialcare}
      status: {owner: socialcare}
YAML
printf 'k3y-for-the-case-system-0123456789\n' >"$E2E_DIR/api.key"
printf 'k3y-of-the-case-system-for-joinery-987\n' >"$E2E_DIR/out.key"
chmod 600 "$E2E_DIR/api.key" "$E2E_DIR/out.key"
mkdir -p "$E2E_DIR/sc-data"
cat >"$E2E_DIR/socialcare.yaml" <<YAML
hub:
  endpoint: tcp://127.0.0.1:$port
  adapter: socialcare
log:
  level: info
api:
  listen: "127.0.0.1:$http_port"
  key_header: x-joinery-key
  key_file: $E2E_DIR/api.key
  answer_timeout_ms: 5000
discharge:
  data_dir: $E2E_DIR/sc-data
outbound:
  base_url: http://127.0.0.1:$case_port
  key_header: x-case-key
  key_file: $E2E_DIR/out.key
  timeout_ms: 20000
  max_attempts: 3
  retry_min_ms: 100
  retry_max_ms: 400
YAML

# The outbound section is checked like the rest: its file and line, what to write.
"$SC" --config "$E2E_DIR/socialcare.yaml" --check-config >/dev/null || fail "--check-config refused a valid file"
sed 's/^  max_attempts: 3/  max_attempt: 3/' "$E2E_DIR/socialcare.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "bad.yaml:[0-9]+: unknown key 'max_attempt' in 'outbound'" "$SC" --config "$E2E_DIR/bad.yaml" --check-config
sed '/^  base_url:/d' "$E2E_DIR/socialcare.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "'outbound.base_url' is required" "$SC" --config "$E2E_DIR/bad.yaml" --check-config
sed 's/^  key_file: .*out.key$/  key: short/' "$E2E_DIR/socialcare.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "the outbound key must be 16 to" "$SC" --config "$E2E_DIR/bad.yaml" --check-config

start_hub "$E2E_DIR/hub.yaml"
start_sc() {
    "$SC" --config "$E2E_DIR/socialcare.yaml" >>"$E2E_DIR/socialcare.log" 2>&1 &
    SC_PID=$!
    wait_for 30 "joinery-socialcare to listen" log_has "$E2E_DIR/socialcare.log" \
        "ready: listening on port $http_port.*changes POSTed to http://127.0.0.1:$case_port" "$1"
}
start_sc 1

# The checker runs beside this script: when it asks (restart-now), the adapter is stopped while
# a request is held, must exit at once, and is started again (restarted).
"$PY" "$E2E_SRC/socialcare_outbound_check.py" "$http_port" "$case_port" "$port" "$db" \
    "$E2E_DIR/socialcare.log" &
CHECK_PID=$!
while [[ ! -e $E2E_DIR/restart-now ]] && kill -0 "$CHECK_PID" 2>/dev/null; do
    sleep 0.05
done
if [[ -e $E2E_DIR/restart-now ]]; then
    t0=$SECONDS
    kill -TERM "$SC_PID"
    wait_exit "$SC_PID" "joinery-socialcare on SIGTERM with a request held"
    ((SECONDS - t0 <= 5)) || fail "joinery-socialcare took $((SECONDS - t0)) s to stop"
    start_sc 2
    touch "$E2E_DIR/restarted"
fi
check_rc=0
wait "$CHECK_PID" || check_rc=$?
[[ $check_rc -eq 0 ]] || fail "socialcare_outbound_check.py failed ($check_rc)"

kill -TERM "$SC_PID"
wait_exit "$SC_PID" "joinery-socialcare on SIGTERM"
stop_hub
echo "test_socialcare_outbound: ok"
