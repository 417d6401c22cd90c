"""errors_check.py ENDPOINT KEYDIR HUBLOG - ERROR replies a client can trust
and act on (see test_errors.sh), from raw ZeroMQ clients:

1. every reply parses with Python's protobuf, which refuses a proto3 string
   that is not valid UTF-8, when the request put invalid UTF-8 (or a
   multi-byte character the hub's quoting would cut) in every place the hub
   echoes: command name, HELLO adapter, subscription name, pattern, event
   id, type, source, payload_type;
2. an Error names the request it refuses (request_id, and the subscription
   for SUBSCRIBE/CREDIT), with several requests outstanding;
3. refused HELLOs are logged, naming the key's adapter and the claim, at
   most about once a second per key however many come, with the rest
   counted."""
import os
import re
import sys
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402
from joinery.v1 import protocol_pb2 as P  # noqa: E402

EP, KEYS, HUBLOG = sys.argv[1], sys.argv[2], sys.argv[3]
check = J.check
MAX_BATCH = 5  # hub.max_batch in test_errors.sh


varint, f_bytes, f_varint = J.varint, J.f_bytes, J.f_varint


def envelope(event_id=b"", type_=b"crm.contact.updated", source=b"", payload_type=b"",
             record=b""):
    return (f_bytes(1, event_id) + f_bytes(2, type_) + (f_bytes(3, source) if source else b"")
            + (f_bytes(4, record) if record else b"") + f_varint(6, J.now_us())
            + (f_bytes(11, payload_type) if payload_type else b"") + f_bytes(12, b"{}"))


# ---- a client that parses strictly and keeps what does not parse --------

class Raw:
    def __init__(self, name, as_name=None):
        self.c = J.Client.curve(EP, name, KEYS, as_name)
        self.name = as_name or name

    def send(self, command, body):
        self.c.sock.send_multipart([command, body])

    def recv(self, want=None, timeout_ms=J.TIMEOUT_MS):
        """The next message but HEARTBEAT (of command WANT, if given, skipping
        CONFIRMs and DELIVERs meanwhile) as (command, parsed message, body);
        the message is None if its body does not parse."""
        deadline = time.time() + timeout_ms / 1000.0
        while True:
            left = int((deadline - time.time()) * 1000)
            J.require(left > 0 and self.c.sock.poll(left), "%s: a reply%s" % (
                self.name, " " + want if want else ""))
            frames = self.c.sock.recv_multipart()
            cmd = frames[0].decode("ascii", "replace")
            body = frames[1] if len(frames) > 1 else b""
            if cmd == "HEARTBEAT" or (want and cmd != want and cmd in ("CONFIRM", "DELIVER")):
                continue
            try:
                msg = J.BODY[cmd].FromString(body) if cmd in J.BODY else None
            except Exception:  # DecodeError: here, invalid UTF-8 in a string
                msg = None
            return cmd, msg, body

    def confirms(self, ids):
        """{event_id: ConfirmEntry} for every id in IDS (a failed check if a
        CONFIRM does not parse or some never come)."""
        got = {}
        while set(ids) - set(got):
            cmd, m, body = self.recv("CONFIRM")
            J.require(cmd == "CONFIRM", "%s: CONFIRM, not %s %r" % (self.name, cmd, body[:200]))
            check(m is not None, "a CONFIRM parses (body %r)" % body[:300])
            for e in m.entries:
                got[e.event_id] = e
        return got

    def close(self):
        self.c.close()


def error_parses(label, reply, code=None, escaped=True):
    cmd, m, body = reply
    check(cmd == "ERROR", "%s: answered ERROR (%s)" % (label, cmd))
    check(m is not None, "%s: the ERROR parses as Error (body %r)" % (label, body[:300]))
    if code is not None:
        check(m.code == code, "%s: code %s (%s: %s)" % (label, P.ErrorCode.Name(code),
                                                         P.ErrorCode.Name(m.code), m.reason))
    if escaped:
        check("\\x" in m.reason + m.subscription,
              "%s: the invalid bytes are shown escaped: %r" % (label, m.reason))
    return m


