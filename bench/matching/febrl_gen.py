#!/usr/bin/python3
"""febrl_gen.py - FEBRL-STYLE person records with known duplicates, for
bench/run-matching.sh external (bench/MATCHING.md, "External data").

Written from the published description of FEBRL's data set generator
(P. Christen, "Probabilistic data generation for deduplication and data
linkage", IDEAL 2005; and the generator's documentation): first the original
records, drawn from frequency tables; then duplicates of some originals, each
with modifications applied field by field: keyboard typos (insert, delete,
substitute with a neighbouring key, transpose), OCR-like and phonetic
substitutions, missing values, words swapped within a field, given name and
surname swapped, birth-date digits changed and day and month swapped, invalid
dates (29 February in a year that is not a leap year, a month above 12),
up to a number of modifications per field and per record, and one to five
duplicates per original.

This is OUR generator. It is not the held-out benchmark, and it does not
reuse bench/matching/names.c: its names, streets and localities are its own
(broad, Australian-flavoured lists, as FEBRL's are). Everything is lower case,
as in FEBRL's files.

Columns: rec_id, given_name, surname, street_number, address_1, address_2,
suburb, postcode, state, date_of_birth, soc_sec_id (and source, for layout
split). rec_id is rec-N-org for an original and rec-N-dup-K for its K-th
duplicate: the truth.

    febrl_gen.py OUTDIR [--seed S]     writes set_a.csv .. set_d.csv and README.md
    febrl_gen.py --one FILE --originals N --duplicates M [--max-dups K]
                 [--max-mod-record R] [--max-mod-field F] [--split] [--seed S]
"""
import argparse
import calendar
import csv
import os
import random

# ---- tables ---------------------------------------------------------------
# Given names: a broad mix (English, Irish, Italian, Greek, Vietnamese,
# Chinese, Indian, Arabic, ...) as an Australian register holds them; listed
# most common first, drawn with a Zipf-like weight.
GIVEN_F = """emily jessica sarah chloe olivia sophie hannah grace ella isabella mia
charlotte lily ruby amelia zoe lauren rebecca samantha ashley michelle kylie
melissa nicole rachel kimberley danielle natalie amy tegan bianca courtney
brooke jasmine madison georgia alyssa eliza abbey paige tahlia jade caitlin
kirra shannon ebony monique alana leah imogen holly ava matilda scarlett
harriet rose annabel maddison laura stephanie catherine elizabeth margaret
patricia helen susan karen julie linda deborah wendy joanne lisa kerry tracey
sharon dianne beverley robyn jennifer maria anna elena sofia giulia francesca
chiara antonia georgina despina eleni katerina vasiliki thi lan hoa mai
ngoc linh mei ying xiu li priya anjali deepa sunita fatima aisha mariam
zainab layla yasmin noor hana siobhan aoife niamh ciara roisin""".split()
GIVEN_M = """jack joshua thomas james lachlan daniel william benjamin samuel
matthew ryan nicholas riley ethan jacob liam dylan luke harrison cooper
mitchell jayden nathan connor alexander lucas oliver noah blake jordan tyler
bailey callum brodie kai max jake zac hayden isaac charlie archie hamish
angus fletcher toby cameron patrick michael david andrew christopher
anthony mark peter stephen paul robert john brett darren craig shane
wayne glenn troy dean scott jason adam luke simon timothy gregory kevin
bruce graham ian colin neville barry geoffrey keith trevor giuseppe marco
luca antonio giovanni salvatore francesco nikolaos dimitrios georgios
konstantinos minh tuan hung duc quang wei jun hao ming jian rahul arjun
vikram sanjay amit mohammed ahmed omar ali hassan youssef ibrahim sean
ciaran declan eoin padraig""".split()
SURNAMES = """smith jones williams brown wilson taylor johnson white martin
anderson thompson nguyen thomas walker harris lee ryan robinson kelly king
davis wright evans roberts green hall wood jackson clarke patel khan lewis
james phillips mitchell edwards turner baker campbell parker scott murphy
young stewart cook morris collins bell hughes ward morgan cooper bennett
richardson murray watson kennedy gray adams hill carter price russell
sullivan mcdonald wilkinson barnes graham marshall fraser hunter tran le
pham hoang huynh vo dang bui do ngo chen wang zhang liu li yang huang zhao
wu zhou xu sun ma singh kaur sharma kumar gupta shah mehta rossi russo
ferrari esposito bianchi romano colombo ricci marino greco bruno gallo
conti papadopoulos nikolaou georgiou dimitriou pappas karras ahmed hassan
ali hussein ibrahim mansour haddad nasser obrien oconnor ryan byrne walsh
doyle gallagher quinn flanagan kowalski nowak wisniewski novak horvat
schmidt muller schneider fischer weber meyer wagner becker hoffmann
schulz koch richter klein wolf neumann schwarz zimmermann braun hartmann
vandenberg devries jansen bakker visser smit meijer mulder bos vos peters
hendriks dekker brouwer dijkstra lindqvist johansson karlsson nilsson
eriksson larsson olsen hansen jensen pedersen nielsen christensen
andersen sorensen rasmussen petersen madsen kristensen mcintosh mackenzie
macleod robertson henderson paterson ferguson sinclair buchanan douglas
crawford hamilton armstrong lawson burgess dawson fleming harvey holmes
jenkins lloyd matthews newton owen palmer pearce perry porter reynolds
rogers rose saunders shaw simpson spencer stevens stone sutton tucker
wade walsh warren webb wells west wheeler whitehead willis woods""".split()
STREETS = """main high church station park victoria king queen george elizabeth
albert william john james charles edward wattle banksia acacia waratah
bottlebrush jacaranda eucalyptus river bay beach ocean hill ridge valley
forest lake creek spring mountain oxford cambridge york windsor melbourne
sydney adelaide brisbane hobart darwin canberra pacific railway bridge mill
market school college hospital anzac kitchener monash lawson blaxland
wentworth macquarie hume flinders bass cook phillip hunter bligh
stirling sturt mitchell leichhardt kennedy burke wills darling murray
lachlan gordon campbell hamilton douglas fraser grey russell""".split()
STREET_TYPES = ["street", "road", "avenue", "place", "crescent", "close",
                "drive", "court", "parade", "lane", "way", "terrace",
                "circuit", "grove", "highway", "boulevard"]
