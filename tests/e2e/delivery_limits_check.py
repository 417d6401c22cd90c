#!/usr/bin/env python3
"""delivery_limits_check.py PHASE ENDPOINT KEYDIR CONNINFO HUB_PID

One phase of tests/e2e/test_delivery_limits.sh (which restarts the hub
between phases): long pattern lists, attempt counts across restarts, and the
hub's memory under large events and garbage. Raw protocol clients from
pyjoinery, over CurveZMQ."""
import hashlib
import os
import random
import sys
import time

import zmq

sys.path.insert(0, os.path.dirname(__file__))
from pyjoinery import P, Client, Sql, check, finish, require, wait_for  # noqa: E402

PHASE, ENDPOINT, KEYS, CONNINFO, HUB_PID = sys.argv[1:6]
SANITIZED = os.environ.get("SANITIZED") == "1"
sql = Sql(CONNINFO)

WIDE = ["crm.wide-topic-%03d.*" % i for i in range(300)]  # about 7 KB as a text[] literal
POISON = ["crm.poison", "probe.*"]
MAX_ATTEMPTS = 3
MIB = 1024 * 1024
WINDOW_BYTES = 32 * MIB
# What the hub may hold besides its window, above its idle RSS: deliveries in
# flight (credit 8 x 500 KB, and the batches they pin), the message being
# read, the pending and committing batches, one catch-up read (window/8) and
# its PostgreSQL result, the DELIVER buffer and ZeroMQ's copies of it, and the
# allocator's slack across three threads' arenas.
FIXED_OVERHEAD = 64 * MIB
BIG = 500 * 1000
NBIG = 300
GARBAGE_ROUNDS = 5000  # x 4 connections


def client(name):
    c = Client.curve(ENDPOINT, name, KEYS)
    cmd, _ = c.hello()
    require(cmd == "WELCOME", "%s: WELCOME (got %s)" % (name, cmd))
    return c


def status_kib(field):
    with open("/proc/%s/status" % HUB_PID) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError("no %s for pid %s" % (field, HUB_PID))


# ---- item 2: long pattern lists -------------------------------------------

def patterns_subscribe():
    sc, fin, crm = client("socialcare"), client("finance"), client("crm")
    # The SUBSCRIBE and another adapter's publish in the same moment: before
    # the fix the commit holding the new subscription failed, and took the
    # publish with it.
    sc.send("SUBSCRIBE", P.Subscribe(subscription="wide", patterns=WIDE, credit=10))
    fin_event = fin.event("finance.invoice.paid", record_id="inv-1")
    fin.send("PUBLISH", P.Publish(events=[fin_event]))
    cmd, m = sc.recv()
    check(cmd == "SUBSCRIBED", "300 patterns (%d bytes of them): SUBSCRIBED (got %s %s)" % (
        sum(len(p) for p in WIDE), cmd, m))
    cmd, m = fin.recv()
    check(cmd == "CONFIRM" and m.entries[0].status == P.CONFIRM_OK,
          "finance's publish of the same moment is confirmed OK (got %s %s)" % (cmd, m))
    got = crm.publish_one(crm.event("crm.wide-topic-007.created", record_id="w-1",
                                    event_id="wide-after-subscribe"))
    check(got.status == P.CONFIRM_OK, "an event for the wide subscription is journaled")
    # Its CONFIRM came after the commit of the subscription's row (commits
    # are in order), so the row is there now, with every pattern.
    n = sql("SELECT coalesce(array_length(patterns, 1), 0) FROM subscription "
            "WHERE adapter = 'socialcare' AND name = 'wide'")
    check(n == "300", "the subscription row holds all 300 patterns (got %r)" % n)
    for c in (sc, fin, crm):
        c.close()


def patterns_after_restart():
    sc = client("socialcare")
    cmd, m = sc.subscribe("wide", WIDE, credit=10)
    check(cmd == "SUBSCRIBED", "after kill -9: SUBSCRIBED again (got %s)" % cmd)
    got = sc.receive(lambda g: any(x.env.event_id == "wide-after-subscribe" for x in g),
                     "the event published after the first SUBSCRIBE, delivered after restart")
    check(any(x.env.event_id == "wide-after-subscribe" for x in got),
          "the subscription resumed where it was, not at the head")
    too_many = ["crm.many-%04d" % i for i in range(1025)]
    cmd, m = sc.subscribe("too-many", too_many)
    check(cmd == "ERROR" and m.code == P.ERROR_BAD_REQUEST and "at most 1024 patterns" in m.reason,
          "1025 patterns: ERROR BAD_REQUEST naming the limit (got %s %s)" % (cmd, m))
    n = sql("SELECT count(*) FROM subscription WHERE name = 'too-many'")
    check(n == "0", "the refused subscription was not stored")
    sc.close()


