"""limits_check.py ENDPOINT KEYDIR CONNINFO - the hub's limits at their real
values (see test_limits.sh): the documented defaults of docs/protocol.md and
hub/base/config.c (max_message_bytes 1048576, max_batch 1000, default_credit
1000), a message at the limit, one byte over and at the transport ceiling
(4 x max_message_bytes, docs/protocol.md 2.1), a body above it (the
connection is closed unanswered), PUBLISH with no envelopes and over max_batch,
credit exhaustion, a subscriber pushed out of a small window (the config's
window_events) who must catch up from the journal, from_beginning, a
subscription taken over by a second session, and a wildcard in the middle of
a pattern.

Each scenario uses its own sessions; a failed check ends its scenario, the
others still run, and the run exits 1 naming every failure."""
import os
import sys

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402
from joinery.v1 import protocol_pb2 as P  # noqa: E402

EP, KEYS, DB = sys.argv[1], sys.argv[2], sys.argv[3]
check, sql = J.check, J.Sql(DB)

# docs/protocol.md 4.1 and 7.1, hub/base/config.c's defaults.
MAX_MESSAGE_BYTES = 1048576
MAX_BATCH = 1000
DEFAULT_CREDIT = 1000
# docs/protocol.md 2.1: every body up to 4 x max_message_bytes is answered TOO_LARGE; the
# hub's socket (hub/router.c, ZMQ_MAXMSGSIZE) takes frames of up to 4096 bytes more as they
# travel, which with Curve is the body and 33 bytes of framing.
TRANSPORT_CEILING = 4 * MAX_MESSAGE_BYTES
WIRE_LIMIT = TRANSPORT_CEILING + 4096
CURVE_FRAMING = 33
WINDOW_EVENTS = 64  # test_limits.sh's delivery.window_events


def connect(name, monitor=False):
    c = J.Client.curve(EP, name, KEYS, monitor=monitor)
    cmd, m = c.hello()
    J.require(cmd == "WELCOME", "%s connects: %s %s" % (name, cmd, m))
    return c


_probe_subs = iter(range(1, 1000))


def subscriber(subs):
    """A socialcare session with subscriptions {name: (patterns, credit)}, and
    one of probe.* through which Client.sync's probes come back (a name of
    its own: a durable subscription follows whichever session took it last)."""
    c = connect("socialcare")
    subs = dict(subs, **{"probe-%d" % next(_probe_subs): (["probe.*"], 10)})
    for name, (patterns, credit) in subs.items():
        cmd, m = c.subscribe(name, patterns, credit=credit)
        J.require(cmd == "SUBSCRIBED", "socialcare subscribes %s: %s %s" % (name, cmd, m))
    return c


def sized_event(c, size, type_):
    """An envelope whose PUBLISH body is exactly SIZE bytes."""
    ev = c.event(type_, record_id="big", payload_type="application/octet-stream")
    pad = size - len(P.Publish(events=[ev]).SerializeToString())
    ev.payload = b"x" * max(0, pad)
    while len(P.Publish(events=[ev]).SerializeToString()) > size:
        ev.payload = ev.payload[:-1]
    J.require(len(P.Publish(events=[ev]).SerializeToString()) == size,
              "a PUBLISH body of exactly %d bytes can be made" % size)
    return ev


def expect_error(c, code, command, reason, what, defect=None):
    """The next message is ERROR CODE for COMMAND whose reason holds REASON.
    With a monitor, a disconnection is reported instead of waiting it out."""
    cmd, m = c.recv(until_event={zmq.EVENT_DISCONNECTED})
    got = ("the hub dropped the connection (ZMQ_EVENT_DISCONNECTED on the socket monitor)"
           if cmd == "EVENT" else
           "%s %s" % (cmd, str(m).replace("\n", " ") if m is not None else ""))
    check(cmd == "ERROR" and m.code == code and m.command == command and reason in m.reason,
          "%s -> ERROR %s for %s, '%s': got %s" % (what, P.ErrorCode.Name(code), command, reason,
                                                  got), defect=defect)
    return cmd == "ERROR"


def confirms_until(c, ev):
    """Publishes EV; every CONFIRM entry (and ERROR) that comes until EV's
    own CONFIRM, which proves the hub has answered everything sent before."""
    c.send("PUBLISH", P.Publish(events=[ev]))
    out = []
    while True:
        cmd, m = c.recv()
        J.require(cmd is not None, "%s: a CONFIRM for %s" % (c.adapter, ev.event_id))
        if cmd == "CONFIRM":
            out += list(m.entries)
            if any(e.event_id == ev.event_id for e in m.entries):
                return out
        elif cmd == "ERROR":
            out.append(m)