ADDR2 = ["unit", "flat", "apartment", "villa", "lot", "shop"]
BUILDINGS = """rosedale village, kingsford smith village, the terraces, harbour
view, parkside gardens, wattle grove estate, sunnyside, hillcrest manor,
riverside court, seaview apartments, greenwood lodge, oakleigh house,
caravan park, retirement village, the elms, jacaranda towers""".replace(
    "\n", " ").split(", ")
STATES = {"nsw": (2000, 2999, 32), "vic": (3000, 3999, 26), "qld": (4000, 4999, 20),
          "wa": (6000, 6999, 10), "sa": (5000, 5999, 7), "tas": (7000, 7999, 2),
          "act": (2600, 2620, 2), "nt": (800, 899, 1)}
LOC_STEMS = """glen mount port north south east west upper lower new lake
spring green red black white forest river""".split()
LOC_BASES = """brook field wood vale ridge hill dale haven ford bank side
view park grove heights creek bay point beach lea ton ville worth
ham stead mere combe""".split()
LOC_NAMED = """kingsford randwick coogee bondi manly mosman parramatta
penrith liverpool campbelltown blacktown hornsby chatswood ryde epping
dubbo orange bathurst goulburn wagga albury tamworth armidale lismore
ballina grafton kempsey taree maitland cessnock newcastle gosford wyong
wollongong kiama nowra bega cooma queanbeyan yass young cowra parkes
forbes mudgee lithgow katoomba richmond windsor camden picton bowral
moss vale mittagong geelong ballarat bendigo shepparton wodonga mildura
warrnambool traralgon sale bairnsdale frankston dandenong ringwood
toowoomba ipswich logan redcliffe caboolture nambour gympie maryborough
bundaberg gladstone rockhampton mackay bowen townsville cairns mareeba
bunbury busselton albany geraldton kalgoorlie mandurah rockingham
gawler murray bridge whyalla mount gambier launceston devonport burnie
hobart glenorchy kingston palmerston katherine alice springs""".replace(
    "\n", " ").split()

