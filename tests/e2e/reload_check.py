#!/usr/bin/env python3
"""reload_check.py write|run ENDPOINT KEYDIR CONNINFO ADMIN_URL HUB_PID JOINERY_CLI

Reloading the configuration without a restart (tests/e2e/test_reload.sh;
docs/operations.md "Reloading the configuration"), against a real joineryd
over CurveZMQ and a real PostgreSQL:

  write  writes $E2E_DIR/hub.yaml, the configuration the hub starts with;
  run    drives the reloads: by SIGHUP, by POST /api/v1/reload (urllib) and by
         `joinery reload`, each time rewriting hub.yaml first and checking
         what the adapters (raw protocol clients, pyjoinery) see and what the
         hub logs ($E2E_DIR/hub.log).

Adapters: a (publishes a.*; after the first reload x.* instead), b (added by
the first reload, removed by the second, back with the API's), ops, and the
partner trust's internal adapter partner:trust (whose Curve key the hub makes
at start: no reload may count it changed or close its link). Tokens: reader
(read), operator (operate)."""
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import zmq

sys.path.insert(0, os.path.dirname(__file__))
import pyjoinery as J  # noqa: E402
from pyjoinery import P, check, finish, require, wait_for  # noqa: E402

MODE, ENDPOINT, KEYS, CONNINFO, URL, HUB_PID, CLI = sys.argv[1:8]
E2E_DIR = os.environ["E2E_DIR"]
HUB_YAML = os.path.join(E2E_DIR, "hub.yaml")
LOG = os.path.join(E2E_DIR, "hub.log")
READER = "reader-token-0123456789abcdef"
OPERATOR = "operator-token-fedcba9876543210"
OK, REJECTED = P.CONFIRM_OK, P.CONFIRM_REJECTED


# ---- configurations -------------------------------------------------------

def adapter(name, publish, subscribe=(), key=None, operator=False):
    return ("  - name: %s\n    public_key_file: keys/%s.pub\n    publish: %s\n"
            "    subscribe: %s\n%s" % (name, key or name, json.dumps(list(publish)),
                                      json.dumps(list(subscribe)),
                                      "    operator: true\n" if operator else ""))


def config(adapters, conninfo=CONNINFO, broken=False, tokens=""):
    text = """hub:
  listen: %s
  data_dir: %s/data
  heartbeat_ms: 5000  # the Python clients send no heartbeats while busy
database:
  conninfo: "%s"
security:
  curve: true
  hub_key_file: keys/hub.key
adapters:
%s%s
partners:  # its internal adapter's key is made by the hub at start: a reload must keep it
  - name: trust
    agreement: "DSA-TEST reload"
    purpose: shared-care-record
    kafka:
      brokers: "127.0.0.1:9"  # nothing listens: the link to the hub is what is checked
    outbound:
      topic: joinery.to-trust
      types: ["x.*"]
admin:
  enabled: true
  listen: %s
  tokens:
    - name: reader
      token: %s
      role: read
    - name: operator
      token: %s
      role: operate
%s""" % (ENDPOINT, E2E_DIR, conninfo, "".join(adapters),
         "  - name: [unterminated\n" if broken else "", URL.split("//")[1], READER, OPERATOR,
         tokens)
    with open(HUB_YAML, "w") as f:
        f.write(text)


A_V1 = adapter("a", ["a.*", "probe.*"], ["b.*", "probe.*"])
A_V2 = adapter("a", ["x.*", "probe.*"], ["b.*", "probe.*"])  # a.* taken away, x.* given
A_V3 = adapter("a", ["x.*", "probe.*"], ["b.*", "probe.*"], key="a2")  # a new key
A_V4 = adapter("a", ["a.*", "x.*", "probe.*"], ["b.*", "probe.*"], key="a2")
A_V5 = adapter("a", ["a.*", "x.*", "probe.*", "person.*"], ["probe.*"], key="a2")  # no b.*
B = adapter("b", ["b.*"])
B_V2 = adapter("b", ["b.*"], ["person.changed"])
OPS = adapter("ops", [], [], operator=True)

if MODE == "write":
    config([A_V1, OPS])
    sys.exit(0)


# ---- helpers --------------------------------------------------------------

def log_lines(pattern):
    with open(LOG, errors="replace") as f:
        return [line for line in f if pattern in line]


def sighup_and_wait(what):
    """Sends SIGHUP and waits for the reload's one log line (applied or refused)."""
    before = len(log_lines("configuration reload"))
    os.kill(int(HUB_PID), signal.SIGHUP)
    wait_for("the hub logs the reload (%s)" % what,
             lambda: len(log_lines("configuration reload")) > before)
    return log_lines("configuration reload")[-1]