def log_text():
    with open(HUBLOG, encoding="utf-8", errors="replace") as f:
        return f.read()


LOGGED = re.compile(r"refused HELLO from a connection with the Curve key of adapter 'flooder'")
MORE = re.compile(r"\(and (\d+) more refused since the last line")
SUMMARY = re.compile(r"(\d+) more HELLO\(s\) refused from connections with the Curve key of "
                     r"adapter 'flooder'")


def accounted():
    """(lines, refusals they account for) for the flooder's key."""
    lines = total = 0
    for ln in log_text().splitlines():
        a, b = LOGGED.search(ln), SUMMARY.search(ln)
        if a:
            more = MORE.search(ln)
            lines += 1
            total += 1 + (int(more.group(1)) if more else 0)
        elif b:
            lines += 1
            total += int(b.group(1))
    return lines, total


# ==== 1. every string the hub sends is valid UTF-8 ========================
def invalid_utf8_echoed():
    cut = "a" * 63 + "\u00e9"  # the hub quotes 64 bytes: a cut here leaves half a character
    crm = Raw("crm")
    crm.send(b"PUB\xffLISH", b"")
    error_parses("unknown command with \\xff", crm.recv(), P.ERROR_UNKNOWN_COMMAND)

    crm.send(b"HELLO", f_varint(1, 1) + f_bytes(2, b"cr\xffm"))
    error_parses("HELLO as 'cr\\xffm'", crm.recv(), P.ERROR_NOT_AUTHORISED)
    crm.send(b"HELLO", f_varint(1, 1) + f_bytes(2, cut.encode()))
    error_parses("HELLO as 63 a's and a 2-byte character", crm.recv(), P.ERROR_NOT_AUTHORISED,
                 escaped=False)
    crm.send(b"HELLO", P.Hello(protocol_version=1, adapter="crm").SerializeToString())
    cmd, m, _ = crm.recv()
    check(cmd == "WELCOME", "then HELLO as itself gets WELCOME (%s)" % cmd)

    crm.send(b"SUBSCRIBE", f_bytes(1, b"bad\xffname") + f_bytes(2, b"person.*"))
    m = error_parses("SUBSCRIBE named 'bad\\xffname'", crm.recv(), P.ERROR_BAD_REQUEST)
    check(m.subscription == "bad\\xffname", "its Error names the subscription, escaped: %r"
          % m.subscription)
    crm.send(b"SUBSCRIBE", f_bytes(1, cut.encode()) + f_bytes(2, b"person.*"))
    error_parses("SUBSCRIBE named 63 a's and a 2-byte character", crm.recv(), P.ERROR_BAD_REQUEST,
                 escaped=False)
    crm.send(b"SUBSCRIBE", f_bytes(1, b"ok") + f_bytes(2, b"person.\xff"))
    # a malformed pattern is the request's fault: BAD_REQUEST (docs/protocol.md 7.1)
    error_parses("SUBSCRIBE to pattern 'person.\\xff'", crm.recv(), P.ERROR_BAD_REQUEST)
    crm.send(b"CREDIT", f_bytes(1, b"none\xff") + f_varint(2, 5))
    error_parses("CREDIT for subscription 'none\\xff'", crm.recv(), P.ERROR_BAD_REQUEST)

    # Refused envelopes are confirmed REJECTED with a reason quoting them.
    pid = os.getpid()
    bad = {
        b"bad-id-\xff-%d" % pid: envelope(b"bad-id-\xff-%d" % pid),
        b"bad-type-%d" % pid: envelope(b"bad-type-%d" % pid, type_=b"crm.\xff"),
        b"bad-source-%d" % pid: envelope(b"bad-source-%d" % pid, source=b"cr\xffm"),
        b"bad-ptype-%d" % pid: envelope(b"bad-ptype-%d" % pid, type_=b"person.updated",
                                       payload_type=b"joinery.v1.\xff"),
    }
    crm.send(b"PUBLISH", b"".join(f_bytes(1, e) for e in bad.values()))
    want = [k.decode("utf-8", "backslashreplace") for k in bad]  # as the hub escapes them
    got = crm.confirms(want)
    for k in want:
        e = got[k]
        check(e.status == P.CONFIRM_REJECTED, "%s: REJECTED (%s: %s)" % (
            k, P.ConfirmStatus.Name(e.status), e.reason))
    check("\\xff" in got["bad-type-%d" % pid].reason, "the refused type is quoted escaped: %r"
          % got["bad-type-%d" % pid].reason)
    crm.close()


