"""demo_check.py ACCOUNT CONNINFO - test_demo.sh's checker: the account deploy/run-demo.sh --once
wrote (deploy/demo/council_day.py --account) against what the hub holds, read from its
PostgreSQL (the journal, the cross-reference, the golden records, the steward queue).

The account must tell the whole day: all six steps, each with the facts that prove it (a step
may leave out only the part it says is not built yet). Every fact is then checked against the
database: each event it names is journaled, of its type, by its system, in that system's own id,
linked to the golden record it names; each effect the hub made (person.changed, the
correction, the CRM's duplicate_found, case.changed) was made by the event the account says,
and says what the account says; the golden records hold the new address and social care's birth
date; the CRM's second contact is linked and the steward queue holds the doubtful customer. The envelopes and payloads are decoded with the generated protobuf classes,
not with the demo's own reader."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pyjoinery import Sql, check, finish, require  # noqa: E402
from joinery.v1 import case_pb2, envelope_pb2, person_pb2  # noqa: E402

ACCOUNT, CONNINFO = sys.argv[1], sys.argv[2]
sql = Sql(CONNINFO)
with open(ACCOUNT, encoding="utf-8") as f:
    acc = json.load(f)
people = {r["name"]: r for r in acc["residents"]}
MARY, ARTHUR, PRIYA = people["Mary Shelley"], people["Arthur Bennett"], people["Priya Sharma"]


def lit(s):
    return "'" + str(s).replace("'", "''") + "'"


def envelope(where):
    """The journal's envelope for WHERE (SQL on journal), decoded; None if there is none."""
    raw = sql("SELECT encode(envelope, 'hex') FROM journal WHERE " + where)
    if not raw:
        return None
    env = envelope_pb2.Envelope()
    env.ParseFromString(bytes.fromhex(raw.splitlines()[0]))
    return env


def master_of(system, local):
    return sql("SELECT master_id FROM xref WHERE system = %s AND local_id = %s"
               % (lit(system), lit(local)))


def golden(master, field):
    return sql("SELECT fields->%s->>'v' FROM golden_person WHERE master_id = %s"
               % (lit(field), lit(master)))


def payload(env, cls):
    m = cls()
    m.ParseFromString(env.payload)
    return m


# ---- each kind of fact, against the database ------------------------------------------------

def journal_fact(f):
    env = envelope("source = %s AND event_id = %s" % (lit(f["source"]), lit(f["event_id"])))
    check(env is not None and env.type == f["type"],
          "journal: %s's %s %s" % (f["source"], f["type"], f["event_id"]))
    check(env.source_record_id == f["local_id"],
          "  in %s's own id %s (the envelope says %r)" % (f["source"], f["local_id"],
                                                          env.source_record_id))
    if f.get("master_id"):
        check(master_of(f["source"], f["local_id"]) == f["master_id"],
              "  %s %s is golden record %s" % (f["source"], f["local_id"], f["master_id"]))
    if f.get("cause"):
        check(env.causation_id == f["cause"], "  caused by %s" % f["cause"])


def derived_fact(f):
    """The hub's events of one type that one event made (one per receiving system): each the
    hub's, made by that event, about that record; the one for TARGET says what the account
    says."""
    envs = [envelope("seq = %d" % seq) for seq in f["seqs"]]
    check(envs and all(e is not None and e.type == f["type"] and e.source == "joinery" and
                       e.causation_id == f["cause"] and e.master_id == f["master_id"]
                       for e in envs),
          "journal seqs %s: the hub's %s about %s, made by %s" % (
              f["seqs"], f["type"], f["master_id"], f["cause"]))
    if f["type"] == "person.changed":
        for e in envs:
            c = payload(e, person_pb2.PersonChanged)
            check("address.home" in c.changed_fields and
                  c.person.addresses[0].postcode == acc["new_address"]["postcode"],
                  "  to %s: the new home address, %s" % (e.attributes.get("target"),
                                                        acc["new_address"]["postcode"]))
    if not f.get("target"):
        return
    mine = [e for e in envs if e.attributes.get("target") == f["target"]]
    check(len(mine) == 1, "  one of them to %s" % f["target"])
    env = mine[0]
    if f["type"] == "person.correction":
        c = payload(env, person_pb2.PersonCorrection)
        check(len(envs) == 1 and c.local_id == f["local_id"] and
              env.source_record_id == f["local_id"],
              "  to %s alone, in its id %s" % (f["target"], f["local_id"]))
        check(c.field == f["field"] and c.current_value == f["value"] and
              c.owner == "socialcare",
              "  %s: social care's %s (refused %s)" % (f["field"], f["value"], c.refused_value))
    if f["type"] == "person.duplicate_found":
        c = payload(env, person_pb2.DuplicateFound)
        check(len(envs) == 1 and sorted(c.local_ids) == sorted(f["local_ids"]) and
              c.master_id == f["master_id"],
              "  to %s alone, naming its ids %s (it says %s)" % (
                  f["target"], f["local_ids"], list(c.local_ids)))
    if f["type"] == "case.changed":
        c = payload(env, case_pb2.CaseChanged)
        check("status" in c.changed_fields and
              c.case.person_local_id == f["person_local_id"],
              "  the status, about the CRM's contact %s (it says %r)" % (
                  f["person_local_id"], c.case.person_local_id))


