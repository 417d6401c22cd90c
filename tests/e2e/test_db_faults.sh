#!/usr/bin/env bash
# A database that is up but refuses writes (issue 23, item 8): the hub's role
# loses INSERT on the journal while a publisher and a subscriber run. The hub
# must back off (a few failed commits, not thousands), say so once in its
# log rather than once per try, show the database as failing in STATUS, and,
# once the privilege is back, carry on: every event confirmed, delivered
# once, per record in publish order.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

N=${JOINERY_E2E_EVENTS:-3000}
RATE=300
role=e2e_dbfaults_hub
super=$(fresh_db e2e_dbfaults)
psql_db "$super" "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') THEN
    CREATE ROLE $role LOGIN;
  END IF; END \$\$;" || fail "cannot create role $role"
psql_db "$super" "ALTER DATABASE e2e_dbfaults OWNER TO $role" || fail "cannot give the database to $role"
# The hub connects as a role that is not a superuser: privileges bind it.
db="${super/user=joinery/user=$role}"
port=$(free_port)
ep="tcp://127.0.0.1:$port"
keys="$E2E_DIR/keys"
make_keys "$keys" hub crm socialcare ops
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: $ep
  data_dir: $E2E_DIR/data
  heartbeat_ms: 500
database:
  conninfo: "$db"
security:
  curve: true
  hub_key_file: keys/hub.key
adapters:
  - name: crm
    public_key_file: keys/crm.pub
    publish: ["crm.*"]
  - name: socialcare
    public_key_file: keys/socialcare.pub
    subscribe: ["crm.*"]
  - name: ops
    public_key_file: keys/ops.pub
    operator: true
YAML
BIN="$JOINERY_BUILD_DIR/tests"
start_hub "$E2E_DIR/hub.yaml"
export JOINERY_ENDPOINT="$ep" JOINERY_KEYS="$keys"
# Whatever happens, the role gets its privilege back before the database is dropped.
E2E_ON_EXIT="psql_db '$super' 'GRANT INSERT ON journal TO $role' >/dev/null 2>&1"

"$BIN/e2e_subscriber" "$ep" socialcare "$keys" contacts 'crm.*' "$N" 240 "$E2E_DIR/received" \
    >"$E2E_DIR/sub.out" 2>&1 &
SUB=$!
wait_for 30 "the subscriber to subscribe" grep -q subscribed "$E2E_DIR/sub.out"
"$BIN/e2e_publisher" "$ep" crm "$keys" "$N" 53 "$RATE" ev "$E2E_DIR/confirmed" "$E2E_DIR/published" \
    >"$E2E_DIR/pub.out" 2>&1 &
PUB=$!

wait_for 60 "the first $((N / 5)) events confirmed" lines_at_least "$E2E_DIR/confirmed" $((N / 5))
log_lines=$(wc -l <"$E2E_DIR/hub.log")
echo "== REVOKE INSERT ON journal"
psql_db "$super" "REVOKE INSERT ON journal FROM $role"
wait_for 30 "the hub to say commits are failing" \
    grep -qE "commits are failing: .*permission denied" "$E2E_DIR/hub.log"
confirmed_then=$(wc -l <"$E2E_DIR/confirmed")

# status_field FIELD: one field of the operator's STATUS (JSON).
status_field() {
    "$JOINERY" --adapter ops status >"$E2E_DIR/status.json" ||
        fail "joinery status failed: $(cat "$E2E_DIR/status.json")"
    "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
        "$E2E_DIR/status.json" "$1"
}
[[ $(status_field database_up) == False ]] || fail "STATUS says the database is up while commits fail"
state=$(status_field database_state)
[[ $state == failing*"permission denied"* ]] || fail "STATUS database_state is '$state'"
sleep 8 # long enough for a hub without back-off to fail thousands of commits
failed=$(status_field failed_commits)
echo "== $failed failed commits in about 8 s; STATUS: $(status_field database_state)"
((failed >= 2)) || fail "only $failed failed commit(s): were commits retried at all?"
((failed <= 20)) || fail "$failed failed commits in about 8 s: the hub does not back off"
warned=$(tail -n +"$((log_lines + 1))" "$E2E_DIR/hub.log" | grep -cE " (warn|error) " || true)
((warned <= 4)) || {
    tail -n +"$((log_lines + 1))" "$E2E_DIR/hub.log" | head -20 >&2
    fail "$warned warning lines while commits failed: one per change of state is enough"
}
now=$(wc -l <"$E2E_DIR/confirmed")
((now == confirmed_then)) || fail "$((now - confirmed_then)) events confirmed while INSERT was revoked"

echo "== GRANT INSERT ON journal"
psql_db "$super" "GRANT INSERT ON journal TO $role"
wait_for 30 "the hub to say commits succeed" grep -q "commits succeed again" "$E2E_DIR/hub.log"
wait_exit "$PUB" "the publisher ($(cat "$E2E_DIR/pub.out"))"
wait_exit "$SUB" "the subscriber ($(cat "$E2E_DIR/sub.out"))"
[[ $(status_field database_state) == up ]] || fail "STATUS still says $(status_field database_state)"
[[ $(status_field database_up) == True ]] || fail "STATUS says the database is down after it recovered"
stop_hub
"$PY" "$E2E_SRC/order_check.py" "$E2E_DIR/published" "$E2E_DIR/confirmed" "$E2E_DIR/received" \
    "$N" "$super"
echo "test_db_faults: ok"