# ---- item 4: attempts across restarts --------------------------------------

def poison_seq():
    return int(sql("SELECT seq FROM journal WHERE event_id = 'poison-1'") or 0)


def attempt_row():
    return sql("SELECT attempts FROM delivery_attempt WHERE adapter = 'socialcare' AND "
               "subscription = 'poison' AND seq = %d" % poison_seq())


def take_poison(want_attempt, wait_saved):
    sc = client("socialcare")
    # New in the first round: from the beginning, to take poison-1 published before.
    cmd, _ = sc.subscribe("poison", POISON, credit=10, from_beginning=want_attempt == 1)
    require(cmd == "SUBSCRIBED", "poison: SUBSCRIBED (got %s)" % cmd)
    got = sc.receive(lambda g: any(x.env.event_id == "poison-1" for x in g),
                     "poison-1 delivered", ack=False)
    d = [x for x in got if x.env.event_id == "poison-1"][0]
    check(d.delivery.attempt == want_attempt, "poison-1 delivered with attempt %d (got %d)" % (
        want_attempt, d.delivery.attempt))
    if wait_saved:
        wait_for("delivery_attempt holds attempt %d" % want_attempt,
                 lambda: attempt_row() == str(want_attempt))
    sc.close()  # never settled: the adapter "died" handling it


def attempts_first():
    crm = client("crm")
    got = crm.publish_one(crm.event("crm.poison", record_id="p-1", event_id="poison-1"))
    require(got.status == P.CONFIRM_OK, "poison-1 journaled")
    crm.close()
    take_poison(1, True)


def attempts_second():
    take_poison(2, True)


def attempts_third():
    take_poison(3, False)


def attempts_dead():
    crm = client("crm")
    got = crm.publish_one(crm.event("crm.poison", record_id="p-1", event_id="poison-2"))
    require(got.status == P.CONFIRM_OK, "poison-2 journaled")
    sc = client("socialcare")
    cmd, _ = sc.subscribe("poison", POISON, credit=10)
    require(cmd == "SUBSCRIBED", "poison: SUBSCRIBED (got %s)" % cmd)
    got = sc.collect(lambda g: any(x.env.event_id == "poison-2" for x in g),
                     "poison-2, the next event of the entity", subscription="poison")
    ids = [(x.env.event_id, x.delivery.attempt) for x in got]
    check(ids == [("poison-2", 1)], "poison-1 is not delivered a 4th time; poison-2 follows "
          "(got %s)" % ids)
    row = sql("SELECT attempts || ' ' || reason FROM dead_letter WHERE adapter = 'socialcare' "
              "AND subscription = 'poison' AND event_id = 'poison-1'")
    check(row.startswith("3 delivered 3 times"), "poison-1 is dead-lettered with attempts 3 "
          "(got %r)" % row)
    wait_for("the settled event's count is deleted with the next cursor",
             lambda: sql("SELECT count(*) FROM delivery_attempt WHERE adapter = 'socialcare' "
                         "AND subscription = 'poison'") == "0")
    crm.close()
    sc.close()


# ---- item 6: memory ---------------------------------------------------------

def payload(i):
    return random.Random(i).randbytes(BIG)


