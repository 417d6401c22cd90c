"""protocol_check.py ENDPOINT KEYDIR CONNINFO - drives a running hub through
the wire protocol (see test_protocol.sh). Exits non-zero on the first
behaviour that differs from docs/protocol.md."""
import os
import sys
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402
from joinery.v1 import envelope_pb2 as E  # noqa: E402
from joinery.v1 import protocol_pb2 as P  # noqa: E402

EP, KEYS, DB = sys.argv[1], sys.argv[2], sys.argv[3]
check, sql = J.check, J.Sql(DB)


def client(name, as_name=None, monitor=False):
    return J.Client.curve(EP, name, KEYS, as_name, monitor)


# -- authentication -------------------------------------------------------
# The refusal is shown by the handshake failing with status 400 on the
# socket's monitor (docs/protocol.md 1.1), not by a WELCOME that never came.
intruder = client("intruder", monitor=True)
intruder.send("HELLO", P.Hello(protocol_version=1, adapter="crm", sdk_version="pyjoinery/1"))
cmd, ev = intruder.recv(until_event={zmq.EVENT_HANDSHAKE_FAILED_AUTH,
                                     zmq.EVENT_HANDSHAKE_SUCCEEDED})
check(cmd == "EVENT" and ev["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH and ev["value"] == 400,
      "an unknown Curve key fails the handshake with status 400: %s %s" % (cmd, ev))
check(intruder.recv(0) == (None, None), "and nothing reached it (no WELCOME)")
intruder.close()

crm = client("crm")
cmd, m = crm.hello()
check(cmd == "WELCOME" and m.max_message_bytes == 1048576 and m.max_batch == 1000,
      "a configured key gets WELCOME, with the documented default limits (%s)"
      % (str(m).replace("\n", " ") if m else None))

pretender = client("crm", as_name="socialcare")
cmd, m = pretender.hello()
check(cmd == "ERROR" and m.code == P.ERROR_NOT_AUTHORISED and "belongs to adapter 'crm'" in m.reason,
      "HELLO under another adapter's name is refused: " + (m.reason if m else ""))
cmd, m = pretender.hello(version=7, name="crm")
check(cmd == "ERROR" and m.code == P.ERROR_VERSION and "version 1" in m.reason,
      "an unknown protocol version is refused with a clear error")
pretender.send("PUBLISH", P.Publish())
cmd, m = pretender.recv()
check(cmd == "ERROR" and m.code == P.ERROR_NO_SESSION, "commands before HELLO get NO_SESSION")
pretender.close()


# -- malformed frames: each refused, and the hub keeps serving -------------
def still_serving(label):
    ev = crm.event("crm.contact.updated", record_id="c-1", payload=b"{}")
    got = crm.publish([ev])
    check(got.get(ev.event_id) and got[ev.event_id].status == P.CONFIRM_OK,
          "hub still serves after " + label)


crm.send_raw([b"\x00\xff\xfegarbage"])
cmd, m = crm.recv()
check(cmd == "ERROR" and m.code == P.ERROR_BAD_FRAME, "garbage single frame -> BAD_FRAME")
still_serving("garbage")

crm.send_raw([b"FROBNICATE", b"\x01\x02"])
cmd, m = crm.recv()
check(cmd == "ERROR" and m.code == P.ERROR_UNKNOWN_COMMAND and "FROBNICATE" in m.reason,
      "wrong command -> UNKNOWN_COMMAND naming it")
still_serving("unknown command")

cut = crm.event("crm.contact.updated", record_id="c-2")
whole = P.Publish(events=[cut]).SerializeToString()
crm.send_raw([b"PUBLISH", whole[:-5]])
cmd, m = crm.recv()
check(cmd == "ERROR" and m.code == P.ERROR_BAD_FRAME and m.command == "PUBLISH",
      "truncated protobuf -> BAD_FRAME: " + (m.reason if m else ""))
still_serving("truncated protobuf")
# still_serving's event was journaled after it: had any of it been accepted, it would be too.
check(sql("SELECT count(*) FROM journal WHERE event_id = '%s'" % cut.event_id) == "0",
      "nothing of the truncated PUBLISH was journaled")

crm.send_raw([b"PUBLISH", b"", b"extra"])
cmd, m = crm.recv()
check(cmd == "ERROR" and m.code == P.ERROR_BAD_FRAME, "three frames -> BAD_FRAME")
still_serving("three frames")

# -- refusals with reasons ------------------------------------------------
bad_type = crm.event("case.referral.created", record_id="r-1")
no_type = crm.event("person.updated", record_id="p-1", payload=b"\x01", payload_type="")
undecodable = crm.event("person.updated", record_id="p-1", payload=b"\xff\xff\xff",
                        payload_type="joinery.v1.Person")
no_time = crm.event("crm.contact.updated", record_id="c-3")
no_time.occurred_at = 0
got = crm.publish([bad_type, no_type, undecodable, no_time])
check(got[bad_type.event_id].status == P.CONFIRM_REJECTED
      and "may not publish 'case.referral.created'" in got[bad_type.event_id].reason,
      "publishing a type outside the adapter's permissions -> REJECTED with the reason")
check(got[no_type.event_id].status == P.CONFIRM_REJECTED
      and "payload_type" in got[no_type.event_id].reason,
      "entity event without a known payload_type -> REJECTED")
check(got[undecodable.event_id].status == P.CONFIRM_REJECTED
      and "does not decode" in got[undecodable.event_id].reason,
      "entity event whose payload does not decode -> REJECTED")
check(got[no_time.event_id].status == P.CONFIRM_REJECTED
      and "occurred_at" in got[no_time.event_id].reason, "missing occurred_at -> REJECTED")
kept = int(sql("SELECT count(*) FROM rejected_event WHERE octet_length(bytes) > 0"))
check(kept == 8, "every refusal is kept with its bytes: 4 frames, 4 envelopes (%d rows)" % kept)
check(sql("SELECT reason FROM rejected_event WHERE event_id = '%s'" % bad_type.event_id)
      .startswith("adapter 'crm' may not publish"), "the kept row carries the reason")

crm.send("SUBSCRIBE", P.Subscribe(subscription="snoop", patterns=["case.*"], credit=10))
cmd, m = crm.recv()
check(cmd == "ERROR" and m.code == P.ERROR_NOT_AUTHORISED and "case.*" in m.reason,
      "subscribing outside the adapter's permissions -> NOT_AUTHORISED")
crm.send("STATUS", P.StatusRequest())
cmd, m = crm.recv()
check(cmd == "ERROR" and m.code == P.ERROR_NOT_AUTHORISED, "STATUS is for operators only")

# -- delivery, dead letters ----------------------------------------------
sc = client("socialcare")
check(sc.hello()[0] == "WELCOME", "socialcare connects")
# Routing is shown with a plain (non-entity) type: entity events are answered
# by the master-data engine (see test_master_data.sh).
cmd, m = sc.subscribe("main", ["crm.contact.*"], credit=100)
check(cmd == "SUBSCRIBED", "socialcare subscribes to crm.contact.*")

events = [crm.event("crm.contact.updated", record_id="p-%d" % (i % 5),
                    payload=b'{"n": %d}' % i, payload_type="application/json")
          for i in range(20)]
got = crm.publish(events)
check(all(got[e.event_id].status == P.CONFIRM_OK for e in events), "20 contact events confirmed")
seq_of = {e.event_id: got[e.event_id].seq for e in events}
dup = crm.publish([events[0]])
check(dup[events[0].event_id].status == P.CONFIRM_DUPLICATE
      and dup[events[0].event_id].seq == seq_of[events[0].event_id],
      "a re-sent event_id gets DUPLICATE with the original seq")

reject_id, poison_id = events[6].event_id, events[11].event_id
acked, order = set(), {}
deadline = time.time() + 30
while len(acked) < 18 and time.time() < deadline:
    cmd, m = sc.recv(2000)
    if cmd != "DELIVER":
        continue
    for d in m.deliveries:
        env = E.Envelope()
        env.ParseFromString(d.envelope)
        check(env.received_at > 0 and env.source == "crm", "delivered envelope carries hub fields") \
            if not acked else None
        if env.event_id == reject_id:
            sc.nack("main", d.seq, reject=True, reason="bad postcode in address")
        elif env.event_id == poison_id:
            sc.nack("main", d.seq, reason="downstream timeout")
        else:
            order.setdefault(env.source_record_id, []).append(d.seq)
            acked.add(env.event_id)
            sc.ack("main", [d.seq])
check(len(acked) == 18, "the subscriber receives every other event (%d/18)" % len(acked))
check(all(v == sorted(v) for v in order.values()), "events per entity arrive in journal order")
# The poisoned event is still being retried; its dead letter, and the
# rejected one's, are written with a later commit.
J.wait_for("both dead letters written", lambda: sql(
    "SELECT count(*) FROM dead_letter WHERE event_id IN ('%s', '%s')" % (reject_id, poison_id))
    == "2")
rows = sql("SELECT event_id || '|' || attempts || '|' || reason FROM dead_letter ORDER BY seq")
rows = rows.splitlines()
check(len(rows) == 2, "two dead letters recorded (%d)" % len(rows))
check(any(r.startswith(reject_id + "|1|bad postcode") for r in rows),
      "NACK reject -> dead letter with the subscriber's reason")
check(any(r.startswith(poison_id + "|3|too many attempts") for r in rows),
      "NACK retry past max_attempts -> dead letter after 3 attempts")

# -- transient types: routed to connected subscribers, never journaled ------
cmd, m = sc.subscribe("presence", ["crm.presence.*"], credit=10)
check(cmd == "SUBSCRIBED", "socialcare subscribes to crm.presence.*")
ping = crm.event("crm.presence.online", record_id="agent-7", payload=b"on shift")
got = crm.publish([ping])
check(got[ping.event_id].status == P.CONFIRM_OK and got[ping.event_id].seq == 0,
      "a transient event is confirmed at once, without a journal seq")
cmd, m = sc.recv()
while cmd == "DELIVER" and m.subscription != "presence":
    cmd, m = sc.recv()
env = E.Envelope()
if cmd == "DELIVER":
    env.ParseFromString(m.deliveries[0].envelope)
check(cmd == "DELIVER" and m.deliveries[0].transient and env.event_id == ping.event_id
      and env.payload == b"on shift" and env.received_at > 0,
      "the transient event reaches the connected subscriber intact")
# A durable event published after it is journaled by a later commit than any
# that could have held the transient one.
after = crm.event("crm.contact.updated", record_id="c-after")
check(crm.publish_one(after).status == P.CONFIRM_OK, "a durable event after it is confirmed")
check(sql("SELECT count(*) FROM journal WHERE event_id = '%s'" % ping.event_id) == "0",
      "a transient event is not journaled")

ops = client("ops")
check(ops.hello()[0] == "WELCOME", "operator connects")
ops.send("STATUS", P.StatusRequest())
cmd, m = ops.recv()
sub = [s for s in m.subscriptions if s.subscription == "main"]
check(cmd == "STATUS-REPLY" and m.dead_letters == 2 and sub and sub[0].connected,
      "STATUS shows the subscription and the dead-letter count")
counts = {a.name: (a.published, a.delivered) for a in m.adapters}
check(counts["crm"][0] >= 20 and counts["socialcare"][1] >= 20,
      "STATUS counts what each adapter published and was delivered: %s" % counts)
print("protocol_check: %d checks passed" % J.checks)
