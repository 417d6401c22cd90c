"""sims.py - the council's four systems, as small as the demo needs them (stdlib only).

Each simulator plays one system on the far side of its Joinery adapter, with the adapter's own
contract (docs/adapters.md sections 6 to 9):

  Dataverse   the CRM: POSTs RemoteExecutionContext webhooks to joinery-crm with the shared key,
              and serves the Web API joinery-crm writes back to (PATCH contacts(<id>), POST
              annotations), keeping the contacts it was told about
  CaseSystem  social care: POSTs its records to joinery-socialcare's REST API, and serves the
              endpoint joinery-socialcare POSTs to (/people/<id>, /referrals/inbound, /tasks)
  Trust       the NHS trust: sends HL7 v2 ADT over MLLP to joinery-health, reads the ACK, and
              listens for the ADT joinery-health sends out (answering AA)
  Agresso     the ERP: drops customer-master CSV files into joinery-agresso's inbound folder and
              reads the customer import and GL07 files it writes out

Everything a simulator receives is kept in order in an Inbox, which the day polls: it waits for
the message that proves an effect, never for a fixed time."""
import csv
import hashlib
import io
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SB, EB, CR = b"\x0b", b"\x1c", b"\r"


class Timeout(Exception):
    """An effect the day waited for did not come."""


def wait_for(what, fn, timeout_s):
    """Calls fn every 50 ms until it returns something true; returns that, or raises Timeout
    naming WHAT once timeout_s have passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise Timeout("no %s within %d s" % (what, timeout_s))
        time.sleep(0.05)


class Inbox:
    """What a simulator received, in arrival order; shared between its server threads and the
    day."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, item):
        with self.lock:
            item["n"] = len(self.items)
            self.items.append(item)

    def mark(self):
        """Where the inbox is now: find(..., after=mark) sees only what came later."""
        with self.lock:
            return len(self.items)

    def find(self, pred, after=0):
        with self.lock:
            for it in self.items[after:]:
                if pred(it):
                    return it
        return None


def post_json(url, body, headers, timeout=60):
    """POSTs BODY as JSON; (status, parsed answer or text). HTTP errors are answers too."""
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers=dict(headers, **{"Content-Type": "application/json"}))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw.decode() or "{}")
    except ValueError:
        return status, raw.decode(errors="replace")


