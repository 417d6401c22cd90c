"""protocol_edges_check.py ENDPOINT CONNINFO - the edge cases of
docs/protocol.md that issue 23 (item 15) found undecided, as decided there
(sections 7.1, 7.3 and 8), from a raw client in plaintext mode. "No reply"
is shown by a probe: the hub answers commands of one connection in order,
so an ERROR would come before the probe's CONFIRM (Client.publish raises on
anything unexpected)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402
from joinery.v1 import protocol_pb2 as P  # noqa: E402

EP, DB = sys.argv[1], sys.argv[2]
check, sql = J.check, J.Sql(DB)


varint = J.varint


def no_reply(c, what):
    """Nothing came back for what was just sent: a probe's CONFIRM is next."""
    try:
        got = c.publish_one(c.event(J.PROBE_TYPE, record_id="probe-edge"))
        check(got.status == P.CONFIRM_OK, "%s: no reply, and the session goes on" % what)
    except RuntimeError as e:
        check(False, "%s: no reply, but %s" % (what, e))


def error(c, what, code, command):
    cmd, m = c.recv()
    check(cmd == "ERROR" and m.code == code and m.command == command,
          "%s: ERROR %s (command %s); got %s %s" % (what, P.ErrorCode.Name(code), command, cmd,
                                                    m))


c = J.Client(EP, "crm")
cmd, _ = c.hello()
J.require(cmd == "WELCOME", "crm is welcome")

# 7.1: a fault in the request is BAD_REQUEST; what the configuration forbids
# is NOT_AUTHORISED.
cmd, m = c.subscribe("empty", [])
check(cmd == "ERROR" and m.code == P.ERROR_BAD_REQUEST,
      "SUBSCRIBE with no patterns: BAD_REQUEST (got %s %s)" % (cmd, m))
cmd, m = c.subscribe("bad", ["crm..x"])
check(cmd == "ERROR" and m.code == P.ERROR_BAD_REQUEST,
      "SUBSCRIBE with a malformed pattern: BAD_REQUEST (got %s %s)" % (cmd, m))
cmd, m = c.subscribe("forbidden", ["finance.*"])
check(cmd == "ERROR" and m.code == P.ERROR_NOT_AUTHORISED,
      "SUBSCRIBE beyond the permitted patterns: NOT_AUTHORISED (got %s %s)" % (cmd, m))

# 8: NACK naming no subscription of the session is refused like ACK and CREDIT.
c.nack("nosuch", 1, reason="x")
error(c, "NACK for an unknown subscription", P.ERROR_BAD_REQUEST, "NACK")

# 4.2: HEARTBEAT's body is not read; any HEARTBEAT is a sign of life.
c.send_raw([b"HEARTBEAT", b"\xff\xff\xff"])
no_reply(c, "an unparsable HEARTBEAT")

cmd, m = c.subscribe("s1", ["crm.*"], credit=1)
J.require(cmd == "SUBSCRIBED", "s1 subscribed: %s %s" % (cmd, m))
# 7.3: settling a seq not in flight is no error (after a reconnect it is normal).
c.ack("s1", [999999])
no_reply(c, "ACK of a seq never delivered")
c.nack("s1", 999999, reason="never had it")
no_reply(c, "NACK of a seq never delivered")
c.send("CREDIT", P.Credit(subscription="s1", credit=0))
no_reply(c, "CREDIT 0")

# credit 1: one delivery until more credit comes.
for i in range(3):
    J.require(c.publish_one(c.event("crm.thing", record_id="r%d" % i)).status == P.CONFIRM_OK,
              "crm.thing %d confirmed" % i)
first = c.receive(lambda g: len(g) >= 1, "the first delivery", ack=False)
cmd, m = c.recv(timeout_ms=500)
check(cmd is None, "with credit 1 and nothing settled, no second delivery (got %s)" % cmd)
for _ in range(3):
    c.send("CREDIT", P.Credit(subscription="s1", credit=4000000000))
rest = c.receive(lambda g: len(g) >= 2, "the other two deliveries after CREDIT 4e9", ack=False)
check(len(first + rest) == 3, "CREDIT 4e9 (three times) lets the rest through, no reply")
c.ack("s1", [d.delivery.seq for d in first + rest])
J.require(c.publish_one(c.event("crm.thing", record_id="r9")).status == P.CONFIRM_OK, "r9")
more = c.receive(lambda g: len(g) >= 1, "a delivery after the large credits")
check(more[0].env.source_record_id == "r9", "credit did not wrap: deliveries go on")

# A NACK's reason is the subscriber's text: invalid UTF-8 in it must not fail
# the commit that dead-letters the event (nor anyone else's in it).
cmd, m = c.subscribe("s2", ["crm.poison"], credit=10)
J.require(cmd == "SUBSCRIBED", "s2 subscribed")
J.require(c.publish_one(c.event("crm.poison", record_id="p1")).status == P.CONFIRM_OK, "poison")
got = c.receive(lambda g: any(x.subscription == "s2" for x in g), "the poison", ack=False)
d = [x for x in got if x.subscription == "s2"][0]
c.ack("s1", [x.delivery.seq for x in got if x.subscription == "s1"])
nack = (b"\x0a\x02s2" + b"\x10" + varint(d.delivery.seq) + b"\x18\x01" +
        b"\x22" + varint(len(b"cannot \xff handle")) + b"cannot \xff handle")
c.send_raw([b"NACK", nack])
ok = c.publish_one(c.event("crm.thing", record_id="after-poison"))
check(ok.status == P.CONFIRM_OK, "a publish riding with the dead letter's commit is OK (%s)"
      % ok.reason)
J.wait_for("the dead letter", lambda: sql("SELECT count(*) FROM dead_letter WHERE "
                                          "subscription = 's2'") == "1")
check(sql("SELECT reason FROM dead_letter WHERE subscription = 's2'") == "cannot \\xff handle",
      "the dead letter keeps the reason, the invalid byte written as \\xff")
J.finish("protocol_edges_check")
