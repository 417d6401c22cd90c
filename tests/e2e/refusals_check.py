"""refusals_check.py MODE ENDPOINT KEYDIR CONNINFO [curve|plain] - refused input
never fails a batch, and is kept within a quota (see test_refusals.sh).

poison: while crm publishes good events, finance sends envelopes with
invalid UTF-8 in their type, ids or record ids, a SUBSCRIBE with an invalid
name, and a third connection garbage before HELLO and a HELLO whose name is
invalid UTF-8, round after round, each round's messages sent together so
they share group commits. Every good event must be confirmed OK, every
poison envelope REJECTED, every other message answered with an ERROR that
parses (protobuf strings must be UTF-8), and the poison kept in
rejected_event with its text escaped and its bytes as sent.

quota: the hub runs with tiny refusals: quotas (test_refusals.sh). Garbage
before HELLO (adapter ''), oversize bodies and a refused envelope after
it: rejected_event holds at most keep_bytes_per_event per row and
keep_bytes_per_adapter_per_day / keep_rows_per_adapter_per_day per
adapter, each row the size and SHA-256 of what was sent, the rest is
counted in rejected_dropped; old refusals are expired by the schedule.

quota-restart: after a restart the day's quota is not renewed."""
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402
from google.protobuf.message import DecodeError  # noqa: E402
from joinery.v1 import envelope_pb2 as E  # noqa: E402
from joinery.v1 import protocol_pb2 as P  # noqa: E402

MODE, EP, KEYS, DB = sys.argv[1:5]
CURVE = len(sys.argv) < 6 or sys.argv[5] == "curve"
check, sql = J.check, J.Sql(DB)
ROUNDS = 10
GOOD_PER_ROUND = 20
DAY_US = 86400 * 1000000

# test_refusals.sh's refusals: section for the quota run.
KEEP_PER_EVENT = 1000
KEEP_BYTES_PER_ADAPTER = 5000
KEEP_ROWS_PER_ADAPTER = 12
MAX_MESSAGE_BYTES = 65536


varint, fld = J.varint, J.f_bytes


def client(name, hello=True):
    if CURVE:
        c = J.Client.curve(EP, name, KEYS)
    else:
        c = J.Client(EP, name)
    if hello:
        cmd, m = c.hello()
        J.require(cmd == "WELCOME", "%s connects: %s %s" % (name, cmd, m))
    return c


def recv(c, what):
    """The next message; a failed check if it does not parse (text not UTF-8)."""
    try:
        cmd, m = c.recv()
    except DecodeError as e:
        check(False, "%s: the hub's answer parses as protobuf (its strings are UTF-8): %s"
              % (what, e))
    J.require(cmd is not None, "%s: an answer" % what)
    return cmd, m


def poison_envelope(c, event_id=b"", type_=b"", record=b""):
    """An envelope with raw bytes where the protobuf library would refuse to write them."""
    base = E.Envelope(source=c.adapter, occurred_at=J.now_us()).SerializeToString()
    return base + fld(1, event_id) + fld(2, type_) + (fld(4, record) if record else b"")


def sha(b):
    return hashlib.sha256(b).hexdigest()


# ---- poison ------------------------------------------------------------------

