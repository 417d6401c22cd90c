"""health_outbound_check.py ENDPOINT CONNINFO HOST MLLP_PORT TRUST_PORT - the scenarios of
test_health_outbound.sh.

The trust is two things here: its sending side, Debian's python3-hl7 (hl7.client.MLLPClient)
sending ADT into joinery-health's listener at HOST:MLLP_PORT; and its receiving side, Receiver,
a small MLLP server of this file's on TRUST_PORT that records every message joinery-health sends
it (read back with hl7.parse) and answers AA, or AE to a message carrying AE_PHONE. The second
system, crm, is a raw pyjoinery client."""
import os
import socket
import sys
import threading
import time

import hl7
import hl7.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402
from joinery.v1 import person_pb2 as PERSON  # noqa: E402
from joinery.v1 import protocol_pb2 as P  # noqa: E402

EP, DB, HOST, MLLP_PORT, TRUST_PORT = sys.argv[1], sys.argv[2], sys.argv[3], \
    int(sys.argv[4]), int(sys.argv[5])
check, sql = J.check, J.Sql(DB)
SB, EB, CR = b"\x0b", b"\x1c", b"\r"
AE_PHONE = "07700900666"
AE_WORDS = "Patient record locked by another user at the trust"


def nhs(base9):
    """BASE9 (9 digits) with its modulus 11 check digit: a valid NHS number."""
    total = sum(int(d) * (10 - i) for i, d in enumerate(base9))
    check_digit = 11 - total % 11
    check_digit = 0 if check_digit == 11 else check_digit
    assert check_digit != 10, base9
    return base9 + str(check_digit)


