#!/usr/bin/env bash
# Starting the hub safely, and saying at once what is wrong (issue 23, items
# 5, 10 and 14):
#  - secret files: a hub key readable by others, or a hub key file holding a
#    public key, is refused with the file and the fix; a configuration others
#    can read that holds a password is warned about; the SDK (and so the CLI)
#    refuses an adapter's .key readable by others;
#  - database problems: a database or role that does not exist fails within
#    seconds with libpq's reason; a server that is not there is waited for,
#    and the wait is logged at once; the private cluster's conninfo is logged;
#    an admin API without tokens is warned about; partners: start their links;
#  - a second joineryd on the same data directory is refused at once and the
#    first, with its private PostgreSQL, is unharmed; one on another data
#    directory but the same address fails to bind and stops only its own;
#  - `joinery publish` against a hub whose database is down says so.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

keys="$E2E_DIR/keys"
make_keys "$keys" hub crm
export JOINERY_KEYS="$keys"

# hub_config FILE DATA_DIR PORT [EXTRA]: a Curve hub with crm (publisher and
# operator); EXTRA is appended as it is (database:, admin:, ...).
hub_config() {
    cat >"$1" <<YAML
hub:
  listen: tcp://127.0.0.1:$3
  data_dir: $2
security:
  curve: true
  hub_key_file: $keys/hub.key
adapters:
  - name: crm
    public_key_file: $keys/crm.pub
    publish: ["crm.*"]
    subscribe: ["crm.*"]
    operator: true
${4:-}
YAML
}

# publish_ok PORT [TIMEOUT_MS]: the CLI publishes one event and it is confirmed OK.
publish_ok() {
    local out
    out=$(echo '{"type": "crm.contact.updated", "source_record_id": "C-1", "payload": {}}' |
        "$JOINERY" --endpoint "tcp://127.0.0.1:$1" --adapter crm publish --timeout "${2:-20000}") ||
        return 1
    "$PY" -c 'import json,sys; c=json.loads(sys.argv[1]); sys.exit(0 if c["status"]=="OK" else 1)' "$out"
}

# pg_as_owner DATA_DIR ARGS...: pg_ctl on a hub's private cluster, as the
# user that runs it (postgres when the test runs as root).
pg_as_owner() {
    local data=$1/pg/data pgbin as=()
    shift
    pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
    [[ $(id -u) -eq 0 ]] && as=(runuser -u "$(stat -c %U "$data")" --)
    (cd /tmp && "${as[@]}" "$pgbin/pg_ctl" -D "$data" "$@")
}

# A hub that should refuse to start runs under `timeout`: if it starts
# instead, the test fails rather than waits for ever.

# Whatever happens, no private PostgreSQL of this test outlives it.
stop_private_clusters() {
    local d
    for d in "$E2E_DIR"/one "$E2E_DIR"/three; do
        [[ -e $d/pg/data/postmaster.pid ]] && pg_as_owner "$d" -m immediate -w stop >/dev/null 2>&1
    done
    return 0
}
E2E_ON_EXIT=stop_private_clusters

db=$(fresh_db e2e_startup)
pgrun=$(sed -E 's/.*host=([^ ]+).*/\1/' <<<"$db")

echo "== secret files"
port=$(free_port)
hub_config "$E2E_DIR/good.yaml" "$E2E_DIR/data" "$port" "database:
  conninfo: \"$db\""
# The channel is alive: this very file is accepted before the bad ones are refused.
"$JOINERYD" --check-config "$E2E_DIR/good.yaml" >/dev/null || fail "the good configuration is refused"

cp "$keys/hub.key" "$keys/loose.key"
chmod 0644 "$keys/loose.key"
sed "s|$keys/hub.key|$keys/loose.key|" "$E2E_DIR/good.yaml" >"$E2E_DIR/loose.yaml"
expect_fail 1 "loose.key' is readable by group or others \(mode 0644\).*chmod 600 $keys/loose.key" \
    timeout 60 "$JOINERYD" --config "$E2E_DIR/loose.yaml"

sed "s|$keys/hub.key|$keys/hub.pub|" "$E2E_DIR/good.yaml" >"$E2E_DIR/pub.yaml"
expect_fail 1 "hub.pub' holds a public key; hub_key_file needs the secret key" \
    timeout 60 "$JOINERYD" --config "$E2E_DIR/pub.yaml"
