#!/usr/bin/env python3
"""dashboard_check.py ENDPOINT KEYDIR CONNINFO ADMIN_URL DRIVER_URL

The checks of tests/e2e/test_dashboard.sh: the dashboard (docs/operations.md,
"Dashboard") in a headless Chromium driven by chromedriver over the W3C
WebDriver HTTP protocol (urllib; no selenium), against a real joineryd under
traffic from raw protocol clients (pyjoinery) over CurveZMQ.

Environment: CHROMIUM (the browser), CHROME_PROFILE (a directory for its
profile), SCREENSHOT (where the PNG goes), PGCTL (pg_ctl on the test's
PostgreSQL: lib.sh make_pgctl)."""
import base64
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from pyjoinery import P, Client, Sql, check, finish, person, require, wait_for  # noqa: E402

ENDPOINT, KEYS, CONNINFO, URL, DRIVER = sys.argv[1:6]
READER = "reader-token-0123456789abcdef"
OPERATOR = "operator-token-fedcba9876543210"
STEWARD = "steward-token-0f1e2d3c4b5a6978"
POISON = "dash-poison"      # rejected until the subscriber is fixed, then replayed
DISCARD = "dash-duplicate"  # always rejected: discarded from the page
RATE_HZ = 20  # the publisher's steady rate
sql = Sql(CONNINFO)


# ---- the hub's HTTP API -------------------------------------------------

