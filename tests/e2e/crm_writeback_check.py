"""crm_writeback_check.py DV_PORT HTTP_PORT HUB_PORT CONNINFO E2E_DIR [restart] - the scenarios
of test_crm_writeback.sh, in order (each builds on the one before); with `restart`, the one run
while the shell kills and restarts the hub (files in E2E_DIR say when).

Dataverse is a fake here: Python's http.server on 127.0.0.1:DV_PORT, recording every request and
answering what the scenario scripted (204 unless told). The CRM's inbound side is urllib POSTing
the webhook samples of tests/data/crm to joinery-crm on HTTP_PORT; social care is a raw protocol
client (pyjoinery) publishing as `socialcare`; the hub's side is read from PostgreSQL (the
journal, the cross-reference, the subscription's acknowledged seq and the dead letters)."""
import copy
import http.server
import json
import os
import sys
import threading
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402
from pyjoinery import Sql, check, finish, require, wait_for  # noqa: E402
from joinery.v1 import case_pb2  # noqa: E402
from joinery.v1 import protocol_pb2 as P  # noqa: E402

DV_PORT, HTTP_PORT, HUB_PORT = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
CONNINFO, E2E_DIR = sys.argv[4], sys.argv[5]
PHASE = sys.argv[6] if len(sys.argv) > 6 else "main"
WEBHOOK = "http://127.0.0.1:%d/dataverse/webhook" % HTTP_PORT
KEY = "k3y-for-the-crm-webhook-0123456789"
TOKEN = "test-token-for-the-fake-dataverse"
DATA = os.path.join(os.environ["JOINERY_SOURCE_DIR"], "tests", "data", "crm")
CONTACT = "6d1c2b3a-8f7e-ee11-9ae6-000d3a0b1c2d"  # contact_create.json's contactid
CONTACT_PATH = "/api/data/v9.2/contacts(%s)" % CONTACT
SC_PERSON, SC_CASE = "LL-7001", "CASE-7001"
SUB = "crm-writeback"
sql = Sql(CONNINFO)


# ---- the fake Dataverse ----------------------------------------------------------------------

class Dataverse:
    """Records requests; answers the next scripted answer, else 204. `applied` is the contact as
    the answered-2xx PATCHes left it; `gate`, when set, holds answers until it is released."""

    def __init__(self, port):
        self.lock = threading.Lock()
        self.requests = []  # (method, path, headers, body bytes)
        self.script = []    # (status, body, headers) for the next requests
        self.applied = {}
        self.patches_applied = []
        self.gate = None
        dv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with dv.lock:
                    dv.requests.append((self.command, self.path, dict(self.headers), body))
                    status, answer, hdrs = dv.script.pop(0) if dv.script else (204, b"", {})
                    gate = dv.gate
                if gate is not None:
                    gate.wait(30)
                if 200 <= status < 300 and self.command == "PATCH":
                    with dv.lock:
                        dv.applied.update(json.loads(body))
                        dv.patches_applied.append(json.loads(body))
                self.send_response(status)
                for k, v in hdrs.items():
                    self.send_header(k, v)
                if answer:
                    self.send_header("Content-Type", "application/json; odata.metadata=minimal")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_PATCH = do_POST = do_GET = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self):
        with self.lock:
            return len(self.requests)

    def since(self, n):
        with self.lock:
            return list(self.requests[n:])

    def answer_next(self, *answers):
        with self.lock:
            self.script.extend(answers)


dv = Dataverse(DV_PORT)


# ---- the systems -----------------------------------------------------------------------------