def connect(name, key=None, monitor=False):
    return J.Client(ENDPOINT, name, J.key(KEYS, "hub", "pub"), J.key(KEYS, key or name, "pub"),
                    J.key(KEYS, key or name, "key"), monitor=monitor)


def hello(name, key=None):
    c = connect(name, key)
    cmd, m = c.hello()
    require(cmd == "WELCOME", "%s: WELCOME (got %s %s)" % (name, cmd, m))
    return c


def publish(c, type_):
    return c.publish_one(c.event(type_, record_id="r1"))


def permissions_as_v2(a, label):
    """A's permissions after the first reload: x.* allowed, a.* refused with the reason."""
    got = publish(a, "a.created")
    check(got.status == REJECTED and "may not publish 'a.created'" in got.reason,
          "%s: a.created, allowed at start, is refused with the permission reason (%s)"
          % (label, got.reason))
    got = publish(a, "x.created")
    check(got.status == OK, "%s: x.created, refused at start, is accepted (%s)"
          % (label, got.reason))


def http(method, path, token=None):
    req = urllib.request.Request(URL + path, method=method, data=b"" if method == "POST" else None)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def cli(token_file):
    r = subprocess.run([CLI, "reload", "--admin", URL, "--token-file", token_file],
                       capture_output=True, text=True, timeout=60)
    with open(os.path.join(E2E_DIR, "cli-reload.out"), "a") as f:
        f.write(r.stdout + r.stderr)
    return r


# ---- at start --------------------------------------------------------------

a = hello("a")
got = publish(a, "a.created")
check(got.status == OK, "at start a may publish a.created")
got = publish(a, "x.created")
check(got.status == REJECTED and "may not publish 'x.created'" in got.reason,
      "at start a may not publish x.created (%s)" % got.reason)
ans = a.subscribe("from-b", ["b.*"])
require(ans[0] == "SUBSCRIBED", "a subscribes to b.* (%s)" % (ans,))

# ---- SIGHUP: b added, a's permissions changed -------------------------------

config([A_V2, OPS, B])
line = sighup_and_wait("b added")
check("configuration reloaded" in line and "(SIGHUP)" in line and "adapters 1 added (b)" in line
      and "0 removed" in line and '1 changed (a: ["publish"])' in line
      and "0 session(s) closed" in line,
      "SIGHUP: one line says b was added and a's publish permissions changed: %s" % line.strip())
b = hello("b")
check(True, "b, added by the reload, connects at once")
got = publish(b, "b.created")
check(got.status == OK, "b publishes b.created (%s)" % got.reason)
ev = a.receive(J.has_type("b.created"), "a receives b's event")
check(len(J.of_type(ev, "b.created")) == 1, "a's subscription (made before the reload) receives b's event")
permissions_as_v2(a, "after the SIGHUP")

# ---- SIGHUP: b removed -------------------------------------------------------

config([A_V2, OPS])
line = sighup_and_wait("b removed")
check("adapters 0 added, 1 removed (b), 0 changed" in line and "1 session(s) closed" in line,
      "SIGHUP: one line says b was removed and its session closed: %s" % line.strip())
cmd, m = b.recv()
check(cmd == "GOODBYE" and "adapter 'b' was removed from the hub's configuration" in m.reason,
      "b's session is closed with a GOODBYE saying why (%s %s)" % (cmd, m))
cmd, m = b.hello()
check(cmd == "ERROR" and m.code == P.ERROR_NOT_AUTHORISED and "no longer in the hub's configuration"
      in m.reason, "b's HELLO on its open connection is refused (%s %s)" % (cmd, m))
