"""master_rules_check.py ENDPOINT CONNINFO - issue 17's hub-side rules on a running hub (see
test_master_rules.sh): a system's own duplicate is linked and that system alone told, in its
ids; twins in one system stay apart; a Person with a field the hub cannot take is kept and
matched on the rest, the field recorded as a finding and its sender told."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402
from joinery.v1 import person_pb2 as PERSON  # noqa: E402
from joinery.v1 import protocol_pb2 as P  # noqa: E402

EP, DB = sys.argv[1], sys.argv[2]
check, sql = J.check, J.Sql(DB)


def connect(name):
    c = J.Client(EP, name)
    J.require(c.hello()[0] == "WELCOME", "%s connects" % name)
    cmd, _ = c.subscribe("people", ["person.*", "probe.*"], credit=100)
    J.require(cmd == "SUBSCRIBED", "%s subscribes" % name)
    return c


def publish(c, local_id, payload):
    return c.publish_one(c.event("person.updated", record_id=local_id, payload=payload,
                                 payload_type="joinery.v1.Person"))


sc, crm = connect("socialcare"), connect("crm")

# --- 1. a system's own duplicate --------------------------------------------------------------
NHS = "9434765919"
a = publish(sc, "SC-1", J.person("Anne", "Jones", "1984-03-07", NHS, "LS1 4AB"))
b = publish(sc, "SC-1b", J.person("Anne", "Jones", "1984-03-07", NHS, "LS1 4AB"))
check(a.status == b.status == P.CONFIRM_OK and a.master_id == b.master_id,
      "two records of one system with the same NHS number: one golden record (%s, %s)"
      % (a.master_id, b.master_id))
anne = a.master_id
check(sql("SELECT string_agg(local_id || ':' || link_state, ',' ORDER BY local_id) FROM xref "
          "WHERE master_id = '%s'" % anne) == "SC-1:NO_MATCH,SC-1b:MATCH",
      "both local ids are on it in the cross-reference")
got = sc.collect(J.has_type("person.duplicate_found"), "social care is told of its duplicate")
dups = J.of_type(got, "person.duplicate_found")
check(len(dups) == 1, "social care receives one person.duplicate_found (%d)" % len(dups))
d = J.payload_of(dups[0], PERSON.DuplicateFound)
check(dups[0].source_record_id == "SC-1b" and dups[0].master_id == anne
      and list(d.local_ids) == ["SC-1", "SC-1b"] and d.master_id == anne,
      "in its own ids: both of them, to merge (%s, %s)" % (dups[0].source_record_id,
                                                          list(d.local_ids)))
check(dups[0].attributes.get("target") == "socialcare",
      "addressed to social care alone")
others = crm.collect()
check(not J.of_type(others, "person.duplicate_found"),
      "the CRM hears of no duplicate that is not its own")

# By score, without an NHS number: name, birth date, postcode and mobile all agree.
o1 = publish(sc, "SC-2", J.person("Omar", "Haddad", "1975-11-30", postcode="LS6 2QT",
                                  phone="07700 900123", sex=1))
o2 = publish(sc, "SC-2b", J.person("Omar", "Haddad", "1975-11-30", postcode="LS6 2QT",
                                   phone="07700900123", sex=1))
check(o1.master_id == o2.master_id and o2.reason == "",
      "a duplicate found by score links too (an OK with nothing dropped says nothing)")
omar = o1.master_id
dups = J.of_type(sc.collect(J.has_type("person.duplicate_found")), "person.duplicate_found")
check(len(dups) == 1 and list(J.payload_of(dups[0], PERSON.DuplicateFound).local_ids)
      == ["SC-2", "SC-2b"] and J.payload_of(dups[0], PERSON.DuplicateFound).score > 0,
      "and is told, with the score")

# Twins in one system: one surname, birth date and address, other forenames.
t1 = publish(sc, "SC-3", J.person("Amelia", "Patel", "2015-06-01", postcode="LS6 2QT", sex=2))
t2 = publish(sc, "SC-4", J.person("Isla", "Patel", "2015-06-01", postcode="LS6 2QT", sex=2))
check(t1.master_id != t2.master_id, "twins in one system keep two golden records")
check(not J.of_type(sc.collect(), "person.duplicate_found"), "and nobody is told of a duplicate")

# --- 2. a field the hub cannot take --------------------------------------------------------
bad = PERSON.Person(birth_date="1906-02-29", sex=1)
bad.name.given.append("Omar")
bad.name.family = "Haddad"
bad.addresses.add(use="home", postcode="LS6 2QT", lines=["1 High Street"], town="Leeds")
bad.telecom.add(system="phone", value="07700 900123", use="mobile")
ev = crm.event("person.updated", record_id="CRM-9", payload=bad.SerializeToString(),
               payload_type="joinery.v1.Person")
c = crm.publish_one(ev)
check(c.status == P.CONFIRM_OK and c.master_id == omar,
      "a Person with an invalid birth date is kept and matched on the rest (%s: %s)"
      % (P.ConfirmStatus.Name(c.status), c.master_id or c.reason))
check(c.reason.startswith("kept; dropped birth_date: not a valid birth date")
      and "1906 is not a leap year" in c.reason,
      "its CONFIRM says which field was dropped and why: %s" % c.reason)
check(sql("SELECT count(*) FROM journal WHERE event_id = '%s'" % ev.event_id) == "1",
      "and journaled")
check(sql("SELECT field || '|' || value || '|' || system || '|' || local_id || '|' || master_id "
          "FROM person_data_quality WHERE event_id = '%s'" % ev.event_id)
      == "birth_date|1906-02-29|crm|CRM-9|%s" % omar,
      "the dropped field is a data-quality finding")
check("29 February" in sql("SELECT reason FROM person_data_quality WHERE event_id = '%s'"
                           % ev.event_id) or "1906" in sql(
          "SELECT reason FROM person_data_quality WHERE event_id = '%s'" % ev.event_id),
      "with its reason: %s" % sql("SELECT reason FROM person_data_quality WHERE event_id = '%s'"
                                   % ev.event_id))
check(sql("SELECT fields->'birth_date'->>'v' FROM golden_person WHERE master_id = '%s'" % omar)
      == "1975-11-30", "the golden record keeps the birth date it had")
got = crm.collect(J.has_type("person.data_quality"), "the CRM is told what was dropped")
dq = J.of_type(got, "person.data_quality")
check(len(dq) == 1 and dq[0].source_record_id == "CRM-9", "the CRM receives person.data_quality "
      "in its own id")
msg = J.payload_of(dq[0], PERSON.DataQuality)
check(msg.event_id == ev.event_id and [f.field for f in msg.dropped] == ["birth_date"]
      and msg.dropped[0].value == "1906-02-29" and msg.master_id == omar,
      "naming the event, the field and the value: %s" % msg)
check(not J.of_type(sc.collect(), "person.data_quality"), "social care is told nothing of it")

# A Person with nothing the hub can take is still refused whole.
empty = PERSON.Person(birth_date="1984-95-07")
r = crm.publish_one(crm.event("person.updated", record_id="CRM-10",
                              payload=empty.SerializeToString(),
                              payload_type="joinery.v1.Person"))
check(r.status == P.CONFIRM_REJECTED and "birth_date" in r.reason,
      "a Person with no field the hub can take is refused: %s" % r.reason)
J.finish("master_rules_check")
