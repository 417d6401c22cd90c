"""agresso_check.py COMMAND ARGS... - the files and the social-care side of test_agresso.sh.

  customers FILE N [BAD_LINE:KIND ...]  writes a customer-master export of N customers (line 1 is
                                        the header, customer C-1001 on line 2...); KIND dob or
                                        postcode makes that line's row wrong
  slow FILE N PAUSE_S DONE_DIR          writes half of a file, holds it open PAUSE_S seconds
                                        (checking that nothing takes it meanwhile), writes the rest
  report FILE LINE:COLUMN...            the error report names exactly those lines and columns
  socialcare ENDPOINT DB OUTDIR         a golden-record change for an Agresso customer becomes a
                                        customer import file in Agresso's id; a care package a
                                        GL07 file, checked field by field; an unmappable one is
                                        dead-lettered with the reason
"""
import csv
import glob
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402
from joinery.v1 import case_pb2 as CASE  # noqa: E402
from joinery.v1 import protocol_pb2 as P  # noqa: E402

check = J.check
HEADER = ["customer_id", "name", "given_name", "family_name", "date_of_birth", "address_line1",
          "address_line2", "town", "postcode", "phone", "email", "nhs_number"]
GIVEN = ["Ann", "Bob", "Cara", "Dev", "Ewa", "Finn", "Gita", "Hal", "Ines", "Joe"]
FAMILY = ["Smith", "Okafor", "Nowak", "Patel", "Byrne", "Lund", "Moreau", "Quinn", "Roth",
          "Silva", "Tanaka", "Umar", "Vance", "Wolfe", "Young"]
POSTCODES = ["LS1 4AP", "LS2 7HY", "M1 1AE", "B33 8TH", "CR2 6XH", "LS6 2QT"]
NHS_LINKED = "9434765919"  # customer C-1007 (line 8) has it; social care knows her by it too


