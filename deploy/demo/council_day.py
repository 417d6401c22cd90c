#!/usr/bin/python3
"""council_day.py - a council's day with Joinery: four systems played by small simulators
(sims.py), a scripted day through the hub and its adapters, and an account of it.

    council_day.py --settings DEMO_DIR/day.json [--account FILE.json] [--serve]

run-demo.sh writes the settings (ports, keys, folders, the hub's database) and starts the hub
and the four adapters first. The day, step by step, each step waiting (polling, with a bound)
for the effects that prove it:

  1. new residents arrive: social care, the CRM, the trust (the NHS number links them) and
     Agresso (customer rows) each send their own record, in their own ids
  2. an address change in the CRM reaches social care, Agresso and the trust, each in its id
  3. a hospital discharge (ADT^A03) of a person with an open case reaches the social-care team
  4. the CRM changes a birth date social care owns: refused, and the CRM is corrected
  5. a second CRM contact for an existing resident (a typo in the name): linked, and the CRM
     told its two contacts are one person; an ERP customer with the resident's NHS number but
     another birth date: the steward queue
  6. social care moves a case to a new status: a note on the contact's timeline in the CRM

It prints the account (what happened, in which system, in whose ids) and, with --account,
writes it as JSON, with the facts tests/e2e/demo_check.py compares with the journal and the
golden records. Exit status 0 when every step's effects came (a step for a part that is not
built yet is reported and skipped, not failed), 1 otherwise. With --serve the simulators keep
answering after the day until SIGINT or SIGTERM."""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree the demo runs from
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sims  # noqa: E402

WAIT_S = 30  # per effect; a sanitizer build on a busy 2-core machine is slow


def nhs(nine):
    """A valid NHS number from nine digits (modulus 11; None when the check digit is 10)."""
    s = sum(int(d) * (10 - i) for i, d in enumerate(nine))
    c = (11 - s % 11) % 11
    return None if c == 10 else nine + str(c)


# The residents of the day, one record each in every system that knows them.
MARY = {"name": "Mary Shelley", "given": "Mary", "family": "Shelley", "dob": "1947-08-30",
        "sex": "female", "nhs": "9434765919", "lines": ["12 Park Lane", "Headingley"],
        "town": "Leeds", "postcode": "LS6 2AB",
        "sc": "LL-100234", "crm": "6d1c2b3a-8f7e-ee11-9ae6-000d3a0b1c01", "mrn": "RR8-400101",
        "agresso": "C-1007"}
ARTHUR = {"name": "Arthur Bennett", "given": "Arthur", "family": "Bennett", "dob": "1938-02-11",
          "sex": "male", "nhs": nhs("401023213"), "lines": ["4 Moor Road"], "town": "Leeds",
          "postcode": "LS10 2DN",
          "sc": "LL-100377", "crm": "6d1c2b3a-8f7e-ee11-9ae6-000d3a0b1c02", "mrn": "RR8-400102",
          "agresso": "C-1012", "case": "CASE-7001"}
PRIYA = {"name": "Priya Sharma", "given": "Priya", "family": "Sharma", "dob": "1985-06-14",
         "sex": "female", "nhs": nhs("485777345"), "lines": ["Flat 3", "21 Cardigan Road"],
         "town": "Leeds", "postcode": "LS6 1DJ",
         "sc": "LL-100512", "crm": "6d1c2b3a-8f7e-ee11-9ae6-000d3a0b1c03", "mrn": "RR8-400103"}
RESIDENTS = [MARY, ARTHUR, PRIYA]
NEW_ADDRESS = {"lines": ["7 Victoria Road"], "town": "Leeds", "postcode": "LS6 1DL"}
WRONG_DOB = "1985-04-16"  # what a CRM user keys in for Priya
DUPLICATE = {"crm": "6d1c2b3a-8f7e-ee11-9ae6-000d3a0b1c04", "given": "Pryia"}
# An ERP customer keyed with Priya's NHS number and someone else's birth date and address.
DOUBTFUL = {"agresso": "C-1031", "given": "Priya", "dob": "1962-11-03", "line": "9 Otley Road",
            "postcode": "LS16 5AB"}
