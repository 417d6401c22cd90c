/* external.c - --external: matching accuracy on a data set someone else made. Reads a CSV in the
 * splink shape (unique_id, first_name, surname, dob, city, email, cluster) or the FEBRL shape
 * (rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode, state,
 * date_of_birth, soc_sec_id), spreads its records over two or three systems, loads them through
 * the hub as those systems' adapters (load.c), reads the outcome back (evaluate.c's
 * read_outcome) and scores every pair of records against the file's truth: the `cluster` column,
 * or FEBRL's original number (rec-N-org, rec-N-dup-K). Unlike our own population, the truth may
 * put two records of one person in one system; those pairs count like any other. */
#include "matching.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_FIELDS 32
#define MAX_FILE (256u << 20) /* a CSV beyond this is not a benchmark set */
#define SHOW 5                /* examples shown of each kind */
#define TOP_KINDS 8           /* field-difference kinds listed */
#define BIG_CLUSTER 2000      /* golden records larger than this are counted, not walked */

enum { FMT_SPLINK, FMT_FEBRL };

/* The data set: every record of every file, with the system it goes to. Owned by external_run;
 * the systems' views hold copies of the records, not pointers into rec (which moves as it
 * grows). */
typedef struct {
    record_t *rec;    /* rec[g].person: the truth (dense index of the true entity) */
    char (*ext)[40];  /* the record's own id in the file */
    uint8_t *sys;     /* system each record is loaded as */
    uint32_t *local;  /* its index in that system's view */
    size_t n, cap;    /* records */
    strmap_t truth;   /* true-entity label -> dense index */
    size_t truncated; /* values cut to fit a field */
} extset_t;

/* ------------------------------------------------------------------------------------------ */
/* Reading the files                                                                           */

/* The whole file, NUL-terminated; the caller owns it. NULL (with a message) if unreadable. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_matching: cannot open %s\n", path);
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            size_t ncap = cap ? cap * 2 : 1u << 20;
            if (ncap > MAX_FILE) {
                fprintf(stderr, "bench_matching: %s is larger than %u MiB\n", path, MAX_FILE >> 20);
                free(buf);
                fclose(f);
                return NULL;
            }
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, 65536, f);
        n += got;
        if (got < 65536)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "bench_matching: cannot read %s\n", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Splits the row at *P in place (quotes as RFC 4180, blanks around fields dropped: FEBRL's files
 * put a space after each comma) and advances *P past it. Returns the number of fields, 0 at the
 * end of the text. */
static size_t csv_row(char **p, char *fields[MAX_FIELDS])
{
    char *s = *p;
    if (!*s)
        return 0;
    size_t nf = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        char *start = s, *out = s;
        if (*s == '"') {
            s++;
            start = out = s;
            while (*s) {
                if (*s == '"' && s[1] == '"') {
                    *out++ = '"';
                    s += 2;
                } else if (*s == '"') {
                    s++;
                    break;
                } else {
                    *out++ = *s++;
                }
            }
            while (*s && *s != ',' && *s != '\n')
                s++; /* blanks after the closing quote */
        } else {
            while (*s && *s != ',' && *s != '\n')
                out = ++s;
        }
        char end = *s;
        *out = '\0';
        if (nf < MAX_FIELDS)
            fields[nf++] = trim(start);
        if (end == ',') {
            s++;
            continue;
        }
        if (end == '\n')
            s++;
        break;
    }
    *p = s;
    return nf;
}

typedef struct {
    int id, given, family, dob, town, email, cluster, number, line1, line2, postcode, source;
    int shared; /* FEBRL's soc_sec_id, read with --shared-id */
} columns_t;

static int column(char *const hdr[], size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(hdr[i], name) == 0)
            return (int)i;
    return -1;
}

static const char *field(char *const f[], size_t nf, int col)
{
    return col >= 0 && (size_t)col < nf ? f[col] : "";
}

static void put(extset_t *x, char *dst, size_t cap, const char *src)
{
    if (strlen(src) >= cap)
        x->truncated++;
    copy_str(dst, cap, src);
}

/* FEBRL writes birth dates as YYYYMMDD; the protocol wants YYYY-MM-DD. Anything else (empty,
 * short, already dashed) is passed on as given, so the hub sees what the file holds. */
static void febrl_date(extset_t *x, const char *d, char *out, size_t cap)
{
    bool eight = strlen(d) == 8;
    for (size_t i = 0; eight && i < 8; i++)
        eight = isdigit((unsigned char)d[i]) != 0;
    if (!eight) {
        put(x, out, cap, d);
        return;
    }
    (void)snprintf(out, cap, "%.4s-%.2s-%.2s", d, d + 4, d + 6);
}

/* The true entity of a FEBRL record: N of rec-N-org / rec-N-dup-K. */
static void febrl_truth(const char *id, char *out, size_t cap)
{
    const char *a = strchr(id, '-');
    const char *b = a ? strchr(a + 1, '-') : NULL;
    if (!a || !b) {
        copy_str(out, cap, id); /* not FEBRL-shaped: its own entity */
        return;
    }
    size_t n = (size_t)(b - a - 1);
    (void)snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), a + 1);
}

