"""entities_check.py ENDPOINT KEYDIR CONNINFO STATEFILE before|after - golden
addresses and cases of a running hub, seen by social care, the CRM, a trust
and an operator over CurveZMQ (see test_entities.sh). "before" runs on a fresh
hub and writes the ids it made to STATEFILE; "after" runs on the restarted hub
and checks it decides from the state it reloaded."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402
from joinery.v1 import case_pb2 as CASE  # noqa: E402
from joinery.v1 import master_pb2 as M  # noqa: E402
from joinery.v1 import person_pb2 as PERSON  # noqa: E402
from joinery.v1 import protocol_pb2 as P  # noqa: E402

EP, KEYS, DB, STATE, PHASE = sys.argv[1:6]
PGCTL = sys.argv[6] if len(sys.argv) > 6 else None
check, sql, payload_of = J.check, J.Sql(DB), J.payload_of
NHS = "9434765919"
UPRN = "10023336956"


def connect(name, patterns):
    c = J.Client.curve(EP, name, KEYS)
    check(c.hello()[0] == "WELCOME", "%s connects" % name)
    # probe.*: what Client.sync shows "nothing else came" with.
    cmd, _ = c.subscribe("all", patterns + ([] if "*" in patterns else ["probe.*"]), credit=100)
    check(cmd == "SUBSCRIBED", "%s subscribes" % name)
    return c


def publish(c, type_, local_id, msg, **kw):
    ev = c.event(type_, record_id=local_id, payload=msg.SerializeToString(),
                 payload_type=msg.DESCRIPTOR.full_name, **kw)
    return c.publish_one(ev), ev


def received(c, type_):
    """The envelopes of TYPE among what C is sent, once at least one has come
    and everything else the hub had for C has too."""
    return J.of_type(c.collect(J.has_type(type_), "%s receives %s" % (c.adapter, type_)), type_)


def person(given, family, nhs):
    p = PERSON.Person(nhs_number=nhs, birth_date="1950-02-03")
    p.name.given.append(given)
    p.name.family = family
    return p


sc = connect("socialcare", ["person.*", "address.*", "case.*"])
crm = connect("crm", ["person.*", "address.*", "case.*"])
health = connect("health", ["person.*"])
ops = connect("ops", ["*"])


def same_transaction(event_id, table, master_id, version):
    """The row's transaction is the one that journaled the event."""
    j = sql("SELECT xmin FROM journal WHERE event_id = '%s'" % event_id)
    h = sql("SELECT xmin FROM %s WHERE master_id = '%s' AND version = %d"
            % (table, master_id, version))
    a = sql("SELECT string_agg(DISTINCT xmin::text, ',') FROM master_audit "
            "WHERE event_id = '%s'" % event_id)
    return j != "" and j == h == a


