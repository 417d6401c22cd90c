"""fhir_check.py SCENARIO HTTP_PORT HUB_PORT CONNINFO E2E_DIR - one scenario of test_health_fhir.sh.

The trust's side is Python's own urllib (written by no one here) against joinery-health's FHIR
endpoint; the hub's side is read from PostgreSQL; another system (the CRM) is a raw protocol
client (pyjoinery.Client)."""
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402
from pyjoinery import Sql, check, finish, wait_for  # noqa: E402
from joinery.v1 import protocol_pb2 as P  # noqa: E402

SCENARIO, HTTP_PORT, HUB_PORT, CONNINFO, E2E_DIR = sys.argv[1], int(sys.argv[2]), \
    int(sys.argv[3]), sys.argv[4], sys.argv[5]
BASE = "http://127.0.0.1:%d" % HTTP_PORT
LOCAL_SYSTEM = "https://fhir.rr8.nhs.uk/Id/local-patient-identifier"
NHS = "9449305552"
FHIR_JSON = "application/fhir+json"
sql = Sql(CONNINFO)


def http(method, path, body=None, headers=None, timeout=30):
    """(status, headers, parsed JSON body or raw bytes) of one request."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=dict(
        {"Content-Type": FHIR_JSON} if data is not None else {}, **(headers or {})))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    try:
        return status, hdrs, json.loads(raw) if raw else None
    except ValueError:
        return status, hdrs, raw


def patient(local, nhs=NHS, family="Carter", given="Maya", phone=None, rid=None,
            birth="1975-06-02"):
    p = {"resourceType": "Patient",
         "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs},
                        {"system": LOCAL_SYSTEM, "value": local}],
         "name": [{"use": "official", "family": family, "given": [given]}],
         "gender": "female", "birthDate": birth,
         "address": [{"use": "home", "line": ["3 Park Row"], "city": "Leeds",
                      "postalCode": "LS1 5AB"}]}
    if phone:
        p["telecom"] = [{"system": "phone", "value": phone, "use": "home"}]
    if rid:
        p["id"] = rid
    return p


def journal(local):
    """person.updated events of the trust's LOCAL id (in the envelope's source_record_id)."""
    return int(sql("SELECT count(*) FROM journal WHERE source = 'health' AND event_id LIKE "
                   "'fhir-%%' AND type = 'person.updated' AND position(convert_to('%s', 'UTF8') "
                   "in envelope) > 0" % local))


def golden(local, field):
    return sql("SELECT coalesce(g.fields->'%s'->>'v', '-') FROM xref x JOIN golden_person g "
               "ON g.master_id = x.master_id WHERE x.system = 'health' AND x.local_id = '%s'"
               % (field, local))


def issues(body):
    return [(i.get("severity"), i.get("code"), (i.get("expression") or [""])[0])
            for i in (body or {}).get("issue", [])] if isinstance(body, dict) else []


def outcome(status, hdrs, body, want_status, what):
    check(status == want_status and hdrs.get("Content-Type", "").startswith(FHIR_JSON)
          and isinstance(body, dict) and body.get("resourceType") == "OperationOutcome",
          "%s: %d OperationOutcome (%s %s %r)" % (what, want_status, status,
                                                 hdrs.get("Content-Type"), body))


# ---- scenarios -------------------------------------------------------------------------------

def metadata():
    status, hdrs, body = http("GET", "/metadata")
    check(status == 200 and hdrs["Content-Type"].startswith(FHIR_JSON)
          and body["resourceType"] == "CapabilityStatement" and body["fhirVersion"] == "4.0.1",
          "GET /metadata: the CapabilityStatement as application/fhir+json")


def create():
    status, hdrs, body = http("POST", "/Patient", patient("RR8-F-1"))
    # The 201 comes only once the hub has the event: the journal and the golden record hold it
    # the moment the answer is read.
    check(journal("RR8-F-1") == 1, "POST /Patient: the journal holds its person.updated when the "
          "answer comes")
    check(golden("RR8-F-1", "nhs_number") == NHS, "and the golden record has its NHS number")
    master = sql("SELECT master_id FROM xref WHERE system = 'health' AND local_id = 'RR8-F-1'")
    check(status == 201 and hdrs["Location"].endswith("/Patient/" + master)
          and body["resourceType"] == "Patient" and body["id"] == master
          and hdrs.get("Warning") is None,
          "201 Created, Location /Patient/%s, the Patient as the golden record's (%s %s)"
          % (master, status, hdrs.get("Location")))
    with open(os.path.join(E2E_DIR, "master"), "w") as f:
        f.write(master)


def bad_nhs():
    # 9449305553: the check digit of 944930555 is 2. fhir_patient refuses the value alone.
    # Another person: sharing RR8-F-1's forename, birth date and home would (rightly) make her
    # RR8-F-1 under a new surname, and her golden record would then hold RR8-F-1's number.
    status, hdrs, body = http("POST", "/Patient", patient("RR8-F-2", nhs="9449305553",
                                                         family="Okafor", given="Ngozi",
                                                         birth="1981-11-23"),
                              headers={"Prefer": "return=OperationOutcome"})
    check(status == 201 and body["resourceType"] == "OperationOutcome"
          and any(i[2] == "Patient.identifier[0].value" for i in issues(body))
          and "1 value(s) not kept" in hdrs.get("Warning", ""),
          "a bad check digit: 201, the OperationOutcome names Patient.identifier[0].value and a "
          "Warning says so (%s %s %s)" % (status, hdrs.get("Warning"), issues(body)))
    check(golden("RR8-F-2", "nhs_number") == "-" and golden("RR8-F-2", "name.family") == "Okafor",
          "the golden record has the rest, without the NHS number")


def invalid():
    outcome(*http("POST", "/Patient", b"{not json"), 400, "not JSON")
    outcome(*http("POST", "/Patient", {"resourceType": "Observation", "status": "final"}), 400,
            "an Observation")
    no_local = patient("x")
    no_local["identifier"] = no_local["identifier"][:1]
    status, hdrs, body = http("POST", "/Patient", no_local)
    outcome(status, hdrs, body, 422, "a Patient without the trust's id")
    big = patient("RR8-F-BIG")
    big["text"] = {"status": "generated", "div": "x" * 70000}
    status, _, _ = http("POST", "/Patient", big)
    check(status == 413, "a body over max_body_bytes: 413 (%s)" % status)
    outcome(*http("PUT", "/Patient/other", patient("RR8-F-1", rid="RR8-F-1")), 400,
            "PUT with a resource id that is not the URL's")
    check(journal("RR8-F-BIG") == 0 and journal("x") == 0, "none of them was published")


def pgdown():
    pgctl = os.path.join(E2E_DIR, "pgctl.sh")
    subprocess.run([pgctl, "stop", "-m", "fast"], check=True)
    got = {}

    def post():
        got["answer"] = http("POST", "/Patient", patient("RR8-F-3", nhs="9434765803", family="Lee"), timeout=120)
    t = threading.Thread(target=post)
    try:
        t.start()
        t.join(3)
        check(t.is_alive(), "with the database stopped: no answer in 3 s")
    finally:
        subprocess.run([pgctl, "start"], check=True)
    t.join(120)
    status = got.get("answer", (None,))[0]
    check(status == 201, "once it is back: 201 (%s)" % status)
    check(journal("RR8-F-3") == 1, "journaled once")


def crm_change():
    master = open(os.path.join(E2E_DIR, "master")).read()
    crm = J.Client.curve("tcp://127.0.0.1:%d" % HUB_PORT, "crm", os.path.join(E2E_DIR, "keys"))
    cmd, _ = crm.hello()
    check(cmd == "WELCOME", "the CRM is welcome (%s)" % cmd)
    cf = crm.publish_one(crm.event("person.updated", "C-1", J.person(
        "Maya", "Carter", "1975-06-02", NHS, "LS1 5AB", phone="07700 900123"),
        "joinery.v1.Person"))
    check(cf.status == P.CONFIRM_OK and cf.master_id == master,
          "the CRM's record joins the same golden record (%s)" % cf.master_id)
    crm.close()
    version = sql("SELECT version FROM golden_person WHERE master_id = '%s'" % master)

    def seen():
        status, hdrs, body = http("GET", "/Patient/RR8-F-1")
        phones = [t["value"] for t in (body or {}).get("telecom", [])] if status == 200 else []
        return (status, body, hdrs) if "07700900123" in phones or "07700 900123" in phones \
            else None
    status, body, hdrs = wait_for("GET /Patient/RR8-F-1 to give the CRM's phone", seen)
    check(body["id"] == master and body["meta"]["versionId"] == version
          and hdrs["ETag"] == 'W/"%s"' % version,
          "GET /Patient/{trust id}: the new phone and meta.versionId %s (%s)"
          % (version, body["meta"]))
    ids = {i["system"]: i["value"] for i in body["identifier"]}
    check(ids.get("https://fhir.nhs.uk/Id/nhs-number") == NHS and ids.get(LOCAL_SYSTEM)
          == "RR8-F-1", "with the NHS number and the trust's id as identifiers: %s" % ids)
    status, _, by_master = http("GET", "/Patient/" + master)
    check(status == 200 and by_master == body, "GET /Patient/{master id}: the same Patient")
    search(master, version)
    outcome(*http("GET", "/Patient/RR8-NOBODY"), 404, "an unknown id")


def search(master, version):
    status, hdrs, b = http("GET", "/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number%7C" + NHS)
    check(status == 200 and hdrs["Content-Type"].startswith(FHIR_JSON)
          and b["resourceType"] == "Bundle" and b["type"] == "searchset" and b["total"] == 1
          and len(b["entry"]) == 1 and b["entry"][0]["resource"]["id"] == master
          and b["entry"][0]["resource"]["meta"]["versionId"] == version,
          "search by NHS number: a searchset Bundle with that one Patient")
    status, _, b = http("GET", "/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number%7C"
                        "9434765919")
    check(status == 200 and b["total"] == 0, "an NHS number nobody has: an empty Bundle")
    outcome(*http("GET", "/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number%7C123"), 400,
            "a search by an NHS number that cannot exist")


def persisted():
    master = open(os.path.join(E2E_DIR, "master")).read()
    version = sql("SELECT version FROM golden_person WHERE master_id = '%s'" % master)
    status, _, body = http("GET", "/Patient/RR8-F-1")
    phones = [t["value"] for t in body.get("telecom", [])] if status == 200 else []
    check(status == 200 and body["id"] == master and body["meta"]["versionId"] == version
          and "07700900123" in phones,
          "after a restart GET /Patient/RR8-F-1 still gives the phone and version %s (%s %s)"
          % (version, status, phones))
    search(master, version)


def hubdown():
    started = time.time()
    status, hdrs, body = http("POST", "/Patient", patient("RR8-F-4", family="Ng"), timeout=60)
    took = time.time() - started
    outcome(status, hdrs, body, 503, "with the hub away longer than answer_timeout_ms")
    check(hdrs.get("Retry-After") is not None and took >= 1.8,
          "with Retry-After, after the timeout (%.1f s)" % took)


{"metadata": metadata, "create": create, "bad_nhs": bad_nhs, "invalid": invalid,
 "pgdown": pgdown, "crm_change": crm_change, "persisted": persisted,
 "hubdown": hubdown}[SCENARIO]()
finish("fhir_check " + SCENARIO)
