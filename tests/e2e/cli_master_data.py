"""cli_master_data.py ENDPOINT small|bulk [N] - residents for test_cli_master.sh, published by
social care and the CRM through a running hub. Prints one JSON object on stdout:
{local id: {"system", "status", "master_id", "reason"}} for what it published.

small: a pair that links by NHS number (Ann), a pair that should land in the steward queue
       (Brian: same name and birth date, another postcode, no NHS number), a pair sharing an
       NHS number with birth dates far apart (Dan: queued by rule), and two distinct people
       (Carol; Eve, whose CRM id needs CSV quoting).
bulk N: about N generated residents (seeded), a fifth of them sent again by the CRM as the
       kind of duplicate the hub does not link on its own (moved house; or a nickname and a
       new surname at the same address), so that the golden records hold true duplicate
       pairs for `joinery match train` to find."""
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402
from joinery.v1 import protocol_pb2 as P  # noqa: E402

EP, MODE = sys.argv[1], sys.argv[2]
STATUS = {P.CONFIRM_OK: "OK", P.CONFIRM_DUPLICATE: "DUPLICATE", P.CONFIRM_REJECTED: "REJECTED"}


def connect(name):
    c = J.Client(EP, name)
    got = c.hello()
    assert got[0] == "WELCOME", got
    return c


def publish(client, items, out, batch=25):
    """items: [(local_id, payload)], published in batches, in order."""
    for i in range(0, len(items), batch):
        evs = [(lid, client.event("person.updated", record_id=lid, payload=p,
                                  payload_type="joinery.v1.Person"))
               for lid, p in items[i:i + batch]]
        got = client.publish([e for _, e in evs], timeout_ms=30000)
        for lid, e in evs:
            c = got.get(e.event_id)
            out[lid] = {"system": client.adapter,
                        "status": STATUS.get(c.status, "UNCONFIRMED") if c else "UNCONFIRMED",
                        "master_id": c.master_id if c else "", "reason": c.reason if c else ""}


def nhs_number(nine):
    """A valid NHS number from 9 digits (modulus 11), or None when no check digit fits."""
    total = sum(int(d) * (10 - i) for i, d in enumerate(nine))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return None if check == 10 else nine + str(check)


def small(sc, crm, out):
    ann = "9434765919"
    dan = next(n for n in (nhs_number("40012345%d" % k) for k in range(10)) if n)
    publish(sc, [("SC-1", J.person("Ann", "Smith", "1960-01-05", ann, "LS1 4AP")),
                 ("SC-2", J.person("Brian", "Jones", "1971-03-02", postcode="M1 1AE")),
                 ("SC-3", J.person("Carol", "White", "1985-07-19", postcode="BD1 1AA")),
                 ("SC-4", J.person("Dan", "Brown", "1950-01-01", dan, "LS2 7UE"))], out)
    publish(crm, [("CRM-1", J.person("Ann", "Smith", "1960-01-05", ann)),
                  ("CRM-2", J.person("Brian", "Jones", "1971-03-02", postcode="LS6 2QT")),
                  ("CRM-4", J.person("Dan", "Brown", "1990-06-15", dan)),
                  ('CRM-"5",x', J.person("Eve", "Black", "2001-02-03", postcode="S1 2AB"))],
            out)


GIVEN = {1: ["William", "Robert", "James", "John", "Thomas", "Michael", "David", "Daniel",
             "Samuel", "Joseph", "Peter", "George", "Oliver", "Harry", "Jacob", "Noah",
             "Arthur", "Ethan", "Mohammed", "Adam"],
         2: ["Elizabeth", "Margaret", "Katherine", "Patricia", "Samantha", "Josephine", "Olivia",
             "Amelia", "Isla", "Ava", "Emily", "Sophie", "Grace", "Lily", "Freya", "Chloe",
             "Ruby", "Aisha", "Zara", "Hannah"]}
NICK = {"William": "Bill", "Robert": "Bob", "James": "Jim", "John": "Jack", "Thomas": "Tom",
        "Michael": "Mike", "David": "Dave", "Daniel": "Danny", "Samuel": "Sam",
        "Joseph": "Joe", "Elizabeth": "Liz", "Margaret": "Peggy", "Katherine": "Kate",
        "Patricia": "Trish", "Samantha": "Sammy", "Josephine": "Josie"}
FAMILY = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
          "Patel", "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts",
          "Green", "Hall", "Wood", "Jackson", "Clarke", "Khan", "Hughes", "Edwards", "Hussain",
          "Lewis", "Harris", "Martin", "Cooper", "Ward", "Featherstone", "Oyelaran",
          "Kowalski", "Nguyen", "Murphy", "O'Brien", "Ahmed", "Begum", "Shaw", "Lloyd"]
OUTWARD = ["LS1", "LS2", "LS6", "LS7", "LS8", "LS11", "LS12", "LS15", "LS16", "LS17", "BD1",
           "BD3", "WF1", "HX1", "HD1"]
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def postcode(rng):
    return "%s %d%s%s" % (rng.choice(OUTWARD), rng.randint(1, 9), rng.choice(INWARD_LETTERS),
                          rng.choice(INWARD_LETTERS))


def bulk(sc, crm, out, n):
    rng = random.Random(20240607)
    households = [postcode(rng) for _ in range(n // 3)]
    people = []
    for i in range(n * 4 // 5):
        sex = rng.choice((1, 2))
        p = {"given": rng.choice(GIVEN[sex]), "family": rng.choice(FAMILY), "sex": sex,
             "dob": "%04d-%02d-%02d" % (rng.randint(1930, 2010), rng.randint(1, 12),
                                        rng.randint(1, 28)),
             "postcode": rng.choice(households),
             "phone": "07700 9%05d" % rng.randint(0, 99999) if rng.random() < 0.3 else ""}
        people.append(p)
    sc_items = [("SC-B%04d" % i, J.person(p["given"], p["family"], p["dob"],
                                          postcode=p["postcode"], phone=p["phone"], sex=p["sex"]))
                for i, p in enumerate(people)]
    crm_items = []
    for i in rng.sample(range(len(people)), n - len(people)):
        p = people[i]
        if p["given"] in NICK and rng.random() < 0.5:
            # A nickname and a new surname at the same address: queued, never linked.
            crm_items.append(("CRM-B%04d" % i, J.person(NICK[p["given"]], rng.choice(FAMILY),
                                                        p["dob"], postcode=p["postcode"],
                                                        sex=p["sex"])))
        else:
            # Moved to another district: same name and birth date, queued.
            moved = postcode(rng)
            while moved.split()[0] == p["postcode"].split()[0]:
                moved = postcode(rng)
            crm_items.append(("CRM-B%04d" % i, J.person(p["given"], p["family"], p["dob"],
                                                        postcode=moved, sex=p["sex"])))
    publish(sc, sc_items, out)
    publish(crm, crm_items, out)


sc, crm = connect("socialcare"), connect("crm")
result = {}
if MODE == "small":
    small(sc, crm, result)
else:
    bulk(sc, crm, result, int(sys.argv[3]))
for c in (sc, crm):
    c.close()
print(json.dumps(result))
