"""mirror_kafka_check.py ENDPOINT KEYDIR CONNINFO SCENARIO [ARGS] - the checks
of test_mirror_kafka.sh (see there). Kafka is read with Debian's
python3-confluent-kafka in a consumer group; $BOOT names the mock cluster."""
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import confluent_kafka as ck  # noqa: E402
import pyjoinery as pj  # noqa: E402
from pyjoinery import E, check, require  # noqa: E402

EP, KEYS, DB, SCENARIO = sys.argv[1:5]
ARGS = sys.argv[5:]
BOOT = os.environ.get("BOOT", "")
TOPIC = "joinery.journal"
RECORD_KEYS, PERSONS, ROUNDS = 10, 4, 300  # 3,000 record events, 400 person events
# publish waits at each of PAUSE_AT events until $MIRROR_GO-N exists (if given)
PAUSE_AT, GO_FILE = (1000, 2000), os.environ.get("MIRROR_GO", "")
sql = pj.Sql(DB)


def stream():
    """The events, in publish order: per round one of each record key (no
    master id: keyed by source/record) and one of each person (keyed by the
    golden record the hub resolves)."""
    for n in range(ROUNDS):
        for k in range(RECORD_KEYS):
            yield E.Envelope(event_id="m-r%d-%d" % (k, n), type="probe.mirror.step",
                             source="crm", source_record_id="mrec-%d" % k,
                             occurred_at=pj.now_us(), payload=b"step %d of %d" % (n, k))
        for p in range(PERSONS):
            if n % 3 == 0:
                yield E.Envelope(event_id="m-p%d-%d" % (p, n), type="person.updated",
                                 source="crm", source_record_id="mperson-%d" % p,
                                 occurred_at=pj.now_us(), payload_type="joinery.v1.Person",
                                 payload=pj.person(given="Mirror%dv%d" % (p, n),
                                                   family="Kafka",
                                                   birth_date="1980-02-%02d" % (p + 1)))


def publish():
    """Publishes the stream 40 at a time, through a hub that is killed
    meanwhile: a batch not wholly confirmed is published again (journaled
    before the crash comes back DUPLICATE)."""
    envs = list(stream())
    c, done = None, 0
    while done < len(envs):
        if c is None:
            try:
                c = pj.Client.curve(EP, "crm", KEYS)
                cmd, _ = c.hello()
                if cmd != "WELCOME":
                    raise RuntimeError(cmd)
            except (RuntimeError, SystemExit):
                c = None
                time.sleep(0.2)
                continue
        go = "%s-%d" % (GO_FILE, done)
        if done in PAUSE_AT and GO_FILE and not os.path.exists(go):
            print("paused at %d" % done, flush=True)  # the test acts meanwhile
            pj.wait_for("the test's go-ahead (%s)" % go, lambda: os.path.exists(go),
                        timeout_s=120)
        batch = envs[done:done + 40]
        try:
            got = c.publish(batch, timeout_ms=3000)
        except RuntimeError:
            got = {}
        for e in batch:
            require(got.get(e.event_id) is None or got[e.event_id].status in (0, 1, 3),
                    "%s not refused (%s)" % (e.event_id, got.get(e.event_id)))
        if all(got.get(e.event_id) is not None and got[e.event_id].status in (0, 1)
               for e in batch):
            done += len(batch)
            print("published %d" % done, flush=True)
            continue
        c.close()  # the hub went away (or asked to retry): the same events again
        c = None
        time.sleep(0.2)
    c.close()
    print("published all %d events" % len(envs), flush=True)


def journal():
    """{seq: (event_id, type, Kafka key)} of every journaled event the
    mirror carries: those addressed to every subscriber, and those the hub
    addressed to the mirror itself (a person.changed goes to each
    subscribing system in its own ids). An entity event's raw input is for
    operators only, another system's copy for that system: the mirror, like
    any subscriber, does not get them. The key is the journal's ordering key
    without its kind prefix."""
    rows = sql("SELECT seq, event_id, type, entity_key FROM journal "
               "WHERE target IN ('', 'mirror:journal') ORDER BY seq")
    out = {}
    for line in rows.splitlines():
        seq, eid, typ, ek = line.split("|", 3)
        out[int(seq)] = (eid, typ, ek.split(":", 1)[1])
    return out