static int grow(extset_t *x)
{
    if (x->n < x->cap)
        return 0;
    size_t cap = x->cap ? x->cap * 2 : 4096;
    record_t *r = realloc(x->rec, cap * sizeof *r);
    if (!r)
        return -1;
    x->rec = r;
    char(*e)[40] = realloc(x->ext, cap * sizeof *e);
    if (!e)
        return -1;
    x->ext = e;
    uint8_t *s = realloc(x->sys, cap);
    if (!s)
        return -1;
    x->sys = s;
    uint32_t *l = realloc(x->local, cap * sizeof *l);
    if (!l)
        return -1;
    x->local = l;
    x->cap = cap;
    return 0;
}

/* Reads FILE (the FILE_NO-th) into X. *FMT: -1 to tell from the header, else FMT_*. SOURCE
 * gets, per record, the value of a `source` column's dense index, or the file number. SHARED:
 * FEBRL's soc_sec_id is read as the records' shared identifier. */
static int read_file(extset_t *x, const char *path, int file_no, int *fmt, bool shared,
                     strmap_t *sources, int32_t **source, size_t *source_cap)
{
    size_t len = 0;
    char *buf = slurp(path, &len);
    if (!buf)
        return -1;
    char *p = buf, *hdr[MAX_FIELDS], *f[MAX_FIELDS];
    size_t nh = csv_row(&p, hdr);
    if (nh == 0) {
        fprintf(stderr, "bench_matching: %s is empty\n", path);
        free(buf);
        return -1;
    }
    if (*fmt < 0)
        *fmt = column(hdr, nh, "cluster") >= 0 ? FMT_SPLINK : FMT_FEBRL;
    columns_t c;
    if (*fmt == FMT_SPLINK)
        c = (columns_t){column(hdr, nh, "unique_id"),
                        column(hdr, nh, "first_name"),
                        column(hdr, nh, "surname"),
                        column(hdr, nh, "dob"),
                        column(hdr, nh, "city"),
                        column(hdr, nh, "email"),
                        column(hdr, nh, "cluster"),
                        -1,
                        -1,
                        -1,
                        -1,
                        column(hdr, nh, "source"),
                        -1};
    else
        c = (columns_t){column(hdr, nh, "rec_id"),
                        column(hdr, nh, "given_name"),
                        column(hdr, nh, "surname"),
                        column(hdr, nh, "date_of_birth"),
                        column(hdr, nh, "suburb"),
                        -1,
                        -1,
                        column(hdr, nh, "street_number"),
                        column(hdr, nh, "address_1"),
                        column(hdr, nh, "address_2"),
                        column(hdr, nh, "postcode"),
                        column(hdr, nh, "source"),
                        shared ? column(hdr, nh, "soc_sec_id") : -1};
    if (c.id < 0 || c.given < 0 || c.family < 0 || c.dob < 0 ||
        (*fmt == FMT_SPLINK && c.cluster < 0)) {
        fprintf(stderr, "bench_matching: %s: the header lacks a column the %s format needs (%s)\n",
                path, *fmt == FMT_SPLINK ? "splink" : "febrl",
                *fmt == FMT_SPLINK ? "unique_id, first_name, surname, dob, cluster"
                                   : "rec_id, given_name, surname, date_of_birth");
        free(buf);
        return -1;
    }
    int rc = 0;
    size_t nf;
    while ((nf = csv_row(&p, f)) > 0) {
        if (nf == 1 && !f[0][0])
            continue; /* blank line */
        if (grow(x) < 0) {
            rc = -1;
            break;
        }
        if (*source_cap < x->cap) {
            int32_t *grown = realloc(*source, x->cap * sizeof *grown);
            if (!grown) {
                rc = -1;
                break;
            }
            *source = grown; /* still the caller's */
            *source_cap = x->cap;
        }
        record_t *r = &x->rec[x->n];
        memset(r, 0, sizeof *r);
        put(x, x->ext[x->n], sizeof x->ext[0], field(f, nf, c.id));
        put(x, r->given, sizeof r->given, field(f, nf, c.given));
        put(x, r->family, sizeof r->family, field(f, nf, c.family));
        put(x, r->town, sizeof r->town, field(f, nf, c.town));
        char label[64];
        if (*fmt == FMT_SPLINK) {
            put(x, r->birth, sizeof r->birth, field(f, nf, c.dob));
            put(x, r->email, sizeof r->email, field(f, nf, c.email));
            copy_str(label, sizeof label, field(f, nf, c.cluster));
        } else {
            febrl_date(x, field(f, nf, c.dob), r->birth, sizeof r->birth);
            const char *num = field(f, nf, c.number), *a1 = field(f, nf, c.line1);
            char line[160];
            (void)snprintf(line, sizeof line, "%s%s%s", num, num[0] && a1[0] ? " " : "", a1);
            put(x, r->line, sizeof r->line, line);
            put(x, r->line2, sizeof r->line2, field(f, nf, c.line2));
            put(x, r->postcode, sizeof r->postcode, field(f, nf, c.postcode));
            put(x, r->shared_id, sizeof r->shared_id, field(f, nf, c.shared));
            febrl_truth(x->ext[x->n], label, sizeof label);
        }
        long t = strmap_get(&x->truth, label, true);
        long s = c.source >= 0 ? strmap_get(sources, field(f, nf, c.source), true) : file_no;
        if (t < 0 || s < 0) {
            rc = -1;
            break;
        }
        r->person = (uint32_t)t;
        (*source)[x->n] = (int32_t)s;
        x->n++;
    }
    free(buf);
    if (rc < 0)
        fprintf(stderr, "bench_matching: out of memory reading %s\n", path);
    return rc;
}

