#!/usr/bin/env bash
# Sessions and outages, from a raw protocol client: a subscriber that goes
# silent is expired and gets its unacknowledged deliveries again when it
# returns, their attempt counting on; an event left unsettled by
# max_attempts sessions in a row is dead-lettered; with PostgreSQL stopped,
# publishes are answered RETRY (the hub neither crashes nor buffers), and
# accepted again once it is back; on SIGTERM every adapter is told GOODBYE.
set -euo pipefail
source "$(dirname "$0")/lib.sh" || exit 1

db=$(fresh_db e2e_sessions)
port=$(free_port)
cat >"$E2E_DIR/hub.yaml" <<YAML
hub:
  listen: tcp://127.0.0.1:$port
  data_dir: $E2E_DIR/data
  heartbeat_ms: 300
  heartbeat_misses: 3
delivery:
  max_attempts: 3
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

"$PY" - "tcp://127.0.0.1:$port" "$E2E_DIR/pgctl.sh" "$E2E_DIR/hub.log" "$HUB_PID" "$E2E_SRC" \
    "$db" <<'PY'
import os, signal, subprocess, sys
sys.path.insert(0, sys.argv[5])
import pyjoinery as J
from joinery.v1 import protocol_pb2 as P
ep, pgctl, log, hub_pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
check, sql = J.check, J.Sql(sys.argv[6])


def log_count(text):
    with open(log) as f:
        return sum(1 for line in f if text in line)


def publish_resuming(client, ev, timeout_ms):
    # This client sends no heartbeats while it waits on pg_ctl: if the hub
    # expired its session meanwhile, open a new one, as the SDK would.
    try:
        return client.publish([ev], timeout_ms=timeout_ms).get(ev.event_id)
    except RuntimeError as e:
        if "NO_SESSION" not in str(e):
            raise
        check(client.hello()[0] == "WELCOME", "an expired publisher opens a new session")
        return client.publish([ev], timeout_ms=timeout_ms).get(ev.event_id)


pub = J.Client(ep, "crm")
check(pub.hello()[0] == "WELCOME", "crm connects")
sub = J.Client(ep, "socialcare")
cmd, w1 = sub.hello()
check(cmd == "WELCOME", "socialcare connects")
check(sub.subscribe("s", ["crm.*"], credit=50)[0] == "SUBSCRIBED", "socialcare subscribes")
evs = [pub.event("crm.contact.updated", record_id="c%d" % i) for i in range(5)]
got = pub.publish(evs)
check(len(got) == 5 and all(e.status == P.CONFIRM_OK for e in got.values()), "5 events confirmed")
first = sub.receive(lambda g: len(g) >= 5, "5 deliveries", ack=False)
seqs = sorted(g.delivery.seq for g in first)
check(len(first) == 5 and seqs == sorted(e.seq for e in got.values()), "the 5 are delivered")
# Silent (no heartbeats, no acks) for longer than 3 x 300 ms: the hub expires us.
expired = "adapter 'socialcare' disconnected: silent for more than 3 heartbeats"
J.wait_for("the hub to log that it expired the silent subscriber", lambda: log_count(expired))
sub.send("HEARTBEAT", P.Heartbeat())
cmd, m = sub.recv()
check(cmd == "ERROR" and m.code == P.ERROR_NO_SESSION, "a silent subscriber's session expired")
sub.close()
back = J.Client(ep, "socialcare")
cmd, w2 = back.hello()
check(cmd == "WELCOME", "socialcare comes back")
# The hub's log tells the two sessions of one adapter apart by the id WELCOME gave each.
check(w1.session_id != w2.session_id, "a new session id: %d, %d" % (w1.session_id, w2.session_id))
check(log_count("session %d: adapter 'socialcare' connected" % w1.session_id) == 1
      and log_count("session %d: adapter 'socialcare' disconnected: silent" % w1.session_id) == 1
      and log_count("session %d: adapter 'socialcare' connected" % w2.session_id) == 1,
      "the log names each session by its id")
check(back.subscribe("s", ["crm.*"], credit=50)[0] == "SUBSCRIBED", "and subscribes again")
again = back.receive(lambda g: len(g) >= 5, "5 redeliveries", ack=False)
check(sorted(g.delivery.seq for g in again) == seqs,
      "unacknowledged deliveries come again after the return")
