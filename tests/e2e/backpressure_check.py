"""backpressure_check.py ENDPOINT KEYDIR - a subscriber that grants more credit than it reads
(see test_deliver_backpressure.sh). Forty subscriptions of one session, each with a credit of
1,000,000,000 (docs/protocol.md: "no limit"), stop reading while 700 events of 4 KB are
published one at a time: 28,000 DELIVER messages for one peer, more than the hub's send
queue (10,000 messages) and the sockets' buffers can hold. Then it reads and acknowledges
everything. Every subscription must receive every event exactly once: a DELIVER the full
queue refused must be sent again, not left in flight, holding its credit, until the session
ends (what happened when the ROUTER dropped it silently)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402

EP, KEYS = sys.argv[1], sys.argv[2]
SUBS, EVENTS, PAYLOAD = 40, 700, 4096
check = J.check


def connect(name):
    c = J.Client.curve(EP, name, KEYS)
    cmd, m = c.hello()
    J.require(cmd == "WELCOME", "%s connects: %s %s" % (name, cmd, m))
    return c


def main():
    sub = connect("socialcare")
    names = ["bp-%02d" % i for i in range(SUBS)]
    for n in names:
        cmd, m = sub.subscribe(n, ["crm.*"], credit=1000000000)
        J.require(cmd == "SUBSCRIBED", "subscribe %s: %s %s" % (n, cmd, m))
    pub = connect("crm")
    sent = []
    t0 = time.time()
    for i in range(EVENTS):
        # one PUBLISH and one commit each: one DELIVER message per subscription per event
        e = pub.event("crm.contact.updated", record_id="bp-%d" % i, payload=b"x" * PAYLOAD,
                      payload_type="application/octet-stream")
        got = pub.publish_one(e)
        J.require(got.status == J.P.CONFIRM_OK, "event %d confirmed: %s" % (i, got.reason))
        sent.append(e.event_id)
    print("published %d events in %.1f s while the subscriber read nothing"
          % (EVENTS, time.time() - t0))
    seen = {n: [] for n in names}
    deadline = time.time() + 90
    while time.time() < deadline and any(len(v) < EVENTS for v in seen.values()):
        batch = sub._take(2000, ack=True)
        for g in batch or []:
            if g.subscription in seen:
                seen[g.subscription].append(g.env.event_id)
    short = {n: len(v) for n, v in seen.items() if len(set(v)) < EVENTS}
    check(not short, "every subscription received all %d events (short: %s)"
          % (EVENTS, dict(list(short.items())[:5])))
    dup = {n: len(v) - len(set(v)) for n, v in seen.items() if len(v) != len(set(v))}
    check(not dup, "and none twice (%s)" % (dict(list(dup.items())[:5]),))
    check(all(set(v) == set(sent) for v in seen.values()), "exactly the events published")
    pub.close()
    sub.close()
    J.finish("backpressure_check")


if __name__ == "__main__":
    main()