def journaled(event_ids):
    if not event_ids:
        return 0
    return int(sql("SELECT count(*) FROM journal WHERE event_id IN (%s)"
                   % ",".join("'%s'" % e for e in event_ids)))


def seqs_of(got, subscription):
    return [g.delivery.seq for g in got if g.subscription == subscription]


# ---- scenarios -------------------------------------------------------------

def welcome_limits():
    c = connect("crm")
    cmd, m = c.hello()
    check(cmd == "WELCOME" and m.max_message_bytes == MAX_MESSAGE_BYTES
          and m.max_batch == MAX_BATCH,
          "WELCOME states the documented defaults: max_message_bytes %d, max_batch %d (%s)"
          % (MAX_MESSAGE_BYTES, MAX_BATCH, str(m).replace("\n", " ")))
    c.close()


def message_at_limit():
    sub = subscriber({"big": (["crm.big.*"], 10)})
    crm = connect("crm")
    at = sized_event(crm, MAX_MESSAGE_BYTES, "crm.big.created")
    got = crm.publish_one(at)
    check(got.status == P.CONFIRM_OK, "a PUBLISH body of exactly max_message_bytes (%d) is "
          "accepted: %s" % (MAX_MESSAGE_BYTES, P.ConfirmStatus.Name(got.status)))
    check(sql("SELECT octet_length(envelope) > %d FROM journal WHERE event_id = '%s'"
              % (len(at.payload), at.event_id)) == "t", "and journaled whole")
    d = sub.receive(lambda g: [x for x in g if x.env.event_id == at.event_id],
                    "the subscriber receives the event of max_message_bytes")
    check(d[-1].env.payload == at.payload, "the subscriber receives it intact (%d payload bytes)"
          % len(d[-1].env.payload))

    over = sized_event(crm, MAX_MESSAGE_BYTES + 1, "crm.big.created")
    crm.send("PUBLISH", P.Publish(events=[over]))
    expect_error(crm, P.ERROR_TOO_LARGE, "PUBLISH",
                 "PUBLISH body of %d bytes exceeds the hub's limit of %d"
                 % (MAX_MESSAGE_BYTES + 1, MAX_MESSAGE_BYTES), "one byte over max_message_bytes")
    after = crm.event("crm.big.created", record_id="small", payload=b"{}",
                      payload_type="application/json")
    answers = confirms_until(crm, after)
    check([a.event_id for a in answers] == [after.event_id],
          "the refused body was not carried out: no CONFIRM for it before the next event's (%s)"
          % [getattr(a, "event_id", a) for a in answers])
    check(journaled([over.event_id]) == 0, "nor journaled")
    got = sub.collect(lambda g: [x for x in g if x.env.event_id == after.event_id],
                      "the subscriber receives the next event")
    check([g.env.event_id for g in got] == [after.event_id],
          "the subscriber receives the next event and not the refused one")
    sub.close()
    crm.close()


def between_limit_and_ceiling():
    crm = connect("crm")
    size = 2 * MAX_MESSAGE_BYTES
    ev = sized_event(crm, size, "crm.big.created")
    crm.send("PUBLISH", P.Publish(events=[ev]))
    expect_error(crm, P.ERROR_TOO_LARGE, "PUBLISH", "PUBLISH body of %d bytes exceeds" % size,
                 "a body of 2 x max_message_bytes")
    small = crm.event("crm.big.created", record_id="small")
    check(crm.publish_one(small).status == P.CONFIRM_OK, "the session goes on")
    check(journaled([ev.event_id]) == 0, "nothing of the refused body was journaled")
    crm.close()


def at_transport_ceiling():
    crm = connect("crm", monitor=True)
    ev = sized_event(crm, TRANSPORT_CEILING, "crm.big.created")
    crm.send("PUBLISH", P.Publish(events=[ev]))
    # docs/protocol.md 2: "a body longer than max_message_bytes [is answered] with ERROR TOO_LARGE"
    expect_error(crm, P.ERROR_TOO_LARGE, "PUBLISH",
                 "PUBLISH body of %d bytes exceeds" % TRANSPORT_CEILING,
                 "a body at the transport ceiling (4 x max_message_bytes = %d)" % TRANSPORT_CEILING)
    small = crm.event("crm.big.created", record_id="small")
    try:
        got = crm.publish([small]).get(small.event_id)
        outcome = P.ConfirmStatus.Name(got.status) if got else "no CONFIRM"
    except RuntimeError as e:
        got, outcome = None, str(e).replace("\n", " ")
    check(got is not None and got.status == P.CONFIRM_OK,
          "the session goes on after it: %s" % outcome)
    check(journaled([ev.event_id]) == 0, "nothing of the refused body was journaled")
    crm.close()


