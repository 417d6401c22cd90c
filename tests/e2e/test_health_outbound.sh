#!/usr/bin/env bash
# joinery-health's outbound side end to end (issue 18): a real joineryd with master data, a real
# joinery-health whose outbound side points at a small MLLP receiver in health_outbound_check.py
# (the trust's interface engine: it answers AA, or AE for one marked message), the trust's own
# inbound messages sent with Debian's python3-hl7, and a second system (crm, a raw pyjoinery
# client). The scenarios, in health_outbound_check.py:
#   changed   the crm changes the phone of persons the trust sent in: the receiver gets A31 in the
#             trust's own MR id with the new phone; a person new to the trust comes as A28
#   down      the receiver is down for 5 s while each of two persons changes three times: nothing
#             arrives, then everything, once, in order per person
#   ae        the receiver answers AE: the event is dead-lettered with the trust's words, and the
#             person's next change still reaches it
#   merge     the trust sends an A40 in: the hub merges the two golden records and the crm
#             hears person.merged in its own ids
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

HEALTH="$JOINERY_BUILD_DIR/adapters/health/joinery-health"
[[ -x $HEALTH ]] || fail "$HEALTH not built"
"$PY" -c 'import hl7.client' 2>/dev/null || skip "$PY lacks hl7 (Debian: python3-hl7)"

db=$(fresh_db e2e_health_out)
port=$(free_port)
mllp_port=$(free_port)
trust_port=$(free_port)
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
  heartbeat_ms: 5000  # the Python client sends no heartbeats while busy
database:
  conninfo: "$db"
security:
  curve: false
adapters:
  - name: health
    publish: ["person.*", "health.*"]
    subscribe: ["person.*"]
  - name: crm
    publish: ["person.*", "probe.*"]
    subscribe: ["person.*", "probe.*"]
master_data:
  person:
    fields:
      nhs_number: {owner: health}
      telecom.phone: {owner: crm}
    survivorship: [health, crm]
YAML
cat >"$E2E_DIR/health.yaml" <<YAML
hub:
  endpoint: tcp://127.0.0.1:$port
  adapter: health
log:
  level: info
mllp:
  listen: "127.0.0.1:$mllp_port"
trust:
  ods_code: RR8
outbound:
  endpoint: "127.0.0.1:$trust_port"
  connect_timeout_ms: 1000
  ack_timeout_ms: 5000
  retry_min_ms: 100
  retry_max_ms: 800
  sending_facility: LCC
YAML

# A wrong outbound section is refused with its file and line.
sed 's/^  retry_max_ms: 800/  retry_maxms: 800/' "$E2E_DIR/health.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "bad.yaml:[0-9]+: unknown key 'retry_maxms' in 'outbound'" \
    "$HEALTH" --config "$E2E_DIR/bad.yaml" --check-config
sed '/^  endpoint: "127/d' "$E2E_DIR/health.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "'outbound.endpoint' is required" "$HEALTH" --config "$E2E_DIR/bad.yaml" --check-config

start_hub "$E2E_DIR/hub.yaml"
# Started before the receiver listens: the trust may well be down when the adapter starts.
"$HEALTH" --config "$E2E_DIR/health.yaml" >"$E2E_DIR/health.log" 2>&1 &
HEALTH_PID=$!
wait_for 30 "joinery-health to listen" log_has "$E2E_DIR/health.log" "ready: listening"

"$PY" "$E2E_SRC/health_outbound_check.py" "tcp://127.0.0.1:$port" "$db" 127.0.0.1 "$mllp_port" \
    "$trust_port"

kill -TERM "$HEALTH_PID"
rc=0
wait "$HEALTH_PID" || rc=$?
[[ $rc -eq 0 ]] || fail "joinery-health exited with status $rc on SIGTERM, not 0"
stop_hub
log_has "$E2E_DIR/health.log" "outbound: trust at 127.0.0.1:$trust_port: .*messages wait" ||
    fail "the adapter did not log that the trust was unreachable"
echo "test_health_outbound: ok"
