"""cli_tail_check.py ACTION ... - the checks of test_cli_tail.sh that read JSON, HTTP and
Prometheus text (the script runs the processes):

  publish ENDPOINT OUT          publishes the residents (below) as socialcare and crm through the
                                hub; writes {local id: {master_id, status, seq, person}} to OUT
  decoded TAIL PUBLISHED        every person.updated line of `joinery tail` has its payload
                                decoded to the fields that were published, and the envelope's
  raw TAIL                      `tail --raw`: the old form, payload_b64 that parses as a Person
  no-ephemeral URL TOKEN        the admin API lists no tail-eph-* subscription
  ephemeral-connected URL TOKEN exits 0 when a tail-eph-* subscription is connected
  status-json FILE TABLE        `status --admin --json` and its table say the same
  decisions URL TOKEN DB SPEC   /metrics' joinery_master_decisions_total equals SPEC
                                ("person/create=3,person/link=1,...", others 0) and the
                                database's count of master_audit rows

Residents: Ann (socialcare SC-1, NHS number), the same Ann from the CRM (CRM-1: links by NHS
number), Brian (SC-2), and Brian from the CRM at another postcode without an NHS number (CRM-2:
a record of its own and a pair for the steward)."""
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402
from joinery.v1 import protocol_pb2 as P  # noqa: E402

STATUS = {P.CONFIRM_OK: "OK", P.CONFIRM_DUPLICATE: "DUPLICATE", P.CONFIRM_REJECTED: "REJECTED"}
ANN_NHS = "9434765919"
RESIDENTS = [
    ("socialcare", "SC-1", dict(given="Ann", family="Smith", birth_date="1960-01-05", nhs=ANN_NHS,
                                postcode="LS1 4AP", phone="07700900001", sex=2)),
    ("crm", "CRM-1", dict(given="Ann", family="Smith", birth_date="1960-01-05", nhs=ANN_NHS)),
    ("socialcare", "SC-2", dict(given="Brian", family="Jones", birth_date="1971-03-02",
                                postcode="M1 1AE", sex=1)),
    ("crm", "CRM-2", dict(given="Brian", family="Jones", birth_date="1971-03-02",
                          postcode="LS6 2QT")),
]
SEX = {0: None, 1: "SEX_MALE", 2: "SEX_FEMALE"}


def fail(msg):
    print("cli_tail_check: " + msg, file=sys.stderr)
    sys.exit(1)


def expected_json(p):
    """The JSON a Person built by pyjoinery.person(**p) must decode to."""
    d = {}
    if p.get("nhs"):
        d["nhs_number"] = p["nhs"]
    d["name"] = {"given": [p["given"]], "family": p["family"]}
    d["birth_date"] = p["birth_date"]
    if SEX.get(p.get("sex", 0)):
        d["sex"] = SEX[p["sex"]]
    if p.get("postcode"):
        d["addresses"] = [{"use": "home", "lines": ["1 High Street"], "town": "Leeds",
                           "postcode": p["postcode"]}]
    if p.get("phone"):
        d["telecom"] = [{"system": "phone", "value": p["phone"], "use": "mobile"}]
    return d


def publish(ep, out):
    clients = {}
    res = {}
    for system, lid, p in RESIDENTS:
        if system not in clients:
            clients[system] = J.Client(ep, system)
            got = clients[system].hello()
            if got[0] != "WELCOME":
                fail("%s: no WELCOME: %r" % (system, got))
        c = clients[system]
        # One at a time: the order decides who links to whom.
        e = c.event("person.updated", record_id=lid, payload=J.person(**p),
                    payload_type="joinery.v1.Person")
        cf = c.publish_one(e, timeout_ms=30000)
        res[lid] = {"system": system, "status": STATUS.get(cf.status, "?"),
                    "master_id": cf.master_id, "seq": cf.seq, "event_id": e.event_id,
                    "person": p, "reason": cf.reason}
    json.dump(res, open(out, "w"))
    if any(v["status"] != "OK" for v in res.values()):
        fail("a resident was not confirmed: %r" % res)
    if res["CRM-1"]["master_id"] != res["SC-1"]["master_id"]:
        fail("Ann's CRM record did not link: %r" % res)
    if res["CRM-2"]["master_id"] == res["SC-2"]["master_id"]:
        fail("Brian's CRM record was linked, not queued: %r" % res)