def seq_fact(f):
    """An outbound message the account names by the journal seq it carries (the trust's
    MSH-10, Agresso's file name): that seq is the address change, for that system's record."""
    env = envelope("seq = %d" % f["seq"])
    check(env is not None and env.type == f["type"] and env.master_id == f["master_id"],
          "%s's message for journal seq %d: %s of %s" % (f["system"], f["seq"], f["type"],
                                                          f["master_id"]))
    check(env.causation_id == f["cause"], "  made by the CRM's change %s" % f["cause"])
    c = payload(env, person_pb2.PersonChanged)
    check(env.attributes.get("target") == f["system"] and env.source_record_id == f["local_id"]
          and c.local_id == f["local_id"],
          "  for %s alone, in its id %s (target %r, id %r)" % (
              f["system"], f["local_id"], env.attributes.get("target"), env.source_record_id))
    check(c.person.addresses[0].postcode == acc["new_address"]["postcode"],
          "  carrying the new postcode")
    check(master_of(f["system"], f["local_id"]) == f["master_id"],
          "  %s's id %s is that golden record" % (f["system"], f["local_id"]))


def xref_fact(f):
    check(master_of(f["system"], f["local_id"]) == f["master_id"],
          "xref: %s %s -> %s" % (f["system"], f["local_id"], f["master_id"]))


def golden_fact(f):
    got = golden(f["master_id"], f["field"])
    check(got == f["value"], "golden record %s: %s = %s (it holds %r)" % (
        f["master_id"], f["field"], f["value"], got))


def case_fact(f):
    got = sql("SELECT fields->%s->>'v' FROM golden_case WHERE master_id = %s"
              % (lit(f["field"]), lit(f["master_id"])))
    check(got == f["value"], "golden case %s: %s = %s (it holds %r)" % (
        f["master_id"], f["field"], f["value"], got))


def steward_fact(f):
    got = sql("SELECT master_a || ' ' || master_b || ' ' || state FROM steward_queue WHERE "
              "id = %d" % f["queue_id"])
    check(got == "%s %s %s" % (f["master_a"], f["master_b"], f["state"]),
          "steward queue item %d: %s and %s, %s (it holds %r)" % (
              f["queue_id"], f["master_a"], f["master_b"], f["state"], got))
    doubt = master_of("agresso", acc["doubtful"]["agresso"])
    check({f["master_a"], f["master_b"]} == {PRIYA["master"], doubt} and doubt != PRIYA["master"],
          "  pairs %s's record with Agresso's customer %s (%s), not linked to it" % (
              PRIYA["name"], acc["doubtful"]["agresso"], doubt))


def delivered_fact(f):
    check(master_of(f["system"], f["local_id"]) == f["master_id"] and
          sql("SELECT count(*) FROM golden_person_history WHERE master_id = %s AND "
              "version = %d" % (lit(f["master_id"]), int(f["version"]))) == "1",
          "%s was told in its id %s of version %s of %s" % (
              f["system"], f["local_id"], f["version"], f["master_id"]))
    check(golden(f["master_id"], f["field"]) == f["value"], "  whose %s is %s" % (
        f["field"], f["value"]))


def task_fact(f):
    check(f["case_id"] == ARTHUR["case"] and f["task_kind"] == "hospital_discharge" and
          master_of("socialcare", f["person_id"]) == f["master_id"] == ARTHUR["master"],
          "the task: hospital_discharge for case %s, person %s" % (f["case_id"],
                                                                   f["person_id"]))


def patched_fact(f):
    check(golden(master_of("crm", f["local_id"]), f["field"]) == f["value"],
          "the CRM's contact %s was patched to the golden %s %s" % (f["local_id"], f["field"],
                                                                   f["value"]))


def note_fact(f):
    check(master_of("crm", f["local_id"]) == ARTHUR["master"],
          "the note is on %s's contact %s" % (ARTHUR["name"], f["local_id"]))


CHECKERS = {"journal": journal_fact, "derived": derived_fact, "seq": seq_fact,
            "xref": xref_fact, "golden": golden_fact, "case": case_fact,
            "steward": steward_fact, "delivered": delivered_fact, "task": task_fact,
            "patched": patched_fact, "note": note_fact}

