"""socialcare_check.py SCENARIO HTTP_PORT HUB_PORT CONNINFO E2E_DIR - one scenario of
test_socialcare.sh.

The case system's side is Python's own urllib POSTing the samples of tests/data/socialcare to
joinery-socialcare; the trust's side is a raw protocol client (pyjoinery) publishing as `health`;
the hub's side is read from PostgreSQL (the journal, the golden records, the cross-reference and
the subscription's acknowledged sequence number)."""
import json
import os
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402
from pyjoinery import Sql, check, finish, require, wait_for  # noqa: E402
from joinery.v1 import case_pb2, envelope_pb2, health_pb2  # noqa: E402

SCENARIO, HTTP_PORT, HUB_PORT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
CONNINFO, E2E_DIR = sys.argv[4], sys.argv[5]
BASE = "http://127.0.0.1:%d" % HTTP_PORT
KEY = "k3y-for-the-case-system-0123456789"
DATA = os.path.join(os.environ["JOINERY_SOURCE_DIR"], "tests", "data", "socialcare")
PERSON, CASE = "LL-100234", "CASE-7001"
TRUST_ID = "RR8-M0042"  # the trust's own id for Mary
sql = Sql(CONNINFO)


def sample(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def post(path, body, key=KEY):
    """(status, headers, parsed JSON or raw bytes) of one POST, as the case system sends it."""
    h = {"Content-Type": "application/json"}
    if key is not None:
        h["x-joinery-key"] = key
    req = urllib.request.Request(BASE + path, data=body, method="POST", headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    try:
        return status, hdrs, json.loads(raw) if raw else None
    except ValueError:
        return status, hdrs, raw


def created(got, what):
    code, _, body = got
    check(code == 201 and isinstance(body, dict) and body.get("status") == "ok"
          and body.get("event_id", "").startswith("sc-"),
          "%s: 201 {\"status\": \"ok\"} with the event id (%s %r)" % (what, code, body))
    return body if isinstance(body, dict) else {}


def error_answer(got, code, error, what):
    status, _, body = got
    check(status == code and isinstance(body, dict) and body.get("error") == error
          and body.get("message"),
          "%s: %d {\"error\": \"%s\", \"message\": ...} (%s %r)" % (what, code, error, status, body))
    return body if isinstance(body, dict) else {}


def journal(event_id):
    return int(sql("SELECT count(*) FROM journal WHERE source = 'socialcare' AND event_id = '%s'"
                   % event_id))


def journal_total():
    return int(sql("SELECT count(*) FROM journal WHERE source = 'socialcare'"))


def tasks():
    """The case.discharge_notified envelopes in the journal, oldest first."""
    rows = sql("SELECT encode(envelope, 'hex') FROM journal WHERE source = 'socialcare' AND "
               "type = 'case.discharge_notified' ORDER BY seq")
    out = []
    for raw in filter(None, rows.split("\n")):
        env = envelope_pb2.Envelope()
        env.ParseFromString(bytes.fromhex(raw))
        out.append(env)
    return out


def acked():
    return int(sql("SELECT coalesce(max(acked_seq), 0) FROM subscription WHERE adapter = "
                   "'socialcare' AND name = 'socialcare-discharge'") or 0)


# ---- scenarios -------------------------------------------------------------------------------

def inbound():
    body = created(post("/people", sample("person.json")), "a person")
    # 201 only once the hub has it: the journal and the golden record hold it as it is read.
    check(journal(body.get("event_id", "")) == 1, "the journal holds its person.updated")
    master = sql("SELECT master_id FROM xref WHERE system = 'socialcare' AND local_id = '%s'"
                 % PERSON)
    check(master and body.get("master_id") == master,
          "the answer names the golden person %s (%r)" % (master, body))
    check(sql("SELECT g.fields->'nhs_number'->>'v' FROM golden_person g WHERE g.master_id = '%s'"
              % master) == "9434765919", "the golden record has the NHS number")

    body = created(post("/cases", sample("case.json")), "an open case for that person")
    check(journal(body.get("event_id", "")) == 1, "the journal holds its case.updated")
    check(sql("SELECT count(*) FROM case_xref WHERE system = 'socialcare' AND local_id = '%s'"
              % CASE) == "1", "the hub keeps the case under the case system's id")
    body = created(post("/referrals", sample("referral.json")), "a referral")
    check(journal(body.get("event_id", "")) == 1, "the journal holds case.referral.created")
    status, _, again = post("/referrals", sample("referral.json"))
    check(status == 200 and isinstance(again, dict) and again.get("status") == "duplicate",
          "the same referral again (a retry): 200 duplicate (%s %r)" % (status, again))

    before = journal_total()
    error_answer(post("/people", b'{"person_id": '), 400, "malformed", "a body that is not JSON")
    error_answer(post("/people", sample("person.json"), key=None), 401, "unauthorized",
                 "no key")
    error_answer(post("/people", sample("person.json"), key=KEY + "x"), 401, "unauthorized",
                 "a wrong key")
    error_answer(post("/care-packages", sample("care_package_no_cost.json")), 422, "unmappable",
                 "a planned care package without a cost")
    check(journal_total() == before, "none of them was published")
    body = error_answer(post("/cases", sample("case_unknown_person.json")), 422, "rejected",
                        "a case for a person the hub does not know")
    check("LL-NOBODY" in body.get("message", "") and "person.updated" in body.get("message", ""),
          "the answer gives the hub's reason (%r)" % body.get("message"))


def health_client():
    c = J.Client.curve("tcp://127.0.0.1:%d" % HUB_PORT, "health", os.path.join(E2E_DIR, "keys"))
    cmd, _ = c.hello()
    require(cmd == "WELCOME", "the health client is welcomed (%s)" % cmd)
    return c


def discharge(c, trust_id, nhs, family):
    """The trust's person.updated (so the hub links the patient) then its health.discharge; the
    discharge's journal seq."""
    got = c.publish_one(c.event("person.updated", trust_id, J.person("Mary", family, nhs=nhs),
                                "joinery.v1.Person"))
    require(got.status == 0, "the trust's person.updated is taken (%r)" % got)
    d = health_pb2.Discharge(discharge_method="1", discharge_destination="19",
                             needs_care_support=True)
    d.encounter.encounter_id = "V-" + trust_id
    d.encounter.trust_ods = "RR8"
    got = c.publish_one(c.event("health.discharge", trust_id, d.SerializeToString(),
                                "joinery.v1.Discharge"))
    require(got.status == 0 and got.seq > 0, "the discharge is journaled (%r)" % got)
    return got.seq


def discharged():
    c = health_client()
    # A patient social care does not know first, then Mary, whose NHS number links her.
    other = discharge(c, "RR8-M0099", "9449305552", "Other")
    seq = discharge(c, TRUST_ID, "9434765919", "Shelley")
    master = sql("SELECT master_id FROM xref WHERE system = 'socialcare' AND local_id = '%s'"
                 % PERSON)
    check(sql("SELECT master_id FROM xref WHERE system = 'health' AND local_id = '%s'"
              % TRUST_ID) == master, "the trust's patient is the same golden person")
    wait_for("case.discharge_notified in the journal", lambda: len(tasks()) >= 1)
    t = tasks()[0]
    check(t.source_record_id == CASE and t.attributes["case_id"] == CASE
          and t.attributes["person_master_id"] == master
          and t.payload_type == "joinery.v1.Discharge",
          "the task names the case %s and the golden person (%r %r)"
          % (CASE, t.source_record_id, dict(t.attributes)))
    d = health_pb2.Discharge()
    d.ParseFromString(t.payload)
    check(d.encounter.encounter_id == "V-" + TRUST_ID and d.needs_care_support,
          "it carries the trust's Discharge")
    # The discharge is acknowledged (only after the task's CONFIRM): the subscription's
    # acknowledged seq passes both, and the other patient's discharge made no task.
    wait_for("the discharges acknowledged", lambda: acked() >= max(seq, other))
    check(len(tasks()) == 1, "one task: none for a patient without an open case")
    c.close()


def after_restart():
    """joinery-socialcare was restarted: it still knows Mary's open case (its data_dir)."""
    c = health_client()
    seq = discharge(c, TRUST_ID, "9434765919", "Shelley")
    wait_for("a second case.discharge_notified", lambda: len(tasks()) >= 2)
    check(tasks()[1].source_record_id == CASE, "after a restart the task names the case again")
    wait_for("the discharge acknowledged", lambda: acked() >= seq)
    c.close()


def closed():
    """The case closed: a discharge of Mary is no task any more."""
    created(post("/cases", sample("case_closed.json")), "the case closed")
    c = health_client()
    seq = discharge(c, TRUST_ID, "9434765919", "Shelley")
    wait_for("the discharge acknowledged", lambda: acked() >= seq)
    check(len(tasks()) == 2, "no task for a person whose case is closed (%d)" % len(tasks()))
    c.close()


{"inbound": inbound, "discharged": discharged, "after_restart": after_restart,
 "closed": closed}[SCENARIO]()
finish("socialcare_check " + SCENARIO)
