"""partner_kafka_check.py ENDPOINT KEYDIR CONNINFO SCENARIO... - the checks of
test_partner_kafka.sh (see there). Kafka is read with Debian's
python3-confluent-kafka, a client no one here wrote; $BOOT names the mock
cluster's bootstrap servers and $E2E_DIR/mock.ctl its control channel."""
import json
import os
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import confluent_kafka as ck  # noqa: E402
import pyjoinery as pj  # noqa: E402
from pyjoinery import E, PERSON, check, require  # noqa: E402

EP, KEYS, DB = sys.argv[1:4]
SCENARIOS = sys.argv[4:]
BOOT = os.environ["BOOT"]
OUT_TOPIC = "joinery.to-trust"
IN_TOPIC = "trust.to-joinery"
PURPOSE = "shared-care-record"
AGREED = {"nhs_number", "name", "birth_date", "consents"}
AGREED_CHANGED = {"master_id", "version", "changed_fields", "person"}
# Values the test puts only in fields outside the agreement (or only into
# persons without consent): none may be in any byte produced.
SECRETS = [b"07700900", b"JK12", b"High Street", b"Leeds", b"Withheld", b"crm-rec-"]
sql = pj.Sql(DB)


def client(name):
    c = pj.Client.curve(EP, name, KEYS)
    cmd, _ = c.hello()
    require(cmd == "WELCOME", "%s: WELCOME (got %s)" % (name, cmd))
    return c


def person(i, given, consent, nhs):
    p = PERSON.Person(birth_date="1970-01-%02d" % (i % 28 + 1), nhs_number=nhs,
                      ni_number="JK12%04dC" % i)
    p.name.given.append(given)
    p.name.family = "Smith"
    p.addresses.add(use="home", postcode="LS1 %dAP" % (i % 10), lines=["1 High Street"],
                    town="Leeds")
    p.telecom.add(system="phone", value="07700900%03d" % i, use="mobile")
    if consent is not None:
        p.consents.add(purpose=PURPOSE, granted=consent, recorded_at="2026-01-01T00:00:00Z",
                       recorded_by="crm")
    return p.SerializeToString()


def nhs_number(i):
    """A valid NHS number (mod 11 check digit) for I."""
    while True:
        digits = [int(d) for d in "%09d" % (400000000 + i)]
        check_digit = 11 - sum(d * (10 - k) for k, d in enumerate(digits)) % 11
        if check_digit == 11:
            check_digit = 0
        if check_digit != 10:
            return "".join(map(str, digits)) + str(check_digit)
        i += 1000


def publish(c, envs):
    """Publishes ENVS; {event_id: the golden record it was applied to}."""
    got = c.publish(envs, timeout_ms=30000)
    for e in envs:
        entry = got.get(e.event_id)
        require(entry is not None and entry.status == 0 and entry.master_id,
                "event %s journaled to a golden record (got %s)" % (e.event_id, entry))
    return {e.event_id: got[e.event_id].master_id for e in envs}


def person_event(c, i, given, consent, event_id=None, record=None):
    return c.event("person.updated", record_id=record or "crm-rec-%d" % i,
                   payload=person(i, given, consent, nhs_number(i)),
                   payload_type="joinery.v1.Person", event_id=event_id)


