"""socialcare_outbound_check.py HTTP_PORT CASE_PORT HUB_PORT CONNINFO LOG - the scenarios of
test_socialcare_outbound.sh, in one run (the fake case system lives in this process).

The case system is two things here: its sending side, Python's urllib POSTing the samples of
tests/data/socialcare to joinery-socialcare (inbound); and its receiving side, CaseSystem, an
http.server on CASE_PORT that records every request joinery-socialcare makes and answers as the
scenario scripted (201 unless told otherwise), holding its answer to /tasks when asked to. The
CRM and the trust are raw pyjoinery clients; the hub's side is read from PostgreSQL (journal,
subscription cursors, dead letters)."""
import http.server
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402
from pyjoinery import check, finish, require, wait_for  # noqa: E402
from joinery.v1 import crm_pb2, envelope_pb2, health_pb2  # noqa: E402
from joinery.v1 import protocol_pb2 as P  # noqa: E402

HTTP_PORT, CASE_PORT, HUB_PORT = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
sql = J.Sql(sys.argv[4])
LOG = sys.argv[5]  # joinery-socialcare's log
E2E_DIR = os.path.dirname(LOG)
EP = "tcp://127.0.0.1:%d" % HUB_PORT
IN_KEY = "k3y-for-the-case-system-0123456789"
OUT_KEY = "k3y-of-the-case-system-for-joinery-987"
DATA = os.path.join(os.environ["JOINERY_SOURCE_DIR"], "tests", "data", "socialcare")
PERSON, CASE, TRUST_ID, CRM_ID = "LL-100234", "CASE-7001", "RR8-M0042", "CRM-500"
NHS = "9434765919"
LOCKED = "person LL-100234 is locked for editing by J. Okafor"


class CaseSystem(http.server.ThreadingHTTPServer):
    """The case system's API for joinery-socialcare: every request kept as (path, key header,
    parsed body); answers taken from script[path] first, else 201."""
    daemon_threads = True

    def __init__(self, port):
        super().__init__(("127.0.0.1", port), Handler)
        self.lock = threading.Lock()
        self.got = []
        self.script = {}
        self.hold_tasks = threading.Event()  # set: /tasks waits for release
        self.release = threading.Event()
        self.hold_people = threading.Event()  # set: /people/... waits for release_people
        self.release_people = threading.Event()

    def requests(self, path=None):
        with self.lock:
            return [g for g in self.got if path is None or g[0] == path]

    def answer(self, path, *answers):
        with self.lock:
            self.script.setdefault(path, []).extend(answers)

    def next_answer(self, path):
        with self.lock:
            queue = self.script.get(path) or []
            return queue.pop(0) if queue else (201, {"status": "ok"})


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        srv = self.server
        with srv.lock:
            srv.got.append((self.path, self.headers.get("x-case-key"), body,
                            self.headers.get("Content-Type")))
        if self.path == "/tasks" and srv.hold_tasks.is_set():
            srv.release.wait(60)
        if self.path.startswith("/people/") and srv.hold_people.is_set():
            srv.release_people.wait(60)
        status, answer = srv.next_answer(self.path)
        data = json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the adapter went away meanwhile (the restart scenario)


def post(path, name, change=None):
    """POSTs the sample NAME (its JSON changed by CHANGE, a dict) in as the case system does."""
    with open(os.path.join(DATA, name), "rb") as f:
        body = f.read()
    if change:
        body = json.dumps(dict(json.loads(body), **change)).encode()
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (HTTP_PORT, path), data=body,
                                 method="POST", headers={"Content-Type": "application/json",
                                                         "x-joinery-key": IN_KEY})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def acked(name):
    return int(sql("SELECT coalesce(max(acked_seq), 0) FROM subscription WHERE adapter = "
                   "'socialcare' AND name = '%s'" % name) or 0)


def journal_seq(type_, needle):
    """The newest seq of TYPE for social care whose envelope holds NEEDLE; 0 when none."""
    return int(sql("SELECT coalesce(max(seq), 0) FROM journal WHERE type = '%s' AND target = "
                   "'socialcare' AND position(convert_to('%s', 'UTF8') in envelope) > 0"
                   % (type_, needle)) or 0)


