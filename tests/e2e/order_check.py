"""order_check.py PUBLISHED CONFIRMED RECEIVED N CONNINFO - what
test_crash_recovery.sh's adapters saw (e2e_publisher's PUBLISHED and
CONFIRMED, e2e_subscriber's RECEIVED) against each other and the journal:

  - every published event was confirmed, the subscriber handled exactly the
    published events, the journal holds each once;
  - per record, the subscriber handled and the journal holds the events in
    the order the publisher published them (docs/protocol.md 7.2: "events
    about the same entity are delivered in journal order"; the journal's
    order is the publisher's, unless the hub reorders). An event that comes
    after a later-published event of its record is an inversion; the count
    and the first few are printed."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyjoinery as J  # noqa: E402

PUBLISHED, CONFIRMED, RECEIVED, N, DB = sys.argv[1:6]
n = int(N)
check, sql = J.check, J.Sql(DB)

published = {}  # event_id -> (record, n-th of its record as published)
for line in open(PUBLISHED):
    eid, record, nth = line.split()
    published[eid] = (record, int(nth))
confirmed = {line.split()[0] for line in open(CONFIRMED)}
received = [line.split(maxsplit=3) for line in open(RECEIVED)]
expected = {"ev-%d" % i for i in range(n)}
handled = {r[0] for r in received}
print("published %d, confirmed %d, handled %d (distinct %d), lost %d, duplicates %d" % (
    len(published), len(confirmed), len(received), len(handled), len(expected - handled),
    len(received) - len(handled)))
check(set(published) == expected, "the publisher published the %d events" % n)
check(confirmed == expected, "every published event was confirmed (%d missing)"
      % len(expected - confirmed))
check(handled == expected, "the subscriber handled exactly the published events "
      "(%d missing, %d unknown)" % (len(expected - handled), len(handled - expected)))
# The payload carries the publisher's count: the subscriber got the bytes published.
bad = [r for r in received if r[0] in published and
       r[3].strip() != '{"i":%s,"n":%d}' % (r[0].split("-")[1], published[r[0]][1])]
check(not bad, "each handled payload is the one published (%d differ, e.g. %s)"
      % (len(bad), bad[:2]))


def inversions(order, what):
    """ORDER: event ids in the order WHAT has them. Returns the inversions:
    (record, n, the later n already seen), one per event that comes after a
    later-published event of its record."""
    seen, top, out, where = set(), {}, [], []
    for eid in order:
        if eid in seen or eid not in published:
            continue
        seen.add(eid)
        record, nth = published[eid]
        if nth < top.get(record, 0):
            out.append((record, nth, top[record]))
            where.append(int(eid.rsplit("-", 1)[1]))
        top[record] = max(top.get(record, 0), nth)
    records = len({published[e][0] for e in seen})
    print("%s: %d inversion(s) in %d of %d records%s" % (
        what, len(out), len({x[0] for x in out}), records,
        ", among the events published as ev-%d..ev-%d; first: %s" % (
            min(where), max(where), ", ".join("%s #%d after #%d" % x for x in out[:8]))
        if out else ""))
    return out


journal = sql("SELECT event_id FROM journal ORDER BY seq").split()
check(len(journal) == n and len(set(journal)) == n,
      "the journal holds each event once (%d rows, %d distinct)" % (len(journal), len(set(journal))))
j_inv = inversions(journal, "journal order (seq) against publish order")
s_inv = inversions([r[0] for r in received], "subscriber's order against publish order")
ISSUE_23_1 = ("issue 23 item 1: an event answered RETRY is resent by the SDK after newer "
              "events of its record were accepted, so they overtake it")
check(not j_inv, "per record, the journal keeps the order the events were published in "
      "(%d inversions)" % len(j_inv), defect=ISSUE_23_1)
check(not s_inv, "per record, the subscriber handled the events in the order they were "
      "published in (%d inversions)" % len(s_inv), defect=ISSUE_23_1)
J.finish("order_check")
