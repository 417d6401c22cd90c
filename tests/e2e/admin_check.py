#!/usr/bin/env python3
"""admin_check.py PHASE ENDPOINT KEYDIR CONNINFO ADMIN_URL

One phase of tests/e2e/test_admin_api.sh (which restarts the hub between
phases): every endpoint of the admin HTTP API (docs/operations.md, "Admin
API") called over real HTTP with urllib, against a real joineryd whose
adapters are raw protocol clients (pyjoinery) over CurveZMQ, and the tables
read back with psql.

Tokens (the test's hub.yaml): reader (read), operator (operate)."""
import json
import os
import ssl
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from pyjoinery import P, Client, Sql, check, finish, require, wait_for  # noqa: E402
from joinery.v1 import crm_pb2 as CRM  # noqa: E402

PHASE, ENDPOINT, KEYS, CONNINFO, URL = sys.argv[1:6]
READER = "reader-token-0123456789abcdef"
OPERATOR = "operator-token-fedcba9876543210"
WRONG = "not-a-token-at-all-0000000000"
sql = Sql(CONNINFO)
STATE = os.path.join(os.environ["E2E_DIR"], "admin_state.json")
# With TLS (phase tls): the test's self-signed certificate is the only one trusted.
CAFILE = os.environ.get("ADMIN_CAFILE")
TLS = ssl.create_default_context(cafile=CAFILE) if CAFILE else None


