"""soak.py ENDPOINT KEYDIR HUB_PID DATA_DIR DURATION_S RATE PEOPLE - steady mixed
traffic against a running joineryd, sampled every 10 s (see run-soak.sh).

Traffic, at RATE events/s in all, paced in 50 ms ticks: half person.updated
from "crm" (PEOPLE residents, created on the first pass, then a changed phone
number each time: the master-data engine matches, updates the golden record
and writes history), half order.created from "shop" (~300-byte payloads, a
distinct record each). Three subscribers ack everything they get: "warehouse"
(order.*), "socialcare" (person.*, in its own local ids) and "audit" (*).
Publishers keep at most 20,000 events unconfirmed; a tick that would go
past that sends nothing (counted as "held back": the hub is behind).

Each sample: events confirmed and delivered in the interval, publish ->
subscriber p50/p99 of the interval (audit's deliveries), the hub's resident
memory and open fds, the private cluster's resident memory (all its
processes), pg_database_size. Prints a table, then the verdict: memory
plateaus if the hub's RSS grows less than PLATEAU_MIB (default 16) over the
last third; and the database's growth per million events."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "e2e"))
import pyjoinery as J  # noqa: E402
from joinery.v1 import envelope_pb2 as E  # noqa: E402
from joinery.v1 import protocol_pb2 as P  # noqa: E402

import zmq  # noqa: E402

EP, KEYS, HUB_PID, DATA = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
DURATION, RATE, PEOPLE = float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
PLATEAU_MIB = float(os.environ.get("PLATEAU_MIB", "16"))
SAMPLE_S = float(os.environ.get("SAMPLE_S", "10"))
TICK_S = 0.05
MAX_UNCONFIRMED = 20000
ORDER_PAYLOAD = b"o" * 300


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def cluster_pids():
    """The private cluster's processes: the postmaster (pid file) and its children."""
    try:
        with open(os.path.join(DATA, "pg", "data", "postmaster.pid")) as f:
            master = int(f.readline())
    except (OSError, ValueError):
        return []
    out = [master]
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/stat" % p) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                        out.append(int(p))
            except (OSError, ValueError, IndexError):
                pass
    return out


def db_size():
    q = ["runuser", "-u", "postgres", "--", J.Sql("").psql, "-X", "-A", "-t", "-q", "-d",
         "host=%s dbname=joinery user=joinery" % os.path.join(DATA, "pg", "run"),
         "-c", "SELECT pg_database_size(current_database())"]
    if os.getuid() != 0:
        q = q[4:]
    r = subprocess.run(q, capture_output=True, text=True)
    return int(r.stdout.strip()) if r.returncode == 0 and r.stdout.strip() else -1


class Publisher:
    def __init__(self, name, make):
        self.c = J.Client.curve(EP, name, KEYS)
        J.require(self.c.hello()[0] == "WELCOME", "%s connects" % name)
        self.make, self.name = make, name
        self.n = self.confirmed = self.failed = self.unconfirmed = self.held = 0

    def send(self, k):
        if self.unconfirmed + k > MAX_UNCONFIRMED:
            self.held += k
            return
        while k > 0:  # a PUBLISH holds 1 to 1,000 envelopes
            n = min(k, 500)
            self.c.send("PUBLISH", P.Publish(events=[self.make(self) for _ in range(n)]))
            self.unconfirmed += n
            k -= n

    def on(self, cmd, msg):
        if cmd == "CONFIRM":
            for e in msg.entries:
                self.unconfirmed -= 1
                if e.status in (P.CONFIRM_OK, P.CONFIRM_DUPLICATE):
                    self.confirmed += 1
                else:
                    self.failed += 1
        elif cmd == "ERROR":
            raise RuntimeError("%s: ERROR %s" % (self.name, msg))


SYL = ["ab", "ber", "cot", "dal", "en", "fors", "gar", "hol", "ing", "jen", "kel", "lam",
       "mor", "nor", "ost", "pen", "quin", "ros", "sel", "tor", "ul", "ven", "wes", "yar"]