# ---- noise -----------------------------------------------------------------
KEYBOARD = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
KEY_DIGITS = "1234567890"


def neighbours(c):
    for row in KEYBOARD + [KEY_DIGITS]:
        i = row.find(c)
        if i >= 0:
            return row[max(0, i - 1):i] + row[i + 1:i + 2]
    return ""


# OCR confusions (scanned forms) and phonetic spellings (taken down by ear):
# each pair is tried in both directions.
OCR = [("m", "rn"), ("w", "vv"), ("d", "cl"), ("h", "li"), ("u", "ii"),
       ("o", "0"), ("l", "1"), ("s", "5"), ("b", "6"), ("g", "9"), ("i", "l"),
       ("e", "c"), ("n", "ri"), ("1", "7"), ("3", "8"), ("5", "6"), ("0", "8")]
PHONETIC = [("ph", "f"), ("ck", "k"), ("ie", "y"), ("ee", "ea"), ("th", "t"),
            ("c", "k"), ("z", "s"), ("ou", "ow"), ("ey", "y"), ("ll", "l"),
            ("tt", "t"), ("ss", "s"), ("mm", "m"), ("nn", "n"), ("ae", "e"),
            ("gh", "g"), ("wr", "r"), ("kn", "n"), ("x", "ks"), ("qu", "kw"),
            ("sch", "sh"), ("tch", "ch"), ("ai", "ay"), ("ei", "ie"),
            ("mac", "mc"), ("dt", "t")]


