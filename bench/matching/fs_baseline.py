#!/usr/bin/python3
"""fs_baseline.py - a plain Fellegi-Sunter model with EM, outside the hub, on the same CSV
that bench/run-matching.sh external loads: the yardstick the issue compares the hub with.

    fs_baseline.py FILE [--format splink|febrl] [--threshold 0.99]

Candidate pairs come from a union of blocking rules; each pair is compared field by field
(exact, Jaro-Winkler >= 0.92, >= 0.80, other; a birth date exact, one character apart, same
year, other; a missing value is no evidence); m, u and the share of matches are estimated
together by expectation-maximisation over the candidate pairs and 200,000 random pairs (so that
u is what chance gives, not only what blocking made alike), from a start that favours agreement. A pair
is a link when its posterior match probability is at least the threshold. Precision, recall
and F1 are over pairs of records, against the file's truth (splink `cluster`, FEBRL rec-N-),
recall counting every true pair, blocked or not. Nothing is tuned to a data set: the rules and
levels are the textbook ones.
"""
import argparse
import collections
import csv
import itertools
import math
import random

BIG_BLOCK = 400  # a blocking value shared by more records than this is skipped (too common)


def jaro_winkler(a, b):
    if a == b:
        return 1.0
    la, lb = len(a), len(b)
    if not la or not lb:
        return 0.0
    rng = max(la, lb) // 2 - 1
    ma, mb = [False] * la, [False] * lb
    m = 0
    for i, c in enumerate(a):
        for j in range(max(0, i - rng), min(lb, i + rng + 1)):
            if not mb[j] and b[j] == c:
                ma[i] = mb[j] = True
                m += 1
                break
    if not m:
        return 0.0
    t, k = 0, 0
    for i in range(la):
        if ma[i]:
            while not mb[k]:
                k += 1
            t += a[i] != b[k]
            k += 1
    j = (m / la + m / lb + (m - t / 2) / m) / 3
    p = 0
    while p < min(4, la, lb) and a[p] == b[p]:
        p += 1
    return j + p * 0.1 * (1 - j)


def one_apart(a, b):
    """Equal but for one substituted character, or two adjacent ones swapped."""
    if len(a) != len(b):
        return False
    d = [i for i in range(len(a)) if a[i] != b[i]]
    return len(d) == 1 or (len(d) == 2 and d[1] == d[0] + 1 and a[d[0]] == b[d[1]]
                           and a[d[1]] == b[d[0]])


def read(path, fmt):
    rows = list(csv.DictReader(open(path, newline=""), skipinitialspace=True))
    if fmt is None:
        fmt = "splink" if "cluster" in rows[0] else "febrl"
    recs, truth = [], []
    for r in rows:
        r = {k.strip(): (v or "").strip().lower() for k, v in r.items()}
        if fmt == "splink":
            recs.append({"given": r["first_name"], "family": r["surname"], "dob": r["dob"],
                         "town": r["city"], "email": r["email"]})
            truth.append(r["cluster"])
        else:
            d = r["date_of_birth"]
            recs.append({"given": r["given_name"], "family": r["surname"], "dob": d,
                         "number": r["street_number"], "street": r["address_1"],
                         "line2": r["address_2"], "town": r["suburb"], "postcode": r["postcode"]})
            truth.append(r["rec_id"].split("-")[1])
    return fmt, recs, truth


BLOCKS = {
    "splink": [("given", "family"), ("dob",), ("family", "dob4"), ("given", "dob4"),
               ("email",), ("family4", "town"), ("given4", "family4"), ("family4", "dob4"),
               ("given4", "dob4"), ("town", "dob4"), ("email4", "dob4")],
    "febrl": [("given", "family"), ("dob",), ("postcode", "family4"), ("postcode", "given4"),
              ("street", "number"), ("family", "dob4"), ("given", "dob4"), ("town", "given4")],
}
FIELDS = {
    "splink": ["given", "family", "dob", "town", "email"],
    "febrl": ["given", "family", "dob", "number", "street", "line2", "town", "postcode"],
}


def key_value(rec, k):
    if k.endswith("4"):
        v = rec[k[:-1]]
        return v[:4] if v else ""
    return rec[k]


def candidates(fmt, recs):
    pairs = set()
    for rule in BLOCKS[fmt]:
        blocks = collections.defaultdict(list)
        for i, r in enumerate(recs):
            v = tuple(key_value(r, k) for k in rule)
            if all(v):
                blocks[v].append(i)
        for ids in blocks.values():
            if len(ids) <= BIG_BLOCK:
                pairs.update(itertools.combinations(ids, 2))
    return pairs