def above_transport_ceiling():
    """docs/protocol.md 2.1: the largest body the hub still answers is the socket's limit
    less Curve's framing; one byte more and libzmq closes the connection before the hub
    sees the message. It cannot be answered; the adapter's socket reconnects by itself,
    without a session, and the hub goes on."""
    last = WIRE_LIMIT - CURVE_FRAMING
    crm = connect("crm")
    ev = sized_event(crm, last, "crm.big.created")
    crm.send("PUBLISH", P.Publish(events=[ev]))
    expect_error(crm, P.ERROR_TOO_LARGE, "PUBLISH", "PUBLISH body of %d bytes exceeds" % last,
                 "the largest body that reaches the hub (4 x max_message_bytes + 4096 - 33 = %d)"
                 % last)
    crm.close()
    crm = connect("crm", monitor=True)
    over = sized_event(crm, last + 1, "crm.big.created")
    crm.send("PUBLISH", P.Publish(events=[over]))
    cmd, m = crm.recv(until_event={zmq.EVENT_DISCONNECTED})
    check(cmd == "EVENT", "a body one byte larger (%d): the connection is closed, unanswered "
          "(%s %s)" % (last + 1, cmd, str(m).replace("\n", " ")))
    crm.send("HEARTBEAT", P.Heartbeat())
    cmd, m = crm.recv()
    check(cmd == "ERROR" and m.code == P.ERROR_NO_SESSION,
          "the socket reconnects by itself, without a session: its next command is answered "
          "NO_SESSION (%s %s)" % (cmd, str(m).replace("\n", " ")))
    check(crm.hello()[0] == "WELCOME", "the adapter starts again: HELLO, WELCOME")
    small = crm.event("crm.big.created", record_id="small")
    check(crm.publish_one(small).status == P.CONFIRM_OK, "and publishes")
    check(journaled([over.event_id]) == 0, "nothing of the cut message was journaled")
    crm.close()


def publish_no_envelopes():
    crm = connect("crm")
    crm.send("PUBLISH", P.Publish())
    expect_error(crm, P.ERROR_BAD_REQUEST, "PUBLISH", "PUBLISH carries no envelopes",
                 "a PUBLISH with zero envelopes")
    after = crm.event("crm.batch.created", record_id="after-empty")
    answers = confirms_until(crm, after)
    check([getattr(a, "event_id", None) for a in answers] == [after.event_id],
          "the session goes on: the next event is confirmed, nothing else came (%s)"
          % [getattr(a, "event_id", a) for a in answers])
    crm.close()


def publish_over_max_batch():
    crm = connect("crm")
    evs = [crm.event("crm.batch.created", record_id="b-%d" % (i % 50)) for i in range(MAX_BATCH)]
    got = crm.publish(evs)
    check(len(got) == MAX_BATCH and all(e.status == P.CONFIRM_OK for e in got.values()),
          "a PUBLISH of max_batch (%d) envelopes: every one confirmed OK (%d)"
          % (MAX_BATCH, sum(1 for e in got.values() if e.status == P.CONFIRM_OK)))
    evs = [crm.event("crm.batch.created", record_id="b-%d" % (i % 50))
           for i in range(MAX_BATCH + 1)]
    crm.send("PUBLISH", P.Publish(events=evs))
    expect_error(crm, P.ERROR_BAD_FRAME, "PUBLISH",
                 "PUBLISH carries %d envelopes; the limit is %d; nothing in it was accepted"
                 % (MAX_BATCH + 1, MAX_BATCH), "a PUBLISH of max_batch + 1 envelopes")
    after = crm.event("crm.batch.created", record_id="after")
    answers = confirms_until(crm, after)
    check([a.event_id for a in answers] == [after.event_id],
          "none of its envelopes is confirmed before the next event is (%d answers)"
          % len(answers))
    check(journaled([e.event_id for e in evs]) == 0, "none of them is journaled")
    crm.close()


