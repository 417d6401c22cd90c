#!/usr/bin/env bash
# Two adapters exchange 10,000 events through libjoinery while the hub is
# killed with -9 twice and PostgreSQL is restarted (immediate, i.e. crash
# recovery) once. Afterwards: every published event was confirmed, the
# subscriber handled exactly the 10,000 event ids (after SDK de-duplication),
# in journal order per entity, and the journal holds each event once.
source "$(dirname "$0")/lib.sh"

N=${JOINERY_E2E_EVENTS:-10000}
db=$(fresh_db e2e_crash)
port=$(free_port)
ep="tcp://127.0.0.1:$port"
keys="$E2E_DIR/keys"
mkdir -p "$keys"
"$PY" - "$keys" <<'PY'
import sys, zmq
for n in ("hub", "crm", "socialcare"):
    p, s = zmq.curve_keypair()
    open("%s/%s.pub" % (sys.argv[1], n), "w").write(p.decode() + "\n")
    open("%s/%s.key" % (sys.argv[1], n), "w").write(s.decode() + "\n")
PY
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
for _ in $(seq 1 100); do grep -q subscribed "$E2E_DIR/sub.out" && break; sleep 0.1; done
grep -q subscribed "$E2E_DIR/sub.out" || fail "subscriber did not subscribe"

"$BIN/e2e_publisher" "$ep" crm "$keys" "$N" 97 2500 ev "$E2E_DIR/confirmed" \
    >"$E2E_DIR/pub.out" 2>&1 &
PUB=$!

make_pgctl

sleep 1
echo "== kill -9 the hub (1)"
kill_hub
start_hub "$E2E_DIR/hub.yaml" "$E2E_DIR/hub.log"
sleep 1
echo "== restart PostgreSQL (immediate: crash recovery)"
"$E2E_DIR/pgctl.sh" restart -m immediate
sleep 1
echo "== kill -9 the hub (2)"
kill_hub
start_hub "$E2E_DIR/hub.yaml" "$E2E_DIR/hub.log"

wait "$PUB" || fail "publisher failed: $(cat "$E2E_DIR/pub.out")"
wait "$SUB" || fail "subscriber failed: $(cat "$E2E_DIR/sub.out")"
cat "$E2E_DIR/pub.out" "$E2E_DIR/sub.out"

"$PY" - "$E2E_DIR/confirmed" "$E2E_DIR/received" "$N" <<'PY'
import sys
confirmed = {l.split()[0] for l in open(sys.argv[1])}
lines = [l.split() for l in open(sys.argv[2])]
n = int(sys.argv[3])
received = {l[0] for l in lines}
expected = {"ev-%d" % i for i in range(n)}
print("published %d, confirmed %d, handled %d (distinct %d), lost %d, duplicates %d" % (
    n, len(confirmed), len(lines), len(received), len(expected - received),
    len(lines) - len(received)))
assert confirmed == expected, "not every published event was confirmed"
assert received == expected, "subscriber did not get exactly the published events"
seen, per = set(), {}
for eid, seq, ent in lines:
    if eid in seen:
        continue
    seen.add(eid)
    per.setdefault(ent, []).append(int(seq))
bad = [e for e, s in per.items() if s != sorted(s)]
assert not bad, "journal order broken for %d entities, e.g. %s" % (len(bad), bad[:3])
print("per-entity order kept for %d entities" % len(per))
PY
[[ $(psql_db "$db" "SELECT count(*) FROM journal") == "$N" ]] || fail "journal does not hold each event once"
[[ $(psql_db "$db" "SELECT count(DISTINCT event_id) FROM journal") == "$N" ]] || fail "journal has duplicates"
stop_hub
echo "test_crash_recovery: ok"
