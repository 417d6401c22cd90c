#!/usr/bin/env bash
# Sessions and outages, from a raw protocol client: a subscriber that goes
# silent is expired and gets its unacknowledged deliveries again when it
# returns; with PostgreSQL stopped, publishes are answered RETRY (the hub
# neither crashes nor buffers), and accepted again once it is back; on
# SIGTERM every adapter is told GOODBYE.
source "$(dirname "$0")/lib.sh"

db=$(fresh_db e2e_sessions)
port=$(free_port)
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
  heartbeat_ms: 300
  heartbeat_misses: 3
database:
  conninfo: "$db"
security:
  curve: false
adapters:
  - name: crm
    publish: ["crm.*"]
  - name: socialcare
    subscribe: ["crm.*"]
YAML
start_hub "$E2E_DIR/hub.yaml"
make_pgctl

export E2E_DIR
( while [[ ! -e "$E2E_DIR/goodbye.wait" ]]; do sleep 0.1; done; kill -TERM "$HUB_PID" ) &
"$PY" - "tcp://127.0.0.1:$port" "$E2E_DIR/pgctl.sh" <<'PY'
import subprocess, sys, time, os
sys.path.insert(0, os.environ["JOINERY_SOURCE_DIR"] + "/tests/e2e")
import pyjoinery as J
from joinery.v1 import protocol_pb2 as P
ep, pgctl = sys.argv[1], sys.argv[2]

def check(cond, what):
    if not cond:
        print("FAIL:", what); sys.exit(1)
    print("ok -", what)

def publish_one(client, ev, timeout_ms):
    # This client sends no heartbeats while it waits on pg_ctl: if the hub
    # expired its session meanwhile, open a new one, as the SDK would.
    try:
        return client.publish([ev], timeout_ms=timeout_ms).get(ev.event_id)
    except RuntimeError as e:
        if "NO_SESSION" not in str(e):
            raise
        assert client.hello()[0] == "WELCOME"
        return client.publish([ev], timeout_ms=timeout_ms).get(ev.event_id)

pub = J.Client(ep, "crm"); assert pub.hello()[0] == "WELCOME"
sub = J.Client(ep, "socialcare"); assert sub.hello()[0] == "WELCOME"
assert sub.subscribe("s", ["crm.*"], credit=50)[0] == "SUBSCRIBED"
evs = [pub.event("crm.contact.updated", record_id="c%d" % i) for i in range(5)]
got = pub.publish(evs)
check(all(e.status == P.CONFIRM_OK for e in got.values()), "5 events confirmed")
seqs = []
while len(seqs) < 5:
    cmd, m = sub.recv(3000)
    check(cmd == "DELIVER", "deliveries arrive")
    seqs += [d.seq for d in m.deliveries]
# Silent (no heartbeats, no acks) for longer than 3 x 300 ms: the hub expires us.
time.sleep(1.6)
sub.send("HEARTBEAT", P.Heartbeat())
cmd, m = sub.recv(2000)
check(cmd == "ERROR" and m.code == P.ERROR_NO_SESSION, "a silent subscriber's session expired")
sub.close()
back = J.Client(ep, "socialcare"); assert back.hello()[0] == "WELCOME"
assert back.subscribe("s", ["crm.*"], credit=50)[0] == "SUBSCRIBED"
again = []
while len(again) < 5:
    cmd, m = back.recv(3000)
    check(cmd == "DELIVER", "redeliveries arrive")
    again += [d.seq for d in m.deliveries]
check(sorted(again) == sorted(seqs), "unacknowledged deliveries come again after the return")
back.ack("s", again)

check(pub.hello()[0] == "WELCOME", "the publisher, silent too, opens a new session")
subprocess.run([pgctl, "stop"], check=True)
retry = pub.event("crm.contact.updated", record_id="x")
got = publish_one(pub, retry, 15000)
check(got and got.status == P.CONFIRM_RETRY,
      "with the database down a publish is answered RETRY: %s" % (got.reason if got else "none"))
got = publish_one(pub, retry, 15000)
check(got and got.status == P.CONFIRM_RETRY,
      "and again, while it stays down: %s" % (got.reason if got else "none"))
subprocess.run([pgctl, "start"], check=True)
deadline, status = time.time() + 30, None
while time.time() < deadline:
    got = publish_one(pub, retry, 5000)
    status = got.status if got else None
    if status == P.CONFIRM_OK:
        break
    time.sleep(0.3)
check(status == P.CONFIRM_OK, "once the database is back the same event is journaled")
open(os.environ["E2E_DIR"] + "/goodbye.wait", "w").close()
cmd, m = pub.recv(20000, skip=("HEARTBEAT", "CONFIRM"))
check(cmd == "GOODBYE" and "shutting down" in m.reason, "SIGTERM: the hub says GOODBYE")
PY
wait "$HUB_PID" || fail "joineryd exited non-zero on SIGTERM"
HUB_PID=""
grep -q "journal database unavailable" "$E2E_DIR/hub.log" || fail "outage not logged"
grep -q "journal database available again" "$E2E_DIR/hub.log" || fail "recovery not logged"
echo "test_sessions: ok"
