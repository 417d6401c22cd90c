"""crm_check.py SCENARIO HTTP_PORT CONNINFO E2E_DIR - one scenario of test_crm_webhook.sh.

Dataverse's side is Python's own urllib (written by no one here) POSTing the
RemoteExecutionContext samples of tests/data/crm to joinery-crm; the hub's side is read from
PostgreSQL (the journal, the golden records and the cross-reference)."""
import json
import os
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402,F401  (sets up the generated classes' path)
from pyjoinery import Sql, check, finish  # noqa: E402
from joinery.v1 import crm_pb2, envelope_pb2  # noqa: E402

SCENARIO, HTTP_PORT, CONNINFO, E2E_DIR = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
URL = "http://127.0.0.1:%d/dataverse/webhook" % HTTP_PORT
KEY = "k3y-for-the-crm-webhook-0123456789"
DATA = os.path.join(os.environ["JOINERY_SOURCE_DIR"], "tests", "data", "crm")
CONTACT = "6d1c2b3a-8f7e-ee11-9ae6-000d3a0b1c2d"
sql = Sql(CONNINFO)


def sample(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def post(body, key=KEY, url=URL, timeout=30, headers=None):
    """(status, headers, parsed JSON or raw bytes) of one POST, as Dataverse sends it."""
    h = {"Content-Type": "application/json", "x-ms-dynamics-organization": "leedscc.crm11"}
    if key is not None:
        h["x-joinery-key"] = key
    h.update(headers or {})
    req = urllib.request.Request(url, data=body, method="POST", headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    try:
        return status, hdrs, json.loads(raw) if raw else None
    except ValueError:
        return status, hdrs, raw


def journal_total():
    return int(sql("SELECT count(*) FROM journal WHERE source = 'crm'"))


def journal_like(prefix):
    return int(sql("SELECT count(*) FROM journal WHERE source = 'crm' AND event_id LIKE '%s%%'"
                   % prefix))


def golden(local, field):
    return sql("SELECT coalesce(g.fields->'%s'->>'v', '-') FROM xref x JOIN golden_person g "
               "ON g.master_id = x.master_id WHERE x.system = 'crm' AND x.local_id = '%s'"
               % (field, local))


def ok_answer(got, what, status="ok"):
    code, hdrs, body = got
    check(code == 200 and hdrs.get("Content-Type", "").startswith("application/json")
          and isinstance(body, dict) and body.get("status") == status
          and body.get("event_id", "").startswith("crm-"),
          "%s: 200 {\"status\": \"%s\"} with the event id (%s %r)" % (what, status, code, body))
    return body


def error_answer(got, code, error, what):
    status, hdrs, body = got
    check(status == code and hdrs.get("Content-Type", "").startswith("application/json")
          and isinstance(body, dict) and body.get("error") == error and body.get("message"),
          "%s: %d {\"error\": \"%s\", \"message\": ...} (%s %r)" % (what, code, error, status, body))


# ---- scenarios -------------------------------------------------------------------------------

def create():
    body = ok_answer(post(sample("contact_create.json")), "a contact Create")
    # The 200 comes only once the hub has the event: the journal and the golden record hold it
    # the moment the answer is read.
    check(int(sql("SELECT count(*) FROM journal WHERE source = 'crm' AND event_id = '%s' AND "
                  "type = 'person.updated'" % body["event_id"])) == 1,
          "the journal holds its person.updated when the answer comes")
    master = sql("SELECT master_id FROM xref WHERE system = 'crm' AND local_id = '%s'" % CONTACT)
    check(master and body["master_id"] == master and body["dropped"] == [],
          "the answer names the golden record %s and drops nothing (%r)" % (master, body))
    check(golden(CONTACT, "name.family") == "Carter" and golden(CONTACT, "telecom.phone")
          == "01134960000" and golden(CONTACT, "nhs_number") == "9434765919"
          and golden(CONTACT, "birth_date") == "1975-06-02"
          and golden(CONTACT, "address.home.postcode") == "LS6 3AA",
          "the golden record has the contact's name, phone, NHS number, birth date, postcode")


def update():
    ok_answer(post(sample("contact_update_phone.json")), "an Update with only telephone1")
    check(golden(CONTACT, "telecom.phone") == "01134960999",
          "the golden record's phone is the new one (%s)" % golden(CONTACT, "telecom.phone"))
    check(golden(CONTACT, "name.family") == "Carter"
          and golden(CONTACT, "birth_date") == "1975-06-02",
          "and what the Update did not carry is unchanged")


def duplicate():
    before = journal_total()
    body = ok_answer(post(sample("contact_update_phone.json")),
                     "the same POST again (Dataverse's retry)", status="duplicate")
    check(journal_total() == before and journal_like(body["event_id"]) == 1,
          "the journal is unchanged: still one row for %s" % body["event_id"])


def invalid():
    before = journal_total()
    error_answer(post(b'{"MessageName": "Create", "PrimaryEntityName": '), 400, "malformed",
                 "malformed JSON")
    error_answer(post(sample("account_create.json")), 422, "unmappable", "an account")
    body = sample("contact_bad_values.json")
    error_answer(post(body, key=None), 401, "unauthorized", "no webhook key")
    error_answer(post(body, key="k3y-for-the-crm-webhook-012345678"), 401, "unauthorized",
                 "a key one character short")
    error_answer(post(body, key=KEY + "x"), 401, "unauthorized", "a key one character long")
    error_answer(post(body, key="x" * len(KEY)), 401, "unauthorized", "a wrong key")
    error_answer(post(body, url="http://127.0.0.1:%d/webhook" % HTTP_PORT), 404, "not-found",
                 "another path")
    status, _, answer = post(sample("contact_delete.json"))
    check(status == 200 and answer.get("status") == "ignored"
          and "no deletions" in answer.get("reason", ""),
          "a Delete: 200 {\"status\": \"ignored\"} saying why (%s %r)" % (status, answer))
    check(journal_total() == before, "none of them was published")
    check(sql("SELECT count(*) FROM xref WHERE system = 'crm' AND local_id = "
              "'0a1b2c3d-4e5f-ee11-9ae6-000d3a0b1c2d'") == "0",
          "the contact sent without the key is not known to the hub")


def incident():
    body = ok_answer(post(sample("incident_create.json")), "an incident Create")
    raw = sql("SELECT encode(envelope, 'hex') FROM journal WHERE source = 'crm' AND "
              "event_id = '%s' AND type = 'crm.service_request.created'" % body["event_id"])
    check(raw != "", "the journal holds crm.service_request.created")
    env = envelope_pb2.Envelope()
    env.ParseFromString(bytes.fromhex(raw))
    sr = crm_pb2.ServiceRequest()
    sr.ParseFromString(env.payload)
    check(env.payload_type == "joinery.v1.ServiceRequest"
          and env.source_record_id == "8e9f0a1b-2c3d-ee11-9ae6-000d3a0b1c2d"
          and env.attributes["ticket"] == "CAS-01042-K9L2M3"
          and sr.contact_id == CONTACT and sr.status == "in-progress" and sr.channel == "web"
          and sr.description == "Missed bin collection, Park Row",
          "a ServiceRequest for the contact, with the ticket number (%r %r)"
          % (dict(env.attributes), sr))


def bad_values():
    local = "0a1b2c3d-4e5f-ee11-9ae6-000d3a0b1c2d"
    body = ok_answer(post(sample("contact_bad_values.json")), "a future birthdate, a bad postcode")
    dropped = sorted(d["attribute"] for d in body["dropped"])
    check(dropped == ["address1_postalcode", "birthdate"]
          and all(d["reason"] for d in body["dropped"]),
          "the answer names both attributes as dropped, with why (%r)" % body["dropped"])
    check(golden(local, "name.family") == "Nowak" and golden(local, "birth_date") == "-"
          and golden(local, "address.home.postcode") == "-" and golden(local, "sex") == "male",
          "the golden record has the rest, without the birth date and the postcode")


def durable_body():
    """A contact of its own, so its rows are told apart from the rest."""
    body = sample("contact_create.json")
    body = body.replace(b"9f3c2b1a-4e5d-4c6b-8a7f-1e2d3c4b5a69",
                        b"11112222-3333-4444-8555-666677778888")
    body = body.replace(b"943 476 5919", b"944 930 5552").replace(b"Carter", b"Durand")
    return body.replace(CONTACT.encode(), b"99998888-7777-4666-9555-444433332222")


def durable_first():
    started = time.time()
    status, hdrs, body = post(durable_body(), timeout=60)
    took = time.time() - started
    check(status == 503 and hdrs.get("Retry-After") and isinstance(body, dict)
          and body.get("error") == "unavailable",
          "the hub killed before its CONFIRM: no 2xx but 503 with Retry-After (%s %r)"
          % (status, body))
    check(took >= 2.5, "only once answer_timeout_ms has passed (%.1f s)" % took)
    check(journal_like("crm-11112222-3333-4444-8555-666677778888-") == 0,
          "and the journal does not have it")


def durable_retry():
    body = post(durable_body(), timeout=60)[2]
    check(isinstance(body, dict) and body.get("status") in ("ok", "duplicate"),
          "the hub back, Dataverse's retry: 200 (%r)" % (body,))
    check(journal_like("crm-11112222-3333-4444-8555-666677778888-") == 1,
          "the journal holds it exactly once")
    check(golden("99998888-7777-4666-9555-444433332222", "name.family") == "Durand",
          "and the golden record has it")


{"create": create, "update": update, "duplicate": duplicate, "invalid": invalid,
 "incident": incident, "bad_values": bad_values, "durable_first": durable_first,
 "durable_retry": durable_retry}[SCENARIO]()
finish("crm_check " + SCENARIO)
