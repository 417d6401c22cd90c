#!/usr/bin/env python3
"""admin_trace_check.py PHASE ENDPOINT CONNINFO ADMIN_URL

Phases of tests/e2e/test_admin_trace.sh, against a real joineryd and its
PostgreSQL (docs/operations.md, "Admin API": trace and the steward's reads):

  publish  social care and the CRM send Ann (linked by NHS number, both with
           correlation id corr-ann) and Brian (queued for a steward); a
           "billing" subscriber NACKs the CRM's Ann once (retry), then rejects
           it (a dead letter with its reason) and acks the rest; social care
           publishes an event it may not (refused). Writes the ids the other
           phases need to $E2E_DIR/trace_state.json.
  api      trace by event id, correlation id and master id; the steward queue,
           golden search and golden record; 400s, 401, 404.
  decide   a steward links Brian's pair through the API: the records are merged,
           the item LINKED, decided and audited under the token's name; a read
           token gets 403, bad bodies 400, a second link of the item 409.

Tokens (the test's hub.yaml): reader (read), steward-jo (steward)."""
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from pyjoinery import P, Client, Sql, check, finish, person, require, wait_for  # noqa: E402
from joinery.v1 import envelope_pb2 as E  # noqa: E402

PHASE, ENDPOINT, CONNINFO, URL = sys.argv[1:5]
READER = "reader-token-0123456789abcdef"
STEWARD = "steward-token-0123456789abcdef"
sql = Sql(CONNINFO)
STATE = os.path.join(os.environ["E2E_DIR"], "trace_state.json")
REJECT_REASON = "billing: no account for this person"


def call(path, token=READER, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method="POST" if data else "GET")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def client(name):
    c = Client(ENDPOINT, name)
    cmd, _ = c.hello()
    require(cmd == "WELCOME", "%s: WELCOME (got %s)" % (name, cmd))
    return c


def publish():
    billing = client("billing")
    cmd, m = billing.subscribe("inbox", ["person.*", "probe.*"])
    require(cmd == "SUBSCRIBED", "billing subscribes person.* (got %s %s)" % (cmd, m))
    sc, crm = client("socialcare"), client("crm")
    ids = {}
    for c, lid, p in [(sc, "SC-1", person("Ann", "Smith", "1960-01-05", "9434765919", "LS1 4AP")),
                      (sc, "SC-2", person("Brian", "Jones", "1971-03-02", postcode="M1 1AE")),
                      (crm, "CRM-1", person("Ann", "Smith", "1960-01-05", "9434765919",
                                            "LS1 4AP", phone="07700900123")),
                      (crm, "CRM-2", person("Brian", "Jones", "1971-03-02", postcode="LS6 2QT"))]:
        kw = {"correlation_id": "corr-ann"} if lid in ("SC-1", "CRM-1") else {}
        ev = c.event("person.updated", record_id=lid, payload=p,
                     payload_type="joinery.v1.Person", **kw)
        got = c.publish_one(ev, timeout_ms=30000)
        require(got.status == P.CONFIRM_OK, "%s confirmed OK (%s)" % (lid, got.reason))
        ids[lid] = {"event_id": ev.event_id, "master_id": got.master_id}
    refused = sc.event("crm.contact.created", record_id="X-1", correlation_id="corr-refused")
    got = sc.publish_one(refused)
    require(got.status == P.CONFIRM_REJECTED, "social care may not publish crm.*")
    ids["refused"] = {"event_id": refused.event_id}
    target = ids["CRM-1"]["event_id"]
    nacks = 0
    deadline = time.time() + 30
    while time.time() < deadline and nacks < 2:
        for g in billing.receive(lambda got: len(got) >= 1, "a delivery to billing", ack=False):
            if g.env.causation_id == target:
                nacks += 1
                billing.nack("inbox", g.delivery.seq, reject=nacks == 2,
                             reason="billing: not ready" if nacks == 1 else REJECT_REASON)
            else:
                billing.ack("inbox", [g.delivery.seq])
    require(nacks == 2, "the hub's person.changed for the CRM's Ann reached billing twice "
            "(NACK retry, then reject)")
    wait_for("the dead letter is stored",
             lambda: sql("SELECT count(*) FROM dead_letter") == "1")
    billing.sync("inbox")
    # The acked floor is saved every 200 ms: the trace reads it from the database.
    time.sleep(1.0)
    # The hub's own events and what caused them, from the journal.
    rows = sql("SELECT seq, encode(envelope, 'hex') FROM journal WHERE source = 'joinery' "
               "ORDER BY seq")
    derived = {}
    for line in rows.splitlines() if rows else []:
        seq, hexenv = line.split("|")
        env = E.Envelope()
        env.ParseFromString(bytes.fromhex(hexenv))
        derived.setdefault(env.causation_id, []).append(int(seq))
    ids["derived"] = derived
    ids["queue"] = sql("SELECT id FROM steward_queue WHERE state = 'OPEN'")
    json.dump(ids, open(STATE, "w"))
    print(json.dumps(ids))
    for c in (billing, sc, crm):
        c.close()