# What each step must prove, as (kind, what the fact must say); a step may leave out the
# parts named in its not_built, and only those.
SC_OUT, CRM_OUT = acc["socialcare_outbound"], acc["crm_writeback"]
REQUIRED = {
    1: [("journal", {"source": s, "type": "person.updated"})
        for s in ("socialcare", "crm", "health", "agresso")] +
       [("xref", {"system": s, "local_id": r[k]}) for r in (MARY, ARTHUR, PRIYA)
        for s, k in (("socialcare", "sc"), ("crm", "crm"), ("health", "mrn"))] +
       [("xref", {"system": "agresso", "local_id": r["agresso"]}) for r in (MARY, ARTHUR)],
    2: [("derived", {"type": "person.changed", "master_id": MARY["master"]}),
        ("golden", {"field": "address.home.postcode", "value": acc["new_address"]["postcode"]}),
        ("seq", {"system": "agresso", "local_id": MARY["agresso"]}),
        ("seq", {"system": "health", "local_id": MARY["mrn"]})] +
       ([("delivered", {"system": "socialcare", "local_id": MARY["sc"]})] if SC_OUT else []),
    3: [("journal", {"type": "health.discharge", "local_id": ARTHUR["mrn"]}),
        ("journal", {"type": "case.discharge_notified", "local_id": ARTHUR["case"]})] +
       ([("task", {"case_id": ARTHUR["case"]})] if SC_OUT else []),
    4: [("derived", {"type": "person.correction", "target": "crm", "local_id": PRIYA["crm"],
                     "field": "birth_date", "value": PRIYA["dob"]}),
        ("golden", {"master_id": PRIYA["master"], "field": "birth_date", "value": PRIYA["dob"]})] +
       ([("patched", {"local_id": PRIYA["crm"], "value": PRIYA["dob"]})] if CRM_OUT else []),
    5: [("derived", {"type": "person.duplicate_found", "target": "crm"}),
        ("xref", {"system": "crm", "local_id": acc["duplicate"]["crm"]}),
        ("steward", {"state": "OPEN"})],
    6: [("derived", {"type": "case.changed", "target": "crm", "person_local_id": ARTHUR["crm"]}),
        ("case", {"field": "status"})] +
       ([("note", {"local_id": ARTHUR["crm"]})] if CRM_OUT else []),
}
NOT_BUILT = {2: not SC_OUT, 3: not SC_OUT, 4: not CRM_OUT, 6: not CRM_OUT}

check(acc["ok"] is True, "the day went as planned (the account says so)")
# This tree builds both write-back sides, so the day must use them: a "not built yet" here
# would mean run-demo.sh failed to configure them.
check(CRM_OUT and SC_OUT, "the day wrote back to the CRM (joinery-crm's dataverse section) and "
      "to the case system (joinery-socialcare's outbound section)")
check([s["n"] for s in acc["steps"]] == [1, 2, 3, 4, 5, 6], "the account tells all six steps")
for step in acc["steps"]:
    n = step["n"]
    print("-- step %d: %s" % (n, step["title"]), flush=True)
    check(step["ok"] and not step["errors"] and step["lines"], "step %d went as planned, and "
          "says what happened (%d lines)" % (n, len(step["lines"])))
    check(bool(step["not_built"]) == NOT_BUILT.get(n, False),
          "step %d says %s not built yet" % (n, "what is" if NOT_BUILT.get(n) else "nothing is"))
    for kind, want in REQUIRED[n]:
        require(any(f["kind"] == kind and all(f.get(k) == v for k, v in want.items())
                    for f in step["facts"]),
                "step %d's account has no %s fact with %s" % (n, kind, want))
    for f in step["facts"]:
        CHECKERS[f["kind"]](f)

print("-- the day as a whole", flush=True)
check(sql("SELECT count(*) FROM dead_letter") == "0", "nothing was dead-lettered")
check(sql("SELECT count(*) FROM rejected_event") == "0", "the hub refused nothing")
check(sql("SELECT count(*) FROM journal WHERE type = 'person.proposed'") == "0",
      "no system proposed an address the CRM owns (the systems agreed until the CRM's change)")
check(sql("SELECT count(DISTINCT master_id) FROM xref WHERE system IN ('socialcare', 'health', "
          "'agresso') AND NOT (system = 'agresso' AND local_id = %s)"
          % lit(acc["doubtful"]["agresso"])) == "3",
      "three residents: every id of social care, the trust and Agresso (but the doubtful "
      "customer, a record of its own until a steward decides) belongs to one of three golden "
      "records")
finish("demo_check")