def level(field, a, b):
    """0 exact, 1 close, 2 similar, 3 different; None: missing on a side."""
    if not a or not b:
        return None
    if a == b:
        return 0
    if field == "dob":
        return 1 if one_apart(a, b) else 2 if a[:4] == b[:4] else 3
    s = jaro_winkler(a, b)
    return 1 if s >= 0.92 else 2 if s >= 0.80 else 3


def random_pairs(recs, rng, n=200000):
    """Random pairs of records: EM sees what agreement chance alone gives, not only the pairs
    blocking made look alike."""
    out = set()
    while len(out) < n:
        i, j = rng.randrange(len(recs)), rng.randrange(len(recs))
        if i != j:
            out.add((min(i, j), max(i, j)))
    return out


def em(patterns, nf, iters=60):
    """patterns: {vector: count}; returns (share of matches, m, u) with m[f][level]."""
    lam = 0.01
    m = [[0.85, 0.08, 0.04, 0.03] for _ in range(nf)]
    u = [[0.02, 0.03, 0.10, 0.85] for _ in range(nf)]
    for _ in range(iters):
        sm = [[1e-9] * 4 for _ in range(nf)]
        su = [[1e-9] * 4 for _ in range(nf)]
        tm = tu = 0.0
        for vec, n in patterns.items():
            pm, pu = lam, 1 - lam
            for f, lv in enumerate(vec):
                if lv is not None:
                    pm *= m[f][lv]
                    pu *= u[f][lv]
            g = pm / (pm + pu)
            tm += g * n
            tu += (1 - g) * n
            for f, lv in enumerate(vec):
                if lv is not None:
                    sm[f][lv] += g * n
                    su[f][lv] += (1 - g) * n
        lam = tm / (tm + tu)
        m = [[x / sum(row) for x in row] for row in sm]
        u = [[x / sum(row) for x in row] for row in su]
    return lam, m, u


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--format", choices=("splink", "febrl"))
    ap.add_argument("--threshold", type=float, default=0.99)
    a = ap.parse_args()
    fmt, recs, truth = read(a.file, a.format)
    fields = FIELDS[fmt]
    cand = candidates(fmt, recs)
    vecs = {}
    patterns = collections.Counter()
    for i, j in cand | random_pairs(recs, random.Random(1)):
        v = tuple(level(f, recs[i][f], recs[j][f]) for f in fields)
        vecs[(i, j)] = v
        patterns[v] += 1
    lam, m, u = em(patterns, len(fields))
    post = {}
    for v in patterns:
        w = math.log(lam / (1 - lam))
        for f, lv in enumerate(v):
            if lv is not None:
                w += math.log(m[f][lv] / u[f][lv])
        post[v] = 1 / (1 + math.exp(-w)) if w > -700 else 0.0
    groups = collections.Counter(truth)
    true_pairs = sum(k * (k - 1) // 2 for k in groups.values())
    blocked_true = sum(1 for i, j in cand if truth[i] == truth[j])
    print("fs_baseline: %s (%s): %d records, %d true pairs, %d candidate pairs (%d of the true "
          "pairs among them), EM share of matches %.4f"
          % (a.file, fmt, len(recs), true_pairs, len(cand), blocked_true, lam))
    print("  m / u by field (levels exact, close, similar, different):")
    for f, name in enumerate(fields):
        print("    %-9s m %s  u %s" % (name, " ".join("%.3f" % x for x in m[f]),
                                       " ".join("%.4f" % x for x in u[f])))
    scored = sorted(((post[vecs[p]], truth[p[0]] == truth[p[1]]) for p in cand), reverse=True)
    for t in sorted({a.threshold, 0.5, 0.9, 0.99, 0.999}):
        links = [ok for pp, ok in scored if pp >= t]
        good = sum(links)
        pr = good / len(links) if links else 1.0
        rc = good / true_pairs if true_pairs else 0.0
        f1 = 2 * pr * rc / (pr + rc) if pr + rc else 0.0
        print("  p >= %-6g links %7d  P %.4f  R %.4f  F1 %.4f" % (t, len(links), pr, rc, f1))
    best, good = (0.0, 0.0, 0.0, 0.0), 0
    for n, (pp, ok) in enumerate(scored, 1):
        good += ok
        if n < len(scored) and scored[n][0] == pp:
            continue  # a threshold takes every pair with the same posterior
        pr, rc = good / n, good / true_pairs
        f1 = 2 * pr * rc / (pr + rc) if pr + rc else 0.0
        if f1 > best[0]:
            best = (f1, pp, pr, rc)
    print("  best F1 %.4f at p >= %.6g: P %.4f R %.4f" % best)

if __name__ == "__main__":
    main()