class Topic:
    """Everything on OUT_TOPIC so far, read from the beginning with a fresh group."""

    def __init__(self):
        self.c = ck.Consumer({"bootstrap.servers": BOOT, "group.id": "check-%s" % uuid.uuid4(),
                              "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self.c.subscribe([OUT_TOPIC])
        self.records = []

    def read_until(self, what, cond, timeout_s=60):
        deadline = time.time() + timeout_s
        while not cond(self.records):
            require(time.time() < deadline, "Kafka: %s (read %d records)" % (what,
                                                                             len(self.records)))
            m = self.c.poll(0.2)
            if m is None or m.error():
                continue
            env = E.Envelope()
            env.ParseFromString(m.value())
            self.records.append((m, env))
        return self.records

    def drain(self, seconds):
        """Reads whatever comes for SECONDS (a bounded look for what must not come)."""
        end = time.time() + seconds
        while time.time() < end:
            m = self.c.poll(0.2)
            if m is not None and not m.error():
                env = E.Envelope()
                env.ParseFromString(m.value())
                self.records.append((m, env))

    def causes(self):
        """The events the records were made from (person.changed's causation_id)."""
        return {env.causation_id for _, env in self.records}

    def close(self):
        self.c.close()


def disclosures(masters):
    """Disclosure rows of person.changed about the golden records MASTERS."""
    rows = sql("SELECT master_id, coalesce(fields, ''), coalesce(withheld, ''), agreement, "
               "purpose, event_type FROM partner_disclosure WHERE event_type = 'person.changed' "
               "AND master_id IN (%s) ORDER BY id" % ",".join("'%s'" % m for m in masters))
    return [r.split("|") for r in rows.splitlines() if r]


def partner_floor():
    v = sql("SELECT acked_seq FROM subscription WHERE adapter = 'partner:trust'")
    return int(v) if v else 0


def head():
    return int(sql("SELECT coalesce(max(seq), 0) FROM journal"))


def check_record(m, env):
    """One produced record: agreed fields only, keyed and labelled right."""
    check(env.payload_type == "joinery.v1.PersonChanged", "record %s is a PersonChanged" %
          env.event_id)
    pc = PERSON.PersonChanged()
    pc.ParseFromString(env.payload)
    top = {f.name for f, _ in pc.ListFields()}
    inner = {f.name for f, _ in pc.person.ListFields()}
    check(top <= AGREED_CHANGED and inner <= AGREED,
          "record %s carries only agreed fields (has %s, person %s)" % (env.event_id, sorted(top),
                                                                        sorted(inner)))
    check(not env.source_record_id and not env.attributes,
          "record %s has no local record id or attributes" % env.event_id)
    check(env.master_id and m.key() == env.master_id.encode(),
          "record %s is keyed by its master id" % env.event_id)
    h = dict(m.headers() or [])
    check(h.get("joinery-type") == env.type.encode() and
          h.get("joinery-event-id") == env.event_id.encode() and "joinery-schema-version" in h,
          "record %s has type, event id and schema version headers (%s)" % (env.event_id, h))
    blob = (m.value() or b"") + (m.key() or b"") + b"".join(v for _, v in h.items())
    for s in SECRETS:
        check(s not in blob, "record %s holds no %r" % (env.event_id, s))


FIELDS_SHARED = ("person.nhs_number,person.name,person.birth_date,person.consents,master_id,"
                 "version,changed_fields")


def outbound():
    crm = client("crm")
    envs = [person_event(crm, i, ("Consented%d" % i) if i % 3 else ("Withheld%d" % i),
                         True if i % 3 else (False if i % 2 else None))
            for i in range(30)]
    masters = publish(crm, envs)
    shared = [e.event_id for i, e in enumerate(envs) if i % 3]
    withheld = [e.event_id for i, e in enumerate(envs) if not i % 3]
    t = Topic()
    t.read_until("the 20 consented persons", lambda r: set(shared) <= {e.causation_id
                                                                       for _, e in r})
    # The cursor passes the withheld ones too: then none of them can still come.
    pj.wait_for("the partner's cursor at the journal head", lambda: partner_floor() >= head())
    t.drain(2)  # a record produced after the cursor passed it would be a defect: let it come
    causes = t.causes()
    keys = {m.key() for m, _ in t.records}
    for eid in withheld:
        check(eid not in causes and masters[eid].encode() not in keys,
              "person without consent (%s) was not shared" % eid)
    for m, env in t.records:
        check_record(m, env)
    check(causes >= set(shared), "every consented person reached the partner")
    rows = {r[0]: r for r in disclosures(masters.values())}
    for eid in shared:
        r = rows.get(masters[eid])
        check(r is not None and set(r[1].split(",")) <= set(FIELDS_SHARED.split(",")) and
              "person.nhs_number" in r[1] and r[2] == "",
              "disclosure row of %s names the fields shared (%s)" % (eid, r))
        check(r is not None and r[3].startswith("DSA-2026-014") and r[4] == PURPOSE,
              "disclosure row of %s names agreement and purpose" % eid)
    for eid in withheld:
        r = rows.get(masters[eid])
        check(r is not None and r[1] == "" and "consent" in r[2],
              "withheld %s is recorded with why (%s)" % (eid, r))
    sar(masters[shared[0]], True)
    sar(masters[withheld[0]], False)
    t.close()
    crm.close()


def sar(master, was_shared):
    """`joinery disclosures --person` in JSON, CSV and text, as a subject access request reads it."""
    cli = [os.path.join(os.environ["JOINERY_BUILD_DIR"], "adapters", "cli", "joinery"),
           "disclosures", "--db", DB, "--person", master]
    js = json.loads(subprocess.run(cli + ["--json"], check=True, capture_output=True,
                                   text=True).stdout)
    rows = js["disclosures"]
    check(js["person"] == master and len(rows) >= 1 and
          all(r["partner"] == "trust" and r["purpose"] == PURPOSE and
              r["agreement"].startswith("DSA-2026-014") for r in rows),
          "disclosures --json lists %s's disclosures with partner, agreement, purpose" % master)
    if was_shared:
        check(any(r["shared"] and "person.nhs_number" in r["fields"] and r["at"] for r in rows),
              "disclosures --json says what was shared about %s and when" % master)
    else:
        check(all(not r["shared"] and "consent" in r["withheld"] for r in rows),
              "disclosures --json says %s's events were withheld, and why" % master)
    csv_out = subprocess.run(cli + ["--csv"], check=True, capture_output=True,
                             text=True).stdout.splitlines()
    check(csv_out[0] == "at,partner,agreement,purpose,event_type,event_id,master_id,fields,"
          "withheld" and len(csv_out) == len(rows) + 1, "disclosures --csv: a header and a row each")
    text = subprocess.run(cli, check=True, capture_output=True, text=True).stdout
    check(("WITHHELD" in text) != was_shared and "trust" in text, "disclosures as text")


def commit_fails():
    """Commits that fail after Kafka acknowledged: the disclosure rows they held
    are written by a later commit, no later than the partner's cursor."""
    sql("CREATE TABLE test_refuse_flag (x int); INSERT INTO test_refuse_flag VALUES (1); "
        "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF EXISTS (SELECT 1 FROM test_refuse_flag) THEN "
        "RAISE EXCEPTION 'test: disclosures refused'; END IF; RETURN NEW; END $$; "
        "CREATE TRIGGER test_refuse BEFORE INSERT ON partner_disclosure FOR EACH ROW "
        "EXECUTE FUNCTION test_refuse()")
    crm = client("crm")
    envs = [person_event(crm, 300 + i, "Consented%d" % (300 + i), True,
                         event_id="refused-%d" % i) for i in range(3)]
    masters = publish(crm, envs)
    ids = {e.event_id for e in envs}
    t = Topic()
    t.read_until("the events whose disclosure rows fail", lambda r: ids <= {e.causation_id
                                                                          for _, e in r})
    log = os.path.join(os.environ["E2E_DIR"], "hub.log")
    pj.wait_for("a commit refused by the test's trigger",
                lambda: "test: disclosures refused" in open(log, errors="replace").read())
    check(not disclosures(masters.values()), "no disclosure row while the table refuses them")
    sql("DELETE FROM test_refuse_flag")
    pj.wait_for("the disclosure rows after the failed commits", lambda: len(
        [r for r in disclosures(masters.values()) if r[1]]) == 3, timeout_s=60)
    pj.wait_for("the partner's cursor at the journal head", lambda: partner_floor() >= head())
    check(True, "disclosure rows of a failed commit are written by a later one")
    sql("DROP TRIGGER test_refuse ON partner_disclosure; DROP FUNCTION test_refuse(); "
        "DROP TABLE test_refuse_flag")
    t.close()
    crm.close()


def mock(cmd):
    """A command to kafka_mock, waiting for its answer."""
    out = os.path.join(os.environ["E2E_DIR"], "mock.out")
    n0 = sum(1 for line in open(out) if line.startswith(("ok", "error")))
    with open(os.path.join(os.environ["E2E_DIR"], "mock.ctl"), "w") as f:
        f.write(cmd + "\n")
    pj.wait_for("kafka_mock: " + cmd, lambda: sum(
        1 for line in open(out) if line.startswith(("ok", "error"))) > n0)
    last = open(out).read().splitlines()[-1]
    require(last == "ok", "kafka_mock: %s: %s" % (cmd, last))


def outage():
    crm = client("crm")
    ward = client("ward")
    cmd, _ = ward.subscribe("ward-persons", ["person.*"], credit=1000)
    require(cmd == "SUBSCRIBED", "ward subscribed (%s)" % cmd)
    # new: it starts at the head, so what it gets is what follows
    for b in (1, 2, 3):
        mock("down %d" % b)
    envs = [person_event(crm, 100 + i, "Consented%d" % (100 + i), True,
                         event_id="outage-%d" % i) for i in range(10)]
    masters = publish(crm, envs)
    ids = {e.event_id for e in envs}
    got = ward.receive(lambda g: ids <= {x.env.causation_id for x in g},
                       "local deliveries during the outage")
    check(len(got) >= 10, "a local subscriber has every event while Kafka is down")
    time.sleep(1.5)  # cursor flushes: a cursor that moved would be in the table by now
    check(not disclosures(masters.values()),
          "nothing is recorded as disclosed while every broker is down")
    check(partner_floor() < head(), "the partner's cursor waits during the outage")
    for b in (1, 2, 3):
        mock("up %d" % b)
    t = Topic()
    t.read_until("the events of the outage after it", lambda r: ids <= {e.causation_id
                                                                        for _, e in r},
                 timeout_s=90)
    pj.wait_for("the outage's disclosure rows", lambda: len(
        [r for r in disclosures(masters.values()) if r[1]]) == 10, timeout_s=30)
    check(True, "every event of the outage reached the partner afterwards")
    t.close()
    ward.close()
    crm.close()


def inbound():
    good = [E.Envelope(event_id="trust-dis-%d" % i, type="health.discharge.completed",
                       source="trust-pas", occurred_at=pj.now_us(), payload=b"discharged")
            for i in range(2)]
    prod = ck.Producer({"bootstrap.servers": BOOT})
    where = {}

    def note(err, msg):
        require(err is None, "the test's producer: %s" % err)
        where[msg.value()] = (msg.partition(), msg.offset())

    poison = b"\xff\x00 not an envelope \x01"
    for v in (good[0].SerializeToString(), poison, good[1].SerializeToString()):
        prod.produce(IN_TOPIC, v, key=b"ward-7", on_delivery=note)
    require(prod.flush(30) == 0, "the test's records are on the inbound topic")
    pj.wait_for("the partner's discharges journaled", lambda: sql(
        "SELECT count(*) FROM journal WHERE event_id IN ('trust-dis-0', 'trust-dis-1')") == "2",
        timeout_s=60)
    check(sql("SELECT string_agg(DISTINCT source || '/' || type, ',') FROM journal WHERE "
              "event_id LIKE 'trust-dis-%'") == "partner:trust/health.discharge.completed",
          "the discharges are journaled as published by partner:trust")
    part, off = where[poison]
    pj.wait_for("the poisoned record kept with where it was", lambda: sql(
        "SELECT count(*) FROM partner_refused WHERE partner = 'trust' AND topic = '%s' AND "
        "kafka_partition = %d AND kafka_offset = %d" % (IN_TOPIC, part, off)) == "1")
    check(sql("SELECT count(*) FROM rejected_event WHERE adapter = 'partner:trust' AND "
              "position('\\xff00'::bytea in bytes) > 0") == "1",
          "the poisoned record's bytes are kept in rejected_event")
    check(True, "the poisoned record did not block the one after it")
    c = ck.Consumer({"bootstrap.servers": BOOT, "group.id": "joinery-trust"})
    last = where[good[1].SerializeToString()][1]

    def committed():
        tp = c.committed([ck.TopicPartition(IN_TOPIC, part)], timeout=5)[0]
        return tp.offset > last

    pj.wait_for("the hub's group offsets committed past the records", committed, timeout_s=30)
    check(True, "offsets are committed once the hub journaled or refused")
    c.close()


CRASH_KEYS, CRASH_EACH = 8, 50


def crash_publish():
    """Publishes CRASH_KEYS x CRASH_EACH events, in order per key, through a
    hub that is killed meanwhile: what was not confirmed is sent again."""
    envs = []
    for n in range(CRASH_EACH):
        for k in range(CRASH_KEYS):
            envs.append((k, n))
    c, done = client("crm"), 0
    while done < len(envs):
        batch = envs[done:done + 20]
        es = [person_event(c, 200 + k, "Crash%dv%d" % (k, n), True,
                           event_id="crash-%d-%d" % (k, n), record="crash-rec-%d" % k)
              for k, n in batch]
        try:
            got = c.publish(es, timeout_ms=3000)
        except RuntimeError:
            got = {}
        for e in es:  # journaled now or before the crash (DUPLICATE) are both fine
            require(got.get(e.event_id) is None or got[e.event_id].status != 2,
                    "%s not refused (%s)" % (e.event_id, got.get(e.event_id)))
        if all(got.get(e.event_id) is not None and got[e.event_id].status in (0, 1)
               for e in es):
            done += len(batch)
            print("published %d" % done, flush=True)
            time.sleep(0.05)
            continue
        c.close()  # the hub went away: a new session, the same events again
        time.sleep(0.2)
        try:
            c = client("crm")
        except SystemExit:
            c = pj.Client.curve(EP, "crm", KEYS)
    c.close()


def crash_verify():
    want = {"crash-%d-%d" % (k, n) for k in range(CRASH_KEYS) for n in range(CRASH_EACH)}
    t = Topic()
    t.read_until("every event of the crash stream", lambda r: want <=
                 {e.causation_id for _, e in r}, timeout_s=120)
    seen, order, keys, dups, first = set(), {}, {}, 0, {}
    for m, env in t.records:
        if not env.causation_id.startswith("crash-"):
            continue
        if env.causation_id in seen:
            dups += 1
            check(first[env.causation_id] == env.event_id,
                  "a duplicate of %s has the same event id" % env.causation_id)
            continue
        first[env.causation_id] = env.event_id
        seen.add(env.causation_id)
        k, n = (int(x) for x in env.causation_id.split("-")[1:])
        order.setdefault(k, []).append(n)
        keys.setdefault(k, set()).add(m.key())
    check(seen == want, "none of the %d events of the crash stream is lost" % len(want))
    for k, ns in order.items():
        check(ns == sorted(ns), "person %d's events are in publish order" % k)
        check(len(keys[k]) == 1, "person %d's events share one key" % k)
    print("crash: %d events, %d duplicates (same event id)" % (len(want), dups))
    t.close()


RUN = {"outbound": outbound, "commit-fails": commit_fails, "outage": outage, "inbound": inbound,
       "crash-publish": crash_publish, "crash-verify": crash_verify}
for s in SCENARIOS:
    print("== %s" % s, flush=True)
    RUN[s]()
pj.finish("partner_kafka_check " + " ".join(SCENARIOS))