def poison():
    crm, fin = client("crm"), client("finance")
    sent = {}  # event_id as the hub answers it -> (envelope bytes, expected status, reason part)
    for r in range(ROUNDS):
        good = [crm.event("crm.order", record_id="o-%d-%d" % (r, i)) for i in range(GOOD_PER_ROUND)]
        fgood = fin.event("finance.paid", record_id="inv-%d" % r)
        poisons = [
            ("ptype-%d" % r, poison_envelope(fin, b"ptype-%d" % r, b"finance.X\xffa"),
             "type 'finance.X\\xffa' is invalid"),
            ("ptype2-%d" % r, poison_envelope(fin, b"ptype2-%d" % r, b"finance.\xc3("),
             "type 'finance.\\xc3(' is invalid"),
            ("poverlong-%d" % r, poison_envelope(fin, b"poverlong-%d" % r, b"finance.paid",
                                                 b"rec-\xc0\x80"),
             "source_record_id must be UTF-8"),
            ("psurrogate-%d" % r, poison_envelope(fin, b"psurrogate-%d" % r, b"finance.paid",
                                                  b"rec-\xed\xa0\x80"),
             "source_record_id must be UTF-8"),
            ("bad-\\xff-%d" % r, poison_envelope(fin, b"bad-\xff-%d" % r, b"finance.paid"),
             "event_id must be"),
        ]
        for eid, env, why in poisons:
            sent[eid] = (env, P.CONFIRM_REJECTED, why)
        sent[fgood.event_id] = (fgood.SerializeToString(), P.CONFIRM_OK, "")
        for g in good:
            sent[g.event_id] = (g.SerializeToString(), P.CONFIRM_OK, "")
        stranger = client("crm", hello=False)
        # Everything at once, so that the poison rides in the good events' commits.
        crm.send("PUBLISH", P.Publish(events=good))
        fin.send_raw([b"PUBLISH", b"".join(fld(1, env) for _, env, _ in poisons) +
                      fld(1, fgood.SerializeToString())])
        stranger.send_raw([b"GARB\xffAGE", b"\xff\xfe" * 50])
        stranger.send_raw([b"HELLO", b"\x08\x01" + fld(2, b"cr\xffm")])
        fin.send_raw([b"SUBSCRIBE", fld(1, b"sub\xff") + fld(2, b"crm.*")])

        cmd, m = recv(stranger, "garbage before HELLO")
        check(cmd == "ERROR" and m.code == P.ERROR_UNKNOWN_COMMAND,
              "round %d: garbage before HELLO -> ERROR UNKNOWN_COMMAND: %s %s" % (r, cmd, m))
        cmd, m = recv(stranger, "HELLO with an invalid name")
        check(cmd == "ERROR" and m.code == P.ERROR_NOT_AUTHORISED and m.command == "HELLO",
              "round %d: HELLO naming 'cr\\xffm' -> ERROR NOT_AUTHORISED: %s %s" % (r, cmd, m))
        stranger.close()

        want = {g.event_id for g in good}
        got = {}
        while want - set(got):
            cmd, m = recv(crm, "crm's CONFIRMs")
            J.require(cmd == "CONFIRM", "crm: CONFIRM, got %s %s" % (cmd, m))
            for e in m.entries:
                got[e.event_id] = e
        bad = [(k, P.ConfirmStatus.Name(e.status), e.reason) for k, e in got.items()
               if e.status != P.CONFIRM_OK]
        check(not bad, "round %d: crm's %d good events sharing commits with the poison are "
              "confirmed OK (not OK: %s)" % (r, len(want), bad[:3]))

        want = {eid for eid, _, _ in poisons} | {fgood.event_id}
        got, errors = {}, []
        while want - set(got) or not errors:
            cmd, m = recv(fin, "finance's answers")
            if cmd == "ERROR":
                errors.append(m)
                continue
            J.require(cmd == "CONFIRM", "finance: CONFIRM, got %s %s" % (cmd, m))
            for e in m.entries:
                got[e.event_id] = e
        check(len(errors) == 1 and errors[0].code == P.ERROR_BAD_REQUEST and
              errors[0].command == "SUBSCRIBE",
              "round %d: SUBSCRIBE naming 'sub\\xff' -> ERROR BAD_REQUEST: %s" % (r, errors))
        for eid in sorted(want):
            e = got[eid]
            status, why = sent[eid][1], sent[eid][2]
            check(e.status == status and why in e.reason,
                  "round %d: finance's %s -> %s '%s': got %s '%s'" % (
                      r, eid, P.ConfirmStatus.Name(status), why, P.ConfirmStatus.Name(e.status),
                      e.reason))

    oks = [k for k, v in sent.items() if v[1] == P.CONFIRM_OK]
    check(int(sql("SELECT count(*) FROM journal WHERE source IN ('crm', 'finance')")) == len(oks),
          "every good event (%d) is journaled, no poison" % len(oks))
    rows = sql("SELECT event_id, type, encode(bytes, 'hex'), encode(sha256, 'hex'), size, "
               "truncated FROM rejected_event WHERE adapter = 'finance' ORDER BY id").splitlines()
    kept = {}
    for row in rows:
        eid, type_, hexbytes, digest, size, truncated = row.split("|")
        kept[eid] = (type_, hexbytes, digest, size, truncated)
    for eid, (env, status, _) in sent.items():
        if status != P.CONFIRM_REJECTED:
            continue
        k = kept.get(eid)
        check(k is not None and k[1] == env.hex() and k[2] == sha(env) and k[3] == str(len(env))
              and k[4] == "f",
              "%s is kept in rejected_event with the bytes as sent, their size and SHA-256 (%s)"
              % (eid, (k or ("",))[0]))
    check(kept.get("ptype-0", ("",))[0] == "finance.X\\xffa",
          "its type is kept as text, the invalid byte written \\xff: %r"
          % kept.get("ptype-0", ("",))[0])
    before = int(sql("SELECT count(*) FROM rejected_event WHERE adapter = '' AND reason = "
                     "'unknown command'"))
    check(before == ROUNDS, "each garbage frame before HELLO is kept under the adapter '' (%d)"
          % before)