def trace(q):
    status, j = call("/api/v1/trace?" + urllib.parse.urlencode(q))
    require(status == 200, "trace %s: 200 (got %s %s)" % (q, status, j))
    return j


def api():
    ids = json.load(open(STATE))
    ann, brian_b = ids["CRM-1"], ids["CRM-2"]
    master = ann["master_id"]
    check(ids["SC-1"]["master_id"] == master, "Ann's two records share golden record %s" % master)
    # -- by event id: the delivery with both attempts and the NACK's reason.
    j = trace({"event_id": ann["event_id"]})
    evs = j["events"]
    check(len(evs) == 1 and evs[0]["source"] == "crm" and evs[0]["type"] == "person.updated",
          "trace by event id: the CRM's Ann, once")
    e = evs[0]
    check(e["envelope"]["payload"]["name"]["family"] == "Smith" and
          e["envelope"]["correlation_id"] == "corr-ann",
          "  its envelope, payload decoded (%s)" % e["envelope"].get("payload"))
    check(e["deliveries"] == [],
          "  no delivery of its own (a person.updated goes to the operators only): %s" %
          e["deliveries"])
    audit = e["master_data"]["audit"]
    check(audit and all(a["master_id"] == master for a in audit) and
          any(h["master_id"] == master for h in e["master_data"]["history"]),
          "  the master-data decisions: audit rows and the version it made of %s (%s)" % (
              master, [a["action"] for a in audit]))
    want = ids["derived"].get(ann["event_id"], [])
    check(want and sorted(d["seq"] for d in e["derived"]) == want and
          all(d["envelope"]["causation_id"] == ann["event_id"] for d in e["derived"]),
          "  the events it caused: seqs %s (got %s)" % (want, [d["seq"] for d in e["derived"]]))
    dl = [d for x in e["derived"] for d in x["deliveries"]
          if d["adapter"] == "billing" and d["subscription"] == "inbox"]
    check(len(dl) == 1 and dl[0]["state"] == "dead_lettered" and dl[0]["attempts"] == 2 and
          dl[0]["dead_letters"][0]["reason"] == REJECT_REASON,
          "  the person.changed it caused: to billing/inbox, dead-lettered after 2 attempts, "
          "with the NACK's reason (%s)" % dl)
    changed = e["derived"][0]
    d = trace({"event_id": changed["event_id"], "source": "joinery"})["events"]
    check(len(d) == 1 and d[0]["envelope"]["causation_id"] == ann["event_id"] and
          d[0]["deliveries"][0]["state"] == "dead_lettered" and
          d[0]["envelope"]["payload"]["master_id"] == master,
          "trace of the hub's person.changed itself: its cause, payload and dead letter")
    # Another event of it, acked: its billing delivery says so.
    sc1 = trace({"event_id": ids["SC-1"]["event_id"], "source": "socialcare"})["events"]
    check(len(sc1) == 1 and [d["state"] for x in sc1[0]["derived"] for d in x["deliveries"]
                             if d["adapter"] == "billing"] == ["acked"],
          "trace by event id and source: social care's Ann; what it caused acked by billing "
          "(%s)" % (sc1[0]["derived"] if sc1 else None))
    check(trace({"event_id": ann["event_id"], "source": "socialcare"})["events"] == [],
          "  an event id with another source: nothing")
    # Brian's newcomer: the item it queued.
    b = trace({"event_id": brian_b["event_id"]})["events"][0]
    check([q["id"] for q in b["master_data"]["steward_queue"]] == [int(ids["queue"])] and
          b["master_data"]["steward_queue"][0]["state"] == "OPEN",
          "trace of Brian's CRM record: the steward queue item %s it opened" % ids["queue"])
    # -- by correlation id.
    j = trace({"correlation_id": "corr-ann"})
    check(sorted(e["event_id"] for e in j["events"]) ==
          sorted([ids["SC-1"]["event_id"], ann["event_id"]]),
          "trace by correlation id: both of Ann's events (%s)" % [e["event_id"] for e in j["events"]])
    j = trace({"correlation_id": "corr-refused"})
    check(j["events"] == [] and len(j["refusals"]) == 1 and
          j["refusals"][0]["event_id"] == ids["refused"]["event_id"] and
          "crm.contact.created" in j["refusals"][0]["reason"] + j["refusals"][0]["type"],
          "trace by correlation id: the refused event, with the reason (%s)" % j["refusals"])
    j = trace({"event_id": ids["refused"]["event_id"]})
    check(len(j["refusals"]) == 1 and j["refusals"][0]["adapter"] == "socialcare",
          "trace by event id: the refusal")
    # -- by master id.
    j = trace({"master_id": master})
    got = {e["event_id"] for e in j["events"]}
    check({ids["SC-1"]["event_id"], ann["event_id"]} <= got and
          all(s in {e["seq"] for e in j["events"]} for s in want),
          "trace by master id: Ann's events and the hub's about her (%d events)" % len(got))
    m = j["master"]
    check(m["golden"]["master_id"] == master and
          sorted(x["local_id"] for x in m["xref"]) == ["CRM-1", "SC-1"] and m["history"],
          "  the golden record, its local ids and history")
    j = trace({"master_id": master, "limit": "1"})
    check(len(j["events"]) == 1 and j["truncated"] is True, "  limit=1: one event, truncated")
    # -- the steward's reads.
    status, j = call("/api/v1/steward/queue")
    item = [i for i in j.get("items", []) if str(i["id"]) == ids["queue"]]
    check(status == 200 and len(item) == 1 and item[0]["score"] > 0 and
          item[0]["master_b"]["master_id"] == brian_b["master_id"] and
          item[0]["evidence"]["fields"]["postcode"]["level"] == "different" and
          item[0]["master_b"]["postcode"] == "LS6 2QT",
          "steward queue: Brian's pair with its score and evidence per field (%s)" % j)
    status, j = call("/api/v1/steward/queue?state=LINKED")
    check(status == 200 and j["items"] == [], "steward queue?state=LINKED: none yet")
    status, j = call("/api/v1/golden?" + urllib.parse.urlencode({"name": "ann smith"}))
    check(status == 200 and [r["master_id"] for r in j["records"]] == [master] and
          j["records"][0]["nhs_number_masked"] == "*******919",
          "golden search by name: Ann, NHS number masked (%s)" % j)
    status, j = call("/api/v1/golden?" + urllib.parse.urlencode(
        {"birth_date": "1971-03-02", "postcode": "ls62qt"}))
    check(status == 200 and [r["master_id"] for r in j["records"]] == [brian_b["master_id"]],
          "golden search by birth date and postcode (any case, no space): Brian's newcomer")
    status, j = call("/api/v1/golden?nhs_number=9434765919")
    check(status == 200 and [r["master_id"] for r in j["records"]] == [master],
          "golden search by NHS number")
    status, j = call("/api/v1/golden/" + master)
    check(status == 200 and j["golden"]["version"] >= 1 and len(j["xref"]) == 2 and
          [h["version"] for h in j["history"]] == sorted([h["version"] for h in j["history"]],
                                                          reverse=True),
          "golden record: fields, local ids, history newest first")
    # -- refusals of the caller's mistakes.
    for path, why in [("/api/v1/trace", "exactly one"),
                      ("/api/v1/trace?event_id=a&master_id=b", "exactly one"),
                      ("/api/v1/trace?event_id=a&limit=0", "limit"),
                      ("/api/v1/trace?event_id=a&limit=101", "limit"),
                      ("/api/v1/trace?event_id=a&color=red", "unknown query parameter"),
                      ("/api/v1/trace?event_id=a%01b", "control characters"),
                      ("/api/v1/trace?event_id=" + "x" * 257, "256 bytes"),
                      ("/api/v1/trace?correlation_id=a&source=crm", "source goes with event_id"),
                      ("/api/v1/steward/queue?state=maybe", "state must be"),
                      ("/api/v1/steward/queue?limit=x", "limit"),
                      ("/api/v1/golden", "at least one"),
                      ("/api/v1/golden?birth_date=5/3/1971", "YYYY-MM-DD"),
                      ("/api/v1/golden?name=" + "n" * 129, "1 to 128")]:
        status, j = call(path)
        check(status == 400 and why in j.get("error", ""),
              "%s: 400 saying %r (got %s %s)" % (path[:60], why, status, j))
    status, j = call("/api/v1/golden/P-no-such-record")
    check(status == 404, "an unknown golden record: 404 (got %s)" % status)
    status, j = call("/api/v1/trace?event_id=x", token=None)
    check(status == 401, "trace without a token: 401 (got %s)" % status)


