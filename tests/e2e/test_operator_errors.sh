#!/usr/bin/env bash
# Error messages an operator can act on (issue 20), each tried as a new user would:
#  - the CLI against no hub (wrong port, hub not running): "connection refused at tcp://...",
#    at once, not after a 10 s wait; a hub that does not answer is given --timeout, not 10 s;
#  - an endpoint without transport: "did you mean tcp://HOST:PORT?";
#  - `joinery publish`: an unknown JSON key gets "did you mean", occurred_at in seconds names
#    its unit (microseconds), before any connection is made;
#  - the hub refuses a master-data record under a type the engine does not take
#    ("person.update": "did you mean person.updated?"); other types stay accepted
#    (operator_errors_check.py);
#  - `xref export --system nosuch`: "no adapter 'nosuch' (known: ...)", exit 1, not an
#    empty CSV;
#  - the `ops` adapter of deploy/joinery.example.yaml can make a steward decision;
#  - a database that is not there: the hub says at once that it waits and for how long, and
#    then again while it waits.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1
"$PY" -c 'import yaml' 2>/dev/null || skip "$PY lacks yaml (Debian: python3-yaml)"
unset JOINERY_KEYS JOINERY_ENDPOINT JOINERY_DB JOINERY_ADAPTER

now_ms() { date +%s%3N; }
# within MS START WHAT: fails unless less than MS passed since START (now_ms).
within() {
    local took=$(($(now_ms) - $2))
    ((took < $1)) || fail "$3 took $took ms, not under $1 ms"
    echo "ok - $3 in $took ms"
}

echo "== the CLI and no hub"
port=$(free_port)
t0=$(now_ms)
expect_fail 1 "^joinery: connection refused at tcp://127\.0\.0\.1:$port \(is joineryd running\? check hub\.listen in its configuration\)$" \
    "$JOINERY" --insecure --endpoint "tcp://127.0.0.1:$port" status --timeout 20000
within 2000 "$t0" "status against a closed port: connection refused"
t0=$(now_ms)
expect_fail 1 "connection refused at tcp://127\.0\.0\.1:$port" "$JOINERY" --insecure \
    --endpoint "tcp://127.0.0.1:$port" publish --timeout 20000 <<<'{"type": "crm.contact.updated"}'
within 2000 "$t0" "publish against a closed port: connection refused"
expect_fail 1 "connection refused at tcp://127\.0\.0\.1:$port" "$JOINERY" --insecure \
    --endpoint "tcp://127.0.0.1:$port" steward keep-apart P1 P2 --timeout 20000
expect_fail 1 "nothing listens at ipc://$E2E_DIR/nohub\.sock: no such socket file" \
    "$JOINERY" --insecure --endpoint "ipc://$E2E_DIR/nohub.sock" status

# Something that accepts connections but never speaks ZMTP: only --timeout can end the wait.
"$PY" -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True); time.sleep(120)' >"$E2E_DIR/mute.port" &
mute=$!
wait_for 10 "the mute listener" test -s "$E2E_DIR/mute.port"
mport=$(cat "$E2E_DIR/mute.port")
t0=$(now_ms)
expect_fail 1 "no WELCOME from the hub at tcp://127\.0\.0\.1:$mport within [0-9]+ ms" \
    "$JOINERY" --insecure --endpoint "tcp://127.0.0.1:$mport" status --timeout 1500
within 4000 "$t0" "status --timeout 1500 against a hub that does not answer"
kill "$mute"
wait "$mute" 2>/dev/null || true

echo "== an endpoint without transport"
expect_fail 1 "cannot connect to 127\.0\.0\.1:$port: the endpoint needs a transport: did you mean tcp://127\.0\.0\.1:$port\?" \
    "$JOINERY" --insecure --endpoint "127.0.0.1:$port" status
expect_fail 1 "unknown transport; the hub listens on tcp://HOST:PORT or ipc://PATH" \
    "$JOINERY" --insecure --endpoint "http://127.0.0.1:$port" status

