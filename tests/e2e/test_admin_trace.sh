#!/usr/bin/env bash
# The admin API's trace and steward reads (issue 20; docs/operations.md
# "Admin API"), against a real joineryd and PostgreSQL, and the CLI commands
# that go through the API instead of the database (docs/adapters.md 4):
#
#  - residents through the hub: Ann, linked across social care and the CRM
#    by NHS number, and Brian's pair queued for a steward; a "billing"
#    subscriber NACKs the CRM's Ann (retry, then reject: a dead letter with
#    its reason); an event social care may not publish is refused;
#  - GET /api/v1/trace by event id, correlation id and master id: the event
#    decoded, each delivery with its attempts, state and NACK reason, the
#    refusal, the master-data decisions, and the events it caused;
#  - GET /api/v1/steward/queue, /api/v1/golden (search), /api/v1/golden/ID;
#  - bad parameters: 400 with a reason; no token: 401; unknown record: 404;
#  - POST /api/v1/steward/link with a steward token: the pair merged, the item
#    LINKED, journaled and audited under admin:<token name>; a read token: 403;
#  - joinery trace / dead-letters / subscriptions / steward list / golden
#    show with --admin and --token-file (no --db), as tables and --json.
# (admin_trace_check.py has the HTTP checks.)
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

db=$(fresh_db e2e_admin_trace)
port=$(free_port)
aport=$(free_port)
mkdir -p "$E2E_DIR/keys"
printf 'reader-token-0123456789abcdef\n' >"$E2E_DIR/keys/reader.token"
chmod 600 "$E2E_DIR/keys/reader.token"
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
  heartbeat_ms: 5000  # the Python clients send no heartbeats while busy
database:
  conninfo: "$db"
security:
  curve: false
delivery:
  retry_base_ms: 100
adapters:
  - name: socialcare
    publish: ["person.*", "probe.*"]
    subscribe: ["probe.*"]
  - name: crm
    publish: ["person.*", "probe.*"]
    subscribe: ["probe.*"]
  - name: billing
    publish: ["probe.*"]
    subscribe: ["person.*", "probe.*"]
admin:
  enabled: true
  listen: 127.0.0.1:$aport
  tokens:
    - name: reader
      token_file: keys/reader.token
      role: read
    - name: steward-jo
      token: steward-token-0123456789abcdef
      role: steward
YAML
check() { "$PY" "$E2E_SRC/admin_trace_check.py" "$1" "tcp://127.0.0.1:$port" "$db" "http://127.0.0.1:$aport"; }

start_hub "$E2E_DIR/hub.yaml"
check publish >"$E2E_DIR/ids.json" || {
    cat "$E2E_DIR/ids.json"
    fail "publishing the residents failed"
}
check api

# ---- the CLI through the API ----
export JOINERY_ADMIN="http://127.0.0.1:$aport" JOINERY_ADMIN_TOKEN_FILE="$E2E_DIR/keys/reader.token"
unset JOINERY_DB JOINERY_KEYS
out="$E2E_DIR/out"
jq_py() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); r=eval("(" + sys.argv[2] + ")"); sys.exit(0 if r else 1)' "$1" "$2"; }
ids() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$E2E_DIR/trace_state.json" "$1"; }
crm1=$(ids 'd["CRM-1"]["event_id"]')
ann=$(ids 'd["CRM-1"]["master_id"]')

"$JOINERY" trace --event-id "$crm1" >"$out" 2>&1 || fail "joinery trace failed: $(cat "$out")"
cat "$out"
grep -qE "^seq [0-9]+ +crm +person.updated +$crm1" "$out" &&
    grep -qE "billing/inbox +dead_lettered +attempts 2 +billing: no account for this person" "$out" &&
    grep -qE "caused: seq [0-9]+ person\.changed" "$out" &&
    grep -qE "master data: .*$ann" "$out" ||
    fail "joinery trace does not show the delivery, its NACK reason, the decisions and the derived events"
echo "ok - joinery trace --event-id: a table through the API"
"$JOINERY" trace --event-id "$crm1" --json >"$out" || fail "joinery trace --json failed"
curl -sf -H "Authorization: Bearer reader-token-0123456789abcdef" \
    "http://127.0.0.1:$aport/api/v1/trace?event_id=$crm1" >"$E2E_DIR/api.json" || fail "curl trace"
"$PY" -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1])) == json.load(open(sys.argv[2])) else 1)' \
    "$out" "$E2E_DIR/api.json" || fail "joinery trace --json is not the API's answer"