CASE_STATUS = "on_hold"


class Db:
    """The hub's PostgreSQL, read with psql (read-only queries)."""

    def __init__(self, psql, conninfo):
        self.psql, self.conninfo = psql, conninfo

    def rows(self, query):
        out = subprocess.run([self.psql, "-X", "-A", "-t", "-q", "-F", "\t", "-d", self.conninfo,
                              "-c", query], check=True, capture_output=True, text=True).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def one(self, query):
        r = self.rows(query)
        return r[0][0] if r else ""


def q(s):
    """A SQL string literal (the values here are the day's own, but quote them properly)."""
    return "'" + str(s).replace("'", "''") + "'"


class Day:
    def __init__(self, st):
        self.st = st
        self.db = Db(st["psql"], st["db"])
        crm, sc, tr, ag = st["crm"], st["socialcare"], st["trust"], st["agresso"]
        self.crm = sims.Dataverse(crm["webhook_url"], crm["key"], crm["key_header"],
                                  crm["dataverse_port"], crm.get("token", ""))
        self.sc = sims.CaseSystem(sc["api_url"], sc["key"], sc["key_header"], sc["outbound_port"],
                                  sc["outbound_key"], sc["outbound_key_header"])
        host, port = tr["mllp"].rsplit(":", 1)
        self.trust = sims.Trust(tr["ods"], host, int(port), tr["listen_port"])
        self.agresso = sims.Agresso(ag["in_dir"], ag["out_dir"])
        self.crm_out, self.sc_out = bool(crm.get("writeback")), bool(sc.get("outbound"))
        self.steps = []
        self.step = None

    # ---- the account ----------------------------------------------------------------------

    def begin(self, n, title):
        self.step = {"n": n, "title": title, "ok": True, "lines": [], "facts": [],
                     "not_built": [], "errors": []}
        self.steps.append(self.step)
        print("\n== %d. %s" % (n, title), flush=True)

    def say(self, system, text):
        self.step["lines"].append({"system": system, "text": text})
        print("   %-11s %s" % (system, text), flush=True)

    def fact(self, **f):
        self.step["facts"].append(f)

    def not_built(self, what):
        self.step["not_built"].append(what)
        print("   %-11s NOT BUILT YET: %s" % ("", what), flush=True)

    def failed(self, why):
        self.step["ok"] = False
        self.step["errors"].append(why)
        print("   %-11s FAILED: %s" % ("", why), flush=True)

    def wait(self, what, fn):
        return sims.wait_for(what, fn, WAIT_S)

    # ---- what the hub holds ---------------------------------------------------------------

    def master_of(self, system, local):
        return self.db.one("SELECT master_id FROM xref WHERE system = %s AND local_id = %s"
                           % (q(system), q(local)))

    def golden(self, master, field):
        return self.db.one("SELECT fields->%s->>'v' FROM golden_person WHERE master_id = %s"
                           % (q(field), q(master)))

    def derived(self, cause_source, cause_id, type_, master):
        """The journal seqs of the hub's own events of TYPE about MASTER that CAUSE made: one
        per receiving system, journaled in the cause's transaction, right after it."""
        r = self.db.rows(
            "SELECT j.seq FROM journal j, journal c WHERE c.source = %s AND c.event_id = %s AND "
            "j.source = 'joinery' AND j.type = %s AND j.seq > c.seq AND j.entity_key = %s AND "
            "NOT EXISTS (SELECT 1 FROM journal k WHERE k.seq > c.seq AND k.seq < j.seq AND "
            "k.source <> 'joinery') ORDER BY j.seq"
            % (q(cause_source), q(cause_id), q(type_), q("m:" + master)))
        return [int(x[0]) for x in r]

    def journal_like(self, source, type_, prefix):
        r = self.db.rows("SELECT seq, event_id FROM journal WHERE source = %s AND type = %s AND "
                         "event_id LIKE %s ORDER BY seq" % (q(source), q(type_), q(prefix + "%")))
        return r

    def answered(self, system, what, got, ok_codes):
        status, body = got
        if status not in ok_codes or not isinstance(body, dict):
            raise sims.Timeout("%s answered %s %s to %s" % (system, status, body, what))
        return body

    # ---- the systems' own records -----------------------------------------------------------

    @staticmethod
    def sc_person(r):
        return {"person_id": r["sc"], "nhs_number": r["nhs"],
                "name": {"given": [r["given"]], "family": r["family"]},
                "birth_date": r["dob"], "sex": r["sex"],
                "address": {"lines": r["lines"], "town": r["town"], "postcode": r["postcode"]}}

    @staticmethod
    def crm_contact(r, given=None, with_nhs=True):
        a = {"firstname": given or r["given"], "lastname": r["family"], "birthdate": r["dob"],
             "address1_line1": r["lines"][0], "address1_city": r["town"],
             "address1_postalcode": r["postcode"],
             "emailaddress1": "%s.%s@example.org" % (r["given"].lower(), r["family"].lower())}
        if len(r["lines"]) > 1:
            a["address1_line2"] = r["lines"][1]
        if with_nhs:
            a["jn_nhsnumber"] = r["nhs"]
        return a

    def pid(self, r):
        """PID with the trust's MRN, the NHS number, name, birth date and sex. No address: the
        CRM owns it (on_conflict: propose), so the trust's copy of an old one would be proposed
        to the CRM instead of simply agreeing."""
        return "PID|1||%s^^^%s^MR~%s^^^NHS^NH||%s^%s^^^^^L||%s|%s" % (
            r["mrn"], self.st["trust"]["ods"], r["nhs"], r["family"], r["given"],
            r["dob"].replace("-", ""), "M" if r["sex"] == "male" else "F")

    def pv1(self, r, more):
        """PV1 of an inpatient stay on ward 7 (PV1-19 the visit number), with MORE by field."""
        f = {1: "1", 2: "I", 3: "WARD 7^^^" + self.st["trust"]["ods"], 10: "MED",
             19: "ENC-" + r["mrn"][-6:], **more}
        return "PV1|" + "|".join(f.get(i, "") for i in range(1, max(f) + 1))

    # ---- the steps ----------------------------------------------------------------------------

    def step1(self):
        self.begin(1, "New residents arrive in social care, the CRM, the trust and Agresso")
        for r in RESIDENTS:
            body = self.answered("joinery-socialcare", "POST /people",
                                 self.sc.post("people", self.sc_person(r)), (200, 201))
            r["master"] = body["master_id"]
            self.say("socialcare", "POST /people %s (%s): golden record %s, event %s"
                     % (r["sc"], r["name"], r["master"], body["event_id"]))
            self.fact(kind="journal", source="socialcare", event_id=body["event_id"],
                      type="person.updated", local_id=r["sc"], master_id=r["master"])
        case = {"case_id": ARTHUR["case"], "person_id": ARTHUR["sc"], "status": "open",
                "opened_on": time.strftime("%Y-%m-%d"), "team": "Hospital Discharge Team",
                "lead_worker": "J. Okafor"}
        body = self.answered("joinery-socialcare", "POST /cases",
                             self.sc.post("cases", case), (200, 201))
        ARTHUR["case_master"] = body["master_id"]
        self.say("socialcare", "POST /cases %s: an open case for %s with the Hospital Discharge "
                 "Team (golden case %s)" % (ARTHUR["case"], ARTHUR["sc"], body["master_id"]))
        self.fact(kind="journal", source="socialcare", event_id=body["event_id"],
                  type="case.updated", local_id=ARTHUR["case"])

        for r in RESIDENTS:
            body = self.answered("joinery-crm", "the contact Create webhook",
                                 self.crm.create_contact(r["crm"], self.crm_contact(r)), (200,))
            self.say("crm", "contact %s (%s) created: linked to %s by its NHS number"
                     % (r["crm"], r["name"], body["master_id"]))
            self.fact(kind="journal", source="crm", event_id=body["event_id"],
                      type="person.updated", local_id=r["crm"], master_id=r["master"])
            if body["master_id"] != r["master"]:
                self.failed("the CRM's %s became %s, not %s" % (r["crm"], body["master_id"],
                                                                 r["master"]))

        for r in RESIDENTS:
            if r is ARTHUR:  # in hospital: an admission
                cid, code = self.trust.send("A01", "ADT_A01", [self.pid(r), self.pv1(
                    r, {44: time.strftime("%Y%m%d0930")})])
                what = "ADT^A01 (admitted to ward 7)"
            else:
                cid, code = self.trust.send("A28", "ADT_A05", [self.pid(r)])
                what = "ADT^A28"
            if code != "AA":
                raise sims.Timeout("joinery-health answered %s to %s" % (code, what))
            self.say("trust", "%s for MRN %s (%s): AA" % (what, r["mrn"], r["name"]))
            for (seq, eid) in self.journal_like("health", "person.updated",
                                                "hl7-%s-%s-" % (self.st["trust"]["ods"], cid)):
                self.fact(kind="journal", source="health", event_id=eid, type="person.updated",
                          local_id=r["mrn"], master_id=r["master"])

        rows = []
        for r in (MARY, ARTHUR):
            rows.append({"customer_id": r["agresso"], "name": r["name"], "given_name": r["given"],
                         "family_name": r["family"], "date_of_birth": r["dob"],
                         "address_line1": r["lines"][0],
                         "address_line2": ", ".join(r["lines"][1:]), "town": r["town"],
                         "postcode": r["postcode"], "nhs_number": r["nhs"]})
        fname = "customers-%s.csv" % time.strftime("%Y%m%d-%H%M%S")
        sha = self.agresso.drop_customers(fname, rows)
        self.wait("%s taken by joinery-agresso (in done/)" % fname,
                  lambda: self.agresso.done(fname))
        for line, r in enumerate((MARY, ARTHUR), start=2):
            eid = "agr-%s-%d" % (sha[:32], line)
            self.say("agresso", "customer %s (%s), row %d of %s" % (r["agresso"], r["name"],
                                                                     line, fname))
            self.fact(kind="journal", source="agresso", event_id=eid, type="person.updated",
                      local_id=r["agresso"], master_id=r["master"])

        for r in RESIDENTS:
            ids = {s: r[s] for s in ("sc", "crm", "mrn", "agresso") if s in r}
            system = {"sc": "socialcare", "crm": "crm", "mrn": "health", "agresso": "agresso"}
            for k, local in ids.items():
                m = self.wait("the cross-reference of %s %s" % (system[k], local),
                              lambda: self.master_of(system[k], local))
                self.fact(kind="xref", system=system[k], local_id=local, master_id=m)
                if m != r["master"]:
                    self.failed("%s %s is linked to %s, not %s" % (system[k], local, m,
                                                                     r["master"]))
            self.say("hub", "%s is one golden record, %s: %s" % (
                r["name"], r["master"],
                ", ".join("%s %s" % (system[k], v) for k, v in ids.items())))

    def step2(self):
        self.begin(2, "An address change in the CRM reaches social care, Agresso and the trust")
        sc_mark, trust_mark = self.sc.inbox.mark(), self.trust.inbox.mark()
        a = {"address1_line1": NEW_ADDRESS["lines"][0], "address1_line2": None,
             "address1_city": NEW_ADDRESS["town"],
             "address1_postalcode": NEW_ADDRESS["postcode"]}
        self.crm.contacts[MARY["crm"]].pop("address1_line2", None)
        body = self.answered("joinery-crm", "the contact Update webhook",
                             self.crm.update_contact(MARY["crm"], {k: v for k, v in a.items()
                                                                   if v is not None}), (200,))
        self.say("crm", "contact %s: %s moves to %s, %s (event %s)"
                 % (MARY["crm"], MARY["name"], NEW_ADDRESS["lines"][0],
                    NEW_ADDRESS["postcode"], body["event_id"]))
        self.fact(kind="journal", source="crm", event_id=body["event_id"], type="person.updated",
                  local_id=MARY["crm"], master_id=MARY["master"])
        changed = self.wait("the hub's person.changed", lambda: self.derived(
            "crm", body["event_id"], "person.changed", MARY["master"]))
        self.say("hub", "golden record %s: new home address (person.changed to %d systems, "
                 "journal seqs %s)" % (MARY["master"], len(changed),
                                       ", ".join(map(str, changed))))
        self.fact(kind="derived", type="person.changed", cause=body["event_id"],
                  master_id=MARY["master"], seqs=changed)
        self.fact(kind="golden", master_id=MARY["master"], field="address.home.postcode",
                  value=NEW_ADDRESS["postcode"])

        if self.sc_out:
            got = self.wait("POST /people/%s at the case system" % MARY["sc"],
                            lambda: self.sc.inbox.find(
                                lambda it: it["path"] == "/people/" + MARY["sc"] and
                                NEW_ADDRESS["postcode"] in json.dumps(it["body"]), sc_mark))
            b = got["body"] if isinstance(got["body"], dict) else {}
            self.say("socialcare", "POST /people/%s: the new address, in its own person id "
                     "(master %s, version %s)" % (MARY["sc"], b.get("master_id"),
                                                  b.get("version")))
            self.fact(kind="delivered", system="socialcare", local_id=MARY["sc"],
                      master_id=b.get("master_id", ""), version=b.get("version", 0),
                      field="address.home.postcode", value=NEW_ADDRESS["postcode"])
        else:
            self.not_built("joinery-socialcare's outbound side (branch sc-out): social care "
                           "cannot be told of the new address yet")

        row = self.wait("a customer import row for %s" % MARY["agresso"], lambda: next(
            (x for x in self.agresso.customer_imports()
             if x[2].get("customer_id") == MARY["agresso"] and
             x[2].get("postcode") == NEW_ADDRESS["postcode"]), None))
        self.say("agresso", "%s: customer %s, %s, %s (changed: %s)" % (
            row[0], MARY["agresso"], row[2].get("address_line1"), row[2].get("postcode"),
            row[2].get("changed_fields")))
        self.fact(kind="seq", seq=int(row[1]), type="person.changed", master_id=MARY["master"],
                  system="agresso", local_id=MARY["agresso"], cause=body["event_id"])

        msg = self.wait("an ADT^A31 for MRN %s at the trust" % MARY["mrn"],
                        lambda: self.trust.inbox.find(
                            lambda m: m["type"].startswith("ADT^A31") and
                            m["pid3"].split("^")[0] == MARY["mrn"] and
                            NEW_ADDRESS["postcode"] in m["pid11"], trust_mark))
        self.say("trust", "%s control %s: PID-3 %s, PID-11 %s" % (
            msg["type"], msg["control"], msg["pid3"].split("~")[0], msg["pid11"]))
        self.fact(kind="seq", seq=int(msg["control"]), type="person.changed",
                  master_id=MARY["master"], system="health", local_id=MARY["mrn"],
                  cause=body["event_id"])

    def step3(self):
        self.begin(3, "A hospital discharge reaches the social-care team")
        sc_mark = self.sc.inbox.mark()
        pv1 = self.pv1(ARTHUR, {36: "01", 37: "HOME", 44: time.strftime("%Y%m%d0930"),
                                45: time.strftime("%Y%m%d%H%M")})
        cid, code = self.trust.send("A03", "ADT_A03", [self.pid(ARTHUR), pv1])
        if code != "AA":
            raise sims.Timeout("joinery-health answered %s to the ADT^A03" % code)
        rows = self.journal_like("health", "health.discharge",
                                 "hl7-%s-%s-" % (self.st["trust"]["ods"], cid))
        if not rows:
            raise sims.Timeout("no health.discharge in the journal for control id " + cid)
        dseq, deid = rows[0]
        self.say("trust", "ADT^A03 control %s: %s (MRN %s) discharged home: AA (health.discharge,"
                 " journal seq %s)" % (cid, ARTHUR["name"], ARTHUR["mrn"], dseq))
        self.fact(kind="journal", source="health", event_id=deid, type="health.discharge",
                  local_id=ARTHUR["mrn"], master_id=ARTHUR["master"])
        task = self.wait("case.discharge_notified in the journal", lambda: self.db.rows(
            "SELECT seq, event_id FROM journal WHERE source = 'socialcare' AND "
            "type = 'case.discharge_notified' AND event_id = %s" % q("sc-dn-%s" % dseq)))
        self.say("socialcare", "case.discharge_notified for case %s (event %s, journal seq %s)"
                 % (ARTHUR["case"], task[0][1], task[0][0]))
        self.fact(kind="journal", source="socialcare", event_id=task[0][1],
                  type="case.discharge_notified", local_id=ARTHUR["case"],
                  cause=deid)
        if self.sc_out:
            got = self.wait("POST /tasks at the case system", lambda: self.sc.inbox.find(
                lambda it: it["path"] == "/tasks" and isinstance(it["body"], dict) and
                it["body"].get("case_id") == ARTHUR["case"], sc_mark))
            b = got["body"]
            self.say("socialcare", "POST /tasks %s: %s for case %s, person %s, discharged on %s "
                     "from %s" % (b.get("task_id"), b.get("kind"), b.get("case_id"),
                                  b.get("person_id"), b.get("discharged_on"), b.get("trust")))
            self.fact(kind="task", case_id=b.get("case_id"), person_id=b.get("person_id"),
                      master_id=b.get("master_id"), task_kind=b.get("kind"))
        else:
            self.not_built("joinery-socialcare's outbound side (branch sc-out): the task is "
                           "journaled but not POSTed to the case system's /tasks yet")

    def step4(self):
        self.begin(4, "The CRM changes a birth date social care owns: refused and corrected")
        crm_mark = self.crm.inbox.mark()
        body = self.answered("joinery-crm", "the contact Update webhook",
                             self.crm.update_contact(PRIYA["crm"], {"birthdate": WRONG_DOB}),
                             (200,))
        self.say("crm", "contact %s: a user keys %s's birth date as %s (event %s)"
                 % (PRIYA["crm"], PRIYA["name"], WRONG_DOB, body["event_id"]))
        self.fact(kind="journal", source="crm", event_id=body["event_id"], type="person.updated",
                  local_id=PRIYA["crm"], master_id=PRIYA["master"])
        corr = self.wait("the hub's person.correction", lambda: self.derived(
            "crm", body["event_id"], "person.correction", PRIYA["master"]))
        value = self.golden(PRIYA["master"], "birth_date")
        self.say("hub", "refused: birth_date belongs to social care, which says %s; "
                 "person.correction to the CRM (journal seq %s)" % (value, corr[0]))
        self.fact(kind="derived", type="person.correction", cause=body["event_id"],
                  master_id=PRIYA["master"], seqs=corr, target="crm",
                  local_id=PRIYA["crm"], field="birth_date", value=PRIYA["dob"])
        self.fact(kind="golden", master_id=PRIYA["master"], field="birth_date",
                  value=PRIYA["dob"])
        if self.crm_out:
            got = self.wait("PATCH contacts(%s) at Dataverse" % PRIYA["crm"],
                            lambda: self.crm.inbox.find(
                                lambda it: it["method"] == "PATCH" and
                                "contacts(%s)" % PRIYA["crm"] in it["path"] and
                                isinstance(it["body"], dict) and
                                str(it["body"].get("birthdate", "")).startswith(PRIYA["dob"]),
                                crm_mark))
            self.say("crm", "PATCH %s {birthdate: %s} (If-Match: %s): the CRM's copy is "
                     "put right" % (got["path"], got["body"]["birthdate"],
                                    got["headers"].get("if-match", "")))
            self.fact(kind="patched", local_id=PRIYA["crm"], field="birth_date",
                      value=PRIYA["dob"])
        else:
            self.not_built("joinery-crm's write-back (branch crm-out): the correction is "
                           "journaled for the CRM but not PATCHed into Dataverse yet")

    def step5(self):
        self.begin(5, "Duplicates: the CRM's own second contact linked and reported; a doubtful "
                      "record to the steward queue")
        # A second contact for Priya in the CRM itself (a typo in her name, the same birth date,
        # address and phone): as strong as any link, so the hub links it and tells the CRM, in
        # its own ids, that its two contacts are one person so it can merge them.
        body = self.answered("joinery-crm", "the contact Create webhook",
                             self.crm.create_contact(DUPLICATE["crm"], self.crm_contact(
                                 PRIYA, given=DUPLICATE["given"], with_nhs=False)), (200,))
        self.say("crm", "contact %s (%s %s, born %s, %s) created: linked to %s's golden record %s"
                 % (DUPLICATE["crm"], DUPLICATE["given"], PRIYA["family"], PRIYA["dob"],
                    PRIYA["postcode"], PRIYA["name"], body["master_id"]))
        self.fact(kind="journal", source="crm", event_id=body["event_id"], type="person.updated",
                  local_id=DUPLICATE["crm"], master_id=body["master_id"])
        if body["master_id"] != PRIYA["master"]:
            self.failed("the CRM's second contact was not linked to %s's record %s"
                        % (PRIYA["name"], PRIYA["master"]))
        dup = self.wait("the hub's person.duplicate_found", lambda: self.derived(
            "crm", body["event_id"], "person.duplicate_found", PRIYA["master"]))
        self.say("hub", "person.duplicate_found to the CRM (journal seq %s): its contacts %s and "
                 "%s are one resident, merge them" % (dup[0], PRIYA["crm"], DUPLICATE["crm"]))
        self.fact(kind="derived", type="person.duplicate_found", cause=body["event_id"],
                  master_id=PRIYA["master"], seqs=dup, target="crm",
                  local_ids=[PRIYA["crm"], DUPLICATE["crm"]])
        self.fact(kind="xref", system="crm", local_id=DUPLICATE["crm"],
                  master_id=PRIYA["master"])
        # An Agresso customer keyed with Priya's NHS number but another person's birth date:
        # one identifier that says "the same" against a date that says "someone else" is for a
        # person to decide, never the hub.
        before = self.db.one("SELECT coalesce(max(id), 0) FROM steward_queue")
        row = {"customer_id": DOUBTFUL["agresso"], "name": "%s %s" % (DOUBTFUL["given"],
                                                                      PRIYA["family"]),
               "given_name": DOUBTFUL["given"], "family_name": PRIYA["family"],
               "date_of_birth": DOUBTFUL["dob"], "address_line1": DOUBTFUL["line"],
               "town": "Leeds", "postcode": DOUBTFUL["postcode"], "nhs_number": PRIYA["nhs"]}
        fname = "customers-%s-b.csv" % time.strftime("%Y%m%d-%H%M%S")
        self.agresso.drop_customers(fname, [row])
        self.wait("%s taken by joinery-agresso (in done/)" % fname,
                  lambda: self.agresso.done(fname))
        self.say("agresso", "customer %s (%s %s, born %s, NHS number %s) in %s"
                 % (DOUBTFUL["agresso"], DOUBTFUL["given"], PRIYA["family"], DOUBTFUL["dob"],
                    PRIYA["nhs"], fname))
        item = self.wait("a steward queue item", lambda: self.db.rows(
            "SELECT id, master_a, master_b, round(score::numeric, 2), state FROM steward_queue "
            "WHERE id > %s AND %s IN (master_a, master_b) ORDER BY id LIMIT 1"
            % (int(before), q(PRIYA["master"]))))[0]
        self.say("hub", "steward queue item %s: %s and %s may be one person (same NHS number, "
                 "birth dates %s and %s)" % (item[0], item[1], item[2], PRIYA["dob"],
                                             DOUBTFUL["dob"]))
        self.fact(kind="steward", queue_id=int(item[0]), master_a=item[1], master_b=item[2],
                  state="OPEN")
        out = subprocess.run([self.st["joinery"], "steward", "list", "--db", self.st["db"]],
                             capture_output=True, text=True)
        for line in out.stdout.splitlines():
            print("   %-11s %s" % ("", line), flush=True)
        self.step["steward_list"] = out.stdout

    def step6(self):
        self.begin(6, "Social care moves a case on: a note on the contact's timeline in the CRM")
        crm_mark = self.crm.inbox.mark()
        case = {"case_id": ARTHUR["case"], "person_id": ARTHUR["sc"], "status": CASE_STATUS,
                "opened_on": time.strftime("%Y-%m-%d"), "team": "Hospital Discharge Team",
                "lead_worker": "J. Okafor"}
        body = self.answered("joinery-socialcare", "POST /cases",
                             self.sc.post("cases", case), (200, 201))
        self.say("socialcare", "POST /cases %s: status %s (event %s)" % (
            ARTHUR["case"], CASE_STATUS, body["event_id"]))
        self.fact(kind="journal", source="socialcare", event_id=body["event_id"],
                  type="case.updated", local_id=ARTHUR["case"])
        changed = self.wait("the hub's case.changed", lambda: self.derived(
            "socialcare", body["event_id"], "case.changed", body["master_id"]))
        self.say("hub", "golden case %s: status %s (case.changed, journal seqs %s), to the CRM "
                 "about its contact %s" % (body["master_id"], CASE_STATUS,
                                           ", ".join(map(str, changed)), ARTHUR["crm"]))
        self.fact(kind="derived", type="case.changed", cause=body["event_id"],
                  master_id=body["master_id"], seqs=changed, target="crm",
                  person_local_id=ARTHUR["crm"])
        self.fact(kind="case", master_id=body["master_id"], field="status", value=CASE_STATUS)
        if self.crm_out:
            got = self.wait("POST annotations at Dataverse", lambda: self.crm.inbox.find(
                lambda it: it["method"] == "POST" and "annotations" in it["path"] and
                isinstance(it["body"], dict) and
                it["body"].get("objectid_contact@odata.bind") == "/contacts(%s)" % ARTHUR["crm"],
                crm_mark))
            b = got["body"]
            self.say("crm", "POST annotations on contact %s: \"%s\" - %s" % (
                ARTHUR["crm"], b.get("subject"), b.get("notetext")))
            self.fact(kind="note", local_id=ARTHUR["crm"], subject=b.get("subject", ""),
                      notetext=b.get("notetext", ""))
        else:
            self.not_built("joinery-crm's write-back (branch crm-out): the case.changed is "
                           "journaled for the CRM but no note is POSTed to Dataverse yet")

    def run(self):
        for n, fn in enumerate((self.step1, self.step2, self.step3, self.step4, self.step5,
                                self.step6), start=1):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - any failure is the step's, and is reported
                if self.step is None or self.step["n"] != n:
                    self.begin(n, "(did not start)")
                self.failed("%s: %s" % (type(e).__name__, e))
        return all(s["ok"] for s in self.steps)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--settings", required=True, help="day.json, as run-demo.sh writes it")
    ap.add_argument("--account", help="also write the account here, as JSON")
    ap.add_argument("--serve", action="store_true",
                    help="keep the simulators answering after the day, until SIGINT/SIGTERM")
    a = ap.parse_args()
    with open(a.settings, encoding="utf-8") as f:
        st = json.load(f)
    # SIGTERM ends the day as Ctrl-C does: the simulators' sockets close with the process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    day = Day(st)
    ok = day.run()
    account = {"ok": ok, "residents": RESIDENTS, "duplicate": DUPLICATE, "doubtful": DOUBTFUL,
               "new_address": NEW_ADDRESS, "crm_writeback": day.crm_out,
               "socialcare_outbound": day.sc_out, "steps": day.steps}
    print("\n== the day %s" % ("went as planned" if ok else "did NOT go as planned: see "
                                 "FAILED above, and the logs"), flush=True)
    if a.account:  # last: run-demo.sh prints what follows once the account is there
        tmp = a.account + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(account, f, indent=1)
        os.replace(tmp, a.account)
    if a.serve:
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
