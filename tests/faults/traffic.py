#!/usr/bin/python3
"""traffic.py - the fault suite's traffic generator: four council systems, each speaking its own
language to its real adapter, while tests/faults/run.sh injects faults.

  traffic.py DIR MLLP_PORT CRM_PORT SC_PORT AGRESSO_IN_DIR

  health      HL7 v2 ADT^A31 over MLLP (a raw socket, the framing of the standard), patients
              RR8-F-<i>; accepted = an ACK with MSA-1 AA
  crm         Dataverse RemoteExecutionContext webhooks: a contact Create, then Updates;
              accepted = 2xx (the answer names the event id)
  socialcare  REST: POST /people, and every fourth step of a person POST /cases for her case;
              accepted = 2xx (the answer names the event id)
  agresso     customer-master CSV exports of 20 rows, one at a time, moved into the watched
              directory; accepted = the file moved to done/ (rows in its .errors.csv excepted)

Each system sends one message at a time and sends the same message again, byte for byte, until
it is accepted, as these systems do: an HL7 sender on a NAK (AE/AR), a timeout or a broken
connection; Dataverse and the case system on a 5xx, a timeout or a refused connection. A
person's next change is sent only after the one before it was accepted, so per person the
order accepted is the order sent. Stops making new messages when DIR/stop-traffic exists,
finishes the ones in hand, and writes DIR/accepted.jsonl (one line per accepted message:
source, record, event id or, for HL7, the event id's prefix) and DIR/traffic.json (how many of
each answer). FAULTS_RATE (default 15) is messages per second per system.
"""
import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
import hashlib

DIR, MLLP_PORT, CRM_PORT, SC_PORT, AGR_IN = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4]), sys.argv[5]
RATE = float(os.environ.get("FAULTS_RATE", "15"))
DRAIN_S = float(os.environ.get("FAULTS_DRAIN_S", "150"))
CRM_KEY = "k3y-for-the-crm-webhook-0123456789"
SC_KEY = "k3y-for-the-case-system-0123456789"
PEOPLE = 60  # per system; NHS numbers shared by the trust's and social care's first 20

STOP = os.path.join(DIR, "stop-traffic")
lock = threading.Lock()
acc_file = open(os.path.join(DIR, "accepted.jsonl"), "a", buffering=1)
stats = {}
failures = []
notes = {}
refusals_file = open(os.path.join(DIR, "refusals.log"), "a", buffering=1)
notes_file = open(os.path.join(DIR, "answers.log"), "a", buffering=1)


def count(what):
    """Counts an answer; one that is not "accepted" also goes to DIR/refusals.log with its time
    (run.sh checks what the systems were told while the disk was full)."""
    with lock:
        stats[what] = stats.get(what, 0) + 1
        if not (what.endswith(".AA") or ".http.2" in what or what == "agresso.files"):
            refusals_file.write("%.3f %s\n" % (time.time(), what))


def note(what):
    """The first answers of each kind that were not "accepted", kept for the report."""
    key = what[:40]
    with lock:
        if notes.get(key, 0) < 3:
            notes[key] = notes.get(key, 0) + 1
            notes_file.write("%.3f %s\n" % (time.time(), what[:600]))


def accepted(source, record, event_id, prefix=False):
    with lock:
        acc_file.write(json.dumps({"source": source, "record": record, "event_id": event_id,
                                   "prefix": prefix, "t": time.time()}) + "\n")
        stats[source + ".accepted"] = stats.get(source + ".accepted", 0) + 1


def stopping():
    return os.path.exists(STOP)


def nhs(i):
    """A valid NHS number (modulus 11), distinct for each i < 1000."""
    k = 0
    while True:
        base = "%09d" % (400000000 + i * 1000 + k)
        total = sum(int(d) * (10 - n) for n, d in enumerate(base))
        check = (11 - total % 11) % 11
        if check != 10:
            return base + str(check)
        k += 1


GIVEN = ["Ann", "Bob", "Cara", "Dev", "Ewa", "Finn", "Gita", "Hal", "Ines", "Joe"]
FAMILY = ["Smith", "Okafor", "Nowak", "Patel", "Byrne", "Lund", "Moreau", "Quinn", "Roth",
          "Silva", "Tanaka", "Umar"]
POSTCODES = ["LS1 4AP", "LS2 7HY", "M1 1AE", "B33 8TH", "CR2 6XH", "LS6 2QT"]


