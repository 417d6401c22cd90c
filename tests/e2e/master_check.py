"""master_check.py ENDPOINT CONNINFO PGCTL - the master-data behaviour of a running
hub, seen by three systems and an operator (see test_master_data.sh)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402
from joinery.v1 import master_pb2 as M  # noqa: E402
from joinery.v1 import person_pb2 as PERSON  # noqa: E402
from joinery.v1 import protocol_pb2 as P  # noqa: E402

EP, DB, PGCTL = sys.argv[1], sys.argv[2], sys.argv[3]
check, sql = J.check, J.Sql(DB)


def connect(name):
    c = J.Client(EP, name)
    check(c.hello()[0] == "WELCOME", "%s connects" % name)
    # probe.*: what Client.sync shows "nothing else came" with.
    cmd, _ = c.subscribe("people", ["person.*", "probe.*"] if name != "ops" else ["*"],
                         credit=100)
    check(cmd == "SUBSCRIBED", "%s subscribes" % name)
    return c


def publish(c, local_id, payload):
    return c.publish_one(c.event("person.updated", record_id=local_id, payload=payload,
                                 payload_type="joinery.v1.Person"))


def received(c, type_):
    """The envelopes of TYPE among what C is sent, once at least one has come
    and everything else the hub had for C has too."""
    return J.of_type(c.collect(J.has_type(type_), "%s receives %s" % (c.adapter, type_)), type_)


payload_of = J.payload_of


sc, crm, health, ops = (connect(n) for n in ("socialcare", "crm", "health", "ops"))
NHS = "9434765919"

first = publish(sc, "SC-1", J.person("Ann", "Smith", "1960-01-05", NHS, "LS1 4AP"))
check(first.status == P.CONFIRM_OK and first.master_id.startswith("P"),
      "social care's resident gets a golden record (%s)" % first.master_id)
gold = first.master_id
h = publish(health, "RR8-42", J.person("Ann", "Smith", "1960-01-05", NHS))
check(h.status == P.CONFIRM_OK and h.master_id == gold,
      "the trust's record with the same NHS number links to it")
c = publish(crm, "CRM-77", J.person("Ann", "Smith", "1960-01-05", NHS, phone="07700 900123"))
check(c.status == P.CONFIRM_OK and c.master_id == gold, "so does the CRM's")
check(sql("SELECT count(*) FROM xref WHERE master_id = '%s'" % gold) == "3",
      "the cross-reference holds three local ids for one resident")
# An adapter that resends after an outage learns the golden record from the DUPLICATE too.
again = crm.event("person.updated", record_id="CRM-77",
                  payload=J.person("Ann", "Smith", "1960-01-05", NHS,
                                   phone="07700 900123"),
                  payload_type="joinery.v1.Person", event_id="crm-resend-1")
first_try = crm.publish_one(again)
resent = crm.publish_one(again)
check(first_try.status == P.CONFIRM_OK and resent.status == P.CONFIRM_DUPLICATE
      and resent.master_id == gold and resent.seq == first_try.seq,
      "a re-sent person event is confirmed DUPLICATE with its golden record (%s)"
      % resent.master_id)
for x in (sc, crm, health, ops):
    x.collect()

# The CRM changes a date of birth social care owns.
c = publish(crm, "CRM-77", J.person("Ann", "Smith", "1960-05-01", NHS, phone="07700 900123"))
check(c.status == P.CONFIRM_OK, "the CRM's event is accepted (the refusal is per field)")
corr = received(crm, "person.correction")
check(len(corr) == 1, "the CRM receives one correction (%d)" % len(corr))
fix = payload_of(corr[0], PERSON.PersonCorrection)
check(fix.field == "birth_date" and fix.current_value == "1960-01-05"
      and fix.refused_value == "1960-05-01" and fix.owner == "socialcare",
      "the correction carries social care's value: %s -> %s" % (fix.refused_value,
                                                                fix.current_value))
check(corr[0].source_record_id == "CRM-77" and fix.local_id == "CRM-77",
      "in the CRM's own id")
check(sc.collect() == [], "social care sees nothing of it")
check(health.collect() == [], "nor does the trust")
check(sql("SELECT fields->'birth_date'->>'v' FROM golden_person WHERE master_id = '%s'" % gold)
      == "1960-01-05", "the golden record keeps the owner's value")

# Social care, the owner, changes it.
s = publish(sc, "SC-1", J.person("Ann", "Smith", "1960-01-06", NHS, "LS1 4AP"))
check(s.status == P.CONFIRM_OK and s.master_id == gold, "the owner's change is accepted")
for system, local in ((crm, "CRM-77"), (health, "RR8-42")):
    got = received(system, "person.changed")
    check(len(got) == 1, "%s receives one person.changed (%d)" % (system.adapter, len(got)))
    ch = payload_of(got[0], PERSON.PersonChanged)
    check(ch.local_id == local and got[0].source_record_id == local and ch.master_id == gold
          and "birth_date" in ch.changed_fields and ch.person.birth_date == "1960-01-06",
          "%s gets the new date of birth in its own id %s" % (system.adapter, local))
check(sc.collect() == [], "the owner is not echoed its own change")
check(sql("SELECT count(*) FROM golden_person_field_history WHERE master_id = '%s' "
          "AND field = 'birth_date' AND new_value = '1960-01-06' AND source = 'socialcare'" % gold)
      == "1", "the change is in the golden record's history")
raw = J.of_type(ops.collect(lambda got: [g for g in got if g.env.type == "person.updated"
                                         and g.env.source_record_id == "SC-1"],
                            "the operator receives social care's person.updated"),
                "person.updated")
check([e for e in raw if e.source == "socialcare" and e.source_record_id == "SC-1"
       and payload_of(e, PERSON.Person).birth_date == "1960-01-06"],
      "the operator still sees the raw input")

# A steward merges a duplicate, then unmerges it: everything as before.
dup = publish(crm, "CRM-99", J.person("Bob", "Jones", "1971-03-02", postcode="M1 1AE"))
other = dup.master_id
check(dup.status == P.CONFIRM_OK and other and other != gold, "a second resident, another record")
for x in (sc, crm, health, ops):
    x.collect()
xref_q = "SELECT string_agg(system||'/'||local_id||'='||master_id||':'||link_state, ',' " \
         "ORDER BY system, local_id) FROM xref"
# Field values (not their versions or times, which the round trip moves on).
gold_q = "SELECT string_agg(master_id || '@' || state || '=' || vals, ';' ORDER BY master_id) FROM " \
         "(SELECT master_id, state, (SELECT jsonb_object_agg(k, v->'v')::text FROM " \
         "json_each(fields) AS f(k, v)) AS vals FROM golden_person) g"
before_x, before_g = sql(xref_q), sql(gold_q)


def steward(action):
    d = M.StewardDecision(action=action, master_id_a=gold, master_id_b=other,
                          reason="e2e", decided_by="e2e steward")
    ev = ops.event("steward." + action, payload=d.SerializeToString(),
                   payload_type="joinery.v1.StewardDecision")
    return ops.publish_one(ev)


m = steward("merge")
check(m.status == P.CONFIRM_OK, "the steward's merge is accepted: %s" % m.reason)
merged = received(crm, "person.merged")
check(len(merged) == 1, "the CRM is told of the merge (%d)" % len(merged))
pm = payload_of(merged[0], PERSON.PersonMerged)
check(pm.survivor_master_id == gold and pm.retired_master_id == other
      and pm.retired_local_id == "CRM-99", "in its own ids (retired CRM-99)")
check(sql("SELECT master_id FROM xref WHERE system = 'crm' AND local_id = 'CRM-99'") == gold,
      "the retired record's local id now points at the survivor")
u = steward("unmerge")
check(u.status == P.CONFIRM_OK, "the steward's unmerge is accepted: %s" % u.reason)
check(sql(xref_q) == before_x, "after unmerge every system's cross-reference is as before")
check(sql(gold_q) == before_g, "and both golden records are ACTIVE with their values as before")
# The database goes away: a person event is answered RETRY (whether the hub
# noticed before applying it, or a commit holding the engine's rows failed and
# the engine is reloaded), and once the database is back it applies once.
subprocess.run([PGCTL, "stop"], check=True)
late = sc.event("person.updated", record_id="SC-1", payload_type="joinery.v1.Person",
                payload=J.person("Ann", "Smith", "1960-01-07", NHS, "LS1 4AP"))
got = sc.publish([late], timeout_ms=15000).get(late.event_id)
check(got and got.status == P.CONFIRM_RETRY, "with the database away a person event gets RETRY")
subprocess.run([PGCTL, "start"], check=True)


def applied():
    got = sc.publish([late], timeout_ms=5000).get(late.event_id)
    return got if got and got.status == P.CONFIRM_OK else None


got = J.wait_for("the same event, resent, is accepted once the database is back", applied,
                 timeout_s=60, interval_s=0.2)
check(got.master_id == gold, "once it is back the same event applies to the same record")
check(sql("SELECT fields->'birth_date'->>'v' FROM golden_person WHERE master_id = '%s'" % gold)
      == "1960-01-07", "the golden record has the change exactly once")
print("master_check: %d checks passed" % J.checks)