def lines(path):
    return [json.loads(l) for l in open(path) if l.strip()]


def decoded(tail, published):
    pub = json.load(open(published))
    got = [l for l in lines(tail) if l["type"] == "person.updated"]
    by_id = {l["event_id"]: l for l in got}
    if len(got) != len(pub):
        fail("tail printed %d person.updated events, %d were published: %r"
             % (len(got), len(pub), got))
    for lid, v in pub.items():
        l = by_id.get(v["event_id"])
        if l is None:
            fail("event %s (%s) not in the tail's output" % (v["event_id"], lid))
        want = expected_json(v["person"])
        if l.get("payload") != want:
            fail("%s: payload %r, published %r" % (lid, l.get("payload"), want))
        if "payload_b64" in l:
            fail("%s: payload_b64 next to the decoded payload" % lid)
        for k, w in (("seq", v["seq"]), ("source", v["system"]), ("source_record_id", lid),
                     ("payload_type", "joinery.v1.Person"), ("type", "person.updated")):
            if l.get(k) != w:
                fail("%s: %s is %r, expected %r" % (lid, k, l.get(k), w))
        for k in ("attempt", "occurred_at", "received_at", "attributes", "correlation_id",
                  "causation_id", "master_id"):
            if k not in l:
                fail("%s: the envelope's %s is missing: %r" % (lid, k, l))
    # Derived events of other schema types are decoded too (PersonChanged and the like).
    for l in lines(tail):
        if l["type"] != "person.updated" and l.get("payload_type", "").startswith("joinery.v1."):
            if not isinstance(l.get("payload"), dict):
                fail("a %s (%s) was not decoded: %r" % (l["type"], l["payload_type"], l))


def raw(tail):
    got = lines(tail)
    if not got or any("payload_b64" not in l or "payload" in l for l in got):
        fail("tail --raw did not print payload_b64 only: %r" % got)
    import base64
    from joinery.v1 import person_pb2
    p = person_pb2.Person()
    p.ParseFromString(base64.b64decode(got[0]["payload_b64"]))
    if p.name.family not in ("Smith", "Jones"):
        fail("tail --raw: payload_b64 is not the Person published: %r" % p)


def call(url, token, path, raw_text=False):
    req = urllib.request.Request(url + path)
    req.add_header("Authorization", "Bearer " + open(token).read().strip())
    with urllib.request.urlopen(req, timeout=30) as r:
        body = r.read().decode()
    return body if raw_text else json.loads(body)


def eph_subs(url, token):
    return [s for s in call(url, token, "/api/v1/subscriptions")["subscriptions"]
            if s["name"].startswith("tail-eph-")]


def no_ephemeral(url, token):
    left = eph_subs(url, token)
    if left:
        fail("ephemeral subscriptions left behind: %r" % left)


def ephemeral_connected(url, token):
    sys.exit(0 if [s for s in eph_subs(url, token) if s["connected"]] else 1)


