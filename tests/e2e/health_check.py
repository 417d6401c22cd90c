"""health_check.py SCENARIO HOST PORT CONNINFO E2E_DIR - one scenario of test_health_mllp.sh.

The trust's side is Debian's python3-hl7: hl7.client.MLLPClient sends and reads the ACKs, the
mllp_send script sends a file, and hl7.parse reads every ACK. Only the pipelined and the
deliberately broken traffic (garbage, an oversize frame, a frame cut short, 20 connections with
50 messages each in flight) goes over plain sockets, since MLLPClient waits for each ACK."""
import os
import socket
import subprocess
import sys
import threading
import time

import hl7
import hl7.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pyjoinery import Sql, check, finish, wait_for  # noqa: E402

SCENARIO, HOST, PORT, CONNINFO, E2E_DIR = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    sys.argv[4], sys.argv[5]
CORPUS = os.path.join(os.environ["JOINERY_SOURCE_DIR"], "tests", "data", "hl7v2")
sql = Sql(CONNINFO)
SB, EB, CR = b"\x0b", b"\x1c", b"\r"


def client(timeout=30):
    c = hl7.client.MLLPClient(HOST, PORT)
    c.socket.settimeout(timeout)
    return c


def msa(ack):
    """(MSA-1, MSA-2, the ACK's text) of an ACK as hl7.parse reads it."""
    text = ack.decode("utf-8", "replace").strip("\x0b\x1c\r\n")
    m = hl7.parse(text)
    seg = m.segment("MSA")
    return str(seg[1]), str(seg[2]), text


def control_id(raw):
    """MSH-10 and MSH-9.1 of a message, read with its own field and component separators."""
    first = raw.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r")[0]
    first = first.lstrip(b"\xef\xbb\xbf")
    sep = first[3:4]
    fields = first.split(sep)
    comp = fields[1][0:1]
    return fields[9].decode(), fields[8].split(comp)[0].decode()


def journal(where="true"):
    rows = sql("SELECT type, count(*) FROM journal WHERE source = 'health' AND (%s) "
               "GROUP BY type ORDER BY type" % where)
    return dict((t, int(n)) for t, n in (r.split("|") for r in rows.splitlines() if r))


def adt(cid, local, nhs="", trigger="A31", family="Smith", given="Ann", dob="19800115",
        postcode="LS1 4AP", extra=""):
    ids = "%s^^^RR8^MR" % local + ("~%s^^^NHS^NH" % nhs if nhs else "")
    return ("MSH|^~\\&|PAS|RR8|JOINERY|LCC|20240301093000||ADT^%s^ADT_A05|%s|P|2.5\r"
            "EVN|%s|20240301093000\r"
            "PID|1||%s||%s^%s^^^^^L||%s|F|||1 High Street^^Leeds^^%s^GBR^H\r%s"
            % (trigger, cid, trigger, ids, family, given, dob, postcode, extra)).encode()


def send_ack(c, raw):
    return msa(c.send_message(raw))


# ---- scenarios -------------------------------------------------------------------------------

def corpus():
    files = sorted(f for f in os.listdir(CORPUS) if f.endswith(".hl7"))
    check(len(files) == 139, "the corpus holds 139 messages (%d)" % len(files))
    by_type = {}
    mapped = []
    c = client()
    for name in files:
        with open(os.path.join(CORPUS, name), "rb") as f:
            raw = f.read().replace(b"\r\n", b"\r").replace(b"\n", b"\r")
        cid, mtype = control_id(raw)
        code, answered, text = send_ack(c, raw)
        if answered != cid:
            check(False, "%s: MSA-2 %r answers its MSH-10 %r" % (name, answered, cid))
        by_type.setdefault(mtype, {}).setdefault(code, 0)
        by_type[mtype][code] += 1
        if mtype == "ADT":
            mapped.append((name, raw, code))
    c.close()
    check(True, "all 139 ACKs came, each with MSA-2 equal to its message's MSH-10")
    print("ACK codes by type:", by_type, flush=True)
    # Unmapped types are accepted (unmapped: accept); 4 American ADT messages give a ZIP code
    # and no country, dropped on its own: AE, the rest published (docs/adapters.md section 6).
    want = {"ADT": {"AA": 55, "AE": 4}, "BAR": {"AA": 6}, "DFT": {"AA": 4}, "MDM": {"AA": 13},
            "OMG": {"AA": 2}, "OML": {"AA": 4}, "ORM": {"AA": 8}, "ORU": {"AA": 5},
            "OUL": {"AA": 6}, "PPR": {"AA": 3}, "RDE": {"AA": 4}, "RDS": {"AA": 2},
            "REF": {"AA": 4}, "SIU": {"AA": 15}, "VXU": {"AA": 4}}
    check(by_type == want, "ACK codes by message type are %s" % want)
    want_journal = {"health.admission": 5, "health.discharge": 2, "person.merged": 2,
                    "person.updated": 15}
    got = wait_for("the journal to hold the corpus's events", lambda: journal() == want_journal
                   and journal())
    check(got == want_journal, "the journal holds %s" % want_journal)
    # Resent (a trust that lost its ACKs): the same answers, and not one more event.
    c = client()
    resent = 0
    for name, raw, first in mapped:
        code, answered, _ = send_ack(c, raw)
        resent += 1
        if (code, answered) != (first, control_id(raw)[0]):
            check(False, "%s resent: %s again (%s %s)" % (name, first, code, answered))
    c.close()
    check(journal() == want_journal, "after %d resends the journal still holds %s"
          % (resent, want_journal))


