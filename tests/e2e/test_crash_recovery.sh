#!/usr/bin/env bash
# Two adapters exchange 10,000 events through libjoinery while, one after the
# other, the hub is killed with -9, PostgreSQL is restarted (immediate, i.e.
# crash recovery), PostgreSQL is stopped for a few seconds (an outage), the
# journal's disk fills up (a tablespace on a small tmpfs, then freed: this
# phase needs root, as CI has; elsewhere it is skipped and says so) and the
# hub is killed with -9 again, each fault once the events confirmed so far
# show the one before it is over. Afterwards (order_check.py): every
# published event was confirmed, the subscriber handled exactly the 10,000
# event ids (after SDK de-duplication), the journal holds each event once,
# and, per record, both the journal and the subscriber have the events in
# the order the publisher published them (issue 23, item 1).
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
make_pgctl

# The full disk: the journal moves to a tablespace on a tmpfs of its own,
# which a filler file later fills. Mounting needs root (and the cluster's
# owner must reach the mount point).
full=""
if [[ $(id -u) -eq 0 ]]; then
    full=/tmp/joinery-full-$$
    mkdir -p "$full" && mount -t tmpfs -o size=64m,mode=0700 tmpfs "$full" ||
        fail "cannot mount a tmpfs on $full (root, but no mount permission?)"
    chown "$(stat -c %U "$JOINERY_TEST_PGDIR/data")" "$full"
    admin="${db/dbname=e2e_crash/dbname=postgres}"
    E2E_ON_EXIT="$E2E_ON_EXIT; rm -f '$full/filler'
        psql_db '$admin' 'DROP DATABASE IF EXISTS e2e_crash WITH (FORCE)' >/dev/null 2>&1
        psql_db '$admin' 'DROP TABLESPACE IF EXISTS e2e_full' >/dev/null 2>&1
        umount '$full'; rmdir '$full'"
    psql_db "$db" "DROP TABLESPACE IF EXISTS e2e_full" >/dev/null 2>&1 || true
    psql_db "$db" "CREATE TABLESPACE e2e_full LOCATION '$full'" || fail "cannot create the tablespace"
    psql_db "$db" "ALTER TABLE journal SET TABLESPACE e2e_full" || fail "cannot move the journal"
else
    echo "== not root: the full-disk phase is skipped (it needs a tmpfs mount)"
fi

"$BIN/e2e_subscriber" "$ep" socialcare "$keys" contacts 'crm.*' "$N" 240 "$E2E_DIR/received" \
    >"$E2E_DIR/sub.out" 2>&1 &
SUB=$!
wait_for 30 "the subscriber to subscribe" grep -q subscribed "$E2E_DIR/sub.out"

"$BIN/e2e_publisher" "$ep" crm "$keys" "$N" 97 2500 ev "$E2E_DIR/confirmed" "$E2E_DIR/published" \
    >"$E2E_DIR/pub.out" 2>&1 &
PUB=$!

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

confirmed_at_least $((N / 6))
echo "== kill -9 the hub (1)"
kill_hub
start_hub "$E2E_DIR/hub.yaml" "$E2E_DIR/hub.log"
confirmed_at_least $((2 * N / 6))
echo "== restart PostgreSQL (immediate: crash recovery)"
"$E2E_DIR/pgctl.sh" restart -m immediate
confirmed_at_least $((3 * N / 6))
echo "== PostgreSQL away for 3 s (an outage)"
"$E2E_DIR/pgctl.sh" stop -m fast
sleep 3
"$E2E_DIR/pgctl.sh" start
confirmed_at_least $((4 * N / 6))
if [[ -n $full ]]; then
    echo "== the journal's disk is full for 3 s"
    # An earlier phase may have failed a commit too (a connection cut mid-commit),
    # so count this phase's lines from here.
    n0=$(log_count "$E2E_DIR/hub.log" "commits are failing")
    s0=$(log_count "$E2E_DIR/hub.log" "commits succeed again")
    f0=$(log_count "$E2E_DIR/hub.log" "commits (are|still) failing")
    dd if=/dev/zero of="$full/filler" bs=64k status=none 2>/dev/null || true
    wait_for 30 "the hub to find the disk full" log_has "$E2E_DIR/hub.log" "commits are failing" $((n0 + 1))
    sleep 3
    rm -f "$full/filler"
    # The next commit with events decides it: the SDK resends its RETRY answers after a
    # backoff that may by now be tens of seconds (RETRY_MAX_MS 30 s).
    wait_for 120 "the hub to write again" log_has "$E2E_DIR/hub.log" "commits succeed again" $((s0 + 1))
    # said once (a new reason at most), not once per try (issue 23, item 8)
    flood=$(($(log_count "$E2E_DIR/hub.log" "commits (are|still) failing") - f0))
    ((flood <= 3)) || fail "$flood lines about failing commits in a 3 s full disk"
fi
confirmed_at_least $((5 * N / 6))
echo "== kill -9 the hub (2)"
kill_hub
start_hub "$E2E_DIR/hub.yaml" "$E2E_DIR/hub.log"

wait_exit "$PUB" "the publisher ($(cat "$E2E_DIR/pub.out"))"
wait_exit "$SUB" "the subscriber ($(cat "$E2E_DIR/sub.out"))"
cat "$E2E_DIR/pub.out" "$E2E_DIR/sub.out"
stop_hub
if [[ -n $full ]]; then
    grep -E "commits are failing" "$E2E_DIR/hub.log" | grep -q "No space left on device" ||
        fail "the hub's log does not say the disk was full"
    psql_db "$db" "ALTER TABLE journal SET TABLESPACE pg_default" || fail "cannot move the journal back"
fi
"$PY" "$E2E_SRC/order_check.py" "$E2E_DIR/published" "$E2E_DIR/confirmed" "$E2E_DIR/received" \
    "$N" "$db"
echo "test_crash_recovery: ok"