# ==== 2. an Error names its request =======================================
def errors_name_their_request():
    req = Raw("crm")
    req.send(b"PUBLISH", P.Publish(request_id=301).SerializeToString())
    m = error_parses("PUBLISH before HELLO", req.recv(), P.ERROR_NO_SESSION, escaped=False)
    check(m.request_id == 301, "NO_SESSION names the request: %d" % m.request_id)
    req.send(b"HELLO",
             P.Hello(protocol_version=9, adapter="crm", request_id=302).SerializeToString())
    m = error_parses("HELLO with version 9", req.recv(), P.ERROR_VERSION, escaped=False)
    check(m.request_id == 302, "a refused HELLO names the request: %d" % m.request_id)
    req.send(b"HELLO", P.Hello(protocol_version=1, adapter="crm").SerializeToString())
    check(req.recv()[0] == "WELCOME", "HELLO as itself gets WELCOME")

    # Several PUBLISHes outstanding: good, refused (none), good, refused (too many).
    good1, good2 = req.c.event("crm.contact.updated"), req.c.event("crm.contact.updated")
    req.send(b"PUBLISH", P.Publish(events=[good1], request_id=11).SerializeToString())
    req.send(b"PUBLISH", P.Publish(request_id=12).SerializeToString())
    req.send(b"PUBLISH", P.Publish(events=[good2], request_id=13).SerializeToString())
    many = [req.c.event("crm.contact.updated") for _ in range(MAX_BATCH + 1)]
    req.send(b"PUBLISH", P.Publish(events=many, request_id=14).SerializeToString())
    errors, confirmed = [], {}
    while len(errors) < 2 or len(confirmed) < 2:
        cmd, m, body = req.recv()
        if cmd == "ERROR":
            errors.append(m)
        elif cmd == "CONFIRM":
            confirmed.update({e.event_id: e for e in m.entries})
        else:
            J.require(False, "only ERROR and CONFIRM come: %s" % cmd)
    check([(e.request_id, e.code) for e in errors] == [(12, P.ERROR_BAD_REQUEST),
                                                        (14, P.ERROR_BAD_FRAME)],
          "the two refused PUBLISHes are named by their request_id: %s"
          % [(e.request_id, P.ErrorCode.Name(e.code), e.reason) for e in errors])
    check(set(confirmed) == {good1.event_id, good2.event_id} and
          all(e.status == P.CONFIRM_OK for e in confirmed.values()),
          "and the other two were taken: %s" % confirmed)

    req.send(b"SUBSCRIBE", P.Subscribe(subscription="allowed", patterns=["person.*"],
                                       request_id=21).SerializeToString())
    req.send(b"SUBSCRIBE", P.Subscribe(subscription="beyond", patterns=["case.*"],
                                       request_id=22).SerializeToString())
    cmd, m, _ = req.recv()
    check(cmd == "SUBSCRIBED" and m.subscription == "allowed",
          "the permitted SUBSCRIBE is answered")
    m = error_parses("SUBSCRIBE beyond what crm may", req.recv(), P.ERROR_NOT_AUTHORISED,
                     escaped=False)
    check((m.request_id, m.subscription) == (22, "beyond"),
          "its Error names the request and the subscription: %d %r"
          % (m.request_id, m.subscription))
    req.send(b"ACK", P.Ack(subscription="never", seqs=[1], request_id=23).SerializeToString())
    m = error_parses("ACK of an unknown subscription", req.recv(), P.ERROR_BAD_REQUEST,
                     escaped=False)
    check((m.request_id, m.subscription) == (23, "never"), "ACK's Error too: %d %r"
          % (m.request_id, m.subscription))
    req.send(b"PUBLISH", f_varint(15, 24) + b"\x0a\xff")  # a length past the end
    m = error_parses("an unparseable PUBLISH", req.recv(), P.ERROR_BAD_FRAME, escaped=False)
    check(m.request_id == 0, "has no request_id, as documented: %d" % m.request_id)
    req.send(b"PUBLISH", P.Publish().SerializeToString())  # a client that knows no request_id
    m = error_parses("an old client's empty PUBLISH", req.recv(), P.ERROR_BAD_REQUEST,
                     escaped=False)
    check(m.request_id == 0 and m.command == "PUBLISH", "is refused as before, request_id 0")
    req.close()