echo "ok - joinery trace --json: the API's answer"
"$JOINERY" trace --correlation-id corr-ann --json >"$out" || fail "trace --correlation-id"
jq_py "$out" 'len(d["events"]) == 2' || fail "trace --correlation-id: $(cat "$out")"
"$JOINERY" trace --master-id "$ann" >"$out" || fail "trace --master-id"
grep -qE "^golden record $ann +version [0-9]+ +ACTIVE" "$out" && grep -qE "^ +crm +CRM-1 " "$out" ||
    fail "trace --master-id: $(cat "$out")"
echo "ok - joinery trace --correlation-id and --master-id"

"$JOINERY" dead-letters list >"$out" || fail "dead-letters list failed"
cat "$out"
dl=$(psql_db "$db" "SELECT id FROM dead_letter")
grep -qE "^$dl +billing/inbox +[0-9]+ +person.changed +2 +.* billing: no account" "$out" ||
    fail "dead-letters list: $(cat "$out")"
"$JOINERY" dead-letters show "$dl" --json >"$out" || fail "dead-letters show failed"
jq_py "$out" "d['id'] == $dl and d['envelope']['causation_id'] == '$crm1'" || fail "dead-letters show: $(cat "$out")"
"$JOINERY" dead-letters replay "$dl" >"$out" 2>&1 && fail "a read token replayed a dead letter"
grep -q "403" "$out" && grep -q "role does not allow" "$out" || fail "replay with a read token: $(cat "$out")"
echo "ok - dead-letters list / show through the API; replay with a read token: 403"

"$JOINERY" subscriptions list >"$out" || fail "subscriptions list failed"
grep -qE "^billing/inbox +(yes|no) +" "$out" || fail "subscriptions list: $(cat "$out")"
"$JOINERY" steward list --admin "http://127.0.0.1:$aport" >"$out" || fail "steward list through the API failed"
grep -qE "^[0-9]+ +OPEN +[0-9.]+ +A " "$out" && grep -q "LS6 2QT" "$out" && grep -q "evidence:" "$out" ||
    fail "steward list through the API: $(cat "$out")"
"$JOINERY" golden show "$ann" >"$out" || fail "golden show through the API failed"
grep -qE "^Golden record $ann +version [0-9]+ +ACTIVE" "$out" && grep -qE "^crm +CRM-1 +MATCH" "$out" ||
    fail "golden show through the API: $(cat "$out")"
"$JOINERY" golden search --name "ann smith" --json >"$out" || fail "golden search failed"
jq_py "$out" "[r['master_id'] for r in d['records']] == ['$ann']" || fail "golden search: $(cat "$out")"
echo "ok - subscriptions list, steward list, golden show and search through the API"

"$JOINERY" trace --event-id x --token-file /nonexistent >"$out" 2>&1 && fail "a missing token file was taken"
grep -q "/nonexistent" "$out" || fail "a missing token file is not named: $(cat "$out")"
JOINERY_ADMIN= "$JOINERY" trace --event-id x >"$out" 2>&1 && fail "trace without --admin ran"
grep -q -- "--admin" "$out" || fail "trace without --admin does not say what is missing: $(cat "$out")"
echo "ok - the CLI says what is missing"

# ---- a steward's decision through the API ----
check decide
"$JOINERY" steward list --state LINKED >"$out" || fail "steward list --state LINKED through the API"
grep -qE "decided .* UTC by steward-jo: same person: confirmed by phone" "$out" ||
    fail "steward list does not show the API's decision: $(cat "$out")"
echo "ok - steward list shows the decision and who made it"
log_has "$E2E_DIR/hub.log" "steward.link admin-[0-9]+-[0-9]+ by steward-jo" || fail "the decision is not in the log"
printf 'steward-token-0123456789abcdef\n' >"$E2E_DIR/keys/steward.token"
chmod 600 "$E2E_DIR/keys/steward.token"
brian=$(ids 'd["SC-2"]["master_id"]')
"$JOINERY" steward keep-apart "$ann" "$brian" --reason "e2e: two people" >"$out" 2>&1 &&
    fail "a read token kept a pair apart"
grep -q "HTTP 403" "$out" || fail "keep-apart with a read token: $(cat "$out")"
"$JOINERY" steward keep-apart "$ann" "$brian" --reason "e2e: two people" \
    --token-file "$E2E_DIR/keys/steward.token" >"$out" || fail "steward keep-apart through the API: $(cat "$out")"
jq_py "$out" "d['status'] == 'OK'" || fail "keep-apart not confirmed: $(cat "$out")"
[[ $(psql_db "$db" "SELECT decided_by || ': ' || reason FROM keep_apart") == "steward-jo: e2e: two people" ]] ||
    fail "the pair is not kept apart under the token's name: $(psql_db "$db" "SELECT * FROM keep_apart")"
echo "ok - joinery steward keep-apart through the API: 403 with a read token, kept apart under the token's name"
stop_hub
echo "test_admin_trace: ok"