def call(method, path, token=None, body=None, raw=None):
    """(status, headers, body bytes) of one request."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(URL + path, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30, context=TLS) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def jcall(method, path, token=None, body=None, raw=None):
    status, headers, data = call(method, path, token, body, raw)
    try:
        return status, json.loads(data)
    except ValueError:
        require(False, "%s %s: a JSON body (got %r)" % (method, path, data[:200]))


def client(name):
    c = Client.curve(ENDPOINT, name, KEYS)
    cmd, _ = c.hello()
    require(cmd == "WELCOME", "%s: WELCOME (got %s)" % (name, cmd))
    return c


def contact(crm, record, event_id):
    pay = CRM.CrmContact(contact_id=record, first_name="Ada", last_name="Lovelace",
                         address1_postcode="ZZ9 9ZZ")
    return crm.event("crm.contact.created", record_id=record, event_id=event_id,
                     payload=pay.SerializeToString(), payload_type="joinery.v1.CrmContact")


def take_one(sc, what):
    """The next delivery of SC, not acked."""
    got = sc.receive(lambda g: len(g) >= 1, what, ack=False)
    require(len(got) == 1, "%s: one delivery (got %d)" % (what, len(got)))
    return got[0]


def subs():
    status, j = jcall("GET", "/api/v1/subscriptions", READER)
    require(status == 200, "subscriptions: 200 (got %s %s)" % (status, j))
    return {(s["adapter"], s["name"]): s for s in j["subscriptions"]}


def save(**kw):
    with open(STATE, "w") as f:
        json.dump(kw, f)


def load():
    with open(STATE) as f:
        return json.load(f)


# ---- phases ---------------------------------------------------------------

def health():
    status, j = jcall("GET", "/healthz")
    check(status == 200 and j == {"status": "ok"}, "GET /healthz: 200 without a token (%s %s)"
          % (status, j))
    status, j = wait_for("/readyz says ready", lambda: (lambda r: r if r[0] == 200 else None)(
        jcall("GET", "/readyz")))
    check(j == {"ready": True}, "GET /readyz: 200 {ready: true} once the database is up")


def auth():
    for token, what in ((None, "no token"), (WRONG, "a wrong token")):
        status, headers, data = call("GET", "/api/v1/adapters", token)
        check(status == 401, "GET /api/v1/adapters with %s: 401 (got %s)" % (what, status))
        check(headers.get("WWW-Authenticate", "").startswith("Bearer"),
              "401 names the Bearer scheme")
        check(WRONG.encode() not in data and READER.encode() not in data and
              OPERATOR.encode() not in data and b"adapters" not in data,
              "the 401 body leaks neither a token nor any state: %r" % data)
    status, headers, data = call("GET", "/metrics")
    check(status == 401, "GET /metrics without a token: 401 (got %s)" % status)
    status, headers, data = call("POST", "/api/v1/dead-letters/1/replay", READER)
    check(status == 403, "a read token replaying: 403 (got %s)" % status)
    check(READER.encode() not in data and OPERATOR.encode() not in data,
          "the 403 body does not hold the token: %r" % data)
    status, headers, data = call("POST", "/api/v1/dead-letters/replay", READER, {"ids": [1]})
    check(status == 403, "a read token replaying many: 403 (got %s)" % status)
    status, headers, data = call("POST", "/api/v1/dead-letters/1/discard", READER,
                                 {"reason": "x"})
    check(status == 403, "a read token discarding: 403 (got %s)" % status)
    status, headers, data = call("DELETE", "/api/v1/subscriptions/socialcare/work", READER)
    check(status == 403, "a read token deleting a subscription: 403 (got %s)" % status)
    status, j = jcall("GET", "/api/v1/adapters", READER)
    check(status == 200 and {a["name"] for a in j["adapters"]} >= {"crm", "socialcare"},
          "GET /api/v1/adapters with the read token: 200, every adapter (%s)" % status)


def bad_params():
    cases = [
        ("GET", "/api/v1/dead-letters?limit=0", None, None, "limit"),
        ("GET", "/api/v1/dead-letters?limit=1001", None, None, "limit"),
        ("GET", "/api/v1/dead-letters?limit=ten", None, None, "limit"),
        ("GET", "/api/v1/dead-letters?after=-1", None, None, "after"),
        ("GET", "/api/v1/dead-letters?colour=red", None, None, "unknown query parameter"),
        ("GET", "/api/v1/dead-letters?adapter=CRM%20x", None, None, "adapter"),
        ("GET", "/api/v1/dead-letters/abc", None, None, "id"),
        ("GET", "/api/v1/dead-letters/0", None, None, "id"),
        ("POST", "/api/v1/dead-letters/replay", None, b"not json", "JSON"),
        ("POST", "/api/v1/dead-letters/replay", {"ids": []}, None, "ids"),
        ("POST", "/api/v1/dead-letters/replay", {"ids": ["1"]}, None, "ids"),
        ("POST", "/api/v1/dead-letters/replay", {"ids": list(range(1, 1002))}, None, "ids"),
        ("POST", "/api/v1/dead-letters/1/discard", {}, None, "reason"),
        ("POST", "/api/v1/dead-letters/1/discard", {"reason": ""}, None, "reason"),
        ("DELETE", "/api/v1/subscriptions/Bad!/x", None, None, "names"),
    ]
    for method, path, body, raw, word in cases:
        status, j = jcall(method, path, OPERATOR, body, raw)
        check(status == 400 and word in j.get("error", ""),
              "%s %s: 400 with a reason naming %r (got %s %s)" % (method, path[:60], word,
                                                                    status, j))
    status, j = jcall("GET", "/api/v1/nothing-here", READER)
    check(status == 404, "an unknown endpoint: 404 (got %s)" % status)


def first():
    health()
    auth()
    bad_params()
    crm, sc = client("crm"), client("socialcare")
    # A refused event: kept in rejected_event, counted by STATUS after a restart.
    got = crm.publish_one(crm.event("finance.not.permitted", record_id="r-1"))
    check(got.status == P.CONFIRM_REJECTED, "crm publishing finance.*: REJECTED")
    # A subscription that nothing it publishes matches, and one left behind.
    cmd, _ = sc.subscribe("idle", ["crm.nothing.*"])
    require(cmd == "SUBSCRIBED", "idle: SUBSCRIBED")
    cmd, _ = sc.subscribe("backlog", ["crm.*"], credit=1)
    require(cmd == "SUBSCRIBED", "backlog: SUBSCRIBED")
    cmd, _ = sc.subscribe("work", ["crm.*", "probe.*"], credit=10)
    require(cmd == "SUBSCRIBED", "work: SUBSCRIBED")
    # The subscriber rejects the first event: a dead letter.
    e1 = contact(crm, "c-1", "admin-e1")
    require(crm.publish_one(e1).status == P.CONFIRM_OK, "e1 confirmed")
    d = [g for g in sc.receive(lambda g: any(x.subscription == "work" for x in g),
                               "e1 delivered to work", ack=False) if g.subscription == "work"][0]
    check(d.env.event_id == "admin-e1", "work gets e1")
    sc.nack("work", d.delivery.seq, reject=True, reason="postcode ZZ9 9ZZ unknown")
    seq1 = d.delivery.seq
    # A retry asked for with a reason: the subscription shows the last one (non-ASCII as '?').
    check(subs()[("socialcare", "work")]["last_retry"] is None, "work: no retry yet")
    pr = crm.event("probe.retry", record_id="r-retry")
    require(crm.publish_one(pr).status == P.CONFIRM_OK, "the retry probe confirmed")
    d = [g for g in sc.receive(lambda g: any(x.env.event_id == pr.event_id for x in g),
                               "the retry probe delivered", ack=False)
         if g.env.event_id == pr.event_id][0]
    sc.nack("work", d.delivery.seq, reason="Dataverse answered 503 \u2014 try later")
    lr = wait_for("the retry is shown", lambda: subs()[("socialcare", "work")]["last_retry"])
    check(lr["seq"] == d.delivery.seq and lr["reason"] == "Dataverse answered 503 ??? try later"
          and lr["at_us"] > 0, "GET /api/v1/subscriptions shows the last retry: %s" % lr)
    again = [g for g in sc.receive(lambda g: any(x.env.event_id == pr.event_id for x in g),
                                   "the retry probe delivered again", ack=False)
             if g.env.event_id == pr.event_id]
    sc.ack("work", [again[0].delivery.seq])

    def listed():
        st, j = jcall("GET", "/api/v1/dead-letters?subscription=work", READER)
        return j if st == 200 and j["dead_letters"] else None
    j = wait_for("the dead letter is listed", listed)
    dl = j["dead_letters"][0]
    check(dl["seq"] == seq1 and dl["event_id"] == "admin-e1" and dl["adapter"] == "socialcare"
          and "ZZ9" in dl["reason"], "GET /api/v1/dead-letters lists it: %s" % dl)
    id1 = dl["id"]
    status, j = jcall("GET", "/api/v1/dead-letters?adapter=crm", READER)
    check(status == 200 and j["dead_letters"] == [], "the adapter filter: none for crm")
    status, j = jcall("GET", "/api/v1/dead-letters?type=crm.contact.created&limit=1", READER)
    check(status == 200 and len(j["dead_letters"]) == 1 and j["next_after"] == id1,
          "type filter and limit=1: one, and next_after for the next page (%s)" % j)
    status, j = jcall("GET", "/api/v1/dead-letters?after=%d" % id1, READER)
    check(status == 200 and j["dead_letters"] == [], "after=id: nothing after it")
    status, j = jcall("GET", "/api/v1/dead-letters/%d" % id1, READER)
    env = j.get("envelope", {})
    check(status == 200 and env.get("event_id") == "admin-e1" and
          env.get("payload", {}).get("first_name") == "Ada" and
          env["payload"].get("address1_postcode") == "ZZ9 9ZZ",
          "GET /api/v1/dead-letters/{id}: the envelope with its payload decoded (%s)" % j)
    status, j = jcall("GET", "/api/v1/dead-letters/999999", READER)
    check(status == 404, "an id that does not exist: 404 (got %s)" % status)

    s = subs()
    w = s[("socialcare", "work")]
    check(w["dead_letters"] == 1 and w["in_flight"] == 0 and w["events_waiting"] == 0 and
          w["events_waiting_exact"], "work: 1 dead letter, nothing waiting or in flight (%s)" % w)
    check(s[("socialcare", "idle")]["events_waiting"] == 0,
          "idle (matches nothing published): 0 events waiting, however far the journal went")

    # The subscriber is "fixed"; the operator replays the dead letter.
    status, j = jcall("POST", "/api/v1/dead-letters/%d/replay" % id1, OPERATOR)
    check(status == 200 and j == {"replayed": [id1], "not_replayed": []},
          "POST /api/v1/dead-letters/{id}/replay: 200 (%s %s)" % (status, j))
    d = take_one(sc, "the replayed event")
    check(d.env.event_id == "admin-e1" and d.delivery.seq == seq1 and d.subscription == "work",
          "the replayed event is delivered again, same seq, to its subscription")
    sc.ack("work", [seq1])
    rest = sc.sync("work")
    check(not any(g.env.event_id == "admin-e1" for g in rest),
          "delivered exactly once: nothing more of it (got %s)" % [g.env.event_id for g in rest])
    wait_for("the replay is recorded settled", lambda: sql(
        "SELECT count(*) FROM dead_letter_replay WHERE id = %d AND replayed_by = 'operator' AND "
        "settled_at > 0" % id1) == "1")
    check(sql("SELECT count(*) FROM dead_letter WHERE id = %d" % id1) == "0",
          "the dead_letter row is gone (moved to dead_letter_replay)")
    status, j = jcall("POST", "/api/v1/dead-letters/%d/replay" % id1, OPERATOR)
    check(status == 404, "replaying it again: 404 (got %s %s)" % (status, j))

    # Two more dead letters: one discarded, one left for after the restart.
    ids = []
    for n in (2, 3):
        e = contact(crm, "c-%d" % n, "admin-e%d" % n)
        require(crm.publish_one(e).status == P.CONFIRM_OK, "e%d confirmed" % n)
        d = [g for g in sc.receive(lambda g: any(x.subscription == "work" for x in g),
                                   "e%d delivered" % n, ack=False) if g.subscription == "work"][0]
        sc.nack("work", d.delivery.seq, reject=True, reason="still wrong")
        ids.append(wait_for("dead letter %d" % n, lambda: sql(
            "SELECT id FROM dead_letter WHERE event_id = 'admin-e%d'" % n)))
    id2, id3 = int(ids[0]), int(ids[1])
    status, j = jcall("POST", "/api/v1/dead-letters/%d/discard" % id2, OPERATOR,
                      {"reason": "sent twice by the CRM"})
    check(status == 200 and j == {"discarded": id2}, "discard: 200 (%s %s)" % (status, j))
    check(sql("SELECT discarded_by || '|' || discard_reason || '|' || event_id FROM "
              "dead_letter_discarded WHERE id = %d" % id2) ==
          "operator|sent twice by the CRM|admin-e2", "the discarded row is kept for audit, with "
          "who and why")
    status, j = jcall("GET", "/api/v1/dead-letters/%d" % id2, READER)
    check(status == 404, "a discarded dead letter is no longer shown: 404")
    status, j = jcall("POST", "/api/v1/dead-letters/%d/discard" % id2, OPERATOR, {"reason": "x"})
    check(status == 404, "discarding it again: 404 (got %s)" % status)
    # Replay of many: one that exists (id3 stays: its subscription is gone by
    # then? no: replayed and rejected again below) and one that does not.
    status, j = jcall("POST", "/api/v1/dead-letters/replay", OPERATOR, {"ids": [id3, 999999]})
    check(status == 200 and j == {"replayed": [id3], "not_replayed": [999999]},
          "POST /api/v1/dead-letters/replay: what moved and what did not (%s %s)" % (status, j))
    d = take_one(sc, "the replayed e3")
    check(d.env.event_id == "admin-e3", "e3 replayed")
    sc.nack("work", d.delivery.seq, reject=True, reason="still wrong after the fix")
    id3 = int(wait_for("e3 dead again", lambda: sql(
        "SELECT id FROM dead_letter WHERE event_id = 'admin-e3'")))

    # The backlog subscription's session goes: what it has not settled waits.
    sc.send("GOODBYE", P.Goodbye(reason="the test reconnects"))
    sc.close()
    sc = client("socialcare")
    cmd, _ = sc.subscribe("work", ["crm.*", "probe.*"], credit=10)
    require(cmd == "SUBSCRIBED", "work again: SUBSCRIBED")
    sc.sync("work")
    for n in range(4, 9):
        require(crm.publish_one(contact(crm, "c-%d" % n, "admin-e%d" % n)).status ==
                P.CONFIRM_OK, "e%d confirmed" % n)
    got = sc.receive(lambda g: len(g) >= 5, "e4..e8 to work")
    s = subs()
    b = s[("socialcare", "backlog")]
    # backlog saw e1 (credit 1, never acked), then the session ended: e1..e8
    # all wait.
    check(b["events_waiting"] == 8 and b["events_waiting_exact"] and not b["connected"],
          "backlog (detached): 8 events waiting, counted exactly (%s)" % b)
    check(s[("socialcare", "idle")]["events_waiting"] == 0, "idle: still 0 waiting")
    # The last probe's ACK may still be on its way.
    w = wait_for("work: nothing waiting", lambda: (lambda x: x if x["events_waiting"] == 0
                                                   else None)(subs()[("socialcare", "work")]))
    check(w["dead_letters"] == 1 and w["connected"] and w["events_waiting_exact"],
          "work: nothing waiting, 1 dead letter stored (%s)" % w)
    status, j = jcall("GET", "/api/v1/adapters", READER)
    a = {x["name"]: x for x in j["adapters"]}
    check(a["crm"]["connected"] and a["crm"]["published"] >= 8 and
          a["socialcare"]["delivered"] >= 8 and "published_per_s" in a["crm"],
          "adapters: connected, counts and rates (%s)" % a["crm"])

    # Deleting subscriptions.
    status, j = jcall("DELETE", "/api/v1/subscriptions/socialcare/work", OPERATOR)
    check(status == 409, "deleting a subscription its adapter is attached to: 409 (%s)" % j)
    status, j = jcall("DELETE", "/api/v1/subscriptions/socialcare/backlog", OPERATOR)
    check(status == 200, "DELETE /api/v1/subscriptions/socialcare/backlog: 200 (%s %s)"
          % (status, j))
    check(sql("SELECT count(*) FROM subscription WHERE name = 'backlog'") == "0",
          "its row is gone")
    status, j = jcall("DELETE", "/api/v1/subscriptions/socialcare/backlog", OPERATOR)
    check(status == 404, "deleting it again: 404")
    check(("socialcare", "backlog") not in subs(), "it is no longer listed")

    # Metrics.
    status, headers, data = call("GET", "/metrics", READER)
    check(status == 200 and headers.get("Content-Type", "").startswith(
        "text/plain; version=0.0.4"), "GET /metrics: 200, text/plain; version=0.0.4")
    text = data.decode()
    with open(os.path.join(os.environ["E2E_DIR"], "metrics.txt"), "w") as f:
        f.write(text)
    for want in ('joinery_dead_letters 1\n', 'joinery_dead_letters_replayed_total 2\n',
                 'joinery_dead_letters_discarded_total 1\n',
                 'joinery_events_confirmed_total{adapter="crm"}',
                 'joinery_subscription_events_waiting{adapter="socialcare",subscription="idle"} 0',
                 'joinery_commit_latency_seconds_bucket{le="+Inf"}', 'joinery_database_up 1',
                 'joinery_events_by_type_total{adapter="crm",type="crm.contact.created",'
                 'outcome="confirmed"} 8\n',
                 'joinery_events_by_type_total{adapter="crm",type="finance.not.permitted",'
                 'outcome="rejected"} 1\n'):
        check(want in text, "/metrics has %r" % want.strip())
    save(id3=id3, seq1=seq1)
    crm.close()
    sc.close()


def after_restart():
    st = load()
    health()
    status, headers, data = call("GET", "/metrics", READER)
    check(b"joinery_dead_letters 1\n" in data,
          "after a restart /metrics still counts the stored dead letter (read at start)")
    status, j = jcall("GET", "/api/v1/dead-letters", READER)
    check([d["id"] for d in j["dead_letters"]] == [st["id3"]], "the list after the restart")
    sc = client("socialcare")
    cmd, _ = sc.subscribe("work", ["crm.*", "probe.*"], credit=10)
    require(cmd == "SUBSCRIBED", "work: SUBSCRIBED after the restart")
    got = sc.sync("work")
    check(not any(g.env.event_id == "admin-e1" for g in got),
          "the replayed and acked event is not delivered again after the restart (%s)"
          % [g.env.event_id for g in got])
    s = subs()
    check(s[("socialcare", "work")]["dead_letters"] == 1 and
          ("socialcare", "backlog") not in s, "subscriptions after the restart: %s" % s.keys())
    # STATUS over the protocol (what `joinery status` shows).
    ops = client("ops")
    ops.send("STATUS", P.StatusRequest())
    cmd, m = ops.recv()
    stored = int(sql("SELECT count(*) FROM rejected_event"))
    check(cmd == "STATUS-REPLY" and m.dead_letters == 1 and m.rejected == stored and stored >= 1,
          "STATUS after a restart: dead letters 1 and rejected %d, from the tables (got %s, %s)"
          % (stored, m.dead_letters if m else None, m.rejected if m else None))
    check(("joinery_events_refused %d\n" % stored).encode() in data,
          "/metrics after a restart: the refused input stored (%d)" % stored)
    ops.close()
    sc.close()
    behind_the_window()


def behind_the_window():
    """A replay for a subscription that fell behind the window (window_events
    64 in the test's hub.yaml) while detached, with an earlier event B still
    unsettled: B is delivered again with the rest, not skipped."""
    crm, sb = client("crm"), client("socialcare")
    cmd, _ = sb.subscribe("behind", ["crm.behind.*"], credit=2)
    require(cmd == "SUBSCRIBED", "behind: SUBSCRIBED")
    for rec, eid in (("b-1", "behind-b"), ("b-2", "behind-a")):
        require(crm.publish_one(crm.event("crm.behind.x", record_id=rec, event_id=eid)).status ==
                P.CONFIRM_OK, "%s confirmed" % eid)
    got = sb.receive(lambda g: len(g) >= 2, "B and A to behind", ack=False)
    a = [g for g in got if g.env.event_id == "behind-a"][0]
    sb.nack("behind", a.delivery.seq, reject=True, reason="cannot yet")
    ida = int(wait_for("A dead-lettered", lambda: sql(
        "SELECT id FROM dead_letter WHERE event_id = 'behind-a'")))
    sb.send("GOODBYE", P.Goodbye(reason="the test reconnects"))
    sb.close()
    for k in range(2):
        got = crm.publish([crm.event("crm.behind.x", record_id="f-%d-%d" % (k, i),
                                     event_id="filler-%d-%d" % (k, i)) for i in range(100)])
        require(all(e.status == P.CONFIRM_OK for e in got.values()), "fillers confirmed")
    status, j = jcall("POST", "/api/v1/dead-letters/%d/replay" % ida, OPERATOR)
    check(status == 200 and j["replayed"] == [ida], "A replayed while its subscription is away")
    sb = client("socialcare")
    cmd, _ = sb.subscribe("behind", ["crm.behind.*"], credit=1000)
    require(cmd == "SUBSCRIBED", "behind: SUBSCRIBED again")
    want = {"behind-b", "behind-a"} | {"filler-%d-%d" % (k, i) for k in range(2)
                                        for i in range(100)}
    got = sb.receive(lambda g: want <= {x.env.event_id for x in g},
                     "B, A and the 200 fillers, read back from the journal")
    check(want <= {x.env.event_id for x in got},
          "behind the window: B (unsettled before), the replayed A and every later event are "
          "delivered; nothing is skipped")
    wait_for("A's replay is recorded settled", lambda: sql(
        "SELECT count(*) FROM dead_letter_replay WHERE id = %d AND settled_at IS NOT NULL"
        % ida) == "1")
    sb.close()
    crm.close()


def tls():
    require(URL.startswith("https://"), "the tls phase is given an https URL")
    status, j = jcall("GET", "/healthz")
    check(status == 200, "over TLS: GET /healthz 200 (certificate verified against the test's)")
    status, j = jcall("GET", "/api/v1/adapters", READER)
    check(status == 200 and any(a["name"] == "crm" for a in j["adapters"]),
          "over TLS: the API with a token")
    status, headers, data = call("GET", "/api/v1/adapters")
    check(status == 401, "over TLS: still 401 without a token")
    plain = "http://" + URL[len("https://"):]
    try:
        urllib.request.urlopen(plain + "/healthz", timeout=10).read()
        check(False, "plain HTTP to the TLS port is not answered")
    except (urllib.error.URLError, ConnectionError, OSError, ValueError) as e:
        check(True, "plain HTTP to the TLS port is not answered (%s)" % type(e).__name__)


{"first": first, "after_restart": after_restart, "tls": tls}[PHASE]()
finish("admin_check " + PHASE)
