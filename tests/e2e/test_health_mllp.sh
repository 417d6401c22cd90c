#!/usr/bin/env bash
# joinery-health end to end (issue 18): a real joineryd, a real joinery-health on Curve keys, and
# Debian's python3-hl7 (hl7.client.MLLPClient and the mllp_send script, written by no one here)
# as the trust. health_check.py holds the scenarios:
#   corpus      the 139 real-world samples: ACK codes by message type, MSA-2 = MSH-10 for each,
#               the journal's events by type
#   uk          a valid NHS number, then a bad check digit: AE naming PID-3, the person published
#               without it
#   pgdown      PostgreSQL stopped while a message is sent: no AA until it is back and committed
#   garbage     garbage, an oversize frame and an abandoned frame do not disturb the next message
#   concurrent  20 connections x 50 pipelined messages, every ACK in order
# and, around the hub's kill -9, killed_before/killed_after: no ACK while the hub is dead; the
# trust's resend on a new connection after the restart gets AA and the journal holds it once.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

HEALTH="$JOINERY_BUILD_DIR/adapters/health/joinery-health"
[[ -x $HEALTH ]] || fail "$HEALTH not built"
"$PY" -c 'import hl7.client' 2>/dev/null || skip "$PY lacks hl7 (Debian: python3-hl7)"
command -v mllp_send >/dev/null || skip "mllp_send not found (Debian: python3-hl7)"

db=$(fresh_db e2e_health)
port=$(free_port)
mllp_port=$(free_port)
keys="$E2E_DIR/keys"
make_keys "$keys" hub health
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
    publish: ["person.*", "health.*"]
master_data:
  person:
    fields:
      nhs_number: {owner: health}
    survivorship: [health]
YAML
mkdir -p "$E2E_DIR/refused"
cat >"$E2E_DIR/health.yaml" <<YAML
hub:
  endpoint: tcp://127.0.0.1:$port
  adapter: health
  keys_dir: $keys
log:
  level: info
mllp:
  listen: "127.0.0.1:$mllp_port"
  max_frame_bytes: 65536
  max_connections: 64
  window: 64
trust:
  ods_code: RR8
unmapped: accept
refused_dir: $E2E_DIR/refused
YAML

# The configuration is checked, and a wrong one is refused with its file and line.
"$HEALTH" --config "$E2E_DIR/health.yaml" --check-config >/dev/null || fail "--check-config refused a valid file"
sed 's/^unmapped: accept/unmapped: acept/' "$E2E_DIR/health.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "bad.yaml:[0-9]+: 'unmapped' is 'acept'; it must be one of: accept, reject" \
    "$HEALTH" --config "$E2E_DIR/bad.yaml" --check-config
sed 's/^  window: 64/  windw: 64/' "$E2E_DIR/health.yaml" >"$E2E_DIR/bad.yaml"
expect_fail 1 "bad.yaml:[0-9]+: unknown key 'windw' in 'mllp'" "$HEALTH" --config "$E2E_DIR/bad.yaml"

start_hub "$E2E_DIR/hub.yaml"
make_pgctl
"$HEALTH" --config "$E2E_DIR/health.yaml" >"$E2E_DIR/health.log" 2>&1 &
HEALTH_PID=$!
wait_for 30 "joinery-health to listen" log_has "$E2E_DIR/health.log" "ready: listening"

check() { "$PY" "$E2E_SRC/health_check.py" "$1" 127.0.0.1 "$mllp_port" "$db" "$E2E_DIR"; }
check corpus
check uk
check pgdown
check garbage
check concurrent

# The hub dies while a message is sent; the adapter keeps it until the hub is back.
kill_hub
check killed_before
start_hub "$E2E_DIR/hub.yaml"
check killed_after

kill -TERM "$HEALTH_PID"
rc=0
wait "$HEALTH_PID" || rc=$?
[[ $rc -eq 0 ]] || fail "joinery-health exited with status $rc on SIGTERM, not 0"
stop_hub

# The counters it logs at the stop: the corpus's unmapped types counted by type, and the
# oversize frame.
line=$(grep "counters:" "$E2E_DIR/health.log" | tail -n1)
echo "$line"
for want in "ORU=5" "SIU=15" "MDM=13" "ORM=8" "VXU=4" "oversize=1"; do
    [[ $line == *" $want"* ]] || fail "the counters line lacks $want"
done
# Refusals were logged with their first bytes, and kept whole.
log_has "$E2E_DIR/health.log" "frame over the 65536-byte limit refused .*first bytes: MSH" ||
    fail "the oversize frame was not logged with its first bytes"
ls "$E2E_DIR/refused" | grep -q oversize || fail "the oversize frame's bytes were not kept"
echo "test_health_mllp: ok"