def who(system, i):
    """Person i of a system: names differ between systems except for the shared NHS numbers."""
    k = i + {"health": 0, "crm": 101, "socialcare": 0, "agresso": 211}[system]
    return (GIVEN[k % len(GIVEN)], FAMILY[(k // len(GIVEN)) % len(FAMILY)] + "-" + system[:2] +
            str(i), "%04d-%02d-%02d" % (1930 + k % 60, 1 + k % 12, 1 + k % 28))


def pace(t0, n):
    """Sleeps until message n is due at RATE per second."""
    due = t0 + n / RATE
    left = due - time.time()
    if left > 0:
        time.sleep(left)


def until_accepted(name, attempt):
    """Calls attempt() until it returns True; False if the drain deadline passed first."""
    deadline = None
    while True:
        if stopping() and deadline is None:
            deadline = time.time() + DRAIN_S
        try:
            if attempt():
                return True
        except Exception as e:  # noqa: BLE001 - every failure is a retry, and counted
            count("%s.error.%s" % (name, type(e).__name__))
        if deadline is not None and time.time() > deadline:
            failures.append("%s: a message was still not accepted %.0f s after the faults" %
                            (name, DRAIN_S))
            return False
        time.sleep(0.2)


# ---- health: HL7 v2 over MLLP ---------------------------------------------------------------
SB, EB = b"\x0b", b"\x1c\r"


def health():
    conn = [None]
    buf = [b""]

    def connect():
        s = socket.create_connection(("127.0.0.1", MLLP_PORT), timeout=5)
        s.settimeout(10)
        conn[0], buf[0] = s, b""

    def drop():
        if conn[0] is not None:
            conn[0].close()
        conn[0] = None

    def ack_of(raw):
        if conn[0] is None:
            connect()
        conn[0].sendall(SB + raw + EB)
        while EB not in buf[0]:
            chunk = conn[0].recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            buf[0] += chunk
        frame, buf[0] = buf[0].split(EB, 1)
        text = frame.lstrip(SB).decode("utf-8", "replace")
        code = "?"
        for seg in text.split("\r"):
            if seg.startswith("MSA|"):
                code = seg.split("|")[1]
        if code != "AA":
            note("health: %s" % text.replace("\r", " | "))
        return code

    t0, n = time.time(), 0
    while not stopping():
        i = n % PEOPLE
        v = n // PEOPLE
        given, family, dob = who("health", i)
        cid = "F%d" % n
        ids = "RR8-F-%d^^^RR8^MR" % i + ("~%s^^^NHS^NH" % nhs(i) if i < 20 else "")
        raw = ("MSH|^~\\&|PAS|RR8|JOINERY|LCC|20240301093000||ADT^A31^ADT_A05|%s|P|2.5\r"
               "EVN|A31|20240301093000\r"
               "PID|1||%s||%s^%s^^^^^L||%s|F|||%d High Street^^Leeds^^%s^GBR^H||0113 496 %04d\r"
               % (cid, ids, family, given, dob.replace("-", ""), v + 1,
                  POSTCODES[i % len(POSTCODES)], n % 10000)).encode()

        def attempt():
            try:
                code = ack_of(raw)
            except (OSError, ConnectionError):
                drop()
                raise
            count("health.ack." + code)
            return code == "AA"

        if until_accepted("health", attempt):
            accepted("health", "RR8-F-%d" % i, "hl7-RR8-%s-" % cid, prefix=True)
        n += 1
        pace(t0, n)
    drop()


# ---- crm and socialcare: HTTP POSTs ---------------------------------------------------------
def post(url, body, headers):
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def http_until(name, url, body, headers, record):
    def attempt():
        status, raw = post(url, body, headers)
        count("%s.http.%d" % (name, status))
        if not 200 <= status < 300:
            note("%s: %d %s" % (name, status, raw[:300]))
        if 200 <= status < 300:
            accepted(name, record, json.loads(raw)["event_id"])
            return True
        if status < 500:  # a refusal, not "try again": the message is wrong, a test defect
            failures.append("%s: %d %s" % (name, status, raw[:300]))
            return True
        return False

    until_accepted(name, attempt)


def dv_date(iso):
    t = time.mktime(time.strptime(iso, "%Y-%m-%d")) - time.timezone
    return "/Date(%d)/" % (int(t) * 1000)


def crm():
    url = "http://127.0.0.1:%d/dataverse/webhook" % CRM_PORT
    h = {"Content-Type": "application/json", "x-joinery-key": CRM_KEY}
    t0, n = time.time(), 0
    while not stopping():
        i = n % PEOPLE
        v = n // PEOPLE
        given, family, dob = who("crm", i)
        cid = "00000000-0000-4000-8000-%012x" % (0xfa000 + i)
        attrs = [{"key": "telephone1", "value": "0113 496 %04d" % (n % 10000)},
                 {"key": "address1_line1", "value": "%d Park Row" % (v + 1)},
                 {"key": "contactid", "value": cid}]
        if v == 0:
            attrs += [{"key": "firstname", "value": given}, {"key": "lastname", "value": family},
                      {"key": "birthdate", "value": dv_date(dob)},
                      {"key": "address1_city", "value": "Leeds"},
                      {"key": "address1_postalcode", "value": POSTCODES[i % len(POSTCODES)]}]
        body = json.dumps({
            "CorrelationId": str(uuid.uuid4()), "MessageName": "Create" if v == 0 else "Update",
            "PrimaryEntityName": "contact", "PrimaryEntityId": cid, "Depth": 1, "Stage": 40,
            "InputParameters": [{"key": "Target", "value": {
                "__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts",
                "Attributes": attrs, "Id": cid, "LogicalName": "contact"}}],
            "OperationCreatedOn": "/Date(%d)/" % int(time.time() * 1000),
            "RequestId": str(uuid.uuid4()), "PostEntityImages": [], "PreEntityImages": []
        }).encode()
        http_until("crm", url, body, h, cid)
        n += 1
        pace(t0, n)


def socialcare():
    base = "http://127.0.0.1:%d" % SC_PORT
    h = {"Content-Type": "application/json", "x-joinery-key": SC_KEY}
    t0, n = time.time(), 0
    while not stopping():
        i = n % PEOPLE
        v = n // PEOPLE
        given, family, dob = who("socialcare", i)
        pid = "LL-F%d" % i
        if v % 4 == 1:
            body = {"case_id": "CASE-F%d" % i, "person_id": pid, "status": "open",
                    "opened_on": "2026-12-01", "team": "Team %d" % v,
                    "lead_worker": "Worker %d" % n}
            http_until("socialcare", base + "/cases", json.dumps(body).encode(), h,
                       "CASE-F%d" % i)
        else:
            body = {"person_id": pid, "name": {"given": [given], "family": family},
                    "birth_date": dob, "sex": "female",
                    "address": {"lines": ["%d Mill Lane" % (v + 1)], "town": "Leeds",
                                "postcode": POSTCODES[i % len(POSTCODES)]},
                    "phone": "0113 496 %04d" % (n % 10000)}
            if i < 20:
                body["nhs_number"] = nhs(i)
            http_until("socialcare", base + "/people", json.dumps(body).encode(), h, pid)
        n += 1
        pace(t0, n)


# ---- agresso: files ----------------------------------------------------------------------------
AGR_HEADER = "customer_id,name,given_name,family_name,date_of_birth,address_line1,address_line2," \
    "town,postcode,phone,email,nhs_number\r\n"
ROWS = 20


def agresso():
    stage = os.path.join(DIR, "agresso-stage")
    os.makedirs(stage, exist_ok=True)
    done = os.path.join(AGR_IN, "done")
    t0, n, f = time.time(), 0, 0
    while not stopping():
        name = "customers-%04d.csv" % f
        lines, recs = [AGR_HEADER], []
        for r in range(ROWS):
            i = (n + r) % PEOPLE
            v = (n + r) // PEOPLE
            given, family, dob = who("agresso", i)
            cust = "C-F%d" % i
            lines.append("%s,%s %s,%s,%s,%s,%d Station Road,,Leeds,%s,,,\r\n" %
                         (cust, given, family, given, family, dob, v + 1,
                          POSTCODES[i % len(POSTCODES)]))
            recs.append((r + 2, cust))
        data = "".join(lines).encode()
        with open(os.path.join(stage, name), "wb") as fh:
            fh.write(data)
        os.rename(os.path.join(stage, name), os.path.join(AGR_IN, name))
        sha = hashlib.sha256(data).hexdigest()[:32]

        def attempt():
            return os.path.exists(os.path.join(done, name))

        if until_accepted("agresso", attempt):
            refused = set()
            report = os.path.join(done, name + ".errors.csv")
            if os.path.exists(report):
                with open(report) as fh:
                    for row in fh.readlines()[1:]:
                        refused.add(int(row.split(",")[0]))
                failures.append("agresso: %s had refused rows %s" % (name, sorted(refused)))
            for line, cust in recs:
                if line not in refused:
                    accepted("agresso", cust, "agr-%s-%d" % (sha, line))
            count("agresso.files")
        n += ROWS
        f += 1
        pace(t0, n)


def main():
    threads = [threading.Thread(target=fn, name=fn.__name__, daemon=True)
               for fn in (health, crm, socialcare, agresso)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(os.path.join(DIR, "traffic.json"), "w") as fh:
        json.dump({"answers": stats, "failures": failures}, fh, indent=1, sort_keys=True)
    print("traffic: %s" % json.dumps(stats, sort_keys=True))
    for f in failures:
        print("traffic: FAILED: %s" % f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