def sample(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def webhook(body):
    """Dataverse's POST to joinery-crm; its status (200 once the hub confirmed)."""
    req = urllib.request.Request(WEBHOOK, data=body, method="POST", headers={
        "Content-Type": "application/json", "x-joinery-key": KEY})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def contact_update(attrs, correlation):
    """A contact Update webhook of the contact with ATTRS (key, value) in its Target."""
    ctx = json.loads(sample("contact_update_phone.json"))
    ctx = copy.deepcopy(ctx)
    ctx["CorrelationId"] = correlation
    target = ctx["InputParameters"][0]["value"]
    target["Attributes"] = [{"key": k, "value": v} for k, v in attrs] + [
        {"key": "contactid", "value": CONTACT}]
    return json.dumps(ctx).encode()


sc = J.Client.curve("tcp://127.0.0.1:%d" % HUB_PORT, "socialcare", os.path.join(E2E_DIR, "keys"))
require(sc.hello()[0] == "WELCOME", "social care's client is welcomed")


def sc_person(family, ni=""):
    p = J.PERSON.Person(nhs_number="9434765919", birth_date="1975-06-02", ni_number=ni,
                        sex=J.PERSON.SEX_FEMALE)
    p.name.given.extend(["Maya", "Rose"])
    p.name.family = family
    env = sc.event("person.updated", record_id=SC_PERSON, payload_type="joinery.v1.Person",
                   payload=p.SerializeToString())
    got = sc.publish_one(env)
    require(got.status == P.CONFIRM_OK, "social care's person.updated is journaled: %s"
            % got.reason)
    return got


def sc_case(status, **fields):
    c = case_pb2.Case(case_id=SC_CASE, person_local_id=SC_PERSON, status=status, **fields)
    env = sc.event("case.updated", record_id=SC_CASE, payload_type="joinery.v1.Case",
                   payload=c.SerializeToString())
    got = sc.publish_one(env)
    require(got.status == P.CONFIRM_OK, "social care's case.updated is journaled: %s" % got.reason)
    return got


# ---- the hub's side --------------------------------------------------------------------------

def acked():
    return int(sql("SELECT coalesce(max(acked_seq), 0) FROM subscription WHERE adapter = 'crm' "
                   "AND name = '%s'" % SUB) or 0)


def last_to_crm(type_):
    """The seq of the newest TYPE event the hub journaled naming the CRM's contact id."""
    return int(sql("SELECT coalesce(max(seq), 0) FROM journal WHERE type = '%s' AND position("
                   "convert_to('%s', 'UTF8') in envelope) > 0" % (type_, CONTACT)) or 0)


def settled(seq, what):
    wait_for("%s settled (crm-writeback acked_seq >= %d)" % (what, seq), lambda: acked() >= seq)


def next_requests(n0, k, what):
    return wait_for(what, lambda: len(dv.since(n0)) >= k and dv.since(n0))


def is_patch(r, body):
    method, path, hdrs, raw = r
    return (method == "PATCH" and path == CONTACT_PATH and hdrs.get("If-Match") == "*"
            and hdrs.get("Content-Type") == "application/json"
            and hdrs.get("Authorization") == "Bearer " + TOKEN and json.loads(raw) == body)


# ---- scenarios -------------------------------------------------------------------------------

def link():
    check(webhook(sample("contact_create.json")) == 200, "the CRM's contact Create is taken")
    crm_master = sql("SELECT master_id FROM xref WHERE system = 'crm' AND local_id = '%s'"
                     % CONTACT)
    got = sc_person("Carter", ni="AB123456C")
    check(got.master_id == crm_master and crm_master,
          "social care's LL-7001 links to the CRM's contact (%s, %s)" % (got.master_id,
                                                                          crm_master))
    # The link brought the NI number, which the CRM does not hold: settled without a request.
    seq = wait_for("a person.changed to the CRM", lambda: last_to_crm("person.changed"))
    settled(seq, "the person.changed with the NI number")
    check(dv.count() == 0, "nothing the CRM holds: no request to Dataverse (%r)" % dv.since(0))


def rename():
    n0 = dv.count()
    dv.gate = threading.Event()
    sc_person("Carter-Jones")
    reqs = next_requests(n0, 1, "the PATCH of the new family name")
    check(is_patch(reqs[0], {"lastname": "Carter-Jones"}),
          "PATCH contacts(<the CRM's id>), If-Match: *, the bearer token, lastname only: %r"
          % (reqs[0],))
    seq = last_to_crm("person.changed")
    check(acked() < seq, "while Dataverse has not answered, the delivery is not settled "
          "(acked %d < seq %d)" % (acked(), seq))
    dv.gate.set()
    dv.gate = None
    settled(seq, "the PATCH, once Dataverse answered 204")
    check(dv.applied.get("lastname") == "Carter-Jones", "Dataverse has the new name")


def retry():
    n0 = dv.count()
    dv.answer_next((503, b'{"error":{"code":"0x80072321","message":"busy"}}', {}))
    sc_person("Carter-Smith")
    seq = wait_for("the person.changed", lambda: last_to_crm("person.changed") > acked()
                   and last_to_crm("person.changed"))
    settled(seq, "the PATCH retried after a 503")
    reqs = dv.since(n0)
    check(len(reqs) == 2 and all(is_patch(r, {"lastname": "Carter-Smith"}) for r in reqs),
          "503, then the same PATCH again: %d requests" % len(reqs))
    check(dv.patches_applied.count({"lastname": "Carter-Smith"}) == 1,
          "one PATCH applied")
    check(sql("SELECT count(*) FROM dead_letter WHERE adapter = 'crm'") == "0",
          "nothing dead-lettered")


def give_up():
    # Dataverse busy for all max_attempts (4) tries: the adapter gives up with NACK retry, never
    # an ACK; the hub delivers the event again and the fifth request is answered.
    n0 = dv.count()
    busy = (503, b'{"error":{"code":"0x80072321","message":"busy"}}', {})
    dv.answer_next(busy, busy, busy, busy)
    sc_person("Carter-Busy")
    reqs = next_requests(n0, 5, "the PATCH tried 4 times, then again on the hub's redelivery")
    seq = last_to_crm("person.changed")
    settled(seq, "the PATCH answered at the redelivery")
    check(len(dv.since(n0)) == 5 and all(is_patch(r, {"lastname": "Carter-Busy"}) for r in reqs),
          "4 tries, the hub's redelivery, one more: %d requests" % len(dv.since(n0)))
    check(sql("SELECT count(*) FROM dead_letter WHERE adapter = 'crm'") == "0",
          "not dead-lettered")
    check(dv.patches_applied[-1] == {"lastname": "Carter-Busy"}, "applied once it was answered")


REFUSAL = "The last name is locked by a business rule"


def reject():
    n0 = dv.count()
    dv.answer_next((400, json.dumps({"error": {"code": "0x80040265", "message": REFUSAL}})
                    .encode(), {}))
    sc_person("Carter-Reject")
    reason = wait_for("the dead letter of the refused PATCH", lambda: sql(
        "SELECT reason FROM dead_letter WHERE adapter = 'crm' AND subscription = '%s'" % SUB))
    check(reason == "Dataverse refused it (HTTP 400): " + REFUSAL,
          "the hub has a NACK reject with Dataverse's words: %r" % reason)
    check(sql("SELECT d.type || ' ' || d.attempts FROM dead_letter d WHERE adapter = 'crm'")
          == "person.changed 1", "dead-lettered at its first attempt: no retry of a 400")
    reqs = dv.since(n0)
    check(len(reqs) == 1 and is_patch(reqs[0], {"lastname": "Carter-Reject"}),
          "one request: %r" % reqs)


def correction():
    # The CRM changes the family name, which social care owns: refused, and the CRM is sent the
    # owner's value, which is written back to it.
    n0 = dv.count()
    body = contact_update([("lastname", "Smith")], "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9")
    check(webhook(body) == 200, "the CRM's change of the family name is answered")
    reqs = next_requests(n0, 1, "the PATCH of the correction")
    check(is_patch(reqs[0], {"lastname": "Carter-Reject"}),
          "person.correction: PATCH lastname back to the owner's value: %r" % (reqs[0],))
    settled(last_to_crm("person.correction"), "the correction")


def no_echo():
    # The CRM's own phone change: the hub sends it to the others, not back to the CRM. A later
    # change of the same person comes after anything the hub would have sent the CRM about the
    # phone (one entity's events in order), so its PATCH must be the very next request.
    n0 = dv.count()
    check(webhook(sample("contact_update_phone.json")) == 200, "the CRM's phone change is taken")
    check(sql("SELECT g.fields->'telecom.phone'->>'v' FROM golden_person g JOIN xref x ON "
              "x.master_id = g.master_id WHERE x.system = 'crm' AND x.local_id = '%s'" % CONTACT)
          == "01134960999", "the golden record has the CRM's phone")
    sc_person("Carter-Final")
    reqs = next_requests(n0, 1, "the PATCH of the later change")
    check(is_patch(reqs[0], {"lastname": "Carter-Final"}),
          "the next request is social care's later change, not the CRM's phone: %r" % (reqs[0],))
    settled(last_to_crm("person.changed"), "the later change")
    check(not any(b"telephone1" in r[3] for r in dv.since(0)), "no telephone1 ever written back")


def notes():
    n0 = dv.count()
    sc_case(case_pb2.CASE_OPEN, team="Hospital Discharge Team", opened_on="2026-12-01")
    reqs = next_requests(n0, 1, "the note for the opened case")
    method, path, hdrs, raw = reqs[0]
    note = json.loads(raw)
    check(method == "POST" and path == "/api/data/v9.2/annotations"
          and hdrs.get("Authorization") == "Bearer " + TOKEN,
          "POST /api/data/v9.2/annotations (%s %s)" % (method, path))
    check(note.get("objectid_contact@odata.bind") == "/contacts(%s)" % CONTACT,
          "on the CRM's contact: %r" % note.get("objectid_contact@odata.bind"))
    check(note.get("subject", "").startswith("Social care case C")
          and note.get("subject", "").endswith(": open"), "subject %r" % note.get("subject"))
    check("Hospital Discharge Team" in note.get("notetext", "")
          and "opened on 2026-12-01" in note.get("notetext", ""), "notetext %r"
          % note.get("notetext"))
    settled(last_to_crm("case.changed"), "the note")

    n0 = dv.count()
    sc_case(case_pb2.CASE_CLOSED, closed_on="2026-12-06", closure_reason="needs met")
    reqs = next_requests(n0, 1, "the note for the closed case")
    note = json.loads(reqs[0][3])
    check(note.get("subject", "").endswith(": closed") and "needs met" in note.get("notetext", ""),
          "the closure is a second note: %r" % note)
    settled(last_to_crm("case.changed"), "the second note")


def crm_log_has(text):
    with open(os.path.join(E2E_DIR, "crm.log"), errors="replace") as f:
        return text in f.read()


def restart():
    # The hub dies while Dataverse holds a PATCH: the delivery goes down with the session and the
    # restarted hub delivers it again. The adapter keeps its one request (no second PATCH) and
    # settles the new delivery once Dataverse answers.
    dv.gate = threading.Event()
    sc_person("Carter-Restart")
    seq = wait_for("the person.changed", lambda: last_to_crm("person.changed") > acked()
                   and last_to_crm("person.changed"))
    next_requests(0, 1, "the PATCH, held by Dataverse")
    open(os.path.join(E2E_DIR, "inflight"), "w").close()
    wait_for("the shell to restart the hub", lambda: os.path.exists(
        os.path.join(E2E_DIR, "restarted")), timeout_s=90)
    wait_for("joinery-crm to see the redelivery", lambda: crm_log_has(
        "write-back: seq %d delivered again" % seq), timeout_s=60)
    check(acked() < seq, "not settled while Dataverse holds the request")
    dv.gate.set()
    settled(seq, "the redelivered event, once Dataverse answered")
    reqs = dv.since(0)
    check(len(reqs) == 1 and is_patch(reqs[0], {"lastname": "Carter-Restart"}),
          "one PATCH across the hub's restart: %d" % len(reqs))


if PHASE == "restart":
    J.run_scenarios([restart])
else:
    J.run_scenarios([link, rename, retry, give_up, reject, correction, no_echo, notes])
sc.close()
finish("crm_writeback_check " + PHASE)