class Gen:
    def __init__(self, seed, max_mod_record, max_mod_field):
        self.r = random.Random(seed)
        self.max_mod_record = max_mod_record
        self.max_mod_field = max_mod_field
        self.ssn = set()
        self.localities = self._localities()

    # -- originals --
    def zipf(self, items, s=1.0):
        w = [1.0 / (i + 1) ** s for i in range(len(items))]
        return self.r.choices(items, weights=w)[0]

    def _localities(self):
        """Localities with a state and a 4-digit postcode (a few share one)."""
        r = random.Random(self.r.random())
        names = list(LOC_NAMED)
        while len(names) < 600:
            n = r.choice(LOC_STEMS) + " " + r.choice(LOC_STEMS + LOC_BASES) if r.random() < 0.3 \
                else r.choice(LOC_STEMS) + r.choice(LOC_BASES)
            if n not in names:
                names.append(n)
        states = list(STATES)
        weights = [STATES[s][2] for s in states]
        out = []
        for n in names:
            st = r.choices(states, weights=weights)[0]
            lo, hi, _ = STATES[st]
            out.append((n, st, "%04d" % r.randint(lo, hi)))
        return out

    def birth(self):
        y = self.r.randint(1905, 2005)
        m = self.r.randint(1, 12)
        d = self.r.randint(1, calendar.monthrange(y, m)[1])
        return "%04d%02d%02d" % (y, m, d)

    def original(self):
        r = self.r
        female = r.random() < 0.5
        rec = {
            "given_name": self.zipf(GIVEN_F if female else GIVEN_M, 0.8),
            "surname": self.zipf(SURNAMES, 0.9),
            "street_number": str(1 + int(r.expovariate(1 / 30.0)) if r.random() < 0.8
                                 else r.randint(1, 400)),
            "address_1": self.zipf(STREETS, 0.6) + " " + self.zipf(STREET_TYPES, 1.2),
            "address_2": "",
            "date_of_birth": self.birth(),
        }
        if r.random() < 0.25:
            rec["address_2"] = (r.choice(ADDR2) + " " + str(r.randint(1, 40))) if r.random() < 0.6 \
                else r.choice(BUILDINGS)
        loc = self.zipf(self.localities, 0.7)
        rec["suburb"], rec["state"], rec["postcode"] = loc
        while True:
            ssn = str(r.randint(1000000, 9999999))
            if ssn not in self.ssn:
                self.ssn.add(ssn)
                break
        rec["soc_sec_id"] = ssn
        # Originals are not complete either: registers have gaps.
        for f, p in (("given_name", 0.01), ("surname", 0.005), ("street_number", 0.03),
                     ("address_1", 0.02), ("suburb", 0.01), ("postcode", 0.01),
                     ("state", 0.01), ("date_of_birth", 0.02)):
            if r.random() < p:
                rec[f] = ""
        return rec

    # -- modifications of one field value --
    def typo(self, v):
        r = self.r
        if not v:
            return v
        i = r.randrange(len(v))
        kind = r.choice(("insert", "delete", "substitute", "transpose"))
        if kind == "insert":
            c = r.choice(neighbours(v[i]) or "aeiou")
            return v[:i] + c + v[i:]
        if kind == "delete" and len(v) > 1:
            return v[:i] + v[i + 1:]
        if kind == "transpose" and len(v) > 1:
            i = min(i, len(v) - 2)
            return v[:i] + v[i + 1] + v[i] + v[i + 2:]
        nb = neighbours(v[i])
        return v[:i] + (r.choice(nb) if nb else v[i]) + v[i + 1:]

    def substitute(self, v, table):
        r = self.r
        opts = [(a, b) for a, b in table if a in v] + [(b, a) for a, b in table if b in v]
        if not opts:
            return None
        a, b = r.choice(opts)
        starts = [i for i in range(len(v)) if v.startswith(a, i)]
        i = r.choice(starts)
        return v[:i] + b + v[i + len(a):]

    def swap_words(self, v):
        w = v.split()
        if len(w) < 2:
            return None
        i = self.r.randrange(len(w) - 1)
        w[i], w[i + 1] = w[i + 1], w[i]
        return " ".join(w)

    def date_mod(self, v):
        """Birth-date errors: a digit, day and month swapped, an invalid date."""
        r = self.r
        if len(v) != 8:
            return self.typo(v)
        y, m, d = v[:4], v[4:6], v[6:]
        kind = r.choices(("digit", "swap", "year", "invalid"), weights=(4, 2, 2, 1))[0]
        if kind == "swap" and int(d) <= 12:
            return y + d + m
        if kind == "year":
            return "%04d" % (int(y) + r.choice((-10, -1, 1, 10))) + m + d
        if kind == "invalid":
            if r.random() < 0.5:
                ny = int(y)
                while calendar.isleap(ny):
                    ny += 1
                return "%04d0229" % ny
            return y + "%02d" % r.randint(13, 99) + d
        i = r.randrange(8)
        return v[:i] + str(r.randint(0, 9)) + v[i + 1:]

    def modify_field(self, rec, f):
        r = self.r
        v = rec[f]
        for _ in range(r.randint(1, self.max_mod_field)):
            if not v:
                break
            if r.random() < 0.12:  # missing
                v = ""
                break
            if f == "date_of_birth":
                v = self.date_mod(v)
                continue
            kinds = ["typo"] * 5 + ["ocr"] * 2 + ["phonetic"] * 3 + ["swap"] * 1
            if f in ("street_number", "postcode"):
                kinds = ["typo"] * 5 + ["ocr"] * 1
            for k in r.sample(kinds, len(kinds)):
                nv = (self.typo(v) if k == "typo"
                      else self.substitute(v, OCR) if k == "ocr"
                      else self.substitute(v, PHONETIC) if k == "phonetic"
                      else self.swap_words(v))
                if nv is not None and nv != v:
                    v = nv
                    break
        rec[f] = v

    FIELDS = (("given_name", 20), ("surname", 20), ("street_number", 8), ("address_1", 12),
              ("address_2", 6), ("suburb", 12), ("postcode", 8), ("state", 3),
              ("date_of_birth", 11))

    def duplicate(self, org):
        r = self.r
        rec = dict(org)
        n = r.choices(range(1, self.max_mod_record + 1),
                      weights=[1.0 / k for k in range(1, self.max_mod_record + 1)])[0]
        names = [f for f, _ in self.FIELDS]
        weights = [w for _, w in self.FIELDS]
        for _ in range(n):
            if r.random() < 0.05 and rec["given_name"] and rec["surname"]:
                rec["given_name"], rec["surname"] = rec["surname"], rec["given_name"]
                continue
            self.modify_field(rec, r.choices(names, weights=weights)[0])
        return rec


COLUMNS = ["rec_id", "given_name", "surname", "street_number", "address_1", "address_2",
           "suburb", "postcode", "state", "date_of_birth", "soc_sec_id"]