def dead(name):
    """(seq, type, reason) of the dead letters of subscription NAME."""
    rows = sql("SELECT seq, type, reason FROM dead_letter WHERE adapter = 'socialcare' AND "
               "subscription = '%s' ORDER BY seq" % name)
    return [r.split("|", 2) for r in rows.split("\n") if r]


def client(name):
    c = J.Client(EP, name)
    require(c.hello()[0] == "WELCOME", "%s connects" % name)
    return c


def crm_phone(phone, crm_id=CRM_ID, who=("Mary", "Shelley", "1947-08-30", NHS)):
    """The CRM's update of Mary (or WHO) with PHONE; the seq of social care's person.changed it
    makes."""
    c = client("crm")
    got = c.publish_one(c.event("person.updated", crm_id, J.person(*who, phone=phone),
                                "joinery.v1.Person"))
    c.close()
    require(got.status == P.CONFIRM_OK, "the CRM's phone %s is journaled (%r)" % (phone, got))
    return wait_for("the person.changed with phone %s" % phone,
                    lambda: journal_seq("person.changed", phone))


def to_people():
    return case.requests("/people/" + PERSON)


def given_back(seq):
    """joinery-socialcare's log lines for NACKing delivery SEQ of socialcare-out RETRY."""
    with open(LOG, errors="replace") as f:
        return [ln for ln in f if "outbound: person.changed %d:" % seq in ln
                and "delivers it again" in ln]


def settled_out(seq):
    return acked("socialcare-out") >= seq


# ---- scenarios -------------------------------------------------------------------------------

def setup():
    """Mary in social care (and her open case), then linked by the CRM; what that first link
    sends social care is answered 201."""
    check(post("/people", "person.json") == 201, "social care POSTs Mary in: 201")
    check(post("/cases", "case.json") == 201, "and her open case: 201")
    seq = crm_phone("07700900100")
    check(sql("SELECT master_id FROM xref WHERE system = 'crm' AND local_id = '%s'" % CRM_ID)
          == sql("SELECT master_id FROM xref WHERE system = 'socialcare' AND local_id = '%s'"
                 % PERSON), "the CRM's contact is the same golden person as social care's")
    wait_for("the first person.changed settled", lambda: settled_out(seq))


def retried_then_taken():
    """The case system answers 503 twice, then 201: one change, three tries, settled once."""
    before = len(to_people())
    case.answer("/people/" + PERSON, (503, {"error": "busy"}), (503, {"error": "busy"}),
                (201, {"status": "ok"}))
    seq = crm_phone("07700900123")
    wait_for("three POSTs of the phone", lambda: len(to_people()) >= before + 3)
    wait_for("the person.changed settled", lambda: settled_out(seq))
    got = to_people()[before:]
    check(len(got) == 3 and got[0][2] == got[1][2] == got[2][2],
          "the same body three times (%d)" % len(got))
    body = got[-1][2]
    master = sql("SELECT master_id FROM xref WHERE system = 'socialcare' AND local_id = '%s'"
                 % PERSON)
    check(isinstance(body, dict) and body.get("person_id") == PERSON
          and body.get("master_id") == master and isinstance(body.get("version"), int)
          and body.get("changed") == ["telecom.phone"],
          "POST /people/%s names social care's id, the golden person, its version and "
          "changed [telecom.phone] (%r)" % (PERSON, body))
    check(set(body) == {"person_id", "master_id", "version", "changed", "phone"}
          and "07700900123" in body["phone"].replace(" ", ""),
          "only the phone changed, only the phone is sent (%r)" % body)
    check(got[-1][1] == OUT_KEY and got[-1][3] == "application/json",
          "with the shared key in x-case-key, as JSON (%r %r)" % (got[-1][1], got[-1][3]))
    check(not dead("socialcare-out"), "nothing dead-lettered")
    check(not given_back(seq), "settled at its first delivery: never NACKed for redelivery")