GIVEN = ["Ann", "Ben", "Carl", "Dora", "Edith", "Frank", "Grace", "Harry", "Ivy", "Jack",
         "Kate", "Liam", "Mary", "Ned", "Olive", "Paul", "Rose", "Sam", "Tess", "Will"]
LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def resident(who):
    """Resident WHO's fixed fields, spread like a town's: distinct surnames
    (three syllables), birth dates over 80 years, postcodes in 20 districts,
    so the engine's blocks stay small as they do with real people."""
    fam = (SYL[who % 24] + SYL[who // 24 % 24] + SYL[who // 576 % 24]).capitalize()
    birth = "%d-%02d-%02d" % (1930 + who * 7 % 80, 1 + who * 5 % 12, 1 + who * 11 % 28)
    post = "LS%d %d%s%s" % (1 + who % 20, who // 20 % 10, LETTERS[who // 200 % 20],
                            LETTERS[who // 4000 % 20])
    return GIVEN[who * 13 % 20], fam, birth, post


def person_event(pub):
    i = pub.n
    pub.n += 1
    who = i % PEOPLE
    given, fam, birth, post = resident(who)
    # A new phone number each pass: every update changes the golden record.
    payload = J.person(given, fam, birth, postcode=post,
                       phone="07700 %06d" % ((who * 31 + i // PEOPLE) % 1000000))
    return E.Envelope(event_id="p-%d-%d" % (os.getpid(), i), type="person.updated",
                      source="crm", source_record_id="CRM-%d" % who, occurred_at=J.now_us(),
                      payload=payload, payload_type="joinery.v1.Person")


def order_event(pub):
    i = pub.n
    pub.n += 1
    return E.Envelope(event_id="o-%d-%d" % (os.getpid(), i), type="order.created",
                      source="shop", source_record_id="O-%d-%d" % (os.getpid(), i),
                      occurred_at=J.now_us(), payload=ORDER_PAYLOAD,
                      payload_type="application/octet-stream")


class Subscriber:
    def __init__(self, name, patterns):
        self.c = J.Client.curve(EP, name, KEYS)
        J.require(self.c.hello()[0] == "WELCOME", "%s connects" % name)
        self.c.sock.send_multipart([b"SUBSCRIBE", P.Subscribe(
            subscription="soak", patterns=patterns, credit=2000).SerializeToString()])
        self.name, self.got, self.lat = name, 0, []

    def on(self, cmd, msg):
        if cmd == "DELIVER":
            now = J.now_us()
            seqs = []
            for d in msg.deliveries:
                if not d.transient:
                    seqs.append(d.seq)
                if self.name == "audit":
                    env = E.Envelope()
                    env.ParseFromString(d.envelope)
                    self.lat.append(now - env.occurred_at)
            self.got += len(msg.deliveries)
            if seqs:
                self.c.ack(msg.subscription, seqs)
        elif cmd == "ERROR":
            raise RuntimeError("%s: ERROR %s" % (self.name, msg))


def recv_all(clients, timeout_ms):
    poller = zmq.Poller()
    socks = {}
    for cl in clients:
        poller.register(cl.c.sock, zmq.POLLIN)
        socks[cl.c.sock] = cl
    ready = dict(poller.poll(timeout_ms))
    for s in ready:
        cl = socks[s]
        for _ in range(1000):
            try:
                frames = s.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            cmd = frames[0].decode()
            msg = J.BODY[cmd]() if cmd in J.BODY else None
            if msg is not None:
                msg.ParseFromString(frames[1] if len(frames) > 1 else b"")
            cl.on(cmd, msg)


def pct(v, q):
    if not v:
        return float("nan")
    v.sort()
    return v[min(len(v) - 1, int(len(v) * q))] / 1000.0


def main():
    crm = Publisher("crm", person_event)
    shop = Publisher("shop", order_event)
    subs = [Subscriber("warehouse", ["order.*"]), Subscriber("socialcare", ["person.*"]),
            Subscriber("audit", ["*"])]
    everyone = [crm, shop] + subs
    start = time.time()
    sent = 0
    next_beat = start
    next_sample = start
    rows = []
    last = None
    print("%6s %9s %9s %9s %9s %8s %8s %8s %5s %9s %9s %9s" % (
        "t(s)", "pub ev/s", "conf ev/s", "dlv ev/s", "held", "p50 ms", "p99 ms", "hub MiB",
        "fds", "pg MiB", "db MiB", "drv MiB"), flush=True)
    while True:
        now = time.time()
        t = now - start
        if now >= next_sample:
            s = {"t": t, "pub": crm.n + shop.n, "conf": crm.confirmed + shop.confirmed,
                 "dlv": sum(x.got for x in subs), "held": crm.held + shop.held,
                 "hub": rss_kib(HUB_PID) / 1024.0, "fds": fds(HUB_PID),
                 "pg": sum(rss_kib(p) for p in cluster_pids()) / 1024.0, "db": db_size(),
                 "drv": rss_kib(os.getpid()) / 1024.0, "failed": crm.failed + shop.failed}
            lat = subs[2].lat
            subs[2].lat = []
            if last is not None:
                dt = s["t"] - last["t"]
                s["row"] = (s["t"], (s["pub"] - last["pub"]) / dt, (s["conf"] - last["conf"]) / dt,
                            (s["dlv"] - last["dlv"]) / dt, s["held"] - last["held"],
                            pct(lat, 0.5), pct(lat, 0.99), s["hub"], s["fds"], s["pg"],
                            s["db"] / 1048576.0, s["drv"])
                print("%6.0f %9.0f %9.0f %9.0f %9d %8.2f %8.2f %8.1f %5d %9.1f %9.1f %9.1f" %
                      s["row"], flush=True)
            rows.append(s)
            last = s
            next_sample += SAMPLE_S
            if t >= DURATION:
                break
        if now >= next_beat:
            for cl in everyone:
                cl.c.send("HEARTBEAT", P.Heartbeat())
            next_beat += 1.0
        due = int(RATE * t) - sent
        if due > 0:
            crm.send(due // 2)
            shop.send(due - due // 2)
            sent += due
        recv_all(everyone, int(TICK_S * 1000))
    report(rows, crm, shop)


def report(rows, crm, shop):
    first, end = rows[1] if len(rows) > 1 else rows[0], rows[-1]
    third = [r for r in rows if r["t"] >= end["t"] * 2 / 3]
    growth = third[-1]["hub"] - third[0]["hub"]
    print()
    print("events published %d, confirmed %d, not confirmed OK %d, held back %d (hub behind)"
          % (end["pub"], end["conf"], end["failed"], end["held"]))
    print("hub RSS: start %.1f MiB (after the first %.0f s), end %.1f MiB, max %.1f MiB; "
          "last third (%.0f-%.0f s) %+.1f MiB" % (
              first["hub"], first["t"], end["hub"], max(r["hub"] for r in rows),
              third[0]["t"], third[-1]["t"], growth))
    print("hub fds: start %d, end %d, max %d; PostgreSQL RSS (all its processes) %.1f -> %.1f"
          " MiB; driver (the five clients) %.1f -> %.1f MiB" % (
              first["fds"], end["fds"], max(r["fds"] for r in rows), first["pg"], end["pg"],
              first["drv"], end["drv"]))
    events = end["conf"] - first["conf"]
    if events > 0 and end["db"] > 0 and first["db"] > 0:
        print("database: %.1f -> %.1f MiB, %.0f MiB per million events (%d events in between)"
              % (first["db"] / 1048576.0, end["db"] / 1048576.0,
                 (end["db"] - first["db"]) / 1048576.0 / events * 1e6, events))
    ok = growth < PLATEAU_MIB
    print("verdict: hub memory %s (last third %+.1f MiB, bound %.0f MiB), %s %.0f MiB"
          % ("PLATEAUS" if ok else "STILL GROWING", growth, PLATEAU_MIB,
             "settles at" if ok else "at the end", end["hub"]))
    if crm.failed + shop.failed:
        print("note: %d events not confirmed OK (RETRY or refused)" % (crm.failed + shop.failed))
    sys.exit(0 if ok else 1)


main()