def golden(local):
    """(NHS number, given name) of the golden record LOCAL resolves to; None if there is none."""
    row = sql("SELECT coalesce(g.fields->'nhs_number'->>'v', '-') || '|' || "
              "coalesce(g.fields->'name.given'->>'v', '-') FROM xref x JOIN golden_person g "
              "ON g.master_id = x.master_id WHERE x.system = 'health' AND x.local_id = '%s'"
              % local)
    return tuple(row.split("|")) if row else None


def uk():
    # mllp_send, the script, sends two messages from a file: a valid NHS number, then a wrong
    # check digit (9434765918: the check digit of 943476591 is 9).
    path = os.path.join(E2E_DIR, "uk.hl7")
    good = adt("UK-1", "RR8-UK-1", nhs="9434765919", family="Patel", given="Asha")
    bad = adt("UK-2", "RR8-UK-2", nhs="9434765918", family="Jones", given="Carys")
    with open(path, "wb") as f:
        f.write(SB + good + EB + CR + SB + bad + EB + CR)
    out = subprocess.run(["mllp_send", "-p", str(PORT), "-f", path, HOST], check=True,
                         capture_output=True, timeout=60).stdout
    acks = [a for a in out.split(EB) if a.strip(b"\x0b\r\n")]
    check(len(acks) == 2, "mllp_send got two ACKs (%d)" % len(acks))
    code1, id1, _ = msa(acks[0])
    code2, id2, text2 = msa(acks[1])
    check((code1, id1) == ("AA", "UK-1"), "a valid NHS number: AA for UK-1 (%s %s)" % (code1, id1))
    check((code2, id2) == ("AE", "UK-2"), "a bad check digit: AE for UK-2 (%s %s)" % (code2, id2))
    err = hl7.parse(text2).segment("ERR")
    check(str(err[2]) == "PID^1^3^2^1" and "NHS number" in str(err[8])
          and "modulus 11" in str(err[8]),
          "the AE's ERR names PID-3 repetition 2 and says why: %s / %s" % (err[2], err[8]))
    g1, g2 = golden("RR8-UK-1"), golden("RR8-UK-2")
    check(g1 == ("9434765919", "Asha"), "UK-1's golden record has its NHS number: %s" % (g1,))
    check(g2 == ("-", "Carys"),
          "UK-2's golden record exists, with its name and without the NHS number: %s" % (g2,))
    raw_kept = sql("SELECT count(*) FROM journal WHERE source = 'health' AND event_id LIKE "
                   "'hl7-RR8-UK-2-%' AND position(convert_to('9434765918', 'UTF8') in "
                   "envelope) > 0")
    check(int(raw_kept) == 1, "the refused NHS number's bytes are kept with UK-2's event "
          "(attribute hl7.dropped.1)")