def decide():
    ids = json.load(open(STATE))
    q = int(ids["queue"])
    brian_a, brian_b = ids["SC-2"]["master_id"], ids["CRM-2"]["master_id"]
    body = {"queue_id": q, "reason": "same person: confirmed by phone"}
    status, j = call("/api/v1/steward/link", READER, body)
    check(status == 403, "a read token linking: 403 (got %s %s)" % (status, j))
    for bad, why in [({"queue_id": q}, "reason"),
                     ({"queue_id": q, "master_id_a": brian_a, "master_id_b": brian_b,
                       "reason": "x"}, "queue_id"),
                     # a stray id beside the item would be journaled unchecked (tests/fuzz)
                     ({"queue_id": q, "master_id_a": "\u0001" * 300, "reason": "x"}, "queue_id"),
                     ({"queue_id": "1", "reason": "x"}, "queue_id"),
                     ({"queue_id": q, "reason": "x", "by": "someone else"}, "queue_id")]:
        status, j = call("/api/v1/steward/link", STEWARD, bad)
        check(status == 400 and why in j.get("error", ""),
              "link with %s: 400 (got %s %s)" % (sorted(bad), status, j))
    status, j = call("/api/v1/steward/merge", STEWARD, {"queue_id": q, "reason": "x"})
    check(status == 400, "merge by queue item: 400 (got %s %s)" % (status, j))
    check(sql("SELECT state FROM steward_queue WHERE id = %d" % q) == "OPEN",
          "nothing refused was applied: the item is still OPEN")
    status, j = call("/api/v1/steward/link", STEWARD, body)
    check(status == 200 and j["status"] == "OK" and j["master_id"] == brian_a and j["seq"] > 0,
          "the steward links item %d: OK, into %s (%s %s)" % (q, brian_a, status, j))
    row = sql("SELECT state || '|' || decided_by || '|' || reason FROM steward_queue "
              "WHERE id = %d" % q)
    check(row == "LINKED|steward-jo|same person: confirmed by phone",
          "  the item is LINKED, decided by the token's name, with the reason (%s)" % row)
    check(sql("SELECT master_id || ' ' || link_state || ' ' || how FROM xref "
              "WHERE local_id = 'CRM-2'") == "%s MATCH steward" % brian_a,
          "  the CRM's Brian now belongs to %s (MATCH, how: steward)" % brian_a)
    check(sql("SELECT count(*) FROM journal WHERE source = 'admin:steward-jo' AND "
              "type = 'steward.link' AND event_id = '%s'" % j["event_id"]) == "1",
          "  journaled as steward.link from admin:steward-jo")
    audit = sql("SELECT count(*) FROM master_audit WHERE source = 'admin:steward-jo' AND "
                "event_id = '%s'" % j["event_id"])
    check(int(audit) >= 1, "  audited (%s rows) under admin:steward-jo" % audit)
    t = trace({"event_id": j["event_id"], "source": "admin:steward-jo"})["events"]
    check(len(t) == 1 and t[0]["envelope"]["payload"]["decided_by"] == "steward-jo" and
          t[0]["master_data"]["steward_queue"][0]["state"] == "LINKED",
          "  its trace: the decision, decided_by the token's name, the item LINKED")
    status, j = call("/api/v1/steward/link", STEWARD, body)
    check(status == 409 and "not open" in j.get("error", ""),
          "linking the item again: 409, not open (got %s %s)" % (status, j))


if __name__ == "__main__":
    {"publish": publish, "api": api, "decide": decide}[PHASE]()
    finish("admin_trace_check " + PHASE)
