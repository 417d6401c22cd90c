#!/usr/bin/env bash
# Two adapters exchange 10,000 events through libjoinery while the hub is
# killed with -9 twice and PostgreSQL is restarted (immediate, i.e. crash
# recovery) once, each fault once the events confirmed so far show the one
# before it is over. Afterwards (order_check.py): every published event was
# confirmed, the subscriber handled exactly the 10,000 event ids (after SDK
# de-duplication), the journal holds each event once, and, per record, both
# the journal and the subscriber have the events in the order the publisher
# published them.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

N=${JOINERY_E2E_EVENTS:-10000}
db=$(fresh_db e2e_crash)
port=$(free_port)
ep="tcp://127.0.0.1:$port"
keys="$E2E_DIR/keys"
make_keys "$keys" hub crm socialcare
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: $ep
  data_dir: $E2E_DIR/data
  heartbeat_ms: 500
  heartbeat_misses: 4
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

"$BIN/e2e_publisher" "$ep" crm "$keys" "$N" 97 2500 ev "$E2E_DIR/confirmed" "$E2E_DIR/published" \
    >"$E2E_DIR/pub.out" 2>&1 &
PUB=$!

make_pgctl

# confirmed_at_least K: waits until K events are confirmed, proof that the
# hub (and PostgreSQL) serve again after the fault before; the publisher and
# subscriber must still be running.
confirmed_at_least() {
    local deadline=$((SECONDS + 90))
    until lines_at_least "$E2E_DIR/confirmed" "$1"; do
        kill -0 "$PUB" 2>/dev/null || fail "the publisher exited early: $(cat "$E2E_DIR/pub.out")"
        kill -0 "$SUB" 2>/dev/null || fail "the subscriber exited early: $(cat "$E2E_DIR/sub.out")"
        ((SECONDS < deadline)) || fail "fewer than $1 events confirmed after 90 s"
        sleep 0.02
    done
    echo "== $(wc -l <"$E2E_DIR/confirmed") confirmed, $(wc -l <"$E2E_DIR/published") published"
}

confirmed_at_least $((N / 5))
echo "== kill -9 the hub (1)"
kill_hub
start_hub "$E2E_DIR/hub.yaml" "$E2E_DIR/hub.log"
confirmed_at_least $((2 * N / 5))
echo "== restart PostgreSQL (immediate: crash recovery)"
"$E2E_DIR/pgctl.sh" restart -m immediate
confirmed_at_least $((3 * N / 5))
echo "== kill -9 the hub (2)"
kill_hub
start_hub "$E2E_DIR/hub.yaml" "$E2E_DIR/hub.log"

wait_exit "$PUB" "the publisher ($(cat "$E2E_DIR/pub.out"))"
wait_exit "$SUB" "the subscriber ($(cat "$E2E_DIR/sub.out"))"
cat "$E2E_DIR/pub.out" "$E2E_DIR/sub.out"
stop_hub
"$PY" "$E2E_SRC/order_check.py" "$E2E_DIR/published" "$E2E_DIR/confirmed" "$E2E_DIR/received" \
    "$N" "$db"
echo "test_crash_recovery: ok"