def status_json(path, table_path):
    d = json.load(open(path))
    table = open(table_path).read()
    if set(d) != {"ready", "adapters", "subscriptions"} or d["ready"].get("ready") is not True:
        fail("status --json: %r" % d)
    ad = {a["name"]: a for a in d["adapters"]}
    if set(ad) != {"socialcare", "crm", "ops"}:
        fail("status --json adapters: %r" % d["adapters"])
    if ad["socialcare"]["published"] != 2 or ad["crm"]["published"] != 2:
        fail("status --json: published counts %r" % d["adapters"])
    for a in d["adapters"]:
        for k in ("connected", "last_seen_us", "published_per_s", "delivered_per_s"):
            if k not in a:
                fail("status --json: adapter without %s: %r" % (k, a))
        row = re.search(r"^%s +(yes|no) +(\S+ \S+|never) +(\S+) +(\S+) +(\d+) +(\d+)" % a["name"],
                        table, re.M)
        if not row:
            fail("status table: no row for adapter %s:\n%s" % (a["name"], table))
        if row.group(1) != ("yes" if a["connected"] else "no") or int(row.group(5)) != a["published"]:
            fail("status table and --json disagree on %s:\n%s\n%r" % (a["name"], table, a))
        if (a["last_seen_us"] > 0) != (row.group(2) != "never"):
            fail("status table: last seen of %s: %s vs %r" % (a["name"], row.group(2), a))
    subs = {(s["adapter"], s["name"]): s for s in d["subscriptions"]}
    w = subs.get(("ops", "watch"))
    if w is None:
        fail("status --json: no ops/watch: %r" % d["subscriptions"])
    for k in ("acked_seq", "events_waiting", "in_flight", "retries", "dead_letters"):
        if k not in w:
            fail("status --json: ops/watch without %s: %r" % (k, w))
    if w["acked_seq"] <= 0 or w["events_waiting"] <= 0 or w["connected"]:
        fail("status --json: ops/watch %r" % w)
    row = re.search(r"^ops/watch +no +(\d+) +(\d+)[~ ] +(\d+) +(\d+) +(\d+) +(\d+)", table, re.M)
    if not row or [int(x) for x in row.groups()] != [
            w["acked_seq"], w["events_waiting"], w["in_flight"], w["retrying"], w["retries"],
            w["dead_letters"]]:
        fail("status table's ops/watch row does not say what --json does:\n%s\n%r" % (table, w))
    if not re.search(r"^database ready +dead letters 0$", table, re.M):
        fail("status table's first line:\n%s" % table)


def decisions(url, token, db, spec):
    text = call(url, token, "/metrics", raw_text=True)
    got = {}
    for m in re.finditer(r'^joinery_master_decisions_total\{entity="([a-z_]+)",'
                         r'outcome="([a-z_]+)"\} (\d+)$', text, re.M):
        got[(m.group(1), m.group(2))] = int(m.group(3))
    if not got:
        fail("no joinery_master_decisions_total samples in /metrics")
    want = {}
    for item in spec.split(","):
        k, v = item.split("=")
        e, o = k.split("/")
        want[(e, o)] = int(v)
    for k in set(got) | set(want):
        if got.get(k, 0) != want.get(k, 0):
            fail("decisions %s/%s: /metrics says %d, expected %d (all: %r)"
                 % (k[0], k[1], got.get(k, 0), want.get(k, 0), got))
    # The database holds the same decisions.
    out = subprocess.run([os.environ.get("PSQL", "psql"), "-X", "-At", "-F", " ", db, "-c",
                          "SELECT coalesce(detail->>'entity', 'person'), action, count(*) "
                          "FROM master_audit GROUP BY 1, 2"],
                         check=True, capture_output=True, text=True).stdout
    stored = {}
    for line in out.split("\n"):
        if line.strip():
            e, a, n = line.split(" ")
            stored[(e, a)] = int(n)
    for k in set(got) | set(stored):
        if got.get(k, 0) != stored.get(k, 0):
            fail("decisions %s/%s: /metrics says %d, master_audit holds %d"
                 % (k[0], k[1], got.get(k, 0), stored.get(k, 0)))
    # Nothing but person outcomes in this test, and every person outcome shown from 0.
    for o in ("create", "link", "update", "queue", "merge", "keep_apart"):
        if ("person", o) not in got:
            fail("person/%s is not shown (at 0) before it happens: %r" % (o, sorted(got)))


def main():
    a = sys.argv[1:]
    if a[0] == "publish":
        publish(a[1], a[2])
    elif a[0] == "decoded":
        decoded(a[1], a[2])
    elif a[0] == "raw":
        raw(a[1])
    elif a[0] == "no-ephemeral":
        no_ephemeral(a[1], a[2])
    elif a[0] == "ephemeral-connected":
        ephemeral_connected(a[1], a[2])
    elif a[0] == "status-json":
        status_json(a[1], a[2])
    elif a[0] == "decisions":
        decisions(a[1], a[2], a[3], a[4])
    else:
        fail("unknown action %s" % a[0])


if __name__ == "__main__":
    main()