def pgdown():
    pgctl = os.path.join(E2E_DIR, "pgctl.sh")
    c = client()
    code, _, _ = send_ack(c, adt("PG-0", "RR8-PG-0"))
    check(code == "AA", "with the database up: AA")
    subprocess.run([pgctl, "stop", "-m", "fast"], check=True)
    try:
        c.socket.settimeout(3)
        try:
            ack = c.send_message(adt("PG-1", "RR8-PG-1"))
        except socket.timeout:
            ack = None
        check(ack is None, "with the database stopped: no ACK in 3 s (%r)" % ack)
    finally:
        subprocess.run([pgctl, "start"], check=True)
    c.socket.settimeout(60)
    code, answered, _ = msa(c.socket.recv(4096))
    check((code, answered) == ("AA", "PG-1"), "once it is back: AA for PG-1 on the same "
          "connection (%s %s)" % (code, answered))
    check(journal("event_id LIKE 'hl7-RR8-PG-1-%'") == {"person.updated": 1},
          "PG-1 is journaled once")
    c.close()


def oversize_message(cid):
    note = "NTE|1||" + "x" * 70000 + "\r"
    return adt(cid, "RR8-BIG", extra=note)


def garbage():
    a, b = client(), client()
    check(send_ack(b, adt("G-B0", "RR8-GB"))[0:2] == ("AA", "G-B0"), "connection B works")
    a.socket.sendall(b"hello, this is not MLLP\r\n")
    code, answered, text = send_ack(a, oversize_message("G-BIG"))
    check((code, answered) == ("AR", "G-BIG") and "65536" in text,
          "a frame over max_frame_bytes is refused with AR naming the limit (%s %s)"
          % (code, answered))
    a.socket.sendall(SB + b"MSH|^~\\&|PAS|RR8|JOINERY|LCC|2024||ADT^A31|G-CUT|P|2.5\rPID|1")
    code, answered, _ = send_ack(a, adt("G-A1", "RR8-GA"))
    check((code, answered) == ("AA", "G-A1"),
          "after garbage, an oversize frame and a frame cut short, the next message on the same "
          "connection is answered AA (%s %s)" % (code, answered))
    code, answered, _ = send_ack(a, b"this is not HL7 at all")
    check((code, answered) == ("AR", ""), "an unreadable message: AR (%s %r)" % (code, answered))
    code, answered, _ = send_ack(b, adt("G-B1", "RR8-GB"))
    check((code, answered) == ("AA", "G-B1"), "connection B was not disturbed")
    check(journal("event_id LIKE 'hl7-RR8-G-CUT-%' OR event_id LIKE 'hl7-RR8-G-BIG-%'") == {},
          "neither the cut nor the oversize message was published")
    a.close()
    b.close()


def concurrent():
    conns, per = 20, 50
    results = [None] * conns

    def run(k):
        s = socket.create_connection((HOST, PORT))
        s.settimeout(60)
        cids = ["C%02d-%03d" % (k, i) for i in range(per)]
        s.sendall(b"".join(SB + adt(cid, "RR8-CC-%02d" % k, family="Conc%d" % i) + EB + CR
                           for i, cid in enumerate(cids)))
        buf, acks = b"", []
        while len(acks) < per:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            while EB + CR in buf:
                one, buf = buf.split(EB + CR, 1)
                acks.append(msa(one))
        s.close()
        results[k] = (cids, [(c, a) for c, a, _ in acks])

    t0 = time.time()
    threads = [threading.Thread(target=run, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    took = time.time() - t0
    for k, r in enumerate(results):
        check(r is not None and r[1] == [("AA", cid) for cid in r[0]],
              "connection %d: %d ACKs, all AA, in message order" % (k, per))
    print("%d messages on %d connections in %.2f s" % (conns * per, conns, took), flush=True)
    check(journal("event_id LIKE 'hl7-RR8-C%'") == {"person.updated": conns * per},
          "the journal holds the %d events" % (conns * per))


def killed_before():
    c = client(timeout=3)
    try:
        ack = c.send_message(adt("K-1", "RR8-K-1"))
    except socket.timeout:
        ack = None
    check(ack is None, "with the hub dead: no ACK in 3 s (%r)" % ack)
    c.close()  # the trust gives up on this connection and will resend


def killed_after():
    c = client(timeout=60)
    code, answered, _ = send_ack(c, adt("K-1", "RR8-K-1"))
    check((code, answered) == ("AA", "K-1"), "after the hub's restart the resend on a new "
          "connection gets AA (%s %s)" % (code, answered))
    c.close()
    check(journal("event_id LIKE 'hl7-RR8-K-1-%'") == {"person.updated": 1},
          "and the journal holds K-1 once")


{"corpus": corpus, "uk": uk, "pgdown": pgdown, "garbage": garbage, "concurrent": concurrent,
 "killed_before": killed_before, "killed_after": killed_after}[SCENARIO]()
finish("health_check " + SCENARIO)
