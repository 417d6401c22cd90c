#!/usr/bin/env bash
# Refused input never fails a batch, and is kept within a quota
# (docs/operations.md, "Refused input"). Three hubs on one database:
#   1. CurveZMQ, default refusals: poison (invalid UTF-8 in types, ids, names)
#      sent round after round alongside good events: the poison is REJECTED
#      (or answered ERROR), every good event confirmed OK, no commit fails;
#   2. the same HELLO and envelopes against a plaintext (development) hub;
#   3. CurveZMQ with tiny refusals: quotas and expiry every second: garbage
#      before HELLO and oversize bodies are kept up to the quotas, the rest
#      counted; old refusals expire; a restart does not renew the day's quota.
# The scenarios are in tests/e2e/refusals_check.py.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

db=$(fresh_db e2e_refusals)
make_keys "$E2E_DIR/keys" hub crm finance ops

config() { # FILE PORT CURVE EXTRA
    cat >"$1" <<YAML
hub:
  listen: tcp://127.0.0.1:$2
  data_dir: $E2E_DIR/data
  heartbeat_ms: 10000  # the Python clients send no heartbeats
  max_message_bytes: 65536
database:
  conninfo: "$db"
security:
  curve: $3
  hub_key_file: keys/hub.key
adapters:
  - name: crm
    public_key_file: keys/crm.pub
    publish: ["crm.*"]
  - name: finance
    public_key_file: keys/finance.pub
    publish: ["finance.*"]
  - name: ops
    public_key_file: keys/ops.pub
    operator: true
$4
YAML
}

no_failed_commit() { # LOG
    local n
    local re="commit failed|commits are failing|could not be kept"
    n=$(log_count "$1" "$re")
    [[ $n -eq 0 ]] || { grep -E "$re" "$1" | head -5 >&2; fail "$n failed commit(s) in $1"; }
}

echo "-- 1. poison, CurveZMQ"
port=$(free_port)
config "$E2E_DIR/curve.yaml" "$port" true ""
start_hub "$E2E_DIR/curve.yaml" "$E2E_DIR/hub1.log"
"$PY" "$E2E_SRC/refusals_check.py" poison "tcp://127.0.0.1:$port" "$E2E_DIR/keys" "$db" curve
stop_hub
no_failed_commit "$E2E_DIR/hub1.log"

echo "-- 2. poison, plaintext"
psql_db "$db" "TRUNCATE journal, rejected_event" >/dev/null
port=$(free_port)
config "$E2E_DIR/plain.yaml" "$port" false ""
start_hub "$E2E_DIR/plain.yaml" "$E2E_DIR/hub2.log"
"$PY" "$E2E_SRC/refusals_check.py" poison "tcp://127.0.0.1:$port" "$E2E_DIR/keys" "$db" plain
stop_hub
no_failed_commit "$E2E_DIR/hub2.log"

echo "-- 3. quota and expiry"
psql_db "$db" "TRUNCATE journal, rejected_event" >/dev/null
port=$(free_port)
config "$E2E_DIR/quota.yaml" "$port" true "refusals:
  keep_bytes_per_event: 1000
  keep_bytes_per_adapter_per_day: 5000
  keep_bytes_per_day: 1000000
  keep_rows_per_adapter_per_day: 12
  keep_rows_per_day: 100000
  keep_days: 30
  expire_every_s: 1"
start_hub "$E2E_DIR/quota.yaml" "$E2E_DIR/hub3.log"
"$PY" "$E2E_SRC/refusals_check.py" quota "tcp://127.0.0.1:$port" "$E2E_DIR/keys" "$db"
wait_for 70 "a log line counting the refusals not kept" \
    log_has "$E2E_DIR/hub3.log" "refused input from adapter '' not kept"
# The operator sees the same counts in STATUS.
JOINERY_ENDPOINT="tcp://127.0.0.1:$port" JOINERY_KEYS="$E2E_DIR/keys" \
    "$JOINERY" --adapter ops status >"$E2E_DIR/status.json" || fail "status: $(cat "$E2E_DIR/status.json")"
"$PY" - "$E2E_DIR/status.json" <<'PY' || fail "STATUS does not count the refusals not kept: $(cat "$E2E_DIR/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))
crm = [a for a in s["adapters"] if a["name"] == "crm"][0]
assert s["refusals_dropped"] == 12 and crm["refusals_dropped"] == 4, s
PY
stop_hub
psql_db "$db" "INSERT INTO rejected_event (received_at, adapter, reason, bytes) VALUES
    ((extract(epoch from now()) * 1000000)::bigint - 40 * 86400000000, 'crm', 'old2', '\\x00')" \
    >/dev/null
start_hub "$E2E_DIR/quota.yaml" "$E2E_DIR/hub3.log"
"$PY" "$E2E_SRC/refusals_check.py" quota-restart "tcp://127.0.0.1:$port" "$E2E_DIR/keys" "$db"
stop_hub
no_failed_commit "$E2E_DIR/hub3.log"
echo "test_refusals: ok"