b.close()
b = connect("b", monitor=True)
b.send("HELLO", P.Hello(protocol_version=1, adapter="b", sdk_version="pyjoinery/1"))
cmd, ev = b.recv(until_event={zmq.EVENT_HANDSHAKE_FAILED_AUTH, zmq.EVENT_HANDSHAKE_SUCCEEDED})
check(cmd == "EVENT" and ev["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH and ev["value"] == 400,
      "a new connection with b's key fails the Curve handshake (ZAP 400): %s %s" % (cmd, ev))
b.close()
wait_for("the hub logs the refused key", lambda: log_lines("refused a connection with unknown Curve key"))
permissions_as_v2(a, "after b's removal")

# ---- SIGHUP: refused reloads change nothing -----------------------------------

config([A_V1, OPS, B], broken=True)  # would give a.* back and add b, were it valid
line = sighup_and_wait("a syntax error")
check("configuration reload (SIGHUP) refused, nothing applied" in line and "hub.yaml:" in line,
      "SIGHUP with a syntax error: refused, the file and line named: %s" % line.strip())
permissions_as_v2(a, "after the refused syntax error")
config([A_V1, OPS, B], conninfo=CONNINFO + " application_name=other")
line = sighup_and_wait("database.conninfo changed")
check("refused, nothing applied: database.conninfo changed: needs a restart" in line,
      "SIGHUP changing database.conninfo: refused, naming the key: %s" % line.strip())
permissions_as_v2(a, "after the refused conninfo change")
b = connect("b", monitor=True)
b.send("HELLO", P.Hello(protocol_version=1, adapter="b", sdk_version="pyjoinery/1"))
cmd, ev = b.recv(until_event={zmq.EVENT_HANDSHAKE_FAILED_AUTH, zmq.EVENT_HANDSHAKE_SUCCEEDED})
check(cmd == "EVENT" and ev["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH,
      "b, in both refused files, still cannot connect: %s %s" % (cmd, ev))
b.close()

# ---- POST /api/v1/reload ------------------------------------------------------

config([A_V3, OPS, B])  # b back; a's key changed
status, body = http("POST", "/api/v1/reload")
check(status == 401, "POST /api/v1/reload without a token: 401 (%s)" % status)
status, body = http("POST", "/api/v1/reload", READER)
check(status == 403, "POST /api/v1/reload with a read token: 403 (%s %s)" % (status, body))
check(len(log_lines("admin API, token")) == 0, "and nothing was reloaded")
status, body = http("POST", "/api/v1/reload", OPERATOR)
ch = body.get("changes", {})
check(status == 200 and body.get("applied") is True and ch.get("adapters_added") == ["b"]
      and ch.get("adapters_removed") == [] and ch.get("adapters_changed") == {"a": ["public_key"]}
      and ch.get("sessions_closed") == 1,
      "POST /api/v1/reload with an operate token: 200, b added, a's key changed, a's session "
      "closed: %s %s" % (status, body))
line = log_lines("configuration reload")[-1]
check("(admin API, token operator)" in line and "adapters 1 added (b)" in line,
      "the API's reload is one log line naming the token: %s" % line.strip())
cmd, m = a.recv()
check(cmd == "GOODBYE" and "Curve key of adapter 'a' was changed" in m.reason,
      "a, connected with its old key, is told GOODBYE (%s %s)" % (cmd, m))
cmd, m = a.hello()
check(cmd == "ERROR" and m.code == P.ERROR_NOT_AUTHORISED and "no longer adapter 'a'" in m.reason,
      "a's HELLO on the connection made with the old key is refused (%s %s)" % (cmd, m))
a.close()
old = connect("a", monitor=True)
old.send("HELLO", P.Hello(protocol_version=1, adapter="a", sdk_version="pyjoinery/1"))
cmd, ev = old.recv(until_event={zmq.EVENT_HANDSHAKE_FAILED_AUTH, zmq.EVENT_HANDSHAKE_SUCCEEDED})
check(cmd == "EVENT" and ev["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH,
      "a new connection with a's old key fails the handshake: %s %s" % (cmd, ev))
old.close()
a = hello("a", key="a2")
ans = a.subscribe("from-b", ["b.*"])
check(ans[0] == "SUBSCRIBED", "a connects with its new key and subscribes again (%s)" % (ans,))
permissions_as_v2(a, "a with its new key")
b = hello("b")
got = publish(b, "b.created")
check(got.status == OK, "b, added back, connects and publishes (%s)" % got.reason)

config([A_V1, OPS], conninfo=CONNINFO + " application_name=other")
status, body = http("POST", "/api/v1/reload", OPERATOR)
check(status == 422 and body.get("applied") is False
      and "database.conninfo changed: needs a restart" in body.get("errors", []),
      "POST /api/v1/reload changing database.conninfo: 422 with the reason (%s %s)"
      % (status, body))
config([A_V1, OPS, B], broken=True)
status, body = http("POST", "/api/v1/reload", OPERATOR)
check(status == 422 and body.get("applied") is False and len(body.get("errors", [])) == 1
      and "hub.yaml:" in body["errors"][0],
      "POST /api/v1/reload with a syntax error: 422 naming the file and line (%s %s)"
      % (status, body))
cmd, m = b.recv(0)
check(cmd is None, "b was not disconnected by the refused reloads (%s)" % cmd)
permissions_as_v2(a, "after the API's refused reloads")

# ---- joinery reload -------------------------------------------------------------

tokens = os.path.join(E2E_DIR, "keys")
r = cli(os.path.join(tokens, "reader.token"))
check(r.returncode == 1 and "HTTP 403" in r.stderr,
      "joinery reload with a read token: exit 1, HTTP 403 (%d %s)" % (r.returncode, r.stderr))
r = cli(os.path.join(tokens, "operator.token"))
check(r.returncode == 1 and "HTTP 422" in r.stderr and "hub.yaml:" in r.stderr,
      "joinery reload of a file with a syntax error: exit 1 with the reason (%d %s)"
      % (r.returncode, r.stderr))
config([A_V4, OPS, B])
r = cli(os.path.join(tokens, "operator.token"))
check(r.returncode == 0 and "configuration reloaded" in r.stdout
      and "adapters changed:  a (publish)" in r.stdout and "sessions closed:   0" in r.stdout,
      "joinery reload: exit 0, what changed printed (%d %r %r)" % (r.returncode, r.stdout, r.stderr))
got = publish(a, "a.created")
check(got.status == OK, "a may publish a.created again, on the same session (%s)" % got.reason)
got = publish(a, "x.created")
check(got.status == OK, "and x.created still (%s)" % got.reason)
got = publish(b, "b.created")
check(got.status == OK, "b is still connected and publishing (%s)" % got.reason)
config([A_V4, OPS, B], conninfo=CONNINFO + " application_name=other")
r = cli(os.path.join(tokens, "operator.token"))
check(r.returncode == 1 and "database.conninfo changed: needs a restart" in r.stderr,
      "joinery reload changing database.conninfo: exit 1 naming the key (%d %s)"
      % (r.returncode, r.stderr))

# ---- SIGHUP: subscribe permissions narrowed, and a new subscriber of person.changed ----------

ev = a.receive(J.has_type("b.created", 2), "a receives b's two events since it came back")
check(len(J.of_type(ev, "b.created")) == 2, "a receives b's events since it was added back")
LATER = "later-token-00112233445566778899"
status, _ = http("GET", "/api/v1/adapters", LATER)
check(status == 401, "a token not yet configured: 401 (%s)" % status)
config([A_V5, OPS, B_V2], tokens="    - name: later\n      token: %s\n      role: read\n" % LATER)
line = sighup_and_wait("a's subscribe narrowed, b subscribes to person.changed, a token added")
check('2 changed (a: ["publish","subscribe"], b: ["subscribe"])' in line
      and "admin tokens changed" in line and "1 session(s) closed" in line
      and "the master-data engine is rebuilt for its new subscribers" in line,
      "SIGHUP: one line says a's and b's permissions and the tokens changed, a's session "
      "closed and the engine rebuilt: %s" % line.strip())
status, body = http("GET", "/api/v1/adapters", LATER)
check(status == 200 and sorted(x["name"] for x in body["adapters"]) == ["a", "b", "ops", "partner:trust"],
      "the token added by the reload is taken at once (%s %s)" % (status, body))
status, _ = http("POST", "/api/v1/reload", LATER)
check(status == 403, "with its role: read, no reload (%s)" % status)
cmd, m = a.recv()
check(cmd == "GOODBYE" and "may no longer subscribe to 'b.*' (subscription 'from-b')" in m.reason,
      "a, holding a subscription its new permissions do not cover, is told GOODBYE (%s %s)"
      % (cmd, m))
a.close()
wait_for("the master-data engine reloaded", lambda: log_lines("master data reloaded from the database"))
a = hello("a", key="a2")
ans = a.subscribe("from-b", ["b.*"])
check(ans[0] == "ERROR" and ans[1].code == P.ERROR_NOT_AUTHORISED
      and "may not subscribe to 'b.*'" in ans[1].reason,
      "a may no longer subscribe to b.* (%s)" % (ans,))
ans = b.subscribe("people", ["person.changed"])
require(ans[0] == "SUBSCRIBED", "b subscribes to person.changed (%s)" % (ans,))
got = a.publish_one(a.event("person.updated", record_id="P-1", payload_type="joinery.v1.Person",
                            payload=J.person("Ada", "Lovelace", "1815-12-10", "9434765919")))
check(got.status == OK and got.master_id, "a's person event is journaled and mastered (%s %s)"
      % (got.status, got.reason))
ev = b.receive(J.has_type("person.changed"), "b receives person.changed")
check(len(J.of_type(ev, "person.changed")) == 1,
      "b, a subscriber of person.changed since the reload, receives the engine's person.changed")

# STATUS lists the adapters in force, not the slot b held while removed.
ops = hello("ops")
ops.send("STATUS", P.StatusRequest())
cmd, m = ops.recv()
check(cmd == "STATUS-REPLY"
      and sorted(x.name for x in m.adapters) == ["a", "b", "ops", "partner:trust"],
      "STATUS lists a, b, ops and partner:trust (%s)" % ([x.name for x in m.adapters] if m else cmd))
check([x.connected for x in m.adapters if x.name == "partner:trust"] == [True]
      and len(log_lines("adapter 'partner:trust' connected")) == 1
      and not log_lines("adapter 'partner:trust' disconnected"),
      "the partner's link to the hub, keyed at start, stayed up through every reload")
a.close()
b.close()
ops.close()
finish("reload_check")