# docs/protocol.md 7.2: attempt is "1 on first delivery, counting up on every redelivery".
check(all(g.delivery.attempt == 2 for g in again),
      "and are counted as their second attempt: %s" % [g.delivery.attempt for g in again])
back.ack("s", seqs)

check(pub.hello()[0] == "WELCOME", "the publisher, silent too, opens a new session")

# An event whose handling kills its adapter: delivered, never ACKed or NACKed,
# the adapter gone each time (issue 23 item 4). The count goes on across a
# takeover by a new connection while the old session is still open, and
# across a session that ended; with max_attempts 3, the 3rd unsettled delivery
# is the last: the event is dead-lettered, and the next event of its record,
# held behind it, comes instead.
poison = pub.event("crm.poison.created", record_id="p-1")
after = pub.event("crm.poison.created", record_id="p-1")
got = pub.publish([poison, after])
check(all(got[e.event_id].status == P.CONFIRM_OK for e in (poison, after)),
      "a poisonous event and the next of its record are confirmed")
attempts = []
for n in (1, 2, 3):
    s = J.Client(ep, "socialcare")
    J.require(s.hello()[0] == "WELCOME", "socialcare connects (%d)" % n)
    J.require(s.subscribe("poison", ["crm.poison.*"], credit=10, from_beginning=True)[0]
              == "SUBSCRIBED",
              "socialcare subscribes to poison (%d)" % n)
    d = s.receive(lambda g: len(g) >= 1, "delivery %d of the poisonous event" % n, ack=False)
    check([g.env.event_id for g in d] == [poison.event_id],
          "delivery %d is the poisonous event alone (the next one waits behind it)" % n)
    attempts.append(d[0].delivery.attempt)
    if n == 2:
        s.send("GOODBYE", P.Goodbye(reason="handler crashed"))  # the session ends
    s.close()  # else the new connection takes the subscription over from an open session
check(attempts == [1, 2, 3], "its attempt counts on across sessions: %s" % attempts)
last = J.Client(ep, "socialcare")
check(last.hello()[0] == "WELCOME", "socialcare connects a 4th time")
check(last.subscribe("poison", ["crm.poison.*"], credit=10)[0] == "SUBSCRIBED",
      "and subscribes to poison again")
d = last.receive(lambda g: len(g) >= 1, "the next event of the record")
check([(g.env.event_id, g.delivery.attempt) for g in d] == [(after.event_id, 1)],
      "no 4th delivery: the next event of the record comes, at attempt 1 (%s)"
      % [(g.env.event_id, g.delivery.attempt) for g in d])
row = J.wait_for("the poisonous event's dead letter", lambda: sql(
    "SELECT attempts || '|' || reason FROM dead_letter WHERE event_id = '%s' "
    "AND subscription = 'poison'" % poison.event_id))
check(row.startswith("3|delivered 3 times without being settled"),
      "dead-lettered after its 3rd delivery, saying so: %s" % row)
last.close()
subprocess.run([pgctl, "stop"], check=True)
retry = pub.event("crm.contact.updated", record_id="x")
got = publish_resuming(pub, retry, 15000)
check(got and got.status == P.CONFIRM_RETRY,
      "with the database down a publish is answered RETRY: %s" % (got.reason if got else "none"))
got = publish_resuming(pub, retry, 15000)
check(got and got.status == P.CONFIRM_RETRY,
      "and again, while it stays down: %s" % (got.reason if got else "none"))
subprocess.run([pgctl, "start"], check=True)


def journaled():
    got = publish_resuming(pub, retry, 5000)
    return got if got and got.status == P.CONFIRM_OK else None


J.wait_for("the same event, resent, is accepted once the database is back", journaled,
           timeout_s=60, interval_s=0.2)
check(True, "once the database is back the same event is journaled")
os.kill(hub_pid, signal.SIGTERM)
cmd, m = pub.recv(20000, skip=("HEARTBEAT", "CONFIRM"))
check(cmd == "GOODBYE" and "shutting down" in m.reason, "SIGTERM: the hub says GOODBYE")
J.finish("test_sessions")
PY
wait_exit "$HUB_PID" "joineryd, on SIGTERM,"
HUB_PID=""
log_has "$E2E_DIR/hub.log" "journal database unavailable" || fail "outage not logged"
log_has "$E2E_DIR/hub.log" "journal database available again" || fail "recovery not logged"
log_has "$E2E_DIR/hub.log" "stopped cleanly" || fail "no clean stop logged"
echo "test_sessions: ok"