# The public key copied over the secret one's name, private and all: its hub.pub gives it away.
mkdir -p "$E2E_DIR/copied"
cp "$keys/hub.pub" "$E2E_DIR/copied/hub.pub"
install -m 0600 "$keys/hub.pub" "$E2E_DIR/copied/hub.key"
sed "s|$keys/hub.key|$E2E_DIR/copied/hub.key|" "$E2E_DIR/good.yaml" >"$E2E_DIR/copied.yaml"
expect_fail 1 "copied/hub.key' holds a public key" timeout 60 "$JOINERYD" --config "$E2E_DIR/copied.yaml"

echo "== databases that are not there"
sed "s|dbname=e2e_startup|dbname=e2e_startup_missing|" "$E2E_DIR/good.yaml" >"$E2E_DIR/nodb.yaml"
sed "s|user=joinery|user=nobody_here|" "$E2E_DIR/good.yaml" >"$E2E_DIR/norole.yaml"
for what in 'database "e2e_startup_missing"':nodb 'role "nobody_here"':norole; do
    start=$SECONDS
    expect_fail 1 "cannot connect to PostgreSQL at .*: .*${what%:*} does not exist" \
        timeout 90 "$JOINERYD" --config "$E2E_DIR/${what#*:}.yaml"
    ((SECONDS - start <= 5)) || fail "${what%:*}: refused after $((SECONDS - start)) s, not at once"
    grep -q "waiting up to" "$E2E_DIR/last.err" && fail "${what%:*}: a refusal by the server was waited for"
done

# No server at all: the hub waits, and says so at once, naming what it waits for.
mkdir -p "$E2E_DIR/nopg"
sed "s|host=$pgrun|host=$E2E_DIR/nopg|" "$E2E_DIR/good.yaml" >"$E2E_DIR/nopg.yaml"
"$JOINERYD" --config "$E2E_DIR/nopg.yaml" >"$E2E_DIR/nopg.log" 2>&1 &
waiting=$!
wait_for 10 "the hub to log its wait" \
    grep -qE "waiting up to 60 s for PostgreSQL at [^:]*host=$E2E_DIR/nopg[^:]*: .*No such file" \
    "$E2E_DIR/nopg.log"
kill -0 "$waiting" || fail "the hub gave up instead of waiting for the server"
# A stop ends the wait (the next retry, at most 2 s), and says why it ended.
kill -TERM "$waiting"
wait_for 5 "the hub to stop waiting once told to stop" bash -c "! kill -0 $waiting"
wait "$waiting" 2>/dev/null || true
log_has "$E2E_DIR/nopg.log" "stopped while waiting for PostgreSQL at .*a stop was asked for" ||
    fail "the stop did not end the wait for the database"

echo "== a configuration others can read that holds a password"
hub_config "$E2E_DIR/pw.yaml" "$E2E_DIR/data" "$port" "database:
  conninfo: \"$db password=not-needed-with-trust\""
chmod 0644 "$E2E_DIR/pw.yaml"
start_hub "$E2E_DIR/pw.yaml" "$E2E_DIR/hub-pw.log"
log_has "$E2E_DIR/hub-pw.log" "pw.yaml holds a password and is readable by group or others \(mode 0644\): chmod 600" ||
    fail "no warning about the readable password"
log_has "$E2E_DIR/hub-pw.log" "not-needed-with-trust" && fail "the password is in the log"
stop_hub

echo "== the private cluster, admin and partners"
port=$(free_port)
aport=$(free_port)
hub_config "$E2E_DIR/one.yaml" "$E2E_DIR/one" "$port" "admin:
  enabled: true
  listen: 127.0.0.1:$aport