# ==== 3. refused HELLOs are logged, but not every one =====================
def refused_hellos_logged():
    pretender = Raw("socialcare", as_name="crm")
    pretender.send(b"HELLO", P.Hello(protocol_version=1, adapter="crm").SerializeToString())
    error_parses("socialcare's key saying HELLO as crm", pretender.recv(), P.ERROR_NOT_AUTHORISED,
                 escaped=False)
    line = J.wait_for("the impersonation in the hub's log", lambda: [
        ln for ln in log_text().splitlines()
        if "refused HELLO" in ln and "adapter 'socialcare'" in ln and "to be 'crm'" in ln])
    check(len(line) == 1, "logged once, naming the key's adapter and the claim: %s" % line)
    pretender.close()

    # A newline in the claim must not forge a log line (a key of its own: the
    # rate limit is per key).
    forger = Raw("forger")
    forger.send(b"HELLO", f_varint(1, 1) + f_bytes(2, b"cr\xffm\n2099-01-01 WARN forged"))
    error_parses("HELLO as 'cr\\xffm' and a newline", forger.recv(), P.ERROR_NOT_AUTHORISED)
    forger.close()
    forged = J.wait_for("the forged claim in the log", lambda: [
        ln for ln in log_text().splitlines() if "forged" in ln])
    check(len(forged) == 1 and "\\x0a2099" in forged[0] and "cr\\xffm" in forged[0],
          "a claimed name is logged escaped, on one line: %s" % forged)

    FLOOD = 10000
    flooder = Raw("flooder")
    hello = P.Hello(protocol_version=1, adapter="crm").SerializeToString()
    started = time.time()
    for _ in range(FLOOD):
        flooder.send(b"HELLO", hello)
    answered = 0
    while answered < FLOOD:
        cmd, m, _ = flooder.recv()
        J.require(cmd == "ERROR" and m is not None and m.code == P.ERROR_NOT_AUTHORISED,
                  "flood: every HELLO refused (%s)" % cmd)
        answered += 1
    took = time.time() - started
    check(answered == FLOOD, "%d refused HELLOs answered in %.1f s" % (FLOOD, took))
    flooder.close()

    # The suppressed ones are counted within a second or two after the flood.
    lines, total = J.wait_for("every refused HELLO of the flood accounted for in the log",
                              lambda: accounted() if accounted()[1] >= FLOOD else None)
    check(total == FLOOD,
          "the log accounts for exactly the %d refused HELLOs: %d" % (FLOOD, total))
    bound = int(took) + 3
    check(2 <= lines <= bound, "in %d lines: at most one a second (%.1f s: at most %d), and the "
          "count of those left out" % (lines, took, bound))


J.run_scenarios([invalid_utf8_echoed, errors_name_their_request, refused_hellos_logged])
J.finish("errors_check")
