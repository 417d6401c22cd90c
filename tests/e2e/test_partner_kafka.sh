#!/usr/bin/env bash
# Partners over Kafka (issue 21): the hub as the adapter "partner:trust",
# against librdkafka's mock cluster (tests/support/kafka_mock.c), so the real
# Kafka protocol is on the wire, read back by clients no one here wrote:
# kcat and Debian's python3-confluent-kafka. partner_kafka_check.py holds
# the scenarios:
#   outbound   only agreed fields leave (the produced bytes are scanned for
#              every value outside the agreement), persons without consent
#              are withheld and recorded, records keyed by master id with
#              type / event id / schema version headers, one disclosure row
#              per event, and the partner's cursor at the head;
#   commit-fails  commits refused after Kafka acknowledged: their disclosure
#              rows are written by a later commit, before the cursor moves;
#   outage     every broker down: the cursor stops, local subscribers do not;
#              brokers up: everything arrives;
#   inbound    records on the partner's topic are journaled as
#              partner:trust, a poisoned one is refused (kept with its
#              topic/partition/offset) and does not block those after it,
#              and the group's offsets are committed past them;
#   crash      (after this script kills the hub with -9 mid-production)
#              none lost, duplicates only by event id, per-key order kept.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

command -v kcat >/dev/null || skip "kcat not found (Debian: kcat)"
"$PY" -c 'import confluent_kafka' 2>/dev/null ||
    skip "$PY lacks confluent_kafka (Debian: python3-confluent-kafka)"

MOCK="$JOINERY_BUILD_DIR/tests/kafka_mock"
mkfifo "$E2E_DIR/mock.ctl"
"$MOCK" --brokers 3 --topic joinery.to-trust:4 --topic trust.to-joinery:2 \
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
export -f mock_cmd log_count log_has wait_for fail
export E2E_DIR

db=$(fresh_db e2e_partner_kafka)
port=$(free_port)
ep="tcp://127.0.0.1:$port"
keys="$E2E_DIR/keys"
make_keys "$keys" hub crm ward
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
    subscribe: ["probe.*"]
    operator: true
  - name: ward
    public_key_file: $keys/ward.pub
    publish: ["probe.*"]
    subscribe: ["health.*", "person.*", "probe.*"]
partners:
  - name: trust
    agreement: "DSA-2026-014 Leeds Teaching Hospitals shared care record"
    purpose: shared-care-record
    consent_required: true
    kafka:
      brokers: "$BOOT"
      properties:
        client.id: joinery-test
    outbound:
      topic: joinery.to-trust
      types: ["person.*"]
      fields:
        joinery.v1.Person: [nhs_number, name, birth_date, consents]
        joinery.v1.PersonChanged: [master_id, version, changed_fields, person.nhs_number,
                                   person.name, person.birth_date, person.consents]
    inbound:
      topic: trust.to-joinery
      group: joinery-trust
      types: ["health.discharge.*"]
YAML
"$JOINERYD" --check-config "$E2E_DIR/hub.yaml" >/dev/null || fail "the partner configuration does not pass --check-config"
start_hub "$E2E_DIR/hub.yaml"
wait_for 30 "the partner link" log_has "$E2E_DIR/hub.log" "partner 'trust': linked to the hub"

check() { # SCENARIO...
    "$PY" "$E2E_SRC/partner_kafka_check.py" "$ep" "$keys" "$db" "$@" || fail "partner_kafka_check.py $*"
}
check outbound commit-fails outage inbound

echo "== kill -9 the hub while it produces"
"$PY" "$E2E_SRC/partner_kafka_check.py" "$ep" "$keys" "$db" crash-publish >"$E2E_DIR/crash.out" 2>&1 &
PUB=$!
wait_for 60 "the crash stream under way" grep -q "published 100" "$E2E_DIR/crash.out"
kill_hub
start_hub "$E2E_DIR/hub.yaml"
wait_exit "$PUB" "the crash stream's publisher ($(cat "$E2E_DIR/crash.out"))"
cat "$E2E_DIR/crash.out"
check crash-verify

echo "== kcat reads what the hub produced"
kcat -b "$BOOT" -C -t joinery.to-trust -o beginning -e -q -f '%k\t%h\n' >"$E2E_DIR/kcat.txt" 2>"$E2E_DIR/kcat.err" ||
    fail "kcat: $(cat "$E2E_DIR/kcat.err")"
kcat -b "$BOOT" -C -t joinery.to-trust -o beginning -e -q -D '' -f '%k%s' >"$E2E_DIR/kcat.bin" 2>>"$E2E_DIR/kcat.err" ||
    fail "kcat: $(cat "$E2E_DIR/kcat.err")"
n=$(wc -l <"$E2E_DIR/kcat.txt")
[[ $n -ge 40 ]] || fail "kcat read $n records, expected at least 40"
grep -q 'joinery-event-id=' "$E2E_DIR/kcat.txt" || fail "kcat shows no joinery-event-id header"
for secret in 07700900 JK12 SECRETPC "High Street" Leeds Withheld; do
    grep -aq -- "$secret" "$E2E_DIR/kcat.bin" && fail "'$secret' (outside the agreement) is in what kcat read"
done
grep -aq -- "Consented" "$E2E_DIR/kcat.bin" || fail "kcat's bytes do not hold the agreed names (scan is blind)"
echo "kcat: $n records, none holds a field outside the agreement"

stop_hub
stop_mock
echo "PASS: $E2E_NAME"