partners:
  - name: kafka-east
    agreement: DSA-1
    purpose: direct-care
    kafka: {brokers: \"127.0.0.1:9\"}
    outbound: {topic: to-east, types: [\"person.*\"]}"
start_hub "$E2E_DIR/one.yaml" "$E2E_DIR/hub-one.log"
hub1=$HUB_PID
log_has "$E2E_DIR/hub-one.log" "admin API on 127.0.0.1:$aport without tokens: every local user may call it" ||
    fail "no warning that the admin API has no tokens"
log_has "$E2E_DIR/hub-one.log" "1 partner\(s\) linked through tcp://127.0.0.1:" ||
    fail "the partner's link is not started"
log_has "$E2E_DIR/hub-one.log" "holds a password" && fail "password warning without a password"
grep -qF "hub public key $(cat "$keys/hub.pub")" "$E2E_DIR/hub-one.log" || fail "the hub's public key is not logged"
conn=$(sed -nE 's/.*private PostgreSQL cluster: psql "([^"]+)".*/\1/p' "$E2E_DIR/hub-one.log")
[[ $conn == "host=$E2E_DIR/one/pg/run dbname=joinery user=joinery" ]] ||
    fail "private cluster conninfo logged as '$conn'"
[[ $(psql_db "$conn" "SELECT count(*) FROM journal") == 0 ]] || fail "the logged conninfo does not reach the journal"
publish_ok "$port" || fail "hub 1 does not confirm a publish"

echo "== a second hub on the same data directory"
start=$SECONDS
expect_fail 1 "another joineryd \(pid $hub1\) holds $E2E_DIR/one" \
    timeout 60 "$JOINERYD" --config "$E2E_DIR/one.yaml"
((SECONDS - start <= 5)) || fail "the second hub took $((SECONDS - start)) s to give up"
grep -q "PostgreSQL" "$E2E_DIR/last.err" && fail "the second hub touched PostgreSQL: $(cat "$E2E_DIR/last.err")"
kill -0 "$hub1" || fail "hub 1 died"
[[ -e $E2E_DIR/one/pg/data/postmaster.pid ]] || fail "hub 1's PostgreSQL was stopped"
[[ $(psql_db "$conn" "SELECT count(*) FROM journal") == 1 ]] || fail "hub 1's database is not answering"
publish_ok "$port" || fail "hub 1 no longer confirms a publish after the second hub"

echo "== another data directory, the same address"
hub_config "$E2E_DIR/three.yaml" "$E2E_DIR/three" "$port"
expect_fail 1 "Address already in use" timeout 90 "$JOINERYD" --config "$E2E_DIR/three.yaml"
[[ -e $E2E_DIR/three/pg/data/postmaster.pid ]] && fail "the third hub left its own PostgreSQL running"
kill -0 "$hub1" || fail "hub 1 died"
[[ -e $E2E_DIR/one/pg/data/postmaster.pid ]] || fail "hub 1's PostgreSQL was stopped by the third hub"
publish_ok "$port" || fail "hub 1 no longer confirms a publish after the third hub"

echo "== the SDK and the CLI refuse an adapter key others can read"
chmod 0644 "$keys/crm.key"
expect_fail 1 "key file $keys/crm.key is readable by group or others \(mode 0644\).*chmod 600" \
    "$JOINERY" --endpoint "tcp://127.0.0.1:$port" --adapter crm status
chmod 0600 "$keys/crm.key"
"$JOINERY" --endpoint "tcp://127.0.0.1:$port" --adapter crm status >/dev/null || fail "status with a private key"

echo "== the CLI when the hub's database is down"
pg_as_owner "$E2E_DIR/one" -m fast -w stop >/dev/null
expect_fail 1 "the hub's database is unavailable: the event was not accepted; retry later" \
    "$JOINERY" --endpoint "tcp://127.0.0.1:$port" --adapter crm publish --timeout 3000 \
    <<<'{"type": "crm.contact.updated", "source_record_id": "C-2", "payload": {}}'
"$JOINERY" --endpoint "tcp://127.0.0.1:$port" --adapter crm status >"$E2E_DIR/status.out" 2>"$E2E_DIR/status.err" ||
    fail "status during the outage failed: $(cat "$E2E_DIR/status.err")"
grep -q "the hub's database is unavailable" "$E2E_DIR/status.err" || fail "status does not say the database is down"
pg_as_owner "$E2E_DIR/one" -w -l "$E2E_DIR/one/pg/postgres.log" start >/dev/null
publish_ok "$port" 30000 || fail "hub 1 does not confirm after its database came back"
stop_hub
[[ -e $E2E_DIR/one/pg/data/postmaster.pid ]] && fail "hub 1 did not stop its own PostgreSQL"
echo "test_startup: ok"