def before():
    # Mary is socialcare S-100 and crm CRM-500.
    a, _ = publish(sc, "person.updated", "S-100", person("Mary", "Smith", NHS))
    b, _ = publish(crm, "person.updated", "CRM-500", person("Mary", "Smith", NHS))
    check(a.status == P.CONFIRM_OK and b.status == P.CONFIRM_OK and a.master_id == b.master_id,
          "Mary is one golden person for social care and the CRM (%s)" % a.master_id)
    pid = a.master_id
    for x in (sc, crm, health, ops):
        x.collect()

    # Social care opens a case for its own id of Mary.
    k = CASE.Case(person_local_id="S-100", status=CASE.CASE_OPEN, opened_on="2024-05-30",
                  team="Hospital Discharge Team", lead_worker="J. Bloggs")
    got, ev = publish(sc, "case.created", "CASE-1", k)
    check(got.status == P.CONFIRM_OK and got.master_id.startswith("C"),
          "social care's case gets a golden case (%s): %s" % (got.master_id, got.reason))
    cid = got.master_id
    envs = received(crm, "case.changed")
    check(len(envs) == 1, "the CRM receives case.changed (%d)" % len(envs))
    cc = payload_of(envs[0], CASE.CaseChanged)
    check(cc.master_id == cid and cc.version == 1 and envs[0].master_id == cid,
          "for the golden case, version 1")
    check(cc.case.person_local_id == "CRM-500" and cc.case.person_master_id == pid,
          "carrying the CRM's own id for Mary (CRM-500), not social care's")
    check(cc.case.status == CASE.CASE_OPEN and cc.case.team == "Hospital Discharge Team"
          and "team" in cc.changed_fields, "with the case's fields")
    check(envs[0].source_record_id == "" and cc.local_id == "",
          "and no case id of the CRM's: it has none yet")
    check(J.of_type(sc.collect(), "case.changed") == [], "social care is not echoed its own case")
    check(sql("SELECT person_master_id FROM golden_case WHERE master_id = '%s'" % cid) == pid,
          "golden_case names Mary's golden record")
    check(sql("SELECT system || '/' || local_id FROM case_xref WHERE master_id = '%s'" % cid)
          == "socialcare/CASE-1", "case_xref holds social care's case id")
    check(same_transaction(ev.event_id, "golden_case_history", cid, 1),
          "the case's history and audit rows committed in the journal entry's transaction")

    # The CRM, which learnt the case's master id, closes it: status is social care's.
    k = CASE.Case(status=CASE.CASE_CLOSED, closure_reason="moved out of area")
    got, ev = publish(crm, "case.updated", "CRM-CASE-9", k, master_id=cid)
    check(got.status == P.CONFIRM_OK and got.master_id == cid,
          "the CRM's case event is accepted (refusal is per field): %s" % got.reason)
    corr = received(crm, "case.correction")
    check(len(corr) == 1, "the CRM receives one case.correction (%d)" % len(corr))
    fc = payload_of(corr[0], M.FieldCorrection)
    check(fc.field == "status" and fc.owner == "socialcare" and fc.current_value == "open"
          and fc.refused_value == "closed" and fc.local_id == "CRM-CASE-9",
          "for status, with social care's value 'open', in the CRM's own id")
    envs = received(sc, "case.changed")
    check(len(envs) == 1, "social care hears of the rest")
    cc = payload_of(envs[0], CASE.CaseChanged)
    check(list(cc.changed_fields) == ["closure_reason"] and cc.version == 2
          and cc.case.closure_reason == "moved out of area" and cc.local_id == "CASE-1"
          and cc.case.person_local_id == "S-100",
          "only the closure reason, version 2, in social care's ids (CASE-1, S-100)")
    check(sql("SELECT fields->'status'->>'v' || ',' || version FROM golden_case "
              "WHERE master_id = '%s'" % cid) == "open,2", "the golden case stays open")
    check(sql("SELECT count(*) FROM case_xref WHERE master_id = '%s'" % cid) == "2",
          "and now holds the CRM's case id too")
    check(sql("SELECT count(*) FROM master_audit WHERE event_id = '%s' AND action = 'refuse'"
              % ev.event_id) == "1", "the refusal is audited")
    check(same_transaction(ev.event_id, "golden_case_history", cid, 2),
          "in the journal entry's transaction")

    # One address by UPRN from two systems.
    addr = PERSON.Address(uprn=UPRN, lines=["Flat 2", "14 Park Row"], town="Leeds",
                          postcode="ls1 5ab")
    a, ev = publish(sc, "address.updated", "SC-ADDR-1", addr)
    check(a.status == P.CONFIRM_OK and a.master_id.startswith("A"),
          "social care's address gets a golden address (%s)" % a.master_id)
    aid = a.master_id
    got = received(crm, "address.changed")
    check(len(got) == 1 and payload_of(got[0], PERSON.AddressChanged).address.postcode
          == "LS1 5AB", "the CRM receives address.changed with the canonical postcode")
    check(same_transaction(ev.event_id, "golden_address_history", aid, 1),
          "the address's rows committed with its journal entry")
    b, _ = publish(crm, "address.updated", "CRM-ADDR-7",
                   PERSON.Address(uprn="0" + UPRN, district="West Yorkshire",
                                  postcode="LS2 7UE"))
    check(b.status == P.CONFIRM_OK and b.master_id == aid,
          "the CRM's record of the same UPRN (zero-padded) is the same golden address")
    check(sql("SELECT count(*) FROM golden_address") == "1", "one golden address")
    check(sql("SELECT string_agg(system || '/' || local_id, ',' ORDER BY system) FROM "
              "address_xref WHERE master_id = '%s'" % aid) == "crm/CRM-ADDR-7,socialcare/SC-ADDR-1",
          "with both systems' local ids")
    corr = received(crm, "address.correction")
    check(len(corr) == 1 and payload_of(corr[0], M.FieldCorrection).current_value == "LS1 5AB",
          "the CRM's different postcode is corrected to social care's")
    got = received(sc, "address.changed")
    check(len(got) == 1 and got[0].source_record_id == "SC-ADDR-1"
          and list(payload_of(got[0], PERSON.AddressChanged).changed_fields) == ["district"],
          "social care hears of the district in its own id")

    # Malformed input is refused with a reason and kept.
    bad = [
        ("address.updated", "CRM-ADDR-8", PERSON.Address(town="Leeds").SerializeToString(),
         "joinery.v1.Address", "needs address.uprn"),
        ("address.updated", "CRM-ADDR-8", PERSON.Address(uprn="12-34").SerializeToString(),
         "joinery.v1.Address", "address.uprn is not valid"),
        ("case.created", "CRM-CASE-10",
         CASE.Case(person_local_id="CRM-NOBODY").SerializeToString(), "joinery.v1.Case",
         "'CRM-NOBODY' is not a person crm has sent"),
        ("case.created", "CRM-CASE-11", b"\x0a\xff\x01", "joinery.v1.Case", "does not decode"),
    ]
    for type_, local, payload, ptype, why in bad:
        ev = crm.event(type_, record_id=local, payload=payload, payload_type=ptype)
        got = crm.publish_one(ev)
        check(got.status == P.CONFIRM_REJECTED and why in got.reason,
              "%s refused: %s" % (type_, got.reason))
        check(sql("SELECT count(*) FROM rejected_event WHERE event_id = '%s' AND adapter = 'crm'"
                  % ev.event_id) == "1", "and kept in rejected_event")
    check(sql("SELECT count(*) FROM golden_case") == "1", "nothing of them became a case")
    with open(STATE, "w") as f:
        json.dump({"person": pid, "case": cid, "address": aid}, f)