# ---- quota -------------------------------------------------------------------

def rows_of(adapter):
    return [r.split("|") for r in sql(
        "SELECT encode(bytes, 'hex'), size, encode(sha256, 'hex'), truncated FROM rejected_event "
        "WHERE adapter = '%s' AND reason <> 'old' ORDER BY id" % adapter).splitlines()]


def dropped(adapter):
    return int(sql("SELECT coalesce(sum(dropped), 0) FROM rejected_dropped WHERE adapter = '%s'"
                   % adapter))


def check_kept(adapter, sent, nsent):
    rows = rows_of(adapter)
    by_hash = {sha(b): b for b in sent}
    check(len(rows) == KEEP_ROWS_PER_ADAPTER,
          "%s: %d of %d refusals get a row (keep_rows_per_adapter_per_day %d)"
          % (adapter or "''", len(rows), nsent, KEEP_ROWS_PER_ADAPTER))
    total = sum(len(h) // 2 for h, _, _, _ in rows)
    check(total == KEEP_BYTES_PER_ADAPTER,
          "%s: %d bytes kept in all, keep_bytes_per_adapter_per_day %d"
          % (adapter or "''", total, KEEP_BYTES_PER_ADAPTER))
    for i, (hexbytes, size, digest, truncated) in enumerate(rows):
        body = by_hash.get(digest)
        check(body is not None and size == str(len(body)) and truncated == "t" and
              bytes.fromhex(hexbytes) == body[:len(hexbytes) // 2] and
              len(hexbytes) // 2 == (KEEP_PER_EVENT if i < KEEP_BYTES_PER_ADAPTER // KEEP_PER_EVENT
                                     else 0),
              "%s row %d: %d bytes kept, the first of %s sent, and the SHA-256 of them all"
              % (adapter or "''", i, len(hexbytes) // 2, size))


def garbage(n, tag):
    return [tag + os.urandom(3000 - len(tag)) for _ in range(n)]


def quota():
    # Before HELLO, from a key holder: counted as the adapter ''.
    pre = client("crm", hello=False)
    junk = garbage(20, b"junk")
    for b in junk:
        pre.send_raw([b"JUNK", b"", b])  # three frames: the last is kept
    for i in range(len(junk)):
        cmd, m = recv(pre, "garbage %d" % i)
        J.require(cmd == "ERROR", "garbage -> ERROR: %s %s" % (cmd, m))
    pre.close()
    # After HELLO: bodies over max_message_bytes, then a refused envelope.
    crm = client("crm")
    big = garbage(15, b"big")
    big = [b + b"x" * (MAX_MESSAGE_BYTES + 100 - len(b)) for b in big]
    for b in big:
        crm.send_raw([b"PUBLISH", b])
        cmd, m = recv(crm, "oversize PUBLISH")
        J.require(cmd == "ERROR" and m.code == P.ERROR_TOO_LARGE, "oversize -> TOO_LARGE: %s %s"
                  % (cmd, m))
    env = poison_envelope(crm, b"over-quota", b"crm.BAD")
    crm.send_raw([b"PUBLISH", fld(1, env)])
    cmd, m = recv(crm, "a refused envelope past the quota")
    check(cmd == "CONFIRM" and m.entries[0].status == P.CONFIRM_REJECTED and
          "not kept" in m.entries[0].reason,
          "an envelope refused past the row quota is still answered REJECTED, saying it was not "
          "kept: %s" % m)
    ok = crm.publish_one(crm.event("crm.order", record_id="after-quota"))
    check(ok.status == P.CONFIRM_OK, "good events are not affected by the quota: %s" % ok)
    fin = client("finance")
    got = fin.publish_one(E.Envelope(event_id="fin-bad", type="finance.BAD", source="finance",
                                     occurred_at=J.now_us()))
    check(got.status == P.CONFIRM_REJECTED and "not kept" not in got.reason,
          "finance's quota is its own: its refusal is kept (%s)" % got.reason)

    check_kept("", junk, len(junk))
    check_kept("crm", big, len(big))
    J.wait_for("the job to count 8 refusals not kept from '' and 4 from crm",
               lambda: dropped("") == 8 and dropped("crm") == 4)
    check(True, "rejected_dropped counts 8 refusals not kept from '' and 4 from crm")

    # Expiry on the schedule (expire_every_s: 1): older than keep_days goes, younger stays.
    old = J.now_us() - 40 * DAY_US
    sql("INSERT INTO rejected_event (received_at, adapter, reason, bytes) VALUES "
        "(%d, 'crm', 'old', '\\x00'), (%d, 'crm', 'recent', '\\x00')" % (old, J.now_us() - 10 * DAY_US))
    sql("INSERT INTO rejected_dropped (day, adapter, dropped) VALUES (current_date - 40, 'crm', 7)")
    J.wait_for("the refusal 40 days old to be expired",
               lambda: sql("SELECT count(*) FROM rejected_event WHERE reason = 'old'") == "0")
    check(sql("SELECT count(*) FROM rejected_event WHERE reason = 'recent'") == "1",
          "a refusal older than keep_days (30) is expired, one of 10 days is not")
    check(sql("SELECT count(*) FROM rejected_dropped WHERE day < current_date - 30") == "0",
          "and the counts of days older than keep_days go with them")


def quota_restart():
    # test_refusals.sh restarted the hub after putting in a refusal 40 days old: once it is
    # gone, the hub's first job has run, and has read back what today already holds.
    J.wait_for("the restarted hub's first job to run",
               lambda: sql("SELECT count(*) FROM rejected_event WHERE reason = 'old2'") == "0")
    pre = client("crm", hello=False)
    pre.send_raw([b"JUNK", b"after restart"])
    cmd, m = recv(pre, "garbage after the restart")
    J.require(cmd == "ERROR", "garbage -> ERROR: %s %s" % (cmd, m))
    J.wait_for("the refusal after the restart to be counted, not kept",
               lambda: dropped("") == 9)
    check(len(rows_of("")) == KEEP_ROWS_PER_ADAPTER,
          "after a restart the day's quota goes on: the refusal is counted, not kept")


{"poison": poison, "quota": quota, "quota-restart": quota_restart}[MODE]()
J.finish("refusals_check " + MODE)