def start_http(port, handler_cls):
    """A threading HTTP server on 127.0.0.1:PORT in a daemon thread; returns it."""
    srv = ThreadingHTTPServer(("127.0.0.1", port), handler_cls)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class _Recorder(BaseHTTPRequestHandler):
    """Records every request in the server's inbox and answers with what answer() says."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # the account says what matters; no access log on stdout
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > 1 << 20:
            return None
        raw = self.rfile.read(n)
        try:
            return json.loads(raw.decode() or "null")
        except ValueError:
            return raw.decode(errors="replace")

    def _handle(self):
        body = self._body()
        item = {"method": self.command, "path": self.path, "body": body,
                "headers": {k.lower(): v for k, v in self.headers.items()}}
        status, answer, extra = self.server.answer(item)
        item["status"] = status
        self.server.inbox.add(item)
        data = json.dumps(answer).encode() if answer is not None else b""
        self.send_response(status)
        for k, v in extra.items():
            self.send_header(k, v)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_PATCH = do_PUT = do_GET = _handle


# ---- the CRM (Dynamics 365 / Dataverse) ----------------------------------------------------

class Dataverse:
    """The CRM: its contacts and incidents, the webhooks it sends and the Web API it serves."""

    API = "/api/data/v9.2/"

    def __init__(self, webhook_url, key, key_header, api_port, token):
        self.webhook_url, self.key, self.key_header = webhook_url, key, key_header
        self.token = token
        self.contacts = {}  # contactid -> attributes, as the CRM holds them
        self.inbox = Inbox()
        self.srv = start_http(api_port, _Recorder)
        self.srv.inbox = self.inbox
        self.srv.answer = self._answer
        self.correlation = 0

    def _answer(self, item):
        if self.token and item["headers"].get("authorization") != "Bearer " + self.token:
            return 401, {"error": {"code": "0x80040220", "message": "no valid bearer token"}}, {}
        path = item["path"]
        if item["method"] == "PATCH" and path.startswith(self.API + "contacts("):
            cid = path[len(self.API + "contacts("):].split(")")[0]
            if cid not in self.contacts:
                return 404, {"error": {"message": "contact %s does not exist" % cid}}, {}
            if isinstance(item["body"], dict):
                self.contacts[cid].update(item["body"])
            return 204, None, {"OData-EntityId": "%scontacts(%s)" % (self.API, cid)}
        if item["method"] == "POST" and path.startswith(self.API + "annotations"):
            note = "%08x-0000-4000-8000-%012x" % (int(time.time()), self.inbox.mark())
            return 204, None, {"OData-EntityId": "%sannotations(%s)" % (self.API, note)}
        return 404, {"error": {"message": "not served by this demo: %s %s"
                               % (item["method"], path)}}, {}

    def _context(self, message, entity, eid, target, image=None):
        """A RemoteExecutionContext as Dataverse POSTs it to a registered webhook."""
        self.correlation += 1

        def attrs(d):
            return [{"key": k, "value": v} for k, v in d.items()]
        ctx = {"CorrelationId": "5e1a7c00-0000-4000-8000-%012d" % self.correlation,
               "Depth": 1, "MessageName": message, "Mode": 1, "OrganizationName": "council",
               "PrimaryEntityId": eid, "PrimaryEntityName": entity, "Stage": 40,
               "InputParameters": [{"key": "Target", "value": {
                   "Attributes": attrs(dict(target, **{entity + "id": eid})), "Id": eid,
                   "LogicalName": entity}}],
               "PostEntityImages": [], "PreEntityImages": []}
        if image:
            ctx["PostEntityImages"] = [{"key": "PostImage", "value": {
                "Attributes": attrs(dict(image, **{entity + "id": eid})), "Id": eid,
                "LogicalName": entity}}]
        return ctx

    def create_contact(self, cid, attrs):
        self.contacts[cid] = dict(attrs)
        return post_json(self.webhook_url, self._context("Create", "contact", cid, attrs),
                         {self.key_header: self.key})

    def update_contact(self, cid, changed):
        """A user's edit: Target carries what changed, the post image the whole contact."""
        self.contacts.setdefault(cid, {}).update(changed)
        image = {k: v for k, v in self.contacts[cid].items() if not k.startswith("jn_")}
        return post_json(self.webhook_url,
                         self._context("Update", "contact", cid, changed, image),
                         {self.key_header: self.key})


# ---- social care (the case-management system) -----------------------------------------------

class CaseSystem:
    """Social care: POSTs to joinery-socialcare, and serves the endpoint it POSTs back to."""

    def __init__(self, api_url, key, key_header, out_port, out_key, out_key_header):
        self.api_url, self.key, self.key_header = api_url.rstrip("/"), key, key_header
        self.out_key, self.out_key_header = out_key, out_key_header.lower()
        self.inbox = Inbox()
        self.srv = start_http(out_port, _Recorder)
        self.srv.inbox = self.inbox
        self.srv.answer = self._answer

    def _answer(self, item):
        if item["headers"].get(self.out_key_header) != self.out_key:
            return 401, {"error": "unauthorized"}, {}
        if item["method"] != "POST":
            return 405, {"error": "method not allowed"}, {}
        p = item["path"]
        if p.startswith("/people/") or p == "/referrals/inbound" or p == "/tasks":
            return 200, {"status": "ok"}, {}
        return 404, {"error": "not-found"}, {}

    def post(self, kind, body):
        return post_json("%s/%s" % (self.api_url, kind), body, {self.key_header: self.key})


# ---- the NHS trust (HL7 v2 over MLLP) -------------------------------------------------------

