"""partner_load.py ENDPOINT KEYDIR BOOTSTRAP COUNT [TOPIC [KEYS [--durable T0 T1]]] - events/s
mirrored to a partner on Kafka (TOPIC bench.to-partner), or by the journal
mirror (run-partner.sh --mirror: TOPIC bench.mirror; KEYS distinct record
ids, default 5000): publishes COUNT referral events (a real joinery.v1.Referral
payload, which the agreement minimises to three of its nine fields) as fast
as the hub confirms them (1,000 per PUBLISH, 20 PUBLISHes unconfirmed at
most), while a python3-confluent-kafka consumer reads the partner's topic;
reports publish rate, the rate at which records reached Kafka, and the lag
from the last confirm to the last record. Uses tests/e2e/pyjoinery.py."""
import os
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "e2e"))
import confluent_kafka as ck  # noqa: E402
import pyjoinery as pj  # noqa: E402
from joinery.v1 import case_pb2  # noqa: E402

EP, KEYS, BOOT, COUNT = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
TOPIC = sys.argv[5] if len(sys.argv) > 5 else "bench.to-partner"
NKEYS = int(sys.argv[6]) if len(sys.argv) > 6 else 5000
WHAT = "mirror" if TOPIC == "bench.mirror" else "partner"
BATCH, WINDOW = 1000, 20


def consume(seen, done, assigned):
    c = ck.Consumer({"bootstrap.servers": BOOT, "group.id": "bench-%s" % uuid.uuid4(),
                     "auto.offset.reset": "earliest", "enable.auto.commit": False})
    # Publishing starts only once the group has its partitions: joining takes
    # seconds, which would otherwise be counted as the mirror's time.
    c.subscribe([TOPIC], on_assign=lambda _c, parts: assigned.set())
    while seen["n"] < COUNT and not done.is_set():
        for m in c.consume(1000, 0.2):
            if not m.error():
                if dict(m.headers() or []).get("joinery-type") != b"bench.referral":
                    continue  # the durable run's events, when the mirror carries bench.*
                seen["n"] += 1
                seen["last"] = time.time()
                seen.setdefault("first", seen["last"])
                # CreateTime: when the hub produced it (ms), on this machine's clock
                seen["produced"] = max(seen.get("produced", 0), m.timestamp()[1] / 1000.0)
    c.close()


def read_durable(t0, t1):
    """--durable T0 T1: the durable run (bench.durable, carried by the mirror
    with bench.*) ran from T0 to T1 (its last acknowledgement). Waits until
    the topic's partitions hold COUNT records (their high watermarks: the
    mock cluster keeps only the newest few megabytes of each partition, so
    the records themselves are not all there to read), then reads the last
    record of each: the mirror produced the run at COUNT / (last CreateTime
    - T0), and finished that long after the journal did."""
    c = ck.Consumer({"bootstrap.servers": BOOT, "group.id": "bench-%s" % uuid.uuid4(),
                     "enable.auto.commit": False})
    parts = [ck.TopicPartition(TOPIC, p) for p in c.list_topics(TOPIC, 10).topics[TOPIC].partitions]
    deadline, total = time.time() + 120, 0
    while time.time() < deadline:
        highs = [c.get_watermark_offsets(p, 10)[1] for p in parts]
        total = sum(highs)
        if total >= COUNT:
            break
        time.sleep(0.05)
    c.assign([ck.TopicPartition(TOPIC, p.partition, h - 1) for p, h in zip(parts, highs) if h])
    last, got = 0.0, 0
    while got < sum(1 for h in highs if h) and time.time() < deadline:
        m = c.poll(1)
        if m is not None and not m.error():
            got += 1
            last = max(last, m.timestamp()[1] / 1000.0)
    c.close()
    print("mirror: %d records on the topic; the durable run mirrored at %.0f events/s (its start "
          "to the last record's CreateTime), the last record %.2f s after the run's end" % (
              total, COUNT / max(1e-6, last - t0), last - t1))
    sys.exit(0 if total >= COUNT else 1)


if len(sys.argv) > 9 and sys.argv[7] == "--durable":
    read_durable(float(sys.argv[8]), float(sys.argv[9]))

payload = case_pb2.Referral(referral_id="R-1", person_master_id="P0", person_local_id="L1",
                            received_at="2026-01-01T00:00:00Z", source="GP",
                            reason="physical support: personal care", service_area="adult",
                            priority="routine", referrer_org_ods="RR8").SerializeToString()
seen, done, assigned = {"n": 0}, threading.Event(), threading.Event()
reader = threading.Thread(target=consume, args=(seen, done, assigned))
reader.start()
assert assigned.wait(60), "the bench's consumer group got no partitions in 60 s"
cl = pj.Client.curve(EP, "bench-pub", KEYS)
cmd, _ = cl.hello()
assert cmd == "WELCOME", cmd
run = uuid.uuid4().hex[:8]
start = time.time()
sent = confirmed = 0
while confirmed < COUNT:
    while sent < COUNT and sent - confirmed < BATCH * WINDOW:
        envs = [pj.E.Envelope(event_id="%s-%d" % (run, sent + i), type="bench.referral",
                              source="bench-pub", source_record_id="r%d" % ((sent + i) % NKEYS),
                              occurred_at=pj.now_us(), payload_type="joinery.v1.Referral",
                              payload=payload) for i in range(min(BATCH, COUNT - sent))]
        cl.send("PUBLISH", pj.P.Publish(events=envs))
        sent += len(envs)
    cmd, msg = cl.recv(60000)
    assert cmd is not None, "no CONFIRM for 60 s"
    if cmd == "CONFIRM":
        confirmed += sum(1 for e in msg.entries if e.status in (0, 1))
        assert all(e.status in (0, 1) for e in msg.entries), msg
published = time.time()
deadline = published + 300
while seen["n"] < COUNT and time.time() < deadline:
    time.sleep(0.05)
done.set()
reader.join()
cl.close()
end = seen.get("last", time.time())
print(WHAT + ": %d events published and confirmed at %.0f events/s" % (
    COUNT, COUNT / (published - start)))
print(WHAT + ": %d records on Kafka, mirrored at %.0f events/s end to end "
      "(first publish to last record), the last %.2f s after the last confirm" % (
          seen["n"], seen["n"] / (end - start), max(0.0, end - published)))
if "produced" in seen:
    print("%s: produced by the hub at %.0f events/s (first publish to the last record's "
          "CreateTime)" % (WHAT, seen["n"] / max(1e-6, seen["produced"] - start)))
sys.exit(0 if seen["n"] >= COUNT else 1)
