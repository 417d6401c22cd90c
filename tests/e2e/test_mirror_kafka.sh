#!/usr/bin/env bash
# The journal mirror on Kafka (issue 21, scale-out): a `mirror:` section makes
# the hub produce every journaled event of its types to one topic, as the
# journal holds it, keyed by master id (or the source's record), with the
# journal seq, event id, type and schema version in headers, from its own
# durable cursor. Against librdkafka's mock cluster (tests/support/kafka_mock.c),
# read back by clients no one here wrote: python3-confluent-kafka in a consumer
# group, and kcat. mirror_kafka_check.py holds the checks:
#   publish   a few thousand events of several keys (records without a master
#             id, and persons with one), through a hub this script kills with
#             -9 twice: once while the mirror produces, once with every
#             broker down and a thousand records waiting in librdkafka's
#             queue (brokers back after the restart); what was not confirmed
#             is published again;
#   verify    the topic against the journal: every journaled event once at
#             least (no gaps), a duplicate only of the same seq and event id,
#             per key the journal's order and one partition, headers right.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

command -v kcat >/dev/null || skip "kcat not found (Debian: kcat)"
"$PY" -c 'import confluent_kafka' 2>/dev/null ||
    skip "$PY lacks confluent_kafka (Debian: python3-confluent-kafka)"

MOCK="$JOINERY_BUILD_DIR/tests/kafka_mock"
mkfifo "$E2E_DIR/mock.ctl"
"$MOCK" --brokers 3 --topic joinery.journal:4 \
    <"$E2E_DIR/mock.ctl" >"$E2E_DIR/mock.out" 2>"$E2E_DIR/mock.err" &
MOCK_PID=$!
exec 3>"$E2E_DIR/mock.ctl" # held open: the mock's control channel
stop_mock() {
    echo quit >&3 || true
    exec 3>&-
    wait "$MOCK_PID" || fail "kafka_mock exited with status $?"
}
wait_for 30 "the mock cluster's bootstrap servers" grep -q '^bootstrap ' "$E2E_DIR/mock.out"
BOOT=$(sed -n 's/^bootstrap //p' "$E2E_DIR/mock.out")
export BOOT
# mock_cmd CMD: a control command, waiting for its answer.
mock_cmd() {
    local n0
    n0=$(log_count "$E2E_DIR/mock.out" '^(ok|error)')
    echo "$*" >&3
    wait_for 10 "kafka_mock to answer '$*'" log_has "$E2E_DIR/mock.out" '^(ok|error)' $((n0 + 1))
    ! tail -n1 "$E2E_DIR/mock.out" | grep -q '^error' || fail "kafka_mock: $* : $(tail -n1 "$E2E_DIR/mock.out")"
}

db=$(fresh_db e2e_mirror_kafka)
port=$(free_port)
ep="tcp://127.0.0.1:$port"
keys="$E2E_DIR/keys"
make_keys "$keys" hub crm
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: $ep
  data_dir: $E2E_DIR/data
  heartbeat_ms: 2000
database:
  conninfo: "$db"
security:
  hub_key_file: $keys/hub.key
adapters:
  - name: crm
    public_key_file: $keys/crm.pub
    publish: ["person.*", "probe.*"]
mirror:
  kafka:
    brokers: "$BOOT"
    properties:
      client.id: joinery-mirror-test
  topic: joinery.journal
YAML
"$JOINERYD" --check-config "$E2E_DIR/hub.yaml" >/dev/null || fail "the mirror configuration does not pass --check-config"
# A partner may not take the mirror's name.
sed 's/^mirror:/partners:\n  - name: mirror\n    agreement: a\n    purpose: p\n    kafka: {brokers: x}\n    outbound: {topic: t}\nunused:/' \
    "$E2E_DIR/hub.yaml" >"$E2E_DIR/bad.yaml"
out=$("$JOINERYD" --check-config "$E2E_DIR/bad.yaml" 2>&1) && fail "a partner named 'mirror' passed --check-config"
grep -q "reserved for the journal mirror" <<<"$out" || fail "no reason given for the partner named 'mirror': $out"

start_hub "$E2E_DIR/hub.yaml"
wait_for 30 "the mirror's link" log_has "$E2E_DIR/hub.log" "partner 'mirror': linked to the hub"

check() { # SCENARIO [ARGS]
    "$PY" "$E2E_SRC/mirror_kafka_check.py" "$ep" "$keys" "$db" "$@" || fail "mirror_kafka_check.py $*"
}

echo "== publish; kill -9 the hub mid-production; every broker down and back"
MIRROR_GO="$E2E_DIR/go" "$PY" "$E2E_SRC/mirror_kafka_check.py" "$ep" "$keys" "$db" publish \
    >"$E2E_DIR/pub.out" 2>&1 &
PUB=$!
# 1. kill -9 while the mirror produces (Kafka up): what Kafka had and the hub
#    had not recorded comes again, the same seq and event id.
wait_for 120 "500 events published" grep -q "^published [5-9][0-9][0-9]" "$E2E_DIR/pub.out"
kill_hub
start_hub "$E2E_DIR/hub.yaml"
# 2. every broker down: the next thousand events are journaled, confirmed and
#    handed to librdkafka, which cannot deliver them; the cursor waits.
wait_for 120 "the publisher to pause at 1000" grep -q "^paused at 1000" "$E2E_DIR/pub.out"
for b in 1 2 3; do mock_cmd "down $b"; done
touch "$E2E_DIR/go-1000"
wait_for 120 "the publisher to pause at 2000" grep -q "^paused at 2000" "$E2E_DIR/pub.out"
floor=$(psql_db "$db" "SELECT acked_seq FROM subscription WHERE adapter = 'mirror:journal'")
top=$(psql_db "$db" "SELECT max(seq) FROM journal")
[[ $floor -lt $top ]] || fail "the mirror's cursor ($floor) reached the head ($top) with every broker down"
echo "brokers down: the mirror's cursor at $floor, the journal's head at $top"
# 3. kill -9 with those records in librdkafka's queue: they die with the
#    process and must be produced again from the cursor after the restart.
kill_hub
start_hub "$E2E_DIR/hub.yaml"
for b in 1 2 3; do mock_cmd "up $b"; done
touch "$E2E_DIR/go-2000"
wait_exit "$PUB" "the publisher ($(cat "$E2E_DIR/pub.out"))"
tail -n 2 "$E2E_DIR/pub.out"

echo "== a consumer group (python3-confluent-kafka) reads the topic"
check verify

echo "== kcat reads the topic"
total=$(psql_db "$db" "SELECT count(*) FROM journal WHERE target IN ('', 'mirror:journal')")
# -e: exit at the end of every partition; the records are all there by now (verify saw them)
kcat -b "$BOOT" -C -t joinery.journal -o beginning -e -q -f '%p\t%o\t%k\t%h\n' \
    >"$E2E_DIR/kcat.txt" 2>"$E2E_DIR/kcat.err" || fail "kcat: $(cat "$E2E_DIR/kcat.err")"
check kcat "$E2E_DIR/kcat.txt"
echo "kcat: $(wc -l <"$E2E_DIR/kcat.txt") records for $total journaled events"

stop_hub
stop_mock
echo "PASS: $E2E_NAME"