def customer(i):
    """Customer number I (0-based): distinct people, so none is matched to another."""
    given, family = GIVEN[i % len(GIVEN)], FAMILY[(i // len(GIVEN)) % len(FAMILY)]
    if i // (len(GIVEN) * len(FAMILY)):
        family += "-%d" % (i // (len(GIVEN) * len(FAMILY)))
    dob = "%04d-%02d-%02d" % (1930 + i % 60, 1 + i % 12, 1 + i % 28)
    if i % 3 == 1:
        dob = "%02d/%02d/%04d" % (1 + i % 28, 1 + i % 12, 1930 + i % 60)  # Agresso's UK form
    return ["C-%d" % (1001 + i), "%s %s" % (given, family), given, family, dob,
            "%d High Street" % (i + 1), "Flat %d" % (i % 4) if i % 4 else "", "Leeds",
            POSTCODES[i % len(POSTCODES)], "0113 496 %04d" % i if i % 2 else "",
            "c%d@example.org" % i if i % 5 == 0 else "",
            NHS_LINKED if i == 6 else ""]


def rows(n, bad):
    out = []
    for i in range(n):
        r = customer(i)
        kind = bad.get(i + 2)
        if kind == "dob":
            r[4] = "2023-02-29"
        elif kind == "postcode":
            r[8] = "Q1 1AA"
        out.append(r)
    return out


def write_csv(path, body):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(HEADER)
        w.writerows(body)


def cmd_customers(path, n, *bad):
    b = {int(x.split(":")[0]): x.split(":")[1] for x in bad}
    write_csv(path, rows(int(n), b))


def cmd_slow(path, n, pause, done_dir):
    tmp = path + ".staged"
    write_csv(tmp, rows(int(n), {}))
    data = open(tmp, "rb").read()
    os.unlink(tmp)
    half = len(data) // 2
    with open(path, "wb") as f:
        f.write(data[:half])
        f.flush()
        deadline = time.time() + float(pause)
        while time.time() < deadline:
            if not os.path.exists(path) or os.path.exists(os.path.join(done_dir,
                                                                       os.path.basename(path))):
                check(False, "the half-written file was taken while its writer held it open")
            time.sleep(0.05)
        check(os.path.exists(path), "the half-written file stayed where it was for %ss" % pause)
        f.write(data[half:])


def cmd_report(path, *want):
    with open(path, newline="") as f:
        got = list(csv.reader(f))
    check(got[0] == ["line", "column", "reason", "row"], "the report's header: %s" % got[0])
    pairs = ["%s:%s" % (r[0], r[1]) for r in got[1:]]
    check(pairs == list(want), "the report names %s (it has %s)" % (list(want), pairs))
    for r in got[1:]:
        check(r[2] and r[3].startswith("C-"), "line %s: a reason (%s) and the row as written"
              % (r[0], r[2]))


def newest(pattern, after=()):
    files = [f for f in glob.glob(pattern) if f not in after]
    return sorted(files)[-1] if files else None


def read_one(path):
    with open(path, newline="") as f:
        got = list(csv.reader(f))
    check(len(got) == 2, "%s holds a header and one row" % os.path.basename(path))
    return dict(zip(got[0], got[1]))


def cmd_socialcare(ep, db, outdir):
    sql = J.Sql(db)
    sc = J.Client(ep, "socialcare")
    check(sc.hello()[0] == "WELCOME", "social care connects")
    # A golden-record change for a person Agresso knows (C-1007, linked by her NHS number).
    before = set(glob.glob(os.path.join(outdir, "CUST-*.csv")))
    got = sc.publish_one(sc.event("person.updated", record_id="SC-7",
                                  payload=J.person("Gita", "Smith", "1936-07-07", NHS_LINKED,
                                                   phone="07700 900456"),
                                  payload_type="joinery.v1.Person"))
    check(got.status == P.CONFIRM_OK, "social care's change is confirmed")
    master = sql("SELECT master_id FROM xref WHERE system='agresso' AND local_id='C-1007'")
    check(got.master_id == master, "it is the golden record of Agresso's C-1007 (%s)" % master)
    path = J.wait_for("a customer import file", lambda: newest(
        os.path.join(outdir, "CUST-*.csv"), before))
    row = read_one(path)
    check(row["customer_id"] == "C-1007", "in Agresso's own id: %s" % row["customer_id"])
    check(row["phone"].replace(" ", "") == "07700900456" and "telecom.phone" in row["changed_fields"].split(),
          "with the new phone number as a changed field (%s, %s)" % (row["phone"],
                                                                      row["changed_fields"]))
    check(row["master_id"] == master and int(row["version"]) >= 2,
          "and the golden record's id and version (%s v%s)" % (row["master_id"], row["version"]))
    check(not glob.glob(os.path.join(outdir, ".tmp", "*")), "nothing left in .tmp/")

    # A care package: one GL07 row, field by field.
    pkg = CASE.CarePackage(package_id="PKG-42", case_id="CASE-9", service_type="home care",
                           provider_id="SUP-77", start_date="2026-11-30",
                           weekly_cost_pence=41250, weekly_hours=10.5, status="active")
    env = sc.event("case.care_package.created", record_id="PKG-42",
                   payload=pkg.SerializeToString(), payload_type="joinery.v1.CarePackage")
    got = sc.publish_one(env)
    check(got.status == P.CONFIRM_OK, "the care package is confirmed (seq %d)" % got.seq)
    path = J.wait_for("a GL07 file", lambda: glob.glob(
        os.path.join(outdir, "GL07-%012d.csv" % got.seq)))[0]
    row = read_one(path)
    day = time.strftime("%Y%m%d", time.gmtime(env.occurred_at / 1e6))
    want = {"batch_id": "JNY%d" % got.seq, "interface": "BI", "voucher_type": "GL",
            "trans_type": "GL", "client": "LC", "account": "9110", "dim_1": "SC100",
            "dim_2": "HC", "dim_3": "PKG-42", "dim_4": "SUP-77", "tax_code": "0",
            "currency": "GBP", "amount": "412.50", "period": day[:6], "trans_date": day,
            "description": "Care charge home care package PKG-42 case CASE-9 from 2026-11-30 "
                           "weekly",
            "ext_ref": "joinery:%d" % got.seq}
    check(list(row) == list(want), "the GL07 columns in order: %s" % list(row))
    for k, v in want.items():
        check(row[k] == v, "GL07 %s = %r (%r)" % (k, v, row[k]))
    raw = open(path, "rb").read()
    check(raw.endswith(b"\r\n") and raw.count(b"\r\n") == 2, "CRLF line ends, two lines")

    # One that cannot be coded is dead-lettered with the reason.
    bad = CASE.CarePackage(package_id="PKG-43", case_id="CASE-9", service_type="respite",
                           weekly_cost_pence=1000, status="active")
    got = sc.publish_one(sc.event("case.care_package.created", record_id="PKG-43",
                                  payload=bad.SerializeToString(),
                                  payload_type="joinery.v1.CarePackage"))
    reason = J.wait_for("the unmappable package dead-lettered", lambda: sql(
        "SELECT reason FROM dead_letter WHERE seq = %d" % got.seq))
    check("service_type 'respite'" in reason, "with the reason: %s" % reason)
    check(not glob.glob(os.path.join(outdir, "GL07-%012d.csv" % got.seq)), "and no GL07 file")
    sc.close()


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"customers": cmd_customers, "slow": cmd_slow, "report": cmd_report,
     "socialcare": cmd_socialcare}[cmd](*args)
    J.finish("agresso_check %s" % cmd)


main()
