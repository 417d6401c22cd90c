"""core_reload_check.py - the two halves of test_core_reload.sh.

  probe ENDPOINT STOPFILE OUT   as the operator adapter 'ops', until STOPFILE
                                exists: HEARTBEAT then STATUS, timing each
                                STATUS-REPLY, and the gaps between the hub's
                                own HEARTBEATs; writes a JSON summary to OUT
  publish ENDPOINT EVENT_ID [TIMEOUT_S]
                                as 'socialcare', one person.updated; prints
                                the confirm's status name and reason
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402
from joinery.v1 import protocol_pb2 as P  # noqa: E402


def probe(ep, stopfile, out):
    c = J.Client(ep, "ops")
    assert c.hello()[0] == "WELCOME", "no WELCOME for ops"
    rtts = []       # (start since t0, seconds)
    hb_gaps = []    # (at since t0, seconds between two hub HEARTBEATs)
    t0 = time.monotonic()
    last_hb = None

    def take(frames):
        nonlocal last_hb
        if frames[0] == b"HEARTBEAT":
            now = time.monotonic()
            if last_hb is not None:
                hb_gaps.append((now - t0, now - last_hb))
            last_hb = now
            return None
        return frames[0].decode()

    while not os.path.exists(stopfile):
        c.send("HEARTBEAT", P.Heartbeat(time_us=J.now_us()))
        c.send("STATUS", P.StatusRequest())
        start = time.monotonic()
        got = False
        # A hub that stopped answering is waited for (up to 30 s): how long
        # it was away is the measurement.
        while not got and time.monotonic() - start < 30:
            if not c.sock.poll(100):
                continue
            cmd = take(c.sock.recv_multipart())
            if cmd == "STATUS-REPLY":
                got = True
            elif cmd is not None:
                raise SystemExit("probe: unexpected %s" % cmd)
        rtts.append((start - t0, time.monotonic() - start if got else 30.0))
        # Between probes, keep reading the hub's heartbeats.
        pause = time.monotonic() + 0.02
        while time.monotonic() < pause:
            if c.sock.poll(max(1, int((pause - time.monotonic()) * 1000))):
                cmd = take(c.sock.recv_multipart())
                if cmd is not None:
                    raise SystemExit("probe: unexpected %s" % cmd)
    c.close()
    json.dump({"rtts": rtts, "hb_gaps": hb_gaps}, open(out, "w"))


def publish(ep, event_id, timeout_s):
    c = J.Client(ep, "socialcare")
    if c.hello()[0] != "WELCOME":
        print("NONE no WELCOME")
        return
    ev = c.event("person.updated", record_id="SC-" + event_id, event_id=event_id,
                 payload=J.person("Ann", "Reload-" + event_id, "1961-02-03"),
                 payload_type="joinery.v1.Person")
    got = c.publish([ev], timeout_ms=int(timeout_s * 1000)).get(event_id)
    c.close()
    if got is None:
        print("NONE no confirm")
    else:
        print(P.ConfirmStatus.Name(got.status), got.reason or "-", got.master_id or "-")


if __name__ == "__main__":
    if sys.argv[1] == "probe":
        probe(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "publish":
        publish(sys.argv[2], sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 10)
    else:
        raise SystemExit(__doc__)