def call(method, path, token=None):
    req = urllib.request.Request(URL + path, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def dead_letters(event_id=POISON):
    status, _, data = call("GET", "/api/v1/dead-letters?subscription=work", OPERATOR)
    require(status == 200, "GET /api/v1/dead-letters: 200 (got %s)" % status)
    return [d for d in json.loads(data)["dead_letters"] if d["event_id"] == event_id]


# ---- WebDriver ----------------------------------------------------------

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C element key


class Driver:
    def __init__(self, base):
        self.base = base
        self.sid = None

    def req(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(self.base + path, data=data, method=method,
                                   headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(r, timeout=60) as resp:
                return json.loads(resp.read())["value"]
        except urllib.error.HTTPError as e:
            v = json.loads(e.read()).get("value", {})
            raise RuntimeError("WebDriver %s %s: %s: %s" % (method, path, v.get("error"),
                                                            v.get("message", "")[:300]))

    def s(self, method, path, body=None):
        return self.req(method, "/session/%s%s" % (self.sid, path), body)

    def start(self):
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--window-size=1280,2600", "--user-data-dir=" + os.environ["CHROME_PROFILE"] +
                "/profile"]
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": os.environ["CHROMIUM"], "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
            "unhandledPromptBehavior": "ignore"}}}
        self.sid = self.req("POST", "/session", caps)["sessionId"]

    def stop(self):
        if self.sid:
            try:
                self.s("DELETE", "")
            except (RuntimeError, OSError):
                pass
            self.sid = None

    def find(self, css):
        return self.s("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def finds(self, css):
        return [e[ELEMENT] for e in
                self.s("POST", "/elements", {"using": "css selector", "value": css})]

    def text(self, css):
        els = self.finds(css)
        return self.s("GET", "/element/%s/text" % els[0]) if els else None

    def js(self, script, *args):
        return self.s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def type(self, css, text):
        self.s("POST", "/element/%s/value" % self.find(css), {"text": text})

    def click(self, css):
        self.s("POST", "/element/%s/click" % self.find(css), {})

    def keys(self, *keys):
        acts = []
        for k in keys:
            acts += [{"type": "keyDown", "value": k}, {"type": "keyUp", "value": k}]
        self.s("POST", "/actions", {"actions": [{"type": "key", "id": "kb", "actions": acts}]})

    def accept_confirm(self, what, answer=None):
        """Accepts the page's confirm() (or prompt(), answering ANSWER), once
        it is up; its text."""
        def up():
            try:
                return self.s("GET", "/alert/text") or " "
            except RuntimeError:
                return None
        text = wait_for(what + ": the page asks to confirm", up, timeout_s=10)
        if answer is not None:
            self.s("POST", "/alert/text", {"text": answer})
        self.s("POST", "/alert/accept", {})
        return text


# ---- traffic --------------------------------------------------------------

class Traffic:
    """A publisher (crm) at RATE_HZ and a subscriber (socialcare, subscription
    work) that rejects POISON until fixed; each on a thread of its own, with
    its own socket."""

    def __init__(self):
        self.stop = threading.Event()
        self.stop_publisher = threading.Event()  # the publisher says GOODBYE and goes
        self.fixed = threading.Event()
        self.lock = threading.Lock()
        self.published = 0
        self.poison_after_fix = 0
        self.errors = []
        self.ready = threading.Event()

    @staticmethod
    def brian(c, record, postcode):
        """One system's Brian Jones: the second of the two, with another
        postcode, goes to the steward's queue."""
        e = c.event("person.updated", record_id=record, payload_type="joinery.v1.Person",
                    payload=person("Brian", "Jones", "1971-03-02", postcode=postcode))
        got = c.publish_one(e, timeout_ms=30000)
        require(got.status == P.CONFIRM_OK, "%s confirmed (%s)" % (record, got.reason))

    def publisher(self):
        try:
            crm = Client.curve(ENDPOINT, "crm", KEYS)
            require(crm.hello()[0] == "WELCOME", "crm: WELCOME")
            self.ready.wait(30)
            self.brian(crm, "CRM-2", "LS6 2QT")
            for eid in (POISON, DISCARD):
                e = crm.event("crm.contact.created", record_id="c-" + eid, event_id=eid)
                require(crm.publish_one(e).status == P.CONFIRM_OK, eid + " confirmed")
            n = 0
            while not self.stop.is_set() and not self.stop_publisher.is_set():
                n += 1
                e = crm.event("crm.contact.updated", record_id="c-%d" % (n % 50))
                require(crm.publish_one(e).status == P.CONFIRM_OK, "event %d confirmed" % n)
                with self.lock:
                    self.published += 1
                time.sleep(1.0 / RATE_HZ)
            crm.send("GOODBYE", P.Goodbye(reason="the test stops publishing"))
            crm.close()
        except BaseException as e:  # noqa: B902 - reported by the main thread
            self.errors.append("publisher: %r" % e)

    def subscriber(self):
        try:
            # A subscription whose adapter went away: its backlog grows.
            gone = Client.curve(ENDPOINT, "socialcare", KEYS)
            require(gone.hello()[0] == "WELCOME", "socialcare: WELCOME")
            require(gone.subscribe("backlog", ["crm.contact.updated"], credit=1)[0] ==
                    "SUBSCRIBED", "backlog: SUBSCRIBED")
            gone.send("GOODBYE", P.Goodbye(reason="the test leaves a backlog"))
            gone.close()
            sc = Client.curve(ENDPOINT, "socialcare", KEYS)
            require(sc.hello()[0] == "WELCOME", "socialcare: WELCOME")
            cmd, _ = sc.subscribe("work", ["crm.*"], credit=100)
            require(cmd == "SUBSCRIBED", "work: SUBSCRIBED")
            self.brian(sc, "SC-2", "M1 1AE")
            self.ready.set()
            while not self.stop.is_set():
                got = sc._take(200, ack=False)
                for g in got or []:
                    if g.env.event_id == DISCARD or (g.env.event_id == POISON and
                                                     not self.fixed.is_set()):
                        sc.nack("work", g.delivery.seq, reject=True,
                                reason="postcode ZZ9 9ZZ unknown")
                        continue
                    if g.env.event_id == POISON:
                        with self.lock:
                            self.poison_after_fix += 1
                    if not g.delivery.transient:
                        sc.ack("work", [g.delivery.seq])
            sc.close()
        except BaseException as e:  # noqa: B902
            self.errors.append("subscriber: %r" % e)


# ---- the checks -----------------------------------------------------------

def static_files():
    for path, ctype in (("/", "text/html"), ("/dashboard/index.html", "text/html"),
                        ("/dashboard/dashboard.js", "text/javascript"),
                        ("/dashboard/dashboard.css", "text/css"),
                        ("/dashboard/favicon.svg", "image/svg+xml")):
        status, h, data = call("GET", path)
        check(status == 200 and h.get("Content-Type", "").startswith(ctype) and
              h.get("Cache-Control") == "no-store" and
              h.get("Content-Security-Policy", "").startswith("default-src 'self'") and data,
              "GET %s without a token: 200 %s, no-store, CSP default-src 'self' (got %s %s %s)"
              % (path, ctype, status, h.get("Content-Type"), h.get("Content-Security-Policy")))
    status, _, page = call("GET", "/")
    check(b"http://" not in page and b"https://" not in page and b"<script>" not in page,
          "the page names no external URL and has no inline script")
    status, _, _ = call("GET", "/dashboard/../admin_server.c")
    check(status == 404, "a path that is not one of the files: 404 (got %s)" % status)
    status, _, _ = call("GET", "/dashboard/nothing.js")
    check(status == 404, "GET /dashboard/nothing.js: 404 (got %s)" % status)
    status, _, _ = call("POST", "/")
    check(status == 405, "POST /: 405 (got %s)" % status)
    status, _, _ = call("GET", "/api/v1/adapters")
    check(status == 401, "the API still wants a token beside the dashboard (got %s)" % status)


def sign_in(d, tok):
    d.s("POST", "/url", {"url": URL + "/"})
    wait_for("the token form", lambda: d.js(
        "return !document.querySelector('#login').hidden"), timeout_s=20)
    d.type("#token", tok)
    d.click("#login-submit")


def rates_shown(d):
    """(crm in, socialcare out) as the page's adapter table shows them, once
    both are above zero."""
    def both():
        cin = d.text("#adapters tr[data-adapter=crm] td.in")
        sout = d.text("#adapters tr[data-adapter=socialcare] td.out")
        try:
            return (float(cin), float(sout)) if float(cin) > 0 and float(sout) > 0 else None
        except (TypeError, ValueError):
            return None
    return wait_for("the page shows crm's and socialcare's rates above zero", both,
                    timeout_s=40, interval_s=0.5)


def main():
    static_files()
    t = Traffic()
    threads = [threading.Thread(target=t.subscriber), threading.Thread(target=t.publisher)]
    for th in threads:
        th.start()
    d = Driver(DRIVER)
    try:
        run(d, t)
    finally:
        d.stop()
        t.stop.set()
        for th in threads:
            th.join(30)
    check(not t.errors, "the traffic ran without errors (%s)" % t.errors)


def run(d, t):
    dl = wait_for("the poison event is a dead letter", lambda: dead_letters(), timeout_s=30)
    dl_id = dl[0]["id"]
    d.start()

    # A read token: the page shows everything, and the API's 403 on replay.
    sign_in(d, READER)
    cin, sout = rates_shown(d)
    check(cin > 0 and sout > 0, "the page shows the adapters with rates: crm in %.1f/s, "
          "socialcare out %.1f/s" % (cin, sout))
    check(d.js("return document.querySelectorAll('#flow-svg g.node[data-adapter]').length") == 2,
          "the flow drawing has both adapters as nodes")
    row = "#dl tr[data-event-id='%s']" % POISON
    wait_for("the dead letter's row", lambda: d.finds(row), timeout_s=20)
    alerts = wait_for("the dead-letter alert", lambda: (lambda a: a if a and "Dead letters" in a
                                                        else None)(d.text("#alert-list")),
                      timeout_s=20)
    check("Dead letters" in alerts and "Database down" not in alerts,
          "the alerts name the dead letter and not the database (%r)" % alerts)
    alerts = wait_for("the backlog alert", lambda: (lambda a: a if a and "Backlog growing" in a
                                                    else None)(d.text("#alert-list")),
                      timeout_s=40, interval_s=0.5)
    check("Backlog growing: socialcare/backlog has" in alerts and "socialcare/work" not in alerts,
          "the backlog alert names the subscription left behind, not the one keeping up (%r)"
          % alerts)
    check(d.js("return sessionStorage.length") == 1 and READER not in d.js(
        "return location.href"), "the token is in session storage, not in the URL")
    d.click(row + " button.replay")
    d.accept_confirm("replay with the read token")
    msg = wait_for("the page shows the API's refusal", lambda: (lambda m: m if m and "403" in m
                                                               else None)(d.text("#dl-message")),
                   timeout_s=20)
    check("role does not allow" in msg, "a read token's replay: the page shows the API's 403 "
          "message (%r)" % msg)
    check([x["id"] for x in dead_letters()] == [dl_id], "and the dead letter is still there")
    d.click(row + " button.inspect")
    body = wait_for("the inspected dead letter", lambda: (lambda b: b if b and POISON in b
                                                         else None)(d.text("#dl-inspect-body")),
                    timeout_s=20)
    check("crm.contact.created" in body and "c-" + POISON in body and
          d.js("return document.activeElement.id") == "dl-inspect-h",
          "Inspect shows the decoded envelope (GET /api/v1/dead-letters/{id}) and takes the focus")

    # The filters: another subscription's dead letters are none; back to all.
    d.type("#dl-filter input[name=subscription]", "other\ue007")
    wait_for("the filter hides the row", lambda: not d.finds(row), timeout_s=20)
    d.s("POST", "/element/%s/clear" % d.find("#dl-filter input[name=subscription]"), {})
    d.type("#dl-filter input[name=type]", "crm.contact.created\ue007")
    wait_for("the type filter shows the row", lambda: d.finds(row), timeout_s=20)
    check(d.text(row + " td:nth-child(4)") == "crm.contact.created",
          "the dead-letter filters (subscription, type) ask the API and redraw the table")

    # The steward worklist: the pair, side by side, with the evidence.
    item = wait_for("the steward's queue item", lambda: sql(
        "SELECT id FROM steward_queue WHERE state = 'OPEN'"), timeout_s=30)
    wait_for("the queue item on the page", lambda: d.finds(
        "#steward-body article[data-item='%s']" % item), timeout_s=20)
    text = d.text("#steward-body article[data-item='%s']" % item)
    check(text.count("Brian") == 2 and "M1 1AE" in text and "LS6 2QT" in text and
          "Evidence" in text and "postcode" in text,
          "the steward worklist: item %s, both records side by side and the evidence per field"
          % item)
    check(d.js("return document.querySelectorAll('#steward-body tr.differs').length") >= 2,
          "the fields that differ are marked (master id, postcode)")

    # Trace search, by keyboard: the id typed, Enter submits.
    d.type("#trace-form input[name=q]", POISON + "\ue007")
    found = wait_for("the trace on the page", lambda: (lambda b: b if b and "event(s)" in b else None)(
        d.text("#trace-body")), timeout_s=20)
    check("socialcare/work: dead_lettered" in found and "postcode ZZ9 9ZZ unknown" in found,
          "the trace shows the event's delivery to socialcare/work dead-lettered, with the "
          "reason (%r)" % found[:300])

    # Keyboard: g then d goes to the dead letters.
    d.keys("g", "d")
    check(d.js("return document.activeElement.id") == "dead", "g then d focuses the dead letters")

    # The operator: signs in again, the subscriber is fixed, the replay by
    # keyboard (Enter on the focused button) and confirmed.
    d.click("#signout")
    sign_in(d, OPERATOR)
    wait_for("the dead letter's row for the operator", lambda: d.finds(row), timeout_s=20)
    t.fixed.set()
    d.s("POST", "/element/%s/value" % d.find(row + " button.replay"), {"text": "\ue007"})
    text = d.accept_confirm("replay with the operate token")
    check(str(dl_id) in text and POISON in text, "the confirmation names the dead letter (%r)"
          % text)
    msg = wait_for("the page says replayed", lambda: (lambda m: m if m and "replayed" in m
                                                     else None)(d.text("#dl-message")),
                   timeout_s=20)
    check(msg == "Dead letter %d replayed." % dl_id, "the page: %r" % msg)
    wait_for("the fixed subscriber receives the replayed event", lambda: t.poison_after_fix >= 1,
             timeout_s=20)
    wait_for("the replay is recorded settled", lambda: sql(
        "SELECT count(*) FROM dead_letter_replay WHERE id = %d AND replayed_by = 'operator' "
        "AND settled_at > 0" % dl_id) == "1", timeout_s=20)
    check(dead_letters() == [], "the API lists the dead letter no more")
    wait_for("the row leaves the page", lambda: not d.finds(row), timeout_s=20)
    check(d.js("return document.activeElement.id") == "dead",
          "the keyboard focus, on the row that went, stays in the dead-letter section")

    # Discard, with the reason the page asks for.
    drow = "#dl tr[data-event-id='%s']" % DISCARD
    did = dead_letters(DISCARD)[0]["id"]
    d.click(drow + " button.discard")
    d.accept_confirm("discard", "sent twice by the CRM")
    wait_for("the page says discarded", lambda: (lambda m: m if m and "discarded" in m
                                                else None)(d.text("#dl-message")), timeout_s=20)
    check(sql("SELECT discarded_by || '|' || discard_reason FROM dead_letter_discarded WHERE "
              "id = %d" % did) == "operator|sent twice by the CRM",
          "Discard from the page: kept for audit with the token's name and the reason typed")
    time.sleep(3)  # traffic goes on: the replayed event must not come again
    check(t.poison_after_fix == 1, "the replayed event was delivered exactly once (%d)"
          % t.poison_after_fix)

    # Nothing but this hub's own URLs.
    urls = d.js("return performance.getEntriesByType('navigation').concat("
                "performance.getEntriesByType('resource')).map(e => e.name)")
    check(urls and all(u.startswith(URL + "/") for u in urls),
          "the page loaded only this hub's URLs (%d: %s)" % (len(urls), sorted(set(
              u.split("?")[0] for u in urls))))
    took = d.js("return performance.getEntriesByType('resource').filter(e => "
                "/\\/(api|metrics|readyz)/.test(e.name)).map(e => e.duration)")
    print("measured: %d API requests from the page, median %.1f ms, slowest %.1f ms"
          % (len(took), sorted(took)[len(took) // 2], max(took)), flush=True)
    logs = d.s("POST", "/se/log", {"type": "browser"})
    csp = [e["message"] for e in logs if "Content Security Policy" in e["message"]]
    check(not csp, "no Content-Security-Policy violation in the browser's console (%s)" % csp)

    png = base64.b64decode(d.s("GET", "/screenshot"))
    check(png[:8] == b"\x89PNG\r\n\x1a\n", "a PNG screenshot")
    with open(os.environ["SCREENSHOT"], "wb") as f:
        f.write(png)
    print("screenshot: %s (%d bytes)" % (os.environ["SCREENSHOT"], len(png)), flush=True)

    # Steward decisions: not with an operate token; with a steward token.
    art = "#steward-body article[data-item='%s']" % item
    d.click(art + " button.keep-apart")
    d.accept_confirm("keep apart with the operate token", "two people")
    msg = wait_for("the page shows the API's refusal", lambda: (lambda m: m if m and "403" in m
                                                               else None)(
        d.text("#steward-message")), timeout_s=20)
    check("role does not allow" in msg and sql(
        "SELECT state FROM steward_queue WHERE id = %s" % item) == "OPEN",
        "an operate token's decision: the API's 403 on the page, the item still open (%r)" % msg)
    d.click("#signout")
    sign_in(d, STEWARD)
    wait_for("the queue item for the steward", lambda: d.finds(art), timeout_s=20)
    d.s("POST", "/element/%s/value" % d.find(art + " button.keep-apart"), {"text": "\ue007"})
    d.accept_confirm("keep apart with the steward token", "father and son, checked by phone")
    wait_for("the item leaves the worklist", lambda: d.finds(
        "#steward-body [data-state=empty]"), timeout_s=30)
    check(sql("SELECT state || '|' || decided_by || '|' || reason FROM steward_queue WHERE id = %s"
              % item) == "KEPT_APART|steward|father and son, checked by phone",
          "Keep apart from the page (by keyboard): the item decided, by the token's name, with "
          "the reason typed")
    check("keep apart done" in d.text("#steward-message") and
          d.js("return document.activeElement.id") == "steward",
          "the page says so, and the focus stays in the steward section")

    # The publisher leaves: the page raises "adapter gone".
    t.stop_publisher.set()
    alerts = wait_for("the adapter-gone alert", lambda: (lambda a: a if a and "Adapter gone: crm"
                                                         in a else None)(d.text("#alert-list")),
                      timeout_s=30)
    check("Adapter gone: crm was connected" in alerts, "the alert: %r" % alerts)

    # PostgreSQL stops: "database down"; it comes back: the alert goes.
    subprocess.run([os.environ["PGCTL"], "stop", "-m", "fast"], check=True)
    try:
        alerts = wait_for("the database-down alert", lambda: (lambda a: a if a and "Database down"
                                                              in a else None)(
            d.text("#alert-list")), timeout_s=30)
        # /readyz's reason varies with when it asks while PostgreSQL stops
        # (a connection dying mid-query reads as "schema is not this hub's").
        check("Database down: the database" in alerts,
              "the alert gives what /readyz says: %r" % alerts)
        msg = wait_for("the dead letters' 503", lambda: (lambda m: m if m and "503" in m
                                                         else None)(d.text("#dl-message")),
                       timeout_s=20)
        check("the database is unavailable" in msg, "the dead letters say why not (%r)" % msg)
    finally:
        subprocess.run([os.environ["PGCTL"], "start"], check=True)
    wait_for("the database-down alert goes", lambda: (lambda a: a if a and "Database down"
                                                      not in a else None)(
        d.text("#alert-list")), timeout_s=90, interval_s=0.5)
    wait_for("the dead letters' message goes", lambda: not d.text("#dl-message"), timeout_s=20)
    check("Database down" not in d.text("#alert-list"),
          "the database back: the alert and the dead letters' 503 are gone")


main()
finish("dashboard_check")