class Receiver:
    """The trust's MLLP receiver: up() listens, down() closes the listener and every
    connection. Each message is kept as (MSH-10, MSH-9, PID-3, PID-13, MRG-1, hl7 message)."""

    def __init__(self, port):
        self.port = port
        self.got = []
        self.lock = threading.Lock()
        self.lsock = None
        self.conns = []
        self.hang_up_on = None  # a phone: its message is kept, and the connection closed unanswered

    def up(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(8)
        self.lsock = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def down(self):
        # shutdown first: a thread blocked in accept() would keep a merely closed socket
        # listening.
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self.conns = []

    def _accept(self, lsock):
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        while True:
            try:
                data = c.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            while EB in buf:
                frame, buf = buf.split(EB, 1)
                buf = buf[1:] if buf.startswith(CR) else buf
                text = frame.lstrip(SB).decode("utf-8")
                m = hl7.parse(text)
                msh, pid = m.segment("MSH"), m.segment("PID")
                mrg = m.segments("MRG")[0] if any(str(s[0]) == "MRG" for s in m) else None
                rec = (str(msh[10]), str(msh[9]), str(pid[3]), str(pid[13]),
                       str(mrg[1]) if mrg else "", text)
                with self.lock:
                    self.got.append(rec)
                    hang_up = self.hang_up_on is not None and self.hang_up_on in rec[3]
                    if hang_up:
                        self.hang_up_on = None
                if hang_up:
                    c.close()
                    return
                code, extra = ("AE", "|" + AE_WORDS) if AE_PHONE in rec[3] else ("AA", "")
                ack = ("MSH|^~\\&|PAS|RR8|JOINERY|LCC|20240301093000||ACK|A%s|P|2.5\r"
                       "MSA|%s|%s%s\r" % (rec[0], code, rec[0], extra)).encode()
                try:
                    c.sendall(SB + ack + EB + CR)
                except OSError:
                    return

    def messages(self):
        with self.lock:
            return list(self.got)


def adt(cid, local, nhs_number, family, given, dob, trigger="A31", extra=""):
    return ("MSH|^~\\&|PAS|RR8|JOINERY|LCC|20240301093000||ADT^%s^ADT_A05|%s|P|2.5\r"
            "EVN|%s|20240301093000\r"
            "PID|1||%s^^^RR8^MR~%s^^^NHS^NH||%s^%s^^^^^L||%s|F\r%s"
            % (trigger, cid, trigger, local, nhs_number, family, given, dob, extra)).encode()


def trust_send(raw):
    """Sends RAW into joinery-health as the trust does; MSA-1 of the answer."""
    c = hl7.client.MLLPClient(HOST, MLLP_PORT)
    c.socket.settimeout(30)
    ack = c.send_message(raw)
    c.close()
    return str(hl7.parse(ack.decode().strip("\x0b\x1c\r\n")).segment("MSA")[1])


def master_of(system, local):
    return sql("SELECT master_id FROM xref WHERE system = '%s' AND local_id = '%s'"
               % (system, local))


def crm_update(local, nhs_number, family, given, dob, phone):
    env = crm.event("person.updated", record_id=local, payload_type="joinery.v1.Person",
                    payload=J.person(given, family, dob, nhs_number, phone=phone))
    got = crm.publish_one(env)
    check(got.status == P.CONFIRM_OK, "crm's %s phone %s is journaled" % (local, phone))
    return got


def phones_of(local):
    """The phones the receiver was sent for the trust's LOCAL, in the order they came."""
    return [m[3].split("^")[0] for m in rx.messages() if m[2].split("^")[0] == local and m[3]]


rx = Receiver(TRUST_PORT)
crm = J.Client(EP, "crm")
check(crm.hello()[0] == "WELCOME", "crm connects")
check(crm.subscribe("people", ["person.*", "probe.*"], credit=100)[0] == "SUBSCRIBED",
      "crm subscribes")

# Two of the trust's patients, sent in by the trust (so the hub has its ids), then known to
# the crm too: one golden record each, with both systems' ids.
PEOPLE = {"RR8-OUT-1": ("CRM-1", "9434765919", "Patel", "Asha",
                        "1980-01-15"),
          "RR8-OUT-2": ("CRM-2", nhs("401023213"), "Jones", "Carys", "1975-06-30")}


def changed():
    for i, (local, (crm_id, number, family, given, dob)) in enumerate(PEOPLE.items()):
        code = trust_send(adt("IN-%d" % i, local, number, family, given, dob.replace("-", "")))
        check(code == "AA", "the trust sends in %s (NHS %s): AA" % (local, number))
    rx.up()
    for local, (crm_id, number, family, given, dob) in PEOPLE.items():
        got = crm_update(crm_id, number, family, given, dob, "07700900100")
        check(got.master_id == master_of("health", local),
              "crm's %s links to the trust's %s by NHS number" % (crm_id, local))
    for local in PEOPLE:
        J.wait_for("an A31 for %s with the crm's phone" % local,
                   lambda: "07700900100" in phones_of(local))
    a31 = [m for m in rx.messages() if m[2].split("^")[0] == "RR8-OUT-1"][0]
    check(a31[1] == "ADT^A31^ADT_A05" and a31[2] == "RR8-OUT-1^^^RR8^MR"
          and a31[3].startswith("07700900100^PRN^"),
          "A31 in the trust's own MR id, with the changed phone: PID-3 %s PID-13 %s"
          % (a31[2], a31[3]))
    check(a31[0].isdigit() and len(a31[0]) <= 20, "MSH-10 is the event's seq (%s)" % a31[0])
    seq = sql("SELECT seq FROM journal WHERE type = 'person.changed' AND position("
              "convert_to('RR8-OUT-1', 'UTF8') in envelope) > 0 ORDER BY seq LIMIT 1")
    check(a31[0] == seq, "... the seq of the person.changed to the trust (%s)" % seq)
    # A person the trust has never heard of: A28, named by the master id.
    got = crm_update("CRM-NEW", nhs("123456788"), "Evans", "Dylan", "1990-02-03", "07700900200")
    new = J.wait_for("an A28 for the crm's new person", lambda: [
        m for m in rx.messages() if m[2].split("^")[0] == got.master_id])
    check(new[0][1] == "ADT^A28^ADT_A05" and new[0][2].startswith(got.master_id + "^^^LCC^PI"),
          "a person new to the trust comes as A28 by master id: %s %s" % (new[0][1], new[0][2]))
    crm.collect()


def down():
    rx.down()
    before = len(rx.messages())
    t0 = time.time()
    for n in (1, 2, 3):
        for local, (crm_id, number, family, given, dob) in PEOPLE.items():
            crm_update(crm_id, number, family, given, dob, "0770090030%d" % n)
    time.sleep(max(0.0, 5 - (time.time() - t0)))
    check(len(rx.messages()) == before, "nothing arrives while the trust is down")
    rx.up()
    want = ["07700900301", "07700900302", "07700900303"]
    for local in PEOPLE:
        J.wait_for("three A31s for %s once the trust is back" % local,
                   lambda: len(phones_of(local)) >= 4)
        got = phones_of(local)[1:]
        check(got == want, "%s: every change arrives once, in order: %s" % (local, got))
    crm.collect()


def hang_up():
    # The trust takes a message and drops the connection before its ACK: it comes again, with
    # the same control id, and the person's next change only after it.
    crm_id, number, family, given, dob = PEOPLE["RR8-OUT-1"]
    rx.hang_up_on = "07700900350"
    crm_update(crm_id, number, family, given, dob, "07700900350")
    crm_update(crm_id, number, family, given, dob, "07700900351")
    J.wait_for("the change after the unanswered one",
               lambda: phones_of("RR8-OUT-1")[-1:] == ["07700900351"])
    got = phones_of("RR8-OUT-1")[-3:]
    check(got == ["07700900350", "07700900350", "07700900351"],
          "the unanswered message is sent again before the next: %s" % got)
    ids = [m[0] for m in rx.messages() if "07700900350" in m[3]]
    check(len(ids) == 2 and ids[0] == ids[1], "with the same control id: %s" % ids)
    crm.collect()


def ae():
    crm_id, number, family, given, dob = PEOPLE["RR8-OUT-2"]
    crm_update(crm_id, number, family, given, dob, AE_PHONE)
    J.wait_for("the dead letter of the message the trust answered AE", lambda: sql(
        "SELECT reason FROM dead_letter WHERE adapter = 'health' AND subscription = 'trust-out'"))
    reason = sql("SELECT reason FROM dead_letter WHERE adapter = 'health'")
    check(reason == "the trust answered AE: " + AE_WORDS,
          "the event is dead-lettered with the trust's words: %r" % reason)
    crm_update(crm_id, number, family, given, dob, "07700900400")
    J.wait_for("the next change of the same person",
               lambda: phones_of("RR8-OUT-2")[-1:] == ["07700900400"])
    check(phones_of("RR8-OUT-2")[-2:] == [AE_PHONE, "07700900400"],
          "later messages still flow after the AE")
    crm.collect()


def merge():
    # Two patients the trust (and the crm) know apart, then the trust's A40: RR8-M-1 survives.
    pair = {"RR8-M-1": ("CRM-M1", nhs("485777345"), "Khan", "Imran", "1966-04-04"),
            "RR8-M-2": ("CRM-M2", nhs("485777310"), "Khan", "Imran", "1966-04-05")}
    for i, (local, (crm_id, number, family, given, dob)) in enumerate(pair.items()):
        check(trust_send(adt("INM-%d" % i, local, number, family, given, dob.replace("-", "")))
              == "AA", "the trust sends in %s" % local)
        crm_update(crm_id, number, family, given, dob, "0770090050%d" % i)
    survivor, retired = master_of("health", "RR8-M-1"), master_of("health", "RR8-M-2")
    check(survivor and retired and survivor != retired, "two golden records (%s, %s)"
          % (survivor, retired))
    check(master_of("crm", "CRM-M1") == survivor and master_of("crm", "CRM-M2") == retired,
          "the crm's two records are linked to them")
    crm.collect()
    a40 = ("MSH|^~\\&|PAS|RR8|JOINERY|LCC|20240301093000||ADT^A40^ADT_A39|INM-9|P|2.5\r"
           "EVN|A40|20240301093000\r"
           "PID|1||RR8-M-1^^^RR8^MR~%s^^^NHS^NH||Khan^Imran^^^^^L||19660404|M\r"
           "MRG|RR8-M-2^^^RR8^MR\r" % pair["RR8-M-1"][1]).encode()
    check(trust_send(a40) == "AA", "the trust's A40 (MRG-1 RR8-M-2, the retired id): AA")
    got = J.of_type(crm.collect(J.has_type("person.merged"), "crm hears person.merged"),
                    "person.merged")
    pm = J.payload_of(got[0], PERSON.PersonMerged)
    check(len(got) == 1 and pm.survivor_local_id == "CRM-M1" and pm.retired_local_id == "CRM-M2"
          and pm.survivor_master_id == survivor and pm.retired_master_id == retired,
          "the crm hears person.merged in its own ids: %s <- %s" % (pm.survivor_local_id,
                                                                    pm.retired_local_id))
    check(sql("SELECT state || ' ' || redirect_to FROM golden_person WHERE master_id = '%s'"
              % retired) == "REDIRECTED " + survivor,
          "the retired golden record redirects to the survivor")
    check(master_of("health", "RR8-M-2") == survivor and master_of("crm", "CRM-M2") == survivor,
          "every local id of the retired record now names the survivor")
    time.sleep(0.5)
    check(not [m for m in rx.messages() if m[1].startswith("ADT^A40")],
          "the trust is not sent its own merge back")


J.run_scenarios([changed, down, hang_up, ae, merge])
if J.failed:
    print("the receiver got, last 8:", [m[:5] for m in rx.messages()][-8:])
crm.close()
J.finish("health_outbound_check")