def dups_per_original(g, originals, n_dups, max_dups, dist):
    """{original: how many duplicates}, N_DUPS in all, 1..MAX_DUPS each: originals are taken
    at random and each draws its number from DIST (zipf: 1/k^2, uniform), as FEBRL does."""
    counts = {}
    weights = [(1.0 / k ** 2 if dist == "zipf" else 1.0) for k in range(1, max_dups + 1)]
    left = n_dups
    while left > 0:
        i = g.r.randrange(originals)
        have = counts.get(i, 0)
        if have >= max_dups:
            continue
        k = g.r.choices(range(1, max_dups + 1), weights=weights)[0]
        k = min(k, max_dups - have, left)
        counts[i] = have + k
        left -= k
    return counts


def make_set(path, seed, originals, duplicates, max_dups=1, split=False, dist="zipf",
             max_mod_record=3, max_mod_field=2):
    g = Gen(seed, max_mod_record, max_mod_field)
    orgs = [g.original() for _ in range(originals)]
    if max_dups == 1:  # exactly one duplicate for each of DUPLICATES originals
        counts = {i: 1 for i in g.r.sample(range(originals), duplicates)}
    else:
        counts = dups_per_original(g, originals, duplicates, max_dups, dist)
    rows = []
    for i, o in enumerate(orgs):
        rows.append(dict(o, rec_id="rec-%d-org" % i, source="a"))
    for i, k in sorted(counts.items()):
        for j in range(k):
            rows.append(dict(g.duplicate(orgs[i]), rec_id="rec-%d-dup-%d" % (i, j), source="b"))
    if not split:
        g.r.shuffle(rows)
    else:  # two files' worth: each half in its own order
        a = [x for x in rows if x["source"] == "a"]
        b = [x for x in rows if x["source"] == "b"]
        g.r.shuffle(a)
        g.r.shuffle(b)
        rows = a + b
    cols = COLUMNS + (["source"] if split else [])
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return len(rows)


SETS = [  # name, originals, duplicates, max duplicates per original, their distribution, layout
    ("set_a", 5000, 5000, 1, "zipf", "split"),
    ("set_b", 500, 500, 1, "zipf", "spread"),
    ("set_c", 4000, 1000, 5, "zipf", "spread"),
    ("set_d", 2000, 3000, 5, "uniform", "spread"),
]

README = """# FEBRL-style generated sets (NOT the held-out benchmark)

Generated by bench/matching/febrl_gen.py --seed {seed}: our own generator,
written from the published description of FEBRL's data set generator
(Christen 2005). These files are not FEBRL's data and not the held-out
benchmark; they only have its shape.

| set | records | originals | duplicates | per original | layout |
| --- | --- | --- | --- | --- | --- |
{rows}

Run one with:

    bench/run-matching.sh external {dir}/set_a.csv --layout split
    bench/run-matching.sh external {dir}/set_b.csv --systems 3
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir", nargs="?")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--one")
    ap.add_argument("--originals", type=int, default=1000)
    ap.add_argument("--duplicates", type=int, default=1000)
    ap.add_argument("--max-dups", type=int, default=1)
    ap.add_argument("--max-mod-record", type=int, default=3)
    ap.add_argument("--max-mod-field", type=int, default=2)
    ap.add_argument("--split", action="store_true")
    a = ap.parse_args()
    if a.one:
        make_set(a.one, a.seed, a.originals, a.duplicates, a.max_dups, a.split,
                 max_mod_record=a.max_mod_record, max_mod_field=a.max_mod_field)
        return
    if not a.outdir:
        ap.error("give OUTDIR or --one FILE")
    os.makedirs(a.outdir, exist_ok=True)
    rows = []
    for k, (name, o, d, m, dist, layout) in enumerate(SETS):
        n = make_set(os.path.join(a.outdir, name + ".csv"), a.seed * 1000 + k, o, d, m,
                     layout == "split", dist)
        rows.append("| %s | %d | %d | %d | %s | %s |" % (name, n, o, d,
                                                         "1" if m == 1 else "1 to %d (%s)" % (m, dist),
                                                         layout))
    with open(os.path.join(a.outdir, "README.md"), "w") as f:
        f.write(README.format(seed=a.seed, rows="\n".join(rows), dir=a.outdir))


if __name__ == "__main__":
    main()
