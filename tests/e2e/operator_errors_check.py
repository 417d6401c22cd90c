"""operator_errors_check.py ENDPOINT CONNINFO - a mistyped event type in a master-data
namespace (see test_operator_errors.sh), from a raw client as crm:

1. the namespace's record under a type the engine does not take (a Person as person.update,
   a Case as case.creatd, an Address as address.update) is REJECTED with "did you mean" the
   engine's type, and is not journaled;
2. the engine's own types, and other payloads in the namespaces (a Referral as
   case.referral.created, a Discharge as case.discharge_notified: real types social care
   publishes), are accepted as before."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402
from joinery.v1 import case_pb2 as CASE  # noqa: E402
from joinery.v1 import health_pb2 as HEALTH  # noqa: E402
from joinery.v1 import person_pb2 as PERSON  # noqa: E402
from joinery.v1 import protocol_pb2 as P  # noqa: E402

EP, DB = sys.argv[1], sys.argv[2]
check, sql = J.check, J.Sql(DB)

crm = J.Client(EP, "crm")
got = crm.hello()
J.require(got[0] == "WELCOME", "crm: WELCOME, got %s" % (got,))

ann = J.person("Ann", "Smith", "1960-01-05", "9434765919", "LS1 4AP")
ok = crm.publish_one(crm.event("person.updated", "CRM-1", ann, "joinery.v1.Person"))
check(ok.status == P.CONFIRM_OK and ok.master_id, "person.updated with a Person: OK, %s" % ok.master_id)

bob = J.person("Bob", "Brown", "1971-03-02", postcode="M1 1AE")
ok = crm.publish_one(crm.event("person.updated", "CRM-2", bob, "joinery.v1.Person"))
check(ok.status == P.CONFIRM_OK and ok.master_id, "a second person (for the steward): OK")

home = PERSON.Address(use="home", lines=["1 High Street"], town="Leeds", postcode="LS1 4AP",
                      uprn="100023336956").SerializeToString()
case = CASE.Case(case_id="K-1", person_local_id="CRM-1", team="Duty").SerializeToString()
for type_, payload, ptype, want in [
        ("person.update", ann, "joinery.v1.Person", "person.updated"),
        ("person.upated", ann, "joinery.v1.Person", "person.updated"),
        ("case.creatd", case, "joinery.v1.Case", "case.created"),
        ("address.update", home, "joinery.v1.Address", "address.updated")]:
    ns = type_.split(".")[0]
    env = crm.event(type_, "X-" + type_, payload, ptype)
    got = crm.publish_one(env)
    want_reason = ("unknown event type '%s' in the %s namespace: did you mean %s?"
                   % (type_, ns, want))
    check(got.status == P.CONFIRM_REJECTED and want_reason in got.reason,
          "%s with a %s: REJECTED, %r (got %s %r)" % (type_, ptype, want_reason, got.status,
                                                     got.reason))
    check(sql("SELECT count(*) FROM journal WHERE type = '%s'" % type_) == "0",
          "%s is not journaled" % type_)

referral = CASE.Referral(referral_id="R-1", person_local_id="CRM-1").SerializeToString()
discharge = HEALTH.Discharge().SerializeToString()
for type_, payload, ptype in [("case.referral.created", referral, "joinery.v1.Referral"),
                              ("case.discharge_notified", discharge, "joinery.v1.Discharge")]:
    got = crm.publish_one(crm.event(type_, "K-1", payload, ptype))
    check(got.status == P.CONFIRM_OK, "%s with a %s: still OK (got %s %r)"
          % (type_, ptype, got.status, got.reason))
crm.close()
J.finish("operator_errors_check")