def default_credit():
    sub = subscriber({"bulk": (["crm.bulk.*"], 0)})  # 0: the hub's delivery.default_credit
    crm = connect("crm")
    evs = [crm.event("crm.bulk.created", record_id="k-%d" % i) for i in range(DEFAULT_CREDIT + 1)]
    got = crm.publish(evs[:MAX_BATCH])
    got.update(crm.publish(evs[MAX_BATCH:]))
    J.require(len(got) == len(evs), "the %d events are confirmed" % len(evs))
    first = sub.receive(lambda g: len(seqs_of(g, "bulk")) >= DEFAULT_CREDIT,
                        "default_credit deliveries", ack=False)
    more = sub.sync()
    check(len(seqs_of(first, "bulk")) == DEFAULT_CREDIT and seqs_of(more, "bulk") == [],
          "credit 0 in SUBSCRIBE is default_credit: %d delivered unacknowledged, then no more "
          "(%d more before the probe)" % (len(seqs_of(first, "bulk")), len(seqs_of(more, "bulk"))))
    sub.ack("bulk", seqs_of(first, "bulk")[:1])
    last = sub.collect(lambda g: seqs_of(g, "bulk"), "one more delivery after one ACK")
    check([g.env.event_id for g in last] == [evs[-1].event_id],
          "one ACK returns one credit: the last event comes, nothing else")
    sub.ack("bulk", seqs_of(first, "bulk")[1:])
    check(sub.sync() == [], "acknowledged, nothing comes again")
    sub.close()
    crm.close()


WINDOW_TYPE = "crm.window.updated"
window_seqs = []  # (seq, event_id) of what window_catch_up published, for from_beginning


def window_catch_up():
    sub = subscriber({"slow": (["crm.window.*"], 10)})
    crm = connect("crm")
    n, per_publish = 8 * WINDOW_EVENTS, WINDOW_EVENTS // 2
    # 100 records: the 15 first deliveries are of 15 records, none held behind another.
    evs = [crm.event(WINDOW_TYPE, record_id="w-%d" % (i % 100), payload=b'{"i": %d}' % i,
                     payload_type="application/json") for i in range(n)]
    seq_of = {}
    for i in range(0, n, per_publish):  # one commit each: the window moves on batch by batch
        got = crm.publish(evs[i:i + per_publish])
        J.require(all(e.status == P.CONFIRM_OK for e in got.values()), "window events confirmed")
        seq_of.update((k, e.seq) for k, e in got.items())
    window_seqs[:] = sorted((s, k) for k, s in seq_of.items())
    first = sub.receive(lambda g: len(seqs_of(g, "slow")) >= 10, "10 deliveries", ack=False)
    more = sub.sync()
    check(len(seqs_of(first, "slow")) == 10 and seqs_of(more, "slow") == [],
          "credit 10 used up: 10 deliveries, then none (%d more before the probe)"
          % len(seqs_of(more, "slow")))
    sub.send("CREDIT", P.Credit(subscription="slow", credit=5))
    extra = sub.receive(lambda g: len(seqs_of(g, "slow")) >= 5, "5 deliveries after CREDIT 5",
                        ack=False)
    more = sub.sync()
    check(len(seqs_of(extra, "slow")) == 5 and seqs_of(more, "slow") == [],
          "CREDIT 5 allows exactly 5 more (%d, then %d)" % (len(seqs_of(extra, "slow")),
                                                            len(seqs_of(more, "slow"))))
    held = first + extra
    sub.ack("slow", seqs_of(held, "slow"))
    rest = sub.receive(lambda g: len(seqs_of(g, "slow")) >= n - 15,
                       "the other %d events, read back from the journal" % (n - 15))
    got = held + rest + sub.sync()
    seqs = seqs_of(got, "slow")
    check(sorted(seqs) == sorted(seq_of.values()) and len(seqs) == len(set(seqs)),
          "a subscriber %d events behind a window of %d gets every event once, read back from "
          "the journal (%d of %d)" % (n - 15, WINDOW_EVENTS, len(set(seqs)), n))
    per = {}
    for g in got:
        if g.subscription == "slow":
            per.setdefault(g.env.source_record_id, []).append(g.delivery.seq)
    check(all(v == sorted(v) for v in per.values()), "in journal order per record")
    sub.close()
    crm.close()


