#!/usr/bin/env bash
# High availability on PostgreSQL's own replication (issue 21): the journal on
# a primary with a synchronous streaming standby (tests/support/pg-pair.sh:
# two private clusters, synchronous_standby_names naming the standby, so a
# CONFIRM means both have the event), the hub's database.conninfo naming
# both hosts with target_session_attrs=read-write. Under load, the primary is
# stopped with -m immediate and the standby promoted; the hub must find the
# new primary by itself and carry on. At the end every confirmed event is in
# the promoted server's journal once, the subscriber handled every event
# once, per record in publish order (order_check.py, as test_crash_recovery).
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

N=${JOINERY_E2E_EVENTS:-4000}
RATE=400
pair="$E2E_DIR/ha"
E2E_ON_EXIT="bash '$JOINERY_SOURCE_DIR/tests/support/pg-pair.sh' '$pair' stop >/dev/null 2>&1"
db=$(bash "$JOINERY_SOURCE_DIR/tests/support/pg-pair.sh" "$pair" start) || fail "pg-pair.sh start failed"
echo "conninfo: $db"
standby_db="host=$pair/standby/run dbname=joinery user=joinery"

port=$(free_port)
ep="tcp://127.0.0.1:$port"
keys="$E2E_DIR/keys"
make_keys "$keys" hub crm socialcare
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
YAML
BIN="$JOINERY_BUILD_DIR/tests"
start_hub "$E2E_DIR/hub.yaml"
"$BIN/e2e_subscriber" "$ep" socialcare "$keys" contacts 'crm.*' "$N" 240 "$E2E_DIR/received" \
    >"$E2E_DIR/sub.out" 2>&1 &
SUB=$!
wait_for 30 "the subscriber to subscribe" grep -q subscribed "$E2E_DIR/sub.out"
"$BIN/e2e_publisher" "$ep" crm "$keys" "$N" 53 "$RATE" ev "$E2E_DIR/confirmed" "$E2E_DIR/published" \
    >"$E2E_DIR/pub.out" 2>&1 &
PUB=$!

wait_for 60 "the first $((N / 4)) events confirmed" lines_at_least "$E2E_DIR/confirmed" $((N / 4))
echo "== pg_ctl stop -m immediate the primary ($(wc -l <"$E2E_DIR/confirmed") confirmed)"
"$pair/pgctl.sh" primary -m immediate stop || fail "cannot stop the primary"
wait_for 30 "the hub to notice the database is gone" \
    log_has "$E2E_DIR/hub.log" "journal database unavailable"
restored=$(log_count "$E2E_DIR/hub.log" "database connection restored")
# Only the read-only standby is up: the hub tries it (libpq goes down the
# host list) and, with target_session_attrs=read-write, must not settle on it.
# A bounded look for what must not happen: the hub retries every 0.1-5 s.
sleep 3
[[ $(log_count "$E2E_DIR/hub.log" "database connection restored") -eq $restored ]] ||
    fail "the hub reconnected while only the read-only standby was up"
confirmed_then=$(wc -l <"$E2E_DIR/confirmed")
echo "== pg_ctl promote the standby"
"$pair/pgctl.sh" standby promote || fail "cannot promote the standby"
wait_for 30 "the hub to reconnect to the promoted standby" \
    log_has "$E2E_DIR/hub.log" "database connection restored" $((restored + 1))
wait_for 60 "events confirmed after the promotion" lines_at_least "$E2E_DIR/confirmed" $((confirmed_then + N / 4))
echo "== the hub carries on: $(wc -l <"$E2E_DIR/confirmed") confirmed"
wait_exit "$PUB" "the publisher ($(cat "$E2E_DIR/pub.out"))"
wait_exit "$SUB" "the subscriber ($(cat "$E2E_DIR/sub.out"))"
[[ $(psql_db "$standby_db" "SELECT pg_is_in_recovery()") == f ]] || fail "the standby is not the primary"
stop_hub
# Every confirmed event in the promoted server's journal, once, in order.
"$PY" "$E2E_SRC/order_check.py" "$E2E_DIR/published" "$E2E_DIR/confirmed" "$E2E_DIR/received" \
    "$N" "$standby_db"
grep -E "database|commit" "$E2E_DIR/hub.log" | grep -vE " (info|debug) +\[(pg|main)\] applied" | head -8 || true
echo "PASS: $E2E_NAME"