class Trust:
    """The trust's interface engine: sends ADT to joinery-health, and takes what it sends."""

    def __init__(self, ods, mllp_host, mllp_port, listen_port):
        self.ods, self.host, self.port = ods, mllp_host, mllp_port
        self.inbox = Inbox()
        self.control = 0
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", listen_port))
        self.lsock.listen(8)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def fields(text, seg):
        """The fields of the first segment SEG of an ER7 message (index = HL7 field number)."""
        for line in text.replace("\n", "\r").split("\r"):
            if line.startswith(seg + "|"):
                f = line.split("|")
                return f if seg != "MSH" else ["MSH", "|"] + f[1:]
        return []

    def _serve(self, c):
        buf = b""
        while True:
            try:
                data = c.recv(65536)
            except OSError:
                return
            if not data:
                c.close()
                return
            buf += data
            while EB in buf:
                frame, buf = buf.split(EB, 1)
                buf = buf[1:] if buf.startswith(CR) else buf
                text = frame.lstrip(SB).decode("utf-8", errors="replace")
                msh, pid = self.fields(text, "MSH"), self.fields(text, "PID")
                get = (lambda f, i: f[i] if len(f) > i else "")
                self.inbox.add({"type": get(msh, 9), "control": get(msh, 10),
                                "pid3": get(pid, 3), "pid5": get(pid, 5), "pid7": get(pid, 7),
                                "pid11": get(pid, 11), "text": text})
                ack = ("MSH|^~\\&|PAS|%s|JOINERY|LCC|%s||ACK|A%s|P|2.5\rMSA|AA|%s\r"
                       % (self.ods, time.strftime("%Y%m%d%H%M%S"), get(msh, 10), get(msh, 10)))
                try:
                    c.sendall(SB + ack.encode() + EB + CR)
                except OSError:
                    return

    def send(self, trigger, structure, segments):
        """Sends one ADT; returns (control id, MSA-1 of the ACK). The ACK comes only once the
        hub has journaled the message."""
        self.control += 1
        cid = "%s-%s-%04d" % (self.ods, time.strftime("%H%M%S"), self.control)
        now = time.strftime("%Y%m%d%H%M%S")
        msg = ("MSH|^~\\&|PAS|%s|JOINERY|LCC|%s||ADT^%s^%s|%s|P|2.5\rEVN|%s|%s\r"
               % (self.ods, now, trigger, structure, cid, trigger, now)) + "\r".join(segments) + "\r"
        with socket.create_connection((self.host, self.port), timeout=60) as s:
            s.sendall(SB + msg.encode() + EB + CR)
            buf = b""
            while EB not in buf:
                data = s.recv(65536)
                if not data:
                    raise OSError("joinery-health closed the connection without an ACK")
                buf += data
        msa = self.fields(buf.split(EB)[0].lstrip(SB).decode(errors="replace"), "MSA")
        return cid, (msa[1] if len(msa) > 1 else "?")


# ---- Unit4 Agresso (files) -------------------------------------------------------------------

CUSTOMER_COLUMNS = ["customer_id", "name", "given_name", "family_name", "date_of_birth",
                    "address_line1", "address_line2", "town", "postcode", "phone", "email",
                    "nhs_number"]


class Agresso:
    """The ERP's side of its folders: exports dropped in, import files collected."""

    def __init__(self, in_dir, out_dir):
        self.in_dir, self.out_dir = in_dir, out_dir

    def drop_customers(self, name, rows):
        """Writes a customer-master export under a temporary name and renames it in, as an
        export job should; returns the file's SHA-256 (the rows' event ids start with it)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(CUSTOMER_COLUMNS)
        for r in rows:
            w.writerow([r.get(c, "") for c in CUSTOMER_COLUMNS])
        data = buf.getvalue().encode()
        tmp = os.path.join(self.in_dir, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(self.in_dir, name))
        return hashlib.sha256(data).hexdigest()

    def done(self, name):
        return os.path.exists(os.path.join(self.in_dir, "done", name))

    def customer_imports(self):
        """Every customer import row written so far: (file name, journal seq, row dict)."""
        out = []
        for fn in sorted(os.listdir(self.out_dir)):
            if not (fn.startswith("CUST") and fn.endswith(".csv")):
                continue
            seq = fn[len("CUST-"):-len(".csv")]
            with open(os.path.join(self.out_dir, fn), newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    out.append((fn, seq, row))
        return out