def check_records(records, want, who):
    """RECORDS: (partition, key, headers dict, envelope or None) in topic
    order per partition; WANT: journal(). Every journaled event at least
    once, duplicates only of one seq with one event id, per key the
    journal's order (first deliveries) and one partition."""
    first, dups, by_key, parts = {}, 0, {}, {}
    for part, key, h, env in records:
        for name in ("joinery-seq", "joinery-event-id", "joinery-type",
                     "joinery-schema-version"):
            require(name in h, "%s: a record without the %s header (%s)" % (who, name, h))
        seq = int(h["joinery-seq"])
        if seq not in want:  # the row, if any, says why (asked only then: one psql each)
            require(False, "%s: a record of seq %d, which the mirror should not carry (%s)" % (
                who, seq, sql("SELECT type, target, source, entity_key FROM journal "
                              "WHERE seq = %d" % seq)))
        eid, typ, k = want[seq]
        check(h["joinery-event-id"] == eid and h["joinery-type"] == typ,
              "%s: seq %d's headers name its event (%s %s)" % (who, seq, eid, typ))
        check(key == k, "%s: seq %d keyed %r (the journal's key: %r)" % (who, seq, key, k))
        if env is not None:
            check(env.event_id == eid and env.type == typ,
                  "%s: seq %d's value is its envelope" % (who, seq))
        if seq in first:
            dups += 1
            continue
        first[seq] = part
        by_key.setdefault(key, []).append(seq)
        parts.setdefault(key, set()).add(part)
    missing = sorted(set(want) - set(first))
    check(not missing, "%s: every journaled event is on the topic (%d missing: %s)" % (
        who, len(missing), missing[:10]))
    for key, seqs in by_key.items():
        check(seqs == sorted(seqs), "%s: key %s in journal order" % (who, key))
        check(len(parts[key]) == 1, "%s: key %s in one partition" % (who, key))
    print("%s: %d records, %d journaled events, %d duplicates (same seq and event id), "
          "%d keys" % (who, len(records), len(want), dups, len(by_key)))
    return len(records)


def verify():
    want = journal()
    require(len(want) >= RECORD_KEYS * ROUNDS, "the stream is journaled (%d)" % len(want))
    print("journal: %s events, %d of them for every subscriber" % (
        sql("SELECT count(*) FROM journal"), len(want)))
    c = ck.Consumer({"bootstrap.servers": BOOT, "group.id": "mirror-check-%s" % uuid.uuid4(),
                     "auto.offset.reset": "earliest", "enable.auto.commit": True})
    c.subscribe([TOPIC])
    records, seqs = [], set()
    deadline = time.time() + 120
    while not set(want) <= seqs:
        require(time.time() < deadline, "Kafka: every journaled event within 120 s (read %d "
                "records, %d of %d events)" % (len(records), len(seqs), len(want)))
        for m in c.consume(1000, 0.2):
            if m.error():
                continue
            if not records:
                print("consumer group: first record after %.1f s" % (time.time() - deadline + 120))
            h = {k: v.decode() for k, v in (m.headers() or [])}
            env = E.Envelope()
            env.ParseFromString(m.value())
            records.append((m.partition(), m.key().decode(), h, env))
            seqs.add(int(h.get("joinery-seq", 0)))
    c.close()
    print("consumer group: read in %.1f s" % (time.time() - deadline + 120))
    check_records(records, want, "consumer group")
    persons = {r[1] for r in records if r[3].type == "person.changed"}
    check(persons and all(k and "/" not in k for k in persons),
          "person events are keyed by their golden record (%s)" % sorted(persons))
    pj.wait_for("the mirror's cursor at the journal's head", lambda: sql(
        "SELECT acked_seq FROM subscription WHERE adapter = 'mirror:journal'") == sql(
        "SELECT max(seq) FROM journal"), timeout_s=30)
    check(sql("SELECT count(*) FROM partner_disclosure") == "0",
          "the mirror writes no disclosure rows")


def kcat():
    """ARGS[0]: kcat's '%p\\t%o\\t%k\\t%h' lines, every partition from the beginning."""
    records = []
    for line in open(ARGS[0], encoding="utf-8"):
        part, _off, key, hs = line.rstrip("\n").split("\t", 3)
        h = dict(x.split("=", 1) for x in hs.split(",") if x)
        records.append((int(part), key, h, None))
    check_records(records, journal(), "kcat")


{"publish": publish, "verify": verify, "kcat": kcat}[SCENARIO]()
pj.finish("mirror_kafka_check " + SCENARIO)
