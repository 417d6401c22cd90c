#!/usr/bin/env bash
# Delivery state that is bounded and survives (issue 23, items 2, 4 and 6),
# against a real joineryd over CurveZMQ and a real PostgreSQL; the checks are
# in delivery_limits_check.py, one phase per call, the hub restarted between.
#
#  - patterns: a SUBSCRIBE of 300 patterns (about 6 KB) is answered
#    SUBSCRIBED, another adapter's publish of that moment is confirmed OK, and
#    after kill -9 and a restart the subscription resumes where it was: the
#    event published after it was made is delivered. 1025 patterns get ERROR
#    BAD_REQUEST at once.
#  - attempts: max_attempts 3; a subscriber takes a delivery and never
#    settles it; the hub is killed (kill -9 twice, then a clean stop) and
#    restarted between deliveries: the attempts go 1, 2, 3 across the
#    restarts, and then the event is dead-lettered with attempts 3 and not
#    delivered a 4th time.
#  - memory: window_bytes 32 MiB; 300 events of 500 KB delivered complete and
#    in order (most read back from the journal) while the hub's peak RSS
#    stays under its idle RSS + 32 MiB + a fixed 64 MiB; then a burst of
#    20,000 garbage frames over Curve from four connections (before HELLO,
#    unknown commands, bodies that do not parse, extra frames, bodies over
#    the 1 MiB limit) leaves its RSS within 40 MiB of where it was. The RSS
#    bounds are checked only in a build without sanitizers (ASan's shadow
#    memory and quarantine make RSS meaningless); the deliveries are checked
#    in every build.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

db=$(fresh_db e2e_delivery_limits)
port=$(free_port)
make_keys "$E2E_DIR/keys" hub crm socialcare finance
sanitized=0
grep -q '^JOINERY_SANITIZE:BOOL=ON' "$JOINERY_BUILD_DIR/CMakeCache.txt" 2>/dev/null && sanitized=1
export SANITIZED=$sanitized
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
delivery:
  max_attempts: 3
  window_bytes: 33554432  # 32 MiB
adapters:
  - name: crm
    public_key_file: keys/crm.pub
    publish: ["crm.*"]
  - name: socialcare
    public_key_file: keys/socialcare.pub
    publish: ["probe.*"]
    subscribe: ["crm.*", "probe.*"]
  - name: finance
    public_key_file: keys/finance.pub
    publish: ["finance.*"]
YAML
check() { "$PY" "$E2E_SRC/delivery_limits_check.py" "$1" "tcp://127.0.0.1:$port" "$E2E_DIR/keys" "$db" "${HUB_PID:-0}"; }

start_hub "$E2E_DIR/hub.yaml"

# Item 2: a long pattern list is stored, in the same commit as others' events.
check patterns_subscribe
kill_hub
start_hub "$E2E_DIR/hub.yaml"
check patterns_after_restart

# Item 4: the attempt count survives kill -9 and a clean stop.
check attempts_first
kill_hub
start_hub "$E2E_DIR/hub.yaml"
check attempts_second
kill_hub
start_hub "$E2E_DIR/hub.yaml"
check attempts_third # does not wait for the count to be written: the stop must write it
stop_hub
start_hub "$E2E_DIR/hub.yaml"
check attempts_dead

# Item 6: memory. A fresh hub, so that its peak is this phase's.
stop_hub
start_hub "$E2E_DIR/hub.yaml"
check memory_window
check memory_garbage
stop_hub
echo "test_delivery_limits: ok"