def refused():
    """A 422 with the case system's message: the change is dead-lettered with it, unretried."""
    before = len(to_people())
    case.answer("/people/" + PERSON, (422, {"error": "invalid", "message": LOCKED}))
    seq = crm_phone("07700900456")
    got = wait_for("the dead letter", lambda: [d for d in dead("socialcare-out")
                                               if int(d[0]) == seq])
    check(got[0][1] == "person.changed" and LOCKED in got[0][2],
          "dead-lettered with the case system's reason (%r)" % got[0])
    time.sleep(0.5)
    check(len(to_people()) == before + 1, "a final 4xx is not tried again (%d)"
          % (len(to_people()) - before))


def exhausted():
    """503 on every one of max_attempts (3) tries: NACKed RETRY, so the hub delivers it again
    and the fourth try, on the second delivery, is taken; never ACKed unsent."""
    before = len(to_people())
    case.answer("/people/" + PERSON, *([(503, {"error": "busy"})] * 3))
    seq = crm_phone("07700900789")
    wait_for("the person.changed settled", lambda: settled_out(seq))
    got = to_people()[before:]
    check(len(got) == 4 and all("07700900789" in g[2].get("phone", "").replace(" ", "")
                                for g in got),
          "three tries, then a fourth on the redelivery (%d)" % len(got))
    check(not [d for d in dead("socialcare-out") if int(d[0]) == seq], "not dead-lettered")
    check(any("gave up after 3 attempts" in ln for ln in given_back(seq)),
          "NACKed RETRY once its three tries were spent (the adapter's log says so)")


def not_held():
    """A person social care does not hold changes: its person.changed (empty local id) is
    acknowledged without a request."""
    before = len(case.requests())
    seq = crm_phone("07700900999", "CRM-777", ("Dylan", "Evans", "1990-02-03", "9449305552"))
    wait_for("the person.changed settled", lambda: settled_out(seq))
    check(len(case.requests()) == before,
          "no request for a person social care does not hold (%d)"
          % (len(case.requests()) - before))


def corrected():
    """Social care sends a phone the CRM owns: the hub refuses it and sends social care
    person.correction; the case system gets the CRM's phone back on POST /people/{id}."""
    before = len(to_people())
    check(post("/people", "person.json", {"phone": "0113 496 1111"}) == 201,
          "social care POSTs Mary with another phone: 201 (the rest is taken)")
    got = wait_for("POST /people/%s with the owner's phone" % PERSON,
                   lambda: to_people()[before:])
    body = got[0][2]
    check(isinstance(body, dict) and body.get("changed") == ["telecom.phone"]
          and body.get("phone") == "07700900789" and body.get("person_id") == PERSON,
          "the CRM's phone is sent back, only it (%r)" % body)
    seq = journal_seq("person.correction", PERSON)
    check(seq > 0, "the hub sent social care person.correction")
    wait_for("the correction settled", lambda: settled_out(seq))


def referral():
    """The contact centre's enquiry reaches social care's front door."""
    c = client("crm")
    sr = crm_pb2.ServiceRequest(request_id="INC-42", contact_id=CRM_ID,
                                category="adult-social-care/enquiry", channel="phone",
                                description="Neighbour says Mary has had falls",
                                status="new", opened_at="2026-12-07T09:15:00Z")
    got = c.publish_one(c.event("crm.service_request.created", "CAS-0042", sr.SerializeToString(),
                                "joinery.v1.ServiceRequest"))
    c.close()
    require(got.status == P.CONFIRM_OK, "the enquiry is journaled (%r)" % got)
    r = wait_for("POST /referrals/inbound", lambda: case.requests("/referrals/inbound"))
    body = r[0][2]
    check(isinstance(body, dict) and body.get("source_system") == "crm"
          and body.get("request_id") == "CAS-0042"
          and body.get("category") == "adult-social-care/enquiry"
          and body.get("channel") == "phone"
          and body.get("description") == "Neighbour says Mary has had falls"
          and body.get("received_at") == "2026-12-07T09:15:00Z"
          and isinstance(body.get("master_id"), str),
          "POST /referrals/inbound with the enquiry (%r)" % body)
    wait_for("the enquiry settled", lambda: settled_out(got.seq))