echo "== a hub, with the ops adapter as the example configuration has it"
db=$(fresh_db e2e_operator_errors)
port=$(free_port)
ops=$("$PY" -c '
import json, sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
ops = [a for a in cfg["adapters"] if a["name"] == "ops"][0]
print("publish: %s\n    subscribe: %s\n    operator: %s" % (json.dumps(ops.get("publish", [])),
      json.dumps(ops.get("subscribe", [])), "true" if ops.get("operator") else "false"))' \
    "$JOINERY_SOURCE_DIR/deploy/joinery.example.yaml")
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
  heartbeat_ms: 5000  # the Python client sends no heartbeats
database:
  conninfo: "$db"
security:
  curve: false
adapters:
  - name: crm
    publish: ["person.*", "address.*", "case.*", "crm.*"]
    subscribe: ["crm.*"]
  - name: ops  # as in deploy/joinery.example.yaml
    $ops
YAML
echo "ops: $ops"
start_hub "$E2E_DIR/hub.yaml"
ep="tcp://127.0.0.1:$port"

echo "== joinery publish: keys and occurred_at"
expect_fail 1 'unknown key "typ": did you mean "type"\?' \
    "$JOINERY" --insecure --endpoint "$ep" --adapter crm publish <<<'{"typ": "crm.contact.updated"}'
expect_fail 1 'unknown key "sorce_record_id": did you mean "source_record_id"\?' \
    "$JOINERY" --insecure --endpoint "$ep" --adapter crm publish \
    <<<'{"type": "crm.contact.updated", "sorce_record_id": "C-1"}'
expect_fail 1 '"occurred_at" is a whole number of microseconds since 1970-01-01 UTC.*looks like seconds or milliseconds' \
    "$JOINERY" --insecure --endpoint "$ep" --adapter crm publish \
    <<<'{"type": "crm.contact.updated", "source_record_id": "C-1", "occurred_at": 1767225600}'
expect_fail 1 '"occurred_at" is a whole number of microseconds since 1970-01-01 UTC' \
    "$JOINERY" --insecure --endpoint "$ep" --adapter crm publish \
    <<<'{"type": "crm.contact.updated", "source_record_id": "C-1", "occurred_at": "2026-01-01T00:00:00Z"}'
[[ $(psql_db "$db" "SELECT count(*) FROM journal") == 0 ]] || fail "a refused CLI event reached the journal"
"$JOINERY" --insecure --endpoint "$ep" --adapter crm publish >"$E2E_DIR/ok.json" \
    <<<'{"type": "crm.contact.updated", "source_record_id": "C-1", "occurred_at": 1767225600000000}' ||
    fail "an event with occurred_at in microseconds was refused"
grep -q '"status":"OK"' "$E2E_DIR/ok.json" || fail "not confirmed: $(cat "$E2E_DIR/ok.json")"

echo "== a mistyped type in a master-data namespace"
"$PY" "$E2E_SRC/operator_errors_check.py" "$ep" "$db"

echo "== xref export --system"
expect_fail 1 "^joinery xref export: no adapter 'nosuch' \(known: crm, ops\)$" \
    "$JOINERY" --insecure --endpoint "$ep" xref export --db "$db" --system nosuch
[[ ! -s $E2E_DIR/last.out ]] || fail "xref export for no adapter printed a CSV: $(cat "$E2E_DIR/last.out")"
expect_fail 1 "no adapter 'crn' \(known: crm, ops\): did you mean 'crm'\?" \
    "$JOINERY" --insecure --endpoint "$ep" xref export --db "$db" --system crn
# Without a way to ask the hub, the cross-reference's systems are what is known, and it says so.
expect_fail 1 "no adapter 'nosuch' \(known: crm\); the hub could not be asked for its adapters: give --keys" \
    "$JOINERY" --endpoint "$ep" xref export --db "$db" --system nosuch
"$JOINERY" --insecure --endpoint "$ep" xref export --db "$db" --system ops >"$E2E_DIR/ops.csv" ||
    fail "xref export for a configured adapter without local ids failed"
[[ $(cat "$E2E_DIR/ops.csv") == "system,local_id,master_id,link_state,score,linked_records" ]] ||
    fail "xref export --system ops: $(cat "$E2E_DIR/ops.csv")"
"$JOINERY" xref export --db "$db" --system crm >"$E2E_DIR/crm.csv" || fail "xref export --system crm failed"
grep -q "^crm,CRM-1,P" "$E2E_DIR/crm.csv" || fail "xref export --system crm: $(cat "$E2E_DIR/crm.csv")"

echo "== a steward decision as the example's ops adapter"
mapfile -t ids < <(psql_db "$db" "SELECT master_id FROM xref WHERE system = 'crm' ORDER BY local_id")
((${#ids[@]} == 2)) || fail "expected two golden records, got: ${ids[*]}"
"$JOINERY" --insecure --endpoint "$ep" steward keep-apart "${ids[0]}" "${ids[1]}" \
    --reason "e2e: two people" --by "e2e" >"$E2E_DIR/steward.json" 2>"$E2E_DIR/steward.err" ||
    fail "steward keep-apart as ops: $(cat "$E2E_DIR/steward.err")"
grep -q '"status":"OK"' "$E2E_DIR/steward.json" || fail "keep-apart not confirmed: $(cat "$E2E_DIR/steward.json")"
[[ $(psql_db "$db" "SELECT count(*) FROM keep_apart WHERE decided_by = 'e2e'") == 1 ]] ||
    fail "the keep-apart decision is not in keep_apart"
echo "ok - ops keeps two records apart"
stop_hub

echo "== a database that is not there"
dport=$(free_port) # nothing listens there
sed "s|conninfo: .*|conninfo: \"host=127.0.0.1 port=$dport dbname=nowhere user=nobody connect_timeout=2\"|" \
    "$E2E_DIR/hub.yaml" >"$E2E_DIR/nodb.yaml"
t0=$(now_ms)
"$JOINERYD" --config "$E2E_DIR/nodb.yaml" >"$E2E_DIR/hub-nodb.log" 2>&1 &
waiting=$!
wait_for 5 "the hub to log that it waits" \
    grep -qE "database unreachable: waiting up to 60 s for PostgreSQL at [^:]*port=$dport[^:]*: .*Connection refused.*check that it runs there, and database\.conninfo" \
    "$E2E_DIR/hub-nodb.log"
within 5000 "$t0" "the wait is logged"
wait_for 20 "the hub to say it is still waiting" \
    grep -qE "database still unreachable after 1[0-9] s of 60 s: PostgreSQL at [^:]*port=$dport" \
    "$E2E_DIR/hub-nodb.log"
kill -0 "$waiting" || fail "the hub gave up instead of waiting"
kill -TERM "$waiting"
wait "$waiting" 2>/dev/null || true

echo "== a database that takes the connection and never answers"
# A frozen host or a half-dropped network: TCP connects, nothing comes back. The conninfo says
# nothing of timeouts; the hub's own default (10 s) must end each attempt, or it would hang there.
"$PY" -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
held = []
while True:
    c, _ = s.accept(); held.append(c)
' >"$E2E_DIR/silent.port" &
silent=$!
wait_for 5 "the silent server" test -s "$E2E_DIR/silent.port"
sport=$(cat "$E2E_DIR/silent.port")
sed "s|conninfo: .*|conninfo: \"host=127.0.0.1 port=$sport dbname=nowhere user=nobody\"|" \
    "$E2E_DIR/hub.yaml" >"$E2E_DIR/silentdb.yaml"
"$JOINERYD" --config "$E2E_DIR/silentdb.yaml" >"$E2E_DIR/hub-silent.log" 2>&1 &
waiting=$!
wait_for 20 "the hub to give up on a connection attempt that gets no answer" \
    grep -qE "database unreachable: waiting up to 60 s for PostgreSQL at [^:]*port=$sport[^:]*: .*timeout expired" \
    "$E2E_DIR/hub-silent.log"
kill -0 "$waiting" || fail "the hub gave up instead of waiting"
kill -TERM "$waiting"
wait "$waiting" 2>/dev/null || true
kill "$silent" 2>/dev/null || true
wait "$silent" 2>/dev/null || true
echo "test_operator_errors: ok"