/* Which system each record goes to. spread: a stable hash of its id, so some true pairs sit in
 * one system; split: a `source` column's values, or one file per system, or a single file's two
 * halves. */
static int assign(extset_t *x, const options_t *opt, const int32_t *source, size_t nsources)
{
    bool spread = !opt->layout || strcmp(opt->layout, "spread") == 0;
    for (size_t g = 0; g < x->n; g++) {
        int s;
        if (spread)
            s = (int)(fnv1a(x->ext[g], strlen(x->ext[g])) % (uint64_t)opt->systems);
        else if (nsources > 1 || opt->n_external > 1)
            s = source[g];
        else
            s = g < x->n / 2 ? 0 : 1;
        if (s < 0 || s >= opt->systems) {
            fprintf(stderr,
                    "bench_matching: the split layout found more sources than --systems %d\n",
                    opt->systems);
            return -1;
        }
        x->sys[g] = (uint8_t)s;
    }
    return 0;
}

static int build_views(extset_t *x, int nsys, view_t *views)
{
    for (int s = 0; s < nsys; s++) {
        memset(&views[s], 0, sizeof views[s]);
        views[s].pf = system_profile(s);
        views[s].rec = malloc((x->n ? x->n : 1) * sizeof *views[s].rec);
        if (!views[s].rec)
            return -1;
    }
    for (size_t g = 0; g < x->n; g++) {
        view_t *v = &views[x->sys[g]];
        x->local[g] = (uint32_t)v->n;
        v->rec[v->n++] = x->rec[g];
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Scoring                                                                                     */

/* Union-find over golden records, joined by open steward items: what a steward accepting every
 * queued pair would end with. */
static int32_t uf_find(int32_t *up, int32_t a)
{
    while (up[a] != a) {
        up[a] = up[up[a]];
        a = up[a];
    }
    return a;
}

/* How two records of a pair differ, field by field: bit k of diff when both hold field k and
 * they disagree, of miss when one of them lacks it; SWAP when the names are crossed. */
enum { F_GIVEN, F_FAMILY, F_BIRTH, F_ADDRESS, F_TOWN, F_POSTCODE, F_EMAIL, F_COUNT };
#define SWAP_BIT (1u << (2 * F_COUNT))
#define KINDS (1u << (2 * F_COUNT + 1))

static const char *const field_name[F_COUNT] = {"given", "family",   "birth", "address",
                                                "town",  "postcode", "email"};

static bool same_text(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

static const char *rec_field(const record_t *r, int k, char *buf, size_t cap)
{
    switch (k) {
    case F_GIVEN:
        return r->given;
    case F_FAMILY:
        return r->family;
    case F_BIRTH:
        return r->birth;
    case F_ADDRESS:
        (void)snprintf(buf, cap, "%s%s%s", r->line, r->line[0] && r->line2[0] ? ", " : "",
                       r->line2);
        return buf;
    case F_TOWN:
        return r->town;
    case F_POSTCODE:
        return r->postcode;
    default:
        return r->email;
    }
}

static unsigned pair_kind(const record_t *a, const record_t *b)
{
    unsigned kind = 0;
    for (int k = 0; k < F_COUNT; k++) {
        char ba[160], bb[160];
        const char *va = rec_field(a, k, ba, sizeof ba), *vb = rec_field(b, k, bb, sizeof bb);
        if (!va[0] || !vb[0])
            kind |= (!va[0] && !vb[0]) ? 0 : 1u << (F_COUNT + k);
        else if (!same_text(va, vb))
            kind |= 1u << k;
    }
    if (a->given[0] && a->family[0] && same_text(a->given, b->family) &&
        same_text(a->family, b->given))
        kind |= SWAP_BIT;
    return kind;
}

static void kind_text(unsigned kind, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (int k = 0; k < F_COUNT; k++) {
        const char *what = (kind >> k & 1)               ? "differs"
                           : (kind >> (F_COUNT + k) & 1) ? "missing"
                                                         : NULL;
        if (!what)
            continue;
        int w = snprintf(out + used, cap - used, "%s%s %s", used ? ", " : "", field_name[k], what);
        if (w < 0 || (size_t)w >= cap - used)
            return;
        used += (size_t)w;
    }
    if (kind & SWAP_BIT)
        (void)snprintf(out + used, cap - used, "%snames swapped", used ? ", " : "");
    else if (!used)
        copy_str(out, cap, "all fields equal");
}

typedef struct {
    size_t true_pairs, linked, linked_ws;        /* true pairs; of them linked automatically / with
                                                     stewards */
    size_t links, correct, links_ws, correct_ws; /* predicted pairs, and correct ones */
    size_t refused_pairs; /* true pairs with a record the hub refused (no xref row) */
} counts_t;

typedef struct {
    const extset_t *x;
    const view_t *views;
    const outcome_t *o;
    int32_t *golden; /* per record: golden record index (after redirects), -1 none */
    int32_t *ws;     /* per record: its golden record's union-find root with stewards */
    char **master;   /* golden index -> master id (borrowed from o->ids) */
    pq_t *pq;
    const char *outcome_csv; /* --outcome FILE, or NULL */
    counts_t c[2];           /* [0] within one system, [1] across systems */
    size_t *kinds[4]; /* histograms: missed (auto), missed with stewards, false links, and all
                         true pairs (what the others are measured against) */
    uint32_t ex_missed[2][SHOW][2], ex_false[2][SHOW][2];
    size_t n_ex_missed[2], n_ex_false[2];
} score_t;

static bool cross(const score_t *sc, uint32_t a, uint32_t b)
{
    return sc->x->sys[a] != sc->x->sys[b];
}

/* The true pairs: every two records sharing a truth label. */
static void score_true_pairs(score_t *sc, const uint32_t *by_truth)
{
    const extset_t *x = sc->x;
    for (size_t i = 0; i < x->n;) {
        size_t j = i;
        while (j < x->n && x->rec[by_truth[j]].person == x->rec[by_truth[i]].person)
            j++;
        for (size_t a = i; a < j; a++)
            for (size_t b = a + 1; b < j; b++) {
                uint32_t ra = by_truth[a], rb = by_truth[b];
                int k = cross(sc, ra, rb);
                counts_t *c = &sc->c[k];
                c->true_pairs++;
                if (sc->golden[ra] < 0 || sc->golden[rb] < 0) {
                    c->refused_pairs++;
                    continue;
                }
                bool linked = sc->golden[ra] == sc->golden[rb];
                bool ws = sc->ws[ra] == sc->ws[rb];
                c->linked += linked;
                c->linked_ws += ws;
                unsigned kind = pair_kind(&x->rec[ra], &x->rec[rb]);
                sc->kinds[3][kind]++;
                if (!linked) {
                    sc->kinds[0][kind]++;
                    if (sc->n_ex_missed[k] < SHOW) {
                        sc->ex_missed[k][sc->n_ex_missed[k]][0] = ra;
                        sc->ex_missed[k][sc->n_ex_missed[k]++][1] = rb;
                    }
                }
                if (!ws)
                    sc->kinds[1][kind]++;
            }
        i = j;
    }
}

/* Predicted pairs: every two records in one group (golden record, or its union with stewards);
 * BY is the records sorted by group, then truth. */
static void score_links(score_t *sc, const uint32_t *by, const int32_t *group, bool stewards,
                        size_t *oversized)
{
    const extset_t *x = sc->x;
    for (size_t i = 0; i < x->n;) {
        size_t j = i;
        while (j < x->n && group[by[j]] == group[by[i]])
            j++;
        if (group[by[i]] < 0) {
            i = j;
            continue;
        }
        if (j - i > BIG_CLUSTER) {
            /* Counted by truth runs rather than pair by pair; split evenly is not known, so all
             * of it is put under cross-system. */
            (*oversized)++;
            size_t k = j - i, same = 0;
            for (size_t a = i; a < j;) {
                size_t b = a;
                while (b < j && x->rec[by[b]].person == x->rec[by[a]].person)
                    b++;
                same += (b - a) * (b - a - 1) / 2;
                a = b;
            }
            counts_t *c = &sc->c[1];
            *(stewards ? &c->links_ws : &c->links) += k * (k - 1) / 2;
            *(stewards ? &c->correct_ws : &c->correct) += same;
            i = j;
            continue;
        }
        for (size_t a = i; a < j; a++)
            for (size_t b = a + 1; b < j; b++) {
                uint32_t ra = by[a], rb = by[b];
                int k = cross(sc, ra, rb);
                counts_t *c = &sc->c[k];
                bool ok = x->rec[ra].person == x->rec[rb].person;
                if (stewards) {
                    c->links_ws++;
                    c->correct_ws += ok;
                    continue;
                }
                c->links++;
                c->correct += ok;
                if (!ok) {
                    sc->kinds[2][pair_kind(&x->rec[ra], &x->rec[rb])]++;
                    if (sc->n_ex_false[k] < SHOW) {
                        sc->ex_false[k][sc->n_ex_false[k]][0] = ra;
                        sc->ex_false[k][sc->n_ex_false[k]++][1] = rb;
                    }
                }
            }
        i = j;
    }
}

/* Sorting record numbers by a key array (qsort has no context argument). */
typedef struct {
    int64_t key;
    uint32_t rec;
} keyed_t;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed_t *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->rec < y->rec ? -1 : x->rec > y->rec;
}

static int sort_by(const extset_t *x, const int32_t *group, uint32_t *out)
{
    keyed_t *k = malloc((x->n ? x->n : 1) * sizeof *k);
    if (!k)
        return -1;
    for (size_t g = 0; g < x->n; g++)
        k[g] = (keyed_t){.key = (group ? (int64_t)group[g] * (INT64_C(1) << 32) : 0) +
                                x->rec[g].person,
                         .rec = (uint32_t)g};
    qsort(k, x->n, sizeof *k, cmp_keyed);
    for (size_t g = 0; g < x->n; g++)
        out[g] = k[g].rec;
    free(k);
    return 0;
}

static const char *const link_state_name[] = {"no xref row", "MATCH", "POSSIBLE_MATCH", "NO_MATCH",
                                              "REDIRECTED"};
static const char *const how_name[] = {"-", "rule", "score", "steward"};

static void print_rec(const score_t *sc, const char *tag, uint32_t g)
{
    const extset_t *x = sc->x;
    const record_t *r = &x->rec[g];
    int s = x->sys[g];
    uint32_t l = x->local[g];
    char id[32];
    local_id(sc->views[s].pf, l, id, sizeof id);
    uint8_t st = sc->o->state[s][l], how = sc->o->how[s][l];
    double score = sc->o->score[s][l];
    printf("    %s %s (file id %s) %s %s | born %s | %s%s%s | %s %s | %s | xref %s by %s", tag, id,
           x->ext[g], r->given[0] ? r->given : "-", r->family[0] ? r->family : "-",
           r->birth[0] ? r->birth : "-", r->line[0] ? r->line : "-", r->line2[0] ? ", " : "",
           r->line2, r->town[0] ? r->town : "-", r->postcode[0] ? r->postcode : "-",
           r->email[0] ? r->email : "-", link_state_name[st < 5 ? st : 0],
           how_name[how < 4 ? how : 0]);
    if (!isnan(score))
        printf(" score %.1f", score);
    if (sc->golden[g] >= 0)
        printf(" -> %s", sc->master[sc->golden[g]]);
    printf("\n");
}

/* The evidence of the open steward item between the two records' golden records, if any. */
static void print_evidence(const score_t *sc, uint32_t a, uint32_t b)
{
    int32_t ga = sc->golden[a], gb = sc->golden[b];
    if (ga < 0 || gb < 0 || !sc->pq->conn)
        return;
    const char *params[2] = {sc->master[ga], sc->master[gb]};
    PGresult *r = PQexecParams(sc->pq->conn,
                               "SELECT score, evidence::text FROM steward_queue WHERE state = "
                               "'OPEN' AND ((master_a = $1 AND master_b = $2) OR (master_a = $2 "
                               "AND master_b = $1)) LIMIT 1",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        printf("    queued together, score %s; evidence %s\n", PQgetvalue(r, 0, 0),
               PQgetvalue(r, 0, 1));
    else if (sc->ws[a] == sc->ws[b])
        printf("    joined only through other steward items\n");
    else
        printf("    not queued together\n");
    PQclear(r);
}

/* Per field: how often it differs or is missing on one side, among the pairs of HIST against
 * among all true pairs (ALL): a field far more often different among the missed pairs than
 * overall is what costs recall. */
static void print_fields(const size_t *hist, const size_t *all)
{
    size_t n = 0, n_all = 0, diff[F_COUNT + 1] = {0}, miss[F_COUNT] = {0}, adiff[F_COUNT + 1] = {0},
           amiss[F_COUNT] = {0};
    for (unsigned k = 0; k < KINDS; k++) {
        n += hist[k];
        n_all += all[k];
        for (int f = 0; f <= F_COUNT; f++) {
            bool d = f < F_COUNT ? (k >> f & 1) : (k & SWAP_BIT) != 0;
            diff[f] += d ? hist[k] : 0;
            adiff[f] += d ? all[k] : 0;
            if (f < F_COUNT && (k >> (F_COUNT + f) & 1)) {
                miss[f] += hist[k];
                amiss[f] += all[k];
            }
        }
    }
    printf("    per field: differs / missing on one side, share of these pairs (of all true "
           "pairs):\n");
    for (int f = 0; f <= F_COUNT; f++)
        if (f == F_COUNT)
            printf("      %-9s swapped %5.1f%% (%5.1f%%)\n", "names", pct(diff[f], n),
                   pct(adiff[f], n_all));
        else
            printf("      %-9s differs %5.1f%% (%5.1f%%)   missing %5.1f%% (%5.1f%%)\n",
                   field_name[f], pct(diff[f], n), pct(adiff[f], n_all), pct(miss[f], n),
                   pct(amiss[f], n_all));
}

static void print_kinds(const size_t *hist, size_t total, const char *what)
{
    if (!total)
        return;
    printf("  %s, by how the two records differ (top %d of %zu pairs):\n", what, TOP_KINDS, total);
    bool *done = calloc(KINDS, sizeof *done);
    if (!done)
        return;
    for (int t = 0; t < TOP_KINDS; t++) {
        size_t best = 0;
        unsigned bk = 0;
        for (unsigned k = 0; k < KINDS; k++)
            if (!done[k] && hist[k] > best) {
                best = hist[k];
                bk = k;
            }
        if (!best)
            break;
        done[bk] = true;
        char text[256];
        kind_text(bk, text, sizeof text);
        printf("    %7zu %5.1f%%  %s\n", best, pct(best, total), text);
    }
    free(done);
}

static double ratio(size_t a, size_t b)
{
    return b ? (double)a / (double)b : 0.0;
}

static double f1(double p, double r)
{
    return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

/* ------------------------------------------------------------------------------------------ */
/* The run                                                                                     */

typedef struct {
    double seconds;
    size_t events;
    tally_t tally;
} xphase_t;

static int load_all(const options_t *opt, pq_t *pq, view_t *views, xphase_t *ph)
{
    for (int s = 0; s < opt->systems; s++) {
        ph[s].events = views[s].n;
        if (views[s].n && load_view(opt, &views[s], &ph[s].tally, &ph[s].seconds) < 0)
            return -1;
        const tally_t *t = &ph[s].tally;
        long long golden = pq->conn ? pq_count(pq, "SELECT count(*) FROM golden_person WHERE "
                                                   "state = 'ACTIVE'")
                                    : -1;
        long rss = -1, hwm = -1;
        (void)read_rss(opt->hub_pid, &rss, &hwm);
        printf("load %s: %zu person events in %.2f s = %.0f events/s confirmed (ok %zu, "
               "duplicate %zu, rejected %zu, unconfirmed %zu); golden records %lld; hub RSS %.1f "
               "MiB\n",
               views[s].pf->adapter, ph[s].events, ph[s].seconds,
               ph[s].seconds > 0 ? (double)ph[s].events / ph[s].seconds : 0.0, t->ok, t->duplicate,
               t->rejected, t->unconfirmed, golden, rss / 1024.0);
    }
    return 0;
}

typedef struct {
    const char *text;
    size_t n;
} why_t;

static int cmp_why(const void *a, const void *b)
{
    const why_t *x = a, *y = b;
    return x->n != y->n ? (x->n < y->n ? 1 : -1) : strcmp(x->text, y->text);
}

/* Refusals by reason, the systems' counts added up, most frequent first. */
static void print_refusals(const xphase_t *ph, int nsys, size_t records)
{
    why_t w[MAX_SYSTEMS * (TALLY_WHY + 1)];
    memset(w, 0, sizeof w);
    size_t nw = 0, refused = 0;
    for (int s = 0; s < nsys; s++) {
        refused += ph[s].tally.rejected + ph[s].tally.unconfirmed;
        for (size_t k = 0; k <= TALLY_WHY; k++) {
            const tally_t *t = &ph[s].tally;
            if (!t->why[k].n)
                continue;
            size_t j = 0;
            while (j < nw && strcmp(w[j].text, t->why[k].text) != 0)
                j++;
            if (j == nw)
                w[nw++] = (why_t){.text = t->why[k].text, .n = 0};
            w[j].n += t->why[k].n;
        }
    }
    qsort(w, nw, sizeof *w, cmp_why);
    printf("refused: %zu of %zu records (%.2f%%)%s\n", refused, records, pct(refused, records),
           nw ? ", by reason (numbers shown as N):" : "");
    for (size_t j = 0; j < nw; j++)
        printf("  %7zu  %s\n", w[j].n, w[j].text);
}

/* Every record with where it went, for checking the scores with another tool or reading the
 * clusters: file id, truth, system, local id, golden record, group with stewards, link state. */
static int write_outcome(const score_t *sc, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "bench_matching: cannot write %s\n", path);
        return -1;
    }
    const extset_t *x = sc->x;
    fprintf(f, "file_id,truth,system,local_id,golden,golden_with_stewards,link_state\n");
    for (size_t g = 0; g < x->n; g++) {
        int s = x->sys[g];
        char id[32];
        local_id(sc->views[s].pf, x->local[g], id, sizeof id);
        uint8_t st = sc->o->state[s][x->local[g]];
        fprintf(f, "%s,%u,%s,%s,%s,%s,%s\n", x->ext[g], x->rec[g].person, sc->views[s].pf->adapter,
                id, sc->golden[g] >= 0 ? sc->master[sc->golden[g]] : "",
                sc->ws[g] >= 0 ? sc->master[sc->ws[g]] : "", link_state_name[st < 5 ? st : 0]);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "bench_matching: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

static int evaluate_external(score_t *sc, const xphase_t *ph, int nsys, const char *label)
{
    const extset_t *x = sc->x;
    const outcome_t *o = sc->o;
    size_t nids = o->ids.n;
    int rc = -1;
    uint32_t *by = malloc((x->n ? x->n : 1) * sizeof *by);
    int32_t *up = malloc((nids ? nids : 1) * sizeof *up);
    sc->golden = malloc((x->n ? x->n : 1) * sizeof *sc->golden);
    sc->ws = malloc((x->n ? x->n : 1) * sizeof *sc->ws);
    sc->master = calloc(nids ? nids : 1, sizeof *sc->master);
    for (int k = 0; k < 4; k++)
        sc->kinds[k] = calloc(KINDS, sizeof *sc->kinds[k]);
    if (!by || !up || !sc->golden || !sc->ws || !sc->master || !sc->kinds[0] || !sc->kinds[1] ||
        !sc->kinds[2] || !sc->kinds[3])
        goto out;
    for (size_t slot = 0; slot < o->ids.cap; slot++)
        if (o->ids.keys[slot])
            sc->master[o->ids.idx[slot]] = o->ids.keys[slot];
    for (size_t i = 0; i < nids; i++)
        up[i] = (int32_t)i;
    size_t q_open = 0;
    for (size_t k = 0; k < o->nq; k++) {
        if (!o->qopen[k])
            continue;
        q_open++;
        if (o->qa[k] >= 0 && o->qb[k] >= 0)
            up[uf_find(up, o->qa[k])] = uf_find(up, o->qb[k]);
    }
    for (size_t g = 0; g < x->n; g++) {
        sc->golden[g] = o->cluster[x->sys[g]][x->local[g]];
        sc->ws[g] = sc->golden[g] >= 0 ? uf_find(up, sc->golden[g]) : -1;
    }
    size_t oversized = 0;
    if (sc->outcome_csv && write_outcome(sc, sc->outcome_csv) < 0)
        goto out;
    if (sort_by(x, NULL, by) < 0)
        goto out;
    score_true_pairs(sc, by);
    if (sort_by(x, sc->golden, by) < 0)
        goto out;
    score_links(sc, by, sc->golden, false, &oversized);
    if (sort_by(x, sc->ws, by) < 0)
        goto out;
    score_links(sc, by, sc->ws, true, &oversized);

    counts_t all = {0};
    for (int k = 0; k < 2; k++) {
        all.true_pairs += sc->c[k].true_pairs;
        all.linked += sc->c[k].linked;
        all.linked_ws += sc->c[k].linked_ws;
        all.links += sc->c[k].links;
        all.correct += sc->c[k].correct;
        all.links_ws += sc->c[k].links_ws;
        all.correct_ws += sc->c[k].correct_ws;
        all.refused_pairs += sc->c[k].refused_pairs;
    }
    size_t truth_n = x->truth.n;
    printf("\noutcome: %zu records of %zu true entities, %zu true pairs (%zu within one system, "
           "%zu across systems); %zu golden ids seen, %zu open steward items",
           x->n, truth_n, all.true_pairs, sc->c[0].true_pairs, sc->c[1].true_pairs, nids, q_open);
    if (o->foreign_rows)
        printf("; %zu xref rows not from this run", o->foreign_rows);
    if (oversized)
        printf("; %zu golden groups over %d records (counted in bulk)", oversized, BIG_CLUSTER);
    printf("\n");
    printf("  %-14s %10s %10s %10s %9s %9s %9s %10s %10s %9s\n", "pairs", "true", "links",
           "correct", "P", "R", "F1", "R+steward", "P+steward", "refused");
    for (int k = 0; k < 3; k++) {
        const counts_t *c = k < 2 ? &sc->c[k] : &all;
        double p = c->links ? ratio(c->correct, c->links) : 1.0,
               r = ratio(c->correct, c->true_pairs);
        printf("  %-14s %10zu %10zu %10zu %9.5f %9.5f %9.5f %10.5f %10.5f %9zu\n",
               k == 0   ? "within system"
               : k == 1 ? "across systems"
                        : "all",
               c->true_pairs, c->links, c->correct, p, r, f1(p, r),
               ratio(c->correct_ws, c->true_pairs),
               c->links_ws ? ratio(c->correct_ws, c->links_ws) : 1.0, c->refused_pairs);
    }
    print_kinds(sc->kinds[0], all.true_pairs - all.linked - all.refused_pairs,
                "true pairs not linked automatically");
    if (all.true_pairs - all.linked - all.refused_pairs)
        print_fields(sc->kinds[0], sc->kinds[3]);
    print_kinds(sc->kinds[1], all.true_pairs - all.linked_ws - all.refused_pairs,
                "true pairs not linked even with stewards");
    print_kinds(sc->kinds[2], all.links - all.correct, "false links");
    for (int k = 0; k < 2; k++)
        for (size_t e = 0; e < sc->n_ex_missed[k]; e++) {
            if (e == 0)
                printf("  true pairs not linked automatically, %s, first %zu:\n",
                       k ? "across systems" : "within one system", sc->n_ex_missed[k]);
            uint32_t a = sc->ex_missed[k][e][0], b = sc->ex_missed[k][e][1];
            char text[256];
            kind_text(pair_kind(&x->rec[a], &x->rec[b]), text, sizeof text);
            printf("  %zu. %s\n", e + 1, text);
            print_rec(sc, "a", a);
            print_rec(sc, "b", b);
            print_evidence(sc, a, b);
        }
    for (int k = 0; k < 2; k++)
        for (size_t e = 0; e < sc->n_ex_false[k]; e++) {
            if (e == 0)
                printf("  FALSE LINKS, %s, first %zu:\n",
                       k ? "across systems" : "within one system", sc->n_ex_false[k]);
            uint32_t a = sc->ex_false[k][e][0], b = sc->ex_false[k][e][1];
            char text[256];
            kind_text(pair_kind(&x->rec[a], &x->rec[b]), text, sizeof text);
            printf("  %zu. %s\n", e + 1, text);
            print_rec(sc, "a", a);
            print_rec(sc, "b", b);
        }
    print_refusals(ph, nsys, x->n);

    double secs = 0;
    size_t events = 0, refused = 0;
    for (int s = 0; s < nsys; s++) {
        secs += ph[s].seconds;
        events += ph[s].events;
        refused += ph[s].tally.rejected + ph[s].tally.unconfirmed;
    }
    double p = all.links ? ratio(all.correct, all.links) : 1.0,
           r = ratio(all.correct, all.true_pairs);
    double rw = ratio(all.correct_ws, all.true_pairs);
    printf("\nsummary: P %.5f, R %.5f, F1 %.5f (automatic links); R %.5f with stewards; queue %zu "
           "open items (%.1f%% of records); %zu refused; %.0f events/s\n",
           p, r, f1(p, r), rw, q_open, pct(q_open, x->n), refused,
           secs > 0 ? (double)events / secs : 0.0);
    /* One line to collect into a table (bench/MATCHING.md, "External data"). */
    printf("RESULT | %s | %.4f | %.4f | %.4f | %.4f | %zu (%.1f%%) | %zu | %.0f |\n", label, p, r,
           f1(p, r), rw, q_open, pct(q_open, x->n), refused,
           secs > 0 ? (double)events / secs : 0.0);
    if (p < 0.999)
        printf("TARGET MISSED: precision %.5f < 0.999\n", p);
    rc = 0;
out:
    if (rc < 0)
        fprintf(stderr, "bench_matching: out of memory scoring\n");
    free(by);
    free(up);
    free(sc->golden);
    free(sc->ws);
    free(sc->master);
    for (int k = 0; k < 4; k++)
        free(sc->kinds[k]);
    return rc;
}

int external_run(const options_t *opt)
{
    extset_t x = {0};
    strmap_t sources = {0};
    int32_t *source = NULL;
    size_t source_cap = 0;
    view_t views[MAX_SYSTEMS];
    memset(views, 0, sizeof views);
    pq_t pq = {0};
    outcome_t out = {0};
    xphase_t ph[MAX_SYSTEMS];
    memset(ph, 0, sizeof ph);
    int rc = 1, fmt = -1;
    if (opt->format)
        fmt = strcmp(opt->format, "splink") == 0 ? FMT_SPLINK : FMT_FEBRL;
    for (int f = 0; f < opt->n_external; f++)
        if (read_file(&x, opt->external[f], f, &fmt, opt->shared_id, &sources, &source,
                      &source_cap) < 0)
            goto done;
    if (assign(&x, opt, source, sources.n) < 0 || build_views(&x, opt->systems, views) < 0)
        goto done;
    char label[160];
    const char *base = strrchr(opt->external[0], '/');
    (void)snprintf(label, sizeof label, "%s%s, %d systems %s", base ? base + 1 : opt->external[0],
                   opt->n_external > 1 ? " +" : "", opt->systems,
                   opt->layout ? opt->layout : "spread");
    printf("external data: %s (%s format): %zu records of %zu true entities; layout %s;", label,
           fmt == FMT_SPLINK ? "splink" : "febrl", x.n, x.truth.n,
           opt->layout ? opt->layout : "spread");
    for (int s = 0; s < opt->systems; s++)
        printf(" %s %zu", views[s].pf->adapter, views[s].n);
    printf("\n");
    if (x.truncated)
        printf("  %zu values were longer than their field and were cut\n", x.truncated);
    if (!opt->endpoint && !opt->eval_only) {
        rc = 0;
        goto done;
    }
    if (!opt->pg) {
        fprintf(stderr, "bench_matching: --external needs --pg to score the outcome\n");
        goto done;
    }
    if (pq_open(&pq, opt->pg) < 0)
        goto done;
    if (!opt->eval_only && load_all(opt, &pq, views, ph) < 0)
        goto done;
    if (read_outcome(&pq, views, opt->systems, &out) < 0) {
        fprintf(stderr, "bench_matching: could not read the outcome\n");
        goto done;
    }
    score_t sc = {.x = &x, .views = views, .o = &out, .pq = &pq, .outcome_csv = opt->outcome};
    rc = evaluate_external(&sc, ph, opt->systems, label) < 0 ? 1 : 0;
done:
    outcome_free(&out);
    pq_close(&pq);
    for (int s = 0; s < MAX_SYSTEMS; s++)
        view_free(&views[s]);
    free(x.rec);
    free(x.ext);
    free(x.sys);
    free(x.local);
    strmap_free(&x.truth);
    strmap_free(&sources);
    free(source);
    return rc;
}
