"""partner_load.py ENDPOINT KEYDIR BOOTSTRAP COUNT - events/s mirrored to a
partner on Kafka: publishes COUNT referral events (a real joinery.v1.Referral
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
BATCH, WINDOW = 1000, 20


def consume(seen, done):
    c = ck.Consumer({"bootstrap.servers": BOOT, "group.id": "bench-%s" % uuid.uuid4(),
                     "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe(["bench.to-partner"])
    while seen["n"] < COUNT and not done.is_set():
        for m in c.consume(1000, 0.2):
            if not m.error():
                seen["n"] += 1
                seen["last"] = time.time()
                seen.setdefault("first", seen["last"])
    c.close()


payload = case_pb2.Referral(referral_id="R-1", person_master_id="P0", person_local_id="L1",
                            received_at="2026-01-01T00:00:00Z", source="GP",
                            reason="physical support: personal care", service_area="adult",
                            priority="routine", referrer_org_ods="RR8").SerializeToString()
seen, done = {"n": 0}, threading.Event()
reader = threading.Thread(target=consume, args=(seen, done))
reader.start()
cl = pj.Client.curve(EP, "bench-pub", KEYS)
cmd, _ = cl.hello()
assert cmd == "WELCOME", cmd
run = uuid.uuid4().hex[:8]
start = time.time()
sent = confirmed = 0
while confirmed < COUNT:
    while sent < COUNT and sent - confirmed < BATCH * WINDOW:
        envs = [pj.E.Envelope(event_id="%s-%d" % (run, sent + i), type="bench.referral",
                              source="bench-pub", source_record_id="r%d" % ((sent + i) % 5000),
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
print("partner: %d events published and confirmed at %.0f events/s" % (
    COUNT, COUNT / (published - start)))
print("partner: %d records on Kafka, mirrored at %.0f events/s end to end "
      "(first publish to last record), the last %.2f s after the last confirm" % (
          seen["n"], seen["n"] / (end - start), max(0.0, end - published)))
sys.exit(0 if seen["n"] >= COUNT else 1)