def tasks():
    rows = sql("SELECT encode(envelope, 'hex') FROM journal WHERE source = 'socialcare' AND "
               "type = 'case.discharge_notified' ORDER BY seq")
    out = []
    for raw in filter(None, rows.split("\n")):
        env = envelope_pb2.Envelope()
        env.ParseFromString(bytes.fromhex(raw))
        out.append(env)
    return out


def discharge():
    """The trust discharges Mary: the task is journaled AND POSTed to /tasks, and the discharge is
    settled only once the case system answered."""
    case.hold_tasks.set()
    c = client("health")
    got = c.publish_one(c.event("person.updated", TRUST_ID, J.person(
        "Mary", "Shelley", "1947-08-30", NHS), "joinery.v1.Person"))
    require(got.status == P.CONFIRM_OK, "the trust's person.updated is taken (%r)" % got)
    d = health_pb2.Discharge(discharge_method="1", discharge_destination="19",
                             needs_care_support=True)
    d.encounter.encounter_id = "V-" + TRUST_ID
    d.encounter.trust_ods = "RR8"
    d.encounter.ward = "J12"
    d.encounter.end_at = "2026-12-06T14:30:00Z"
    got = c.publish_one(c.event("health.discharge", TRUST_ID, d.SerializeToString(),
                                "joinery.v1.Discharge"))
    c.close()
    require(got.status == P.CONFIRM_OK and got.seq > 0, "the discharge is journaled (%r)" % got)
    seq = got.seq
    posted = wait_for("POST /tasks", lambda: case.requests("/tasks"))
    t = wait_for("case.discharge_notified in the journal", tasks)[0]
    master = sql("SELECT master_id FROM xref WHERE system = 'socialcare' AND local_id = '%s'"
                 % PERSON)
    body = posted[0][2]
    check(isinstance(body, dict) and body.get("task_id") == t.event_id
          and body.get("kind") == "hospital_discharge" and body.get("case_id") == CASE
          and body.get("person_id") == PERSON and body.get("master_id") == master
          and body.get("discharged_on") == "2026-12-06" and body.get("trust") == "RR8"
          and CASE in body.get("summary", ""),
          "POST /tasks names the task, the case, social care's id and the golden person (%r)"
          % body)
    # The hub confirmed the task before it was POSTed; the answer is held: unsettled.
    time.sleep(2)
    check(acked("socialcare-discharge") < seq,
          "while the case system has not answered, the discharge is unsettled (acked %d < %d)"
          % (acked("socialcare-discharge"), seq))
    case.release.set()
    wait_for("the discharge settled after the 2xx", lambda: acked("socialcare-discharge") >= seq)
    check(len(case.requests("/tasks")) == 1 and len(tasks()) == 1, "one task, POSTed once")


def restart():
    """joinery-socialcare is stopped while the case system holds its answer to a change: it
    stops at once, the delivery stays unsettled, and the restarted adapter sends it again."""
    case.hold_people.set()
    before = len(to_people())
    seq = crm_phone("07700900321")
    wait_for("the POST of the change (held)", lambda: len(to_people()) > before)
    check(not settled_out(seq), "unsettled while the case system has not answered")
    with open(os.path.join(E2E_DIR, "restart-now"), "w"):
        pass  # test_socialcare_outbound.sh stops and starts the adapter
    wait_for("the adapter restarted", lambda: os.path.exists(os.path.join(E2E_DIR, "restarted")),
             timeout_s=60)
    check(not settled_out(seq), "a stop does not settle what the case system did not answer")
    case.hold_people.clear()
    case.release_people.set()
    wait_for("the change settled after the restart", lambda: settled_out(seq))
    got = [g for g in to_people()[before:] if "07700900321" in str(g[2])]
    check(len(got) == 2 and got[0][2] == got[1][2],
          "the same change POSTed again by the restarted adapter (%d)" % len(got))
    check(not [d for d in dead("socialcare-out") if int(d[0]) == seq], "not dead-lettered")


case = CaseSystem(CASE_PORT)
threading.Thread(target=case.serve_forever, daemon=True).start()
J.run_scenarios([setup, retried_then_taken, refused, exhausted, not_held, corrected, referral,
                 discharge, restart])
case.release.set()
case.release_people.set()
case.shutdown()
finish("socialcare_outbound_check")