def from_beginning():
    check(window_seqs, "window_catch_up published the events this reads back")
    want = [s for s, _ in window_seqs]
    sub = connect("socialcare")
    cmd, m = sub.subscribe("replay", ["crm.window.*"], credit=100, from_beginning=True)
    check(cmd == "SUBSCRIBED" and m.acked_seq == 0,
          "a new subscription with from_beginning starts before the oldest event (acked_seq %s)"
          % (m.acked_seq if m else None))
    cmd, m = sub.subscribe("fresh", ["crm.window.*"], credit=100)
    check(cmd == "SUBSCRIBED" and m.acked_seq == m.head_seq and m.head_seq >= want[-1],
          "a new subscription without it starts after the newest (acked_seq %s, head_seq %s)"
          % ((m.acked_seq, m.head_seq) if m else (None, None)))
    cmd, _ = sub.subscribe("probe-%d" % next(_probe_subs), ["probe.*"], credit=10)
    J.require(cmd == "SUBSCRIBED", "socialcare subscribes to probes")
    got = sub.collect(lambda g: len(seqs_of(g, "replay")) >= len(want),
                      "every crm.window event from the beginning")
    check(sorted(seqs_of(got, "replay")) == want,
          "from_beginning: every journaled event the subscription matches (%d of %d), most of "
          "them read back from the journal" % (len(seqs_of(got, "replay")), len(want)))
    check(seqs_of(got, "fresh") == [], "without it: none of them (%d)"
          % len(seqs_of(got, "fresh")))

    crm = connect("crm")
    new = crm.event(WINDOW_TYPE, record_id="w-new")
    seq = crm.publish_one(new).seq
    got = sub.collect(lambda g: len(seqs_of(g, "replay")) and len(seqs_of(g, "fresh")),
                      "the new event, through both subscriptions")
    check(seqs_of(got, "fresh") == [seq] and seqs_of(got, "replay") == [seq],
          "an event published later reaches both, once")
    cmd, m = sub.subscribe("replay", ["crm.window.*"], credit=100, from_beginning=True)
    check(cmd == "SUBSCRIBED" and m.acked_seq >= seq,
          "SUBSCRIBE with from_beginning does not rewind an existing subscription (acked_seq %s)"
          % (m.acked_seq if m else None))
    check(seqs_of(sub.sync(), "replay") == [], "nothing it had comes again")
    sub.close()
    crm.close()


def takeover():
    a = subscriber({"shared": (["crm.take.*"], 100)})
    crm = connect("crm")
    evs = [crm.event("crm.take.created", record_id="t-%d" % i) for i in range(3)]
    got = crm.publish(evs)
    J.require(len(got) == 3, "3 events confirmed")
    held = a.receive(lambda g: len(seqs_of(g, "shared")) >= 3, "3 deliveries to the first session",
                     ack=False)
    b = subscriber({"shared": (["crm.take.*"], 100)})
    again = b.receive(lambda g: len(seqs_of(g, "shared")) >= 3,
                      "the first session's deliveries, again, to the second", ack=False)
    check(sorted(seqs_of(again, "shared")) == sorted(seqs_of(held, "shared")),
          "a SUBSCRIBE from a second session takes the subscription over: what was in flight "
          "to the first is delivered again to the second")
    late = crm.event("crm.take.created", record_id="t-late")
    late_seq = crm.publish_one(late).seq
    got = b.receive(lambda g: [x for x in g if x.env.event_id == late.event_id],
                    "the later event, to the second session", ack=False)
    check(seqs_of(got, "shared") == [late_seq], "later events go to the second session")
    left = a.sync()
    check(seqs_of(left, "shared") == [],
          "and none to the first (%d deliveries before its probe)" % len(seqs_of(left, "shared")))
    a.ack("shared", seqs_of(held, "shared"))
    cmd, m = a.recv()
    check(cmd == "ERROR" and m.code == P.ERROR_BAD_REQUEST and m.command == "ACK",
          "the first session's ACK for the subscription is refused BAD_REQUEST: %s %s"
          % (cmd, m.reason if m else ""))
    b.ack("shared", seqs_of(again + got, "shared"))
    check(seqs_of(b.sync(), "shared") == [], "acknowledged by the second, nothing comes again")
    for c in (a, b, crm):
        c.close()


def wildcard_in_the_middle():
    sub = subscriber({"mid": (["crm.*.created"], 100)})
    crm = connect("crm")
    types = ["crm.referral.created", "crm.a.b.created", "crm.created", "crm.referral.updated",
             "crm.x.created"]
    evs = [crm.event(t, record_id="m-%d" % i) for i, t in enumerate(types)]
    got = crm.publish(evs)
    J.require(len(got) == len(evs), "the events are confirmed")
    # The last one matches: once it is here, the others have been passed over.
    got = sub.receive(lambda g: [x for x in g if x.env.event_id == evs[-1].event_id],
                      "crm.x.created")
    mid = [g.env.type for g in got if g.subscription == "mid"]
    check(mid == ["crm.referral.created", "crm.x.created"],
          "'crm.*.created' matches crm.referral.created and crm.x.created, not crm.a.b.created, "
          "crm.created or crm.referral.updated: %s" % mid)
    sub.close()
    crm.close()


J.run_scenarios([welcome_limits, message_at_limit, between_limit_and_ceiling, at_transport_ceiling,
                 above_transport_ceiling, publish_no_envelopes, publish_over_max_batch,
                 default_credit, window_catch_up, from_beginning, takeover,
                 wildcard_in_the_middle])
J.finish("limits_check")