def memory_window():
    idle = status_kib("VmRSS")
    sc, crm = client("socialcare"), client("crm")
    cmd, _ = sc.subscribe("bulk", ["crm.big"], credit=8)
    require(cmd == "SUBSCRIBED", "bulk: SUBSCRIBED")
    digests = {}
    got = []

    def drain(timeout_ms):
        batch = sc._take(timeout_ms, True)
        if batch:
            got.extend(batch)
        return batch

    t0 = time.time()
    for i in range(0, NBIG, 2):
        envs = [crm.event("crm.big", record_id="big-%d" % j, event_id="big-%d" % j,
                          payload=payload(j)) for j in (i, i + 1)]
        for e in envs:
            digests[e.event_id] = hashlib.sha1(e.payload).digest()
        confirms = crm.publish(envs)
        require(all(c.status == P.CONFIRM_OK for c in confirms.values()) and len(confirms) == 2,
                "big events %d-%d confirmed OK" % (i, i + 1))
        if i % 40 == 0:
            drain(1)  # a slow reader: most of it is read back from the journal later
    while len(got) < NBIG:
        require(drain(15000) is not None, "bulk: deliveries keep coming (%d of %d)" % (
            len(got), NBIG))
    ids = [x.env.event_id for x in got]
    check(ids == ["big-%d" % i for i in range(NBIG)],
          "all %d events of 500 KB delivered once each, in order" % NBIG)
    check(all(hashlib.sha1(x.env.payload).digest() == digests[x.env.event_id] for x in got),
          "every payload arrived intact")
    seqs = [x.delivery.seq for x in got]
    check(seqs == sorted(seqs), "in journal order")
    peak = status_kib("VmHWM")
    bound = idle + (WINDOW_BYTES + FIXED_OVERHEAD) // 1024
    print("memory: idle %d KiB, peak %d KiB, bound %d KiB (%.1f s)" % (
        idle, peak, bound, time.time() - t0), flush=True)
    if not SANITIZED:
        check(peak <= bound, "hub peak RSS %d MiB <= idle %d MiB + window 32 MiB + %d MiB" % (
            peak // 1024, idle // 1024, FIXED_OVERHEAD // MIB))
    sc.close()
    crm.close()


def memory_garbage():
    before = status_kib("VmRSS")
    ctx = zmq.Context.instance()
    socks = []
    rng = random.Random(23)
    sent = 0
    # Several connections: garbage before HELLO, unknown commands, bodies that
    # are not protobuf, three-frame messages, and bodies over the 1 MiB limit.
    for k in range(4):
        c = Client.curve(ENDPOINT, ["crm", "finance", "socialcare", "crm"][k], KEYS)
        if k % 2:
            c.hello()
        socks.append(c)
    big = os.urandom(2 * MIB)
    small = [os.urandom(rng.randrange(1, 600)) for _ in range(64)]
    for rnd in range(GARBAGE_ROUNDS):
        for k, c in enumerate(socks):
            r = rnd % 16
            if rnd % 500 == 0:
                frames = [b"PUBLISH", big]  # ERROR TOO_LARGE
            elif r == 0:
                frames = [b"HELLO", small[(rnd + k) % 64]]
            elif r < 6:
                frames = [small[(rnd + k) % 64][:20], small[(rnd * 7 + k) % 64]]
            elif r < 11:
                frames = [b"PUBLISH", small[(rnd + k) % 64]]
            elif r < 14:
                frames = [b"SUBSCRIBE", small[(rnd * 3 + k) % 64]]
            else:
                frames = [b"ACK", b"x", small[(rnd + k) % 64]]
            c.sock.send_multipart(frames, copy=False)
            sent += 1
        if rnd % 1000 == 999:
            for c in socks:  # read what came back, as a client would, now and then
                while c.sock.poll(0):
                    c.sock.recv_multipart()
    print("garbage: %d frames sent" % sent, flush=True)
    # The hub has read them all when a probe round trip comes back.
    sc = client("socialcare")
    cmd, _ = sc.subscribe("probe", ["probe.*"], credit=10)
    require(cmd == "SUBSCRIBED", "probe subscription")
    sc.sync("probe", timeout_ms=120000)
    after = status_kib("VmRSS")
    peak = status_kib("VmHWM")
    print("garbage: RSS before %d KiB, after %d KiB, peak %d KiB" % (before, after, peak),
          flush=True)
    if not SANITIZED:
        check(after <= before + 40 * 1024,
              "hub RSS after %d garbage frames %d MiB <= before %d MiB + 40 MiB" % (
                  sent, after // 1024, before // 1024))
    for c in socks:
        c.close()
    sc.close()


PHASES = {f.__name__: f for f in (patterns_subscribe, patterns_after_restart, attempts_first,
                                   attempts_second, attempts_third, attempts_dead,
                                   memory_window, memory_garbage)}
PHASES[PHASE]()
finish("delivery_limits_check %s" % PHASE)
