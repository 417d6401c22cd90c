"""tail.py TRACE HUB_LOG [VMSTAT_LOG] - where a paced run's slow events spent their time.

TRACE: bench_throughput's BENCH_TRACE, one line per event received: queued
time and publish -> subscriber latency, microseconds. HUB_LOG: joineryd at
log level debug during the run, one line per committed batch (stamped when
its COMMIT returned, to the millisecond; its phases in microseconds). Each
slow event (over SLOW_MS, default 10) is split into: waiting for its batch
to start (the commit before it still running), its own batch's commit, and
after its commit until the subscriber had it (CONFIRM, DELIVER, the
subscriber's side). VMSTAT_LOG: `vmstat -n 1`, for the CPU the hypervisor
took (st) and the run queue (r) in the seconds the slow events fell in."""
import bisect
import datetime
import os
import re
import sys

SLOW_US = float(os.environ.get("SLOW_MS", "10")) * 1000

BATCH = re.compile(r"^(\S+Z) debug \[store\] batch of (\d+) events, \d+ master-data rows: "
                   r"journal (\d+) us, appends (\d+) us, master-data statements (\d+) us, "
                   r"upserts (\d+) us, other rows (\d+) us, commit (\d+) us")


def ts_us(s):
    t = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    return int(t.timestamp() * 1e6)


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * q))] if v else 0


def ms(us):
    return "%.1f" % (us / 1000.0)


def main():
    events = []
    with open(sys.argv[1]) as f:
        for line in f:
            s, lat = line.split()
            events.append((int(s), int(lat)))
    batches = []  # (start, end, size, commit phase, total)
    with open(sys.argv[2]) as f:
        for line in f:
            m = BATCH.match(line)
            if m:
                end = ts_us(m.group(1)) + 500  # the stamp is truncated to the millisecond
                phases = [int(x) for x in m.groups()[2:]]
                total = sum(phases)
                batches.append((end - total, end, int(m.group(2)), phases[-1], total))
    batches.sort(key=lambda b: b[1])
    by_start = {b[0]: i for i, b in enumerate(batches)}
    starts = sorted(by_start)
    lats = [e[1] for e in events]
    print("events %d: publish -> subscriber p50 %s ms, p99 %s ms, p99.9 %s ms, max %s ms; "
          "over %s ms: %d (%.2f%%)" % (len(events), ms(pct(lats, .5)), ms(pct(lats, .99)),
                                       ms(pct(lats, .999)), ms(max(lats)), ms(SLOW_US),
                                       sum(1 for x in lats if x > SLOW_US),
                                       100.0 * sum(1 for x in lats if x > SLOW_US) / len(lats)))
    if not batches:
        print("no batch lines in the hub log (log_level: debug?)")
        return
    sizes = [b[2] for b in batches]
    totals = [b[4] for b in batches]
    commits = [b[3] for b in batches]
    gaps = [batches[i][0] - batches[i - 1][1] for i in range(1, len(batches))]
    print("batches %d: events per batch p50 %d, p99 %d, max %d; batch time (write + COMMIT) "
          "p50 %s ms, p99 %s ms, max %s ms; COMMIT alone (the WAL fsync) p50 %s ms, p99 %s ms, "
          "max %s ms; idle between batches p50 %s ms" % (
              len(batches), pct(sizes, .5), pct(sizes, .99), max(sizes), ms(pct(totals, .5)),
              ms(pct(totals, .99)), ms(max(totals)), ms(pct(commits, .5)), ms(pct(commits, .99)),
              ms(max(commits)), ms(pct(gaps, .5))))
    # Split each slow event's time.
    parts = {"waiting for the batch before": [], "own batch (write + COMMIT)": [],
             "after its commit (confirm, deliver, subscriber)": []}
    causes = {"a long COMMIT (over half its latency in fsyncs)": 0,
              "its batch or the one before was long (writing rows)": 0,
              "after the commit (delivery side)": 0, "no batch near it (stall)": 0}
    for sent, lat in events:
        if lat <= SLOW_US:
            continue
        recv = sent + lat
        i = bisect.bisect_left(starts, sent)  # its batch: the first to start after it came
        if i >= len(starts) or starts[i] > recv:
            causes["no batch near it (stall)"] += 1
            continue
        bi = by_start[starts[i]]
        b = batches[bi]
        wait, own, after = b[0] - sent, b[4], recv - b[1]
        parts["waiting for the batch before"].append(wait)
        parts["own batch (write + COMMIT)"].append(own)
        parts["after its commit (confirm, deliver, subscriber)"].append(after)
        prev = batches[max(0, bi - 1)]
        fsync = b[3] + (prev[3] if wait > 0 else 0)
        if after > lat / 2:
            causes["after the commit (delivery side)"] += 1
        elif fsync > lat / 2:
            causes["a long COMMIT (over half its latency in fsyncs)"] += 1
        else:
            causes["its batch or the one before was long (writing rows)"] += 1
    nslow = sum(causes.values())
    if nslow:
        print("slow events (%d), their time by part (p50 / p99 ms):" % nslow)
        for k, v in parts.items():
            if v:
                print("  %-50s %7s / %7s" % (k, ms(pct(v, .5)), ms(pct(v, .99))))
        print("slow events by cause:")
        for k, v in causes.items():
            print("  %-55s %6d (%.0f%%)" % (k, v, 100.0 * v / nslow))
    # The worst seconds, with the machine's state in them.
    vm = {}
    if len(sys.argv) > 3:
        with open(sys.argv[3]) as f:
            rows = [ln.split() for ln in f if ln.split() and ln.split()[0].isdigit()]
        # vmstat -n 1: one line a second from its start; line k is second k from the first.
        for k, r in enumerate(rows[1:]):
            vm[k] = r
        st = [int(r[16]) for r in rows[1:] if len(r) > 16]
        if st:
            print("vmstat over the run: CPU stolen (st) mean %.1f%%, max %d%%; run queue (r) "
                  "mean %.1f, max %d; seconds with st >= 10%%: %d of %d" % (
                      sum(st) / len(st), max(st), sum(int(r[0]) for r in rows[1:]) / len(st),
                      max(int(r[0]) for r in rows[1:]), sum(1 for x in st if x >= 10), len(st)))
    per_s = {}
    for sent, lat in events:
        k = sent // 1000000
        n, worst = per_s.get(k, (0, 0))
        per_s[k] = (n + (lat > SLOW_US), max(worst, lat))
    first = min(per_s)
    worst = sorted(per_s.items(), key=lambda kv: -kv[1][0])[:8]
    print("seconds with the most slow events (second of run: slow, worst ms, batches' max COMMIT "
          "ms, vmstat r/bo/us/sy/wa/st):")
    for k, (n, w) in sorted(worst):
        lo, hi = k * 1000000, (k + 1) * 1000000
        mc = max([b[3] for b in batches if lo <= b[1] < hi] or [0])
        v = vm.get(k - first + 1)
        vs = "/".join(v[i] for i in (0, 9, 12, 13, 15, 16)) if v and len(v) > 16 else "?"
        print("  %3d: %5d slow, worst %7s, max COMMIT %6s, vmstat %s" % (k - first, n, ms(w),
                                                                          ms(mc), vs))


main()