def after():
    with open(STATE) as f:
        st = json.load(f)
    # The CRM's case id resolves from the reloaded cross-reference, and the
    # reloaded owner's value still stands.
    got, _ = publish(crm, "case.updated", "CRM-CASE-9", CASE.Case(status=CASE.CASE_CLOSED))
    check(got.status == P.CONFIRM_OK and got.master_id == st["case"],
          "after a restart the CRM's case id still names the golden case")
    corr = received(crm, "case.correction")
    check(len(corr) == 1 and payload_of(corr[0], M.FieldCorrection).current_value == "open",
          "and its status is still corrected to social care's value")
    got, _ = publish(health, "address.updated", "RR8-ADDR-1", PERSON.Address(uprn=UPRN))
    check(got.status == P.CONFIRM_OK and got.master_id == st["address"],
          "a third system's record of the UPRN finds the reloaded golden address")
    got, _ = publish(sc, "case.updated", "CASE-1", CASE.Case(team="Reablement Team"))
    check(got.status == P.CONFIRM_OK and got.master_id == st["case"], "the owner's change applies")
    envs = received(crm, "case.changed")
    check(len(envs) == 1, "the CRM receives it")
    cc = payload_of(envs[0], CASE.CaseChanged)
    check(cc.version == 3 and cc.local_id == "CRM-CASE-9" and cc.case.case_id == "CRM-CASE-9"
          and cc.case.person_local_id == "CRM-500" and cc.case.person_master_id == st["person"]
          and cc.case.team == "Reablement Team",
          "version 3, in the CRM's ids for the case and for Mary")
    check(sql("SELECT count(*) FROM golden_case_history WHERE master_id = '%s'" % st["case"])
          == "3", "the case's history has one row per version")
    # The database goes away: a case event is answered RETRY (the hub saw it
    # was down, or the commit holding the engine's rows failed and both
    # engines are reloaded); once it is back the same event applies once.
    subprocess.run([PGCTL, "stop"], check=True)
    late = sc.event("case.updated", record_id="CASE-1", payload_type="joinery.v1.Case",
                    payload=CASE.Case(lead_worker="K. Mensah").SerializeToString())
    got = sc.publish([late], timeout_ms=15000).get(late.event_id)
    check(got and got.status == P.CONFIRM_RETRY, "with the database away a case event gets RETRY")
    subprocess.run([PGCTL, "start"], check=True)

    def applied():
        got = sc.publish([late], timeout_ms=5000).get(late.event_id)
        return got if got and got.status == P.CONFIRM_OK else None

    got = J.wait_for("the same case event, resent, is accepted once the database is back",
                     applied, timeout_s=60, interval_s=0.2)
    check(got.master_id == st["case"], "once it is back the same event applies to the same case")
    check(sql("SELECT version || ',' || (fields->'lead_worker'->>'v') FROM golden_case "
              "WHERE master_id = '%s'" % st["case"]) == "4,K. Mensah",
          "exactly once: version 4 with the new lead worker")
    check(sql("SELECT count(*) FROM golden_case_history WHERE master_id = '%s'" % st["case"])
          == "4", "and one more history row")


before() if PHASE == "before" else after()
print("entities_check %s: %d checks passed" % (PHASE, J.checks))
