/* cli_match.c - `joinery match train`: estimates the matcher's Fellegi-Sunter m and u as
 * record-linkage practice does, from the SOURCE records the hub holds (each system's latest
 * person.* event per local id, from the journal: as they were sent, before any link was made, so
 * the links already made do not bias the estimate): u from random pairs, m by EM over each
 * blocking rule's candidate pairs with the rule's own fields left out (and those that depend on
 * them between different people: the other place fields, a household's; match_train_left_out),
 * u held. It writes them as YAML for review, which the hub loads from
 * master_data.matching.parameters_file; `joinery match defaults` prints the built-in ones. */
#include "cli_commands.h"
#include "cli_master_common.h"
#include "match/match.h"

#include <errno.h>
#include <joinery/v1/envelope.pb-c.h>
#include <joinery/v1/person.pb-c.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRAIN_MIN_RECORDS 50       /* below this, estimates are noise */
#define TRAIN_MIN_CANDIDATES 20    /* EM needs some pairs to separate two classes */
#define TRAIN_BLOCK_MAX 2000       /* as the hub: a key this common says too little */
#define TRAIN_PAIRS_PER_RULE 50000 /* sampled per blocking rule, so no rule dominates */
#define TRAIN_KEYS 8
#define TRAIN_MIN_RULE_PAIRS 50 /* a rule with fewer candidate pairs tells EM too little */

/* Every person event the systems sent, newest first: the first seen of each (system, local id)
 * is that record as its system holds it now. Binary, for the envelopes' bytes. */
static const char SQL_TRAIN_EVENTS[] =
    "SELECT source, envelope FROM journal WHERE type IN ('person.updated', 'person.created') "
    "AND source <> 'joinery' ORDER BY seq DESC";

/* Blocking rules, by the prefix of match_blocking_keys' keys; "other" catches new ones. */
static const char *const RULES[] = {"nhs", "ni", "dob", "pc", "ph",   "dm",
                                    "tel", "em", "st",  "fl", "other"};
#define NRULES (sizeof RULES / sizeof RULES[0])
/* The matching fields each rule's key is made of: pairs found by sharing a birth date agree on it
 * by construction, so that rule's pairs say nothing of how often true pairs agree on it. */
#define RULE_FIELDS_MAX 3
static const int RULE_FIELDS[NRULES][RULE_FIELDS_MAX] = {
    {-1, -1, -1},                                                  /* nhs */
    {-1, -1, -1},                                                  /* ni */
    {MATCH_FIELD_BIRTH, -1, -1},                                   /* dob */
    {MATCH_FIELD_POSTCODE, -1, -1},                                /* pc */
    {MATCH_FIELD_FAMILY, MATCH_FIELD_BIRTH, -1},                   /* ph */
    {MATCH_FIELD_GIVEN, MATCH_FIELD_FAMILY, MATCH_FIELD_BIRTH},    /* dm */
    {MATCH_FIELD_PHONE, -1, -1},                                   /* tel */
    {MATCH_FIELD_EMAIL, -1, -1},                                   /* em */
    {MATCH_FIELD_ADDRESS, -1, -1},                                 /* st: house and street */
    {MATCH_FIELD_GIVEN, MATCH_FIELD_FAMILY, MATCH_FIELD_LOCALITY}, /* fl: initial, surname, town */
    {-1, -1, -1},                                                  /* other */
};

/* Whether rule R's EM leaves field F out: the key's own fields, and the fields that depend on
 * them between different people (match_train_left_out), whose u within R's blocks is not the
 * random pairs' u that EM holds. */
static bool rule_uses(size_t r, int f)
{
    unsigned key = 0;
    for (int i = 0; i < RULE_FIELDS_MAX; i++)
        if (RULE_FIELDS[r][i] >= 0)
            key |= 1u << RULE_FIELDS[r][i];
    return (match_train_left_out(key) >> f) & 1u;
}

/* One source record's matching values: strings in TEXT, NUL-separated (owned). */
typedef struct {
    char *text;
} record_t;

typedef struct {
    size_t n, cap;
    match_person_t *p;
    record_t *r;
    size_t events; /* person events read */
} people_t;

typedef struct {
    uint64_t hash;
    uint32_t rec;
    uint32_t rule;
} keyent_t;

typedef struct {
    uint32_t a, b;
} pair_t;

typedef struct {
    size_t records, candidates, events;
    size_t per_rule[NRULES];
    size_t rule_off[NRULES];
    int rule_iter[NRULES];
    double rule_lambda[NRULES];
    bool rule_used[NRULES];
    unsigned long long sample, seed;
    int iterations;
    double lambda;
    double m[MATCH_FIELD_COUNT][MATCH_MAX_LEVELS], u[MATCH_FIELD_COUNT][MATCH_MAX_LEVELS];
    unsigned long long mcount[MATCH_FIELD_COUNT][MATCH_MAX_LEVELS];
    unsigned long long ucount[MATCH_FIELD_COUNT][MATCH_MAX_LEVELS];
    int nlevels[MATCH_FIELD_COUNT];
    int m_seen[MATCH_FIELD_COUNT], u_seen[MATCH_FIELD_COUNT]; /* any non-missing comparison */
} train_t;

/* splitmix64: tiny, seedable and good enough for sampling pairs; the point is that the same
 * seed on the same data gives the same numbers, so a reviewer can reproduce them. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return rng_next(s) % n; /* the bias is negligible for n far below 2^64 */
}

static void people_free(people_t *pp)
{
    for (size_t i = 0; i < pp->n; i++)
        free(pp->r[i].text);
    free(pp->p);
    free(pp->r);
}

static bool ascii_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = (char)(*a >= 'A' && *a <= 'Z' ? *a - 'A' + 'a' : *a);
        char y = (char)(*b >= 'A' && *b <= 'Z' ? *b - 'A' + 'a' : *b);
        if (x != y)
            return false;
    }
    return *a == *b;
}

/* The home address, as the hub takes it: the first with use "home", else the first with none. */
static const Joinery__V1__Address *home_address(const Joinery__V1__Person *p)
{
    const Joinery__V1__Address *unnamed = NULL;
    for (size_t i = 0; i < p->n_addresses; i++) {
        const Joinery__V1__Address *a = p->addresses[i];
        if (a == NULL)
            continue;
        if (a->use && ascii_ieq(a->use, "home"))
            return a;
        if (unnamed == NULL && (a->use == NULL || a->use[0] == '\0'))
            unnamed = a;
    }
    return unnamed;
}

static const char *telecom(const Joinery__V1__Person *p, const char *sys, const char *alt)
{
    for (size_t i = 0; i < p->n_telecom; i++) {
        const Joinery__V1__ContactPoint *t = p->telecom[i];
        if (t != NULL && t->system && t->value && t->value[0] &&
            (ascii_ieq(t->system, sys) || (alt && ascii_ieq(t->system, alt))))
            return t->value;
    }
    return NULL;
}

enum {
    V_NHS,
    V_NI,
    V_GIVEN,
    V_FAMILY,
    V_BIRTH,
    V_SEX,
    V_POSTCODE,
    V_PHONE,
    V_EMAIL,
    V_ADDRESS,
    V_LOCALITY,
    V_COUNT
};

/* The values the matcher compares, copied into one allocation the record owns. The forename is
 * the first word of the first, as the hub compares it (master_match_view). */
/* The home address's lines one per line, as the hub stores them for the matcher; NULL: none. */
#define LINES_MAX 512
static const char *address_lines(const Joinery__V1__Address *a, char *out, size_t cap)
{
    size_t at = 0;
    for (size_t i = 0; a != NULL && i < a->n_lines; i++) {
        size_t n = a->lines[i] ? strlen(a->lines[i]) : 0;
        if (n == 0 || at + n + 2 > cap)
            continue;
        if (at > 0)
            out[at++] = '\n';
        memcpy(out + at, a->lines[i], n);
        at += n;
    }
    out[at] = '\0';
    return at > 0 ? out : NULL;
}

static int record_of(const Joinery__V1__Person *p, record_t *r, match_person_t *mp)
{
    static const char *const sexes[] = {NULL, "male", "female", "other", "unknown"};
    const Joinery__V1__Address *a = home_address(p);
    const char *given = p->name && p->name->n_given > 0 ? p->name->given[0] : NULL;
    char lines[LINES_MAX];
    const char *v[V_COUNT] = {
        p->nhs_number,
        p->ni_number,
        given,
        p->name ? p->name->family : NULL,
        p->birth_date,
        p->sex > 0 && p->sex < 5 ? sexes[p->sex] : NULL,
        a ? a->postcode : NULL,
        telecom(p, "phone", "sms"),
        telecom(p, "email", NULL),
        address_lines(a, lines, sizeof lines),
        a ? a->town : NULL,
    };
    size_t len[V_COUNT], total = 0;
    for (int i = 0; i < V_COUNT; i++) {
        len[i] = v[i] && v[i][0] ? strlen(v[i]) : 0;
        if (i == V_GIVEN)
            len[i] = v[i] ? strcspn(v[i], " ") : 0;
        if (len[i] > 512)
            len[i] = 0; /* the hub would have dropped it */
        total += len[i] + 1;
    }
    if ((r->text = malloc(total)) == NULL)
        return -1;
    const char *at[V_COUNT];
    char *w = r->text;
    for (int i = 0; i < V_COUNT; i++) {
        memcpy(w, len[i] ? v[i] : "", len[i]);
        w[len[i]] = '\0';
        at[i] = len[i] ? w : NULL;
        w += len[i] + 1;
    }
    *mp = (match_person_t){.nhs_number = at[V_NHS],
                           .ni_number = at[V_NI],
                           .given = at[V_GIVEN],
                           .family = at[V_FAMILY],
                           .birth_date = at[V_BIRTH],
                           .sex = at[V_SEX],
                           .postcode = at[V_POSTCODE],
                           .phone = at[V_PHONE],
                           .email = at[V_EMAIL],
                           .address = at[V_ADDRESS],
                           .locality = at[V_LOCALITY]};
    return 0;
}

static uint64_t fnv1a_n(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

/* Has (SOURCE, LOCAL) been seen? Open addressing on a 64-bit hash of both: two records whose
 * hashes collide (one in 10^10 at a million records) would count as one, which moves no
 * estimate. */
typedef struct {
    uint64_t *slot;
    size_t cap, n;
} seen_t;

static int seen_add(seen_t *s, const char *source, const char *local, bool *was)
{
    if (s->n * 2 >= s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 4096;
        uint64_t *ns = calloc(ncap, sizeof *ns);
        if (ns == NULL)
            return -1;
        for (size_t i = 0; i < s->cap; i++)
            for (size_t j = s->slot[i] % ncap; s->slot[i] != 0; j = (j + 1) % ncap)
                if (ns[j] == 0) {
                    ns[j] = s->slot[i];
                    break;
                }
        free(s->slot);
        s->slot = ns;
        s->cap = ncap;
    }
    uint64_t h =
        fnv1a_n(fnv1a_n(0xcbf29ce484222325ull, source, strlen(source) + 1), local, strlen(local));
    h = h ? h : 1;
    for (size_t j = h % s->cap;; j = (j + 1) % s->cap) {
        if (s->slot[j] == h) {
            *was = true;
            return 0;
        }
        if (s->slot[j] == 0) {
            s->slot[j] = h;
            s->n++;
            *was = false;
            return 0;
        }
    }
}

static int people_push(people_t *pp, const Joinery__V1__Person *person)
{
    if (pp->n == pp->cap) {
        size_t ncap = pp->cap ? pp->cap * 2 : 1024;
        match_person_t *np = realloc(pp->p, ncap * sizeof *np);
        if (np != NULL)
            pp->p = np;
        record_t *nr = np ? realloc(pp->r, ncap * sizeof *nr) : NULL;
        if (nr == NULL)
            return -1;
        pp->r = nr;
        pp->cap = ncap;
    }
    if (record_of(person, &pp->r[pp->n], &pp->p[pp->n]) != 0)
        return -1;
    pp->n++;
    return 0;
}

/* One journaled event: its record, unless a newer event of the same local id came first. */
static int take_event(people_t *pp, seen_t *seen, const char *source, const uint8_t *env,
                      size_t len)
{
    Joinery__V1__Envelope *e = joinery__v1__envelope__unpack(NULL, len, env);
    if (e == NULL)
        return 0; /* the hub journals only envelopes that decode; skip what does not */
    int rc = 0;
    bool was = true;
    if (e->source_record_id && e->source_record_id[0] && e->payload_type &&
        strcmp(e->payload_type, "joinery.v1.Person") == 0)
        rc = seen_add(seen, source, e->source_record_id, &was);
    Joinery__V1__Person *p =
        rc == 0 && !was ? joinery__v1__person__unpack(NULL, e->payload.len, e->payload.data) : NULL;
    if (p != NULL) {
        rc = people_push(pp, p);
        joinery__v1__person__free_unpacked(p, NULL);
    }
    joinery__v1__envelope__free_unpacked(e, NULL);
    return rc;
}

static int people_load(PGconn *c, people_t *pp, cm_err_t *e)
{
    PGresult *r = PQexecParams(c, SQL_TRAIN_EVENTS, 0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        cm_fail(e, "cannot read the journal: %s", PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    seen_t seen = {0};
    int rc = 0;
    pp->events = (size_t)PQntuples(r);
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        char source[256];
        int sl = PQgetlength(r, i, 0);
        (void)snprintf(source, sizeof source, "%.*s", sl, PQgetvalue(r, i, 0));
        rc = take_event(pp, &seen, source, (const uint8_t *)PQgetvalue(r, i, 1),
                        (size_t)PQgetlength(r, i, 1));
    }
    free(seen.slot);
    PQclear(r);
    if (rc != 0)
        return cm_fail(e, "out of memory for %zu source records", pp->n);
    if (pp->n > UINT32_MAX)
        return cm_fail(e, "too many source records (%zu)", pp->n);
    return 0;
}

/* Counts the comparison levels of one pair into count[field][level]. */
static void tally_pair(const match_person_t *a, const match_person_t *b,
                       unsigned long long count[][MATCH_MAX_LEVELS], match_vector_t *v)
{
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        int level = match_level((match_field_t)f, a, b);
        level = level >= 0 && level < MATCH_MAX_LEVELS ? level : 0;
        count[f][level]++;
        if (v != NULL) {
            v->level[f] = level;
        }
    }
}

/* u: how often each level occurs between two records drawn at random, which are almost always
 * different people. Levels never seen get half a count, so no weight is infinite. */
static void estimate_u(const people_t *pp, train_t *t)
{
    uint64_t rng = t->seed;
    for (unsigned long long i = 0; i < t->sample; i++) {
        uint64_t a = rng_below(&rng, pp->n), b = rng_below(&rng, pp->n - 1);
        b += b >= a; /* never a record with itself */
        tally_pair(&pp->p[a], &pp->p[b], t->ucount, NULL);
    }
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        double sum = 0;
        for (int k = 1; k < t->nlevels[f]; k++) {
            sum += t->ucount[f][k] > 0 ? (double)t->ucount[f][k] : 0.5;
            t->u_seen[f] |= t->ucount[f][k] > 0;
        }
        for (int k = 1; k < t->nlevels[f] && t->u_seen[f]; k++) {
            t->u[f][k] = (t->ucount[f][k] > 0 ? (double)t->ucount[f][k] : 0.5) / sum;
        }
    }
}

static uint32_t rule_of(const char *key)
{
    size_t n = strcspn(key, ":#");
    for (uint32_t r = 0; r + 1 < NRULES; r++) {
        if (strlen(RULES[r]) == n && strncmp(RULES[r], key, n) == 0) {
            return r;
        }
    }
    return (uint32_t)NRULES - 1;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    }
    return h;
}

static int keyent_cmp(const void *x, const void *y)
{
    const keyent_t *a = x, *b = y;
    if (a->rule != b->rule) {
        return a->rule < b->rule ? -1 : 1;
    }
    if (a->hash != b->hash) {
        return a->hash < b->hash ? -1 : 1;
    }
    return a->rec < b->rec ? -1 : (a->rec > b->rec);
}

static int pair_cmp(const void *x, const void *y)
{
    const pair_t *a = x, *b = y;
    if (a->a != b->a) {
        return a->a < b->a ? -1 : 1;
    }
    return a->b < b->b ? -1 : (a->b > b->b);
}

/* Every record's blocking keys, sorted so that the records sharing a key are adjacent. */
static keyent_t *block_keys(const people_t *pp, size_t *nkeys, cm_err_t *e)
{
    keyent_t *k = malloc((pp->n ? pp->n : 1) * TRAIN_KEYS * sizeof *k);
    if (k == NULL) {
        cm_fail(e, "out of memory for blocking keys");
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < pp->n; i++) {
        char keys[TRAIN_KEYS][MATCH_KEY_LEN];
        int got = match_blocking_keys(&pp->p[i], keys, TRAIN_KEYS);
        for (int j = 0; j < got; j++) {
            k[n++] =
                (keyent_t){.hash = fnv1a(keys[j]), .rec = (uint32_t)i, .rule = rule_of(keys[j])};
        }
    }
    qsort(k, n, sizeof *k, keyent_cmp);
    *nkeys = n;
    return k;
}

typedef struct {
    pair_t *pairs;
    size_t stored;           /* this rule's pairs so far, from pairs[0] */
    unsigned long long seen; /* this rule's pairs offered */
    uint64_t *rng;
} reservoir_t;

/* Reservoir sampling: every pair of a rule has the same chance to be kept, however many there
 * are, in one pass. */
static void reservoir_offer(reservoir_t *r, uint32_t a, uint32_t b)
{
    pair_t p = {a < b ? a : b, a < b ? b : a};
    r->seen++;
    if (r->stored < TRAIN_PAIRS_PER_RULE) {
        r->pairs[r->stored++] = p;
        return;
    }
    uint64_t j = rng_below(r->rng, r->seen);
    if (j < TRAIN_PAIRS_PER_RULE) {
        r->pairs[j] = p;
    }
}

/* The pairs within each block (records sharing one key) of one rule's run of keys. */
static void rule_pairs(const keyent_t *k, size_t from, size_t to, reservoir_t *r)
{
    size_t i = from;
    while (i < to) {
        size_t j = i + 1;
        while (j < to && k[j].hash == k[i].hash) {
            j++;
        }
        if (j - i <= TRAIN_BLOCK_MAX) {
            for (size_t x = i; x < j; x++) {
                for (size_t y = x + 1; y < j; y++) {
                    if (k[x].rec != k[y].rec) {
                        reservoir_offer(r, k[x].rec, k[y].rec);
                    }
                }
            }
        }
        i = j;
    }
}

/* Candidate pairs, as the hub's blocking finds them: per rule, capped, each rule's pairs kept
 * apart (t->rule_off, t->per_rule) for its own EM. */
static pair_t *candidate_pairs(const people_t *pp, train_t *t, size_t *npairs, cm_err_t *e)
{
    size_t nkeys = 0;
    keyent_t *k = block_keys(pp, &nkeys, e);
    pair_t *pairs = k != NULL ? malloc(NRULES * TRAIN_PAIRS_PER_RULE * sizeof *pairs) : NULL;
    if (pairs == NULL) {
        free(k);
        if (k != NULL) {
            cm_fail(e, "out of memory for candidate pairs");
        }
        return NULL;
    }
    uint64_t rng = t->seed ^ 0x5EED5EED5EED5EEDull;
    size_t total = 0, i = 0;
    while (i < nkeys) {
        size_t j = i;
        while (j < nkeys && k[j].rule == k[i].rule) {
            j++;
        }
        reservoir_t r = {.pairs = pairs + total, .rng = &rng};
        rule_pairs(k, i, j, &r);
        t->rule_off[k[i].rule] = total;
        t->per_rule[k[i].rule] = r.stored;
        /* Sorted, so a reviewer rerunning with the same seed sees the same pairs in order. */
        qsort(r.pairs, r.stored, sizeof *r.pairs, pair_cmp);
        total += r.stored;
        i = j;
    }
    free(k);
    *npairs = total;
    return pairs;
}

/* One rule's EM: its candidate pairs' vectors with the fields it leaves out set to missing, u held
 * at the random pairs' estimate, m starting from the built-in defaults. Fills MR. */
static int rule_em(const people_t *pp, const pair_t *pairs, size_t r, train_t *t, match_vector_t *v,
                   double mr[][MATCH_MAX_LEVELS], cm_err_t *e)
{
    size_t n = t->per_rule[r];
    const pair_t *rp = pairs + t->rule_off[r];
    for (size_t i = 0; i < n; i++) {
        tally_pair(&pp->p[rp[i].a], &pp->p[rp[i].b], t->mcount, &v[i]);
        for (int f = 0; f < MATCH_FIELD_COUNT; f++)
            if (rule_uses(r, f))
                v[i].level[f] = 0;
    }
    match_params_t p;
    match_params_default(&p);
    for (int f = 0; f < MATCH_FIELD_COUNT; f++)
        for (int k = 1; k < t->nlevels[f]; k++)
            p.u[f][k] = t->u[f][k];
    t->rule_iter[r] = match_train_em_m(&p, v, n, &t->rule_lambda[r]);
    if (t->rule_iter[r] < 0)
        return cm_fail(e, "EM refused the comparison vectors (a bug: please report it)");
    memcpy(mr, p.m, sizeof p.m);
    return 0;
}

/* m: per rule EM, then for each field the mean of the estimates of the rules that leave it out
 * and compared it at all (the splink way); a field no rule can speak for keeps the default. */
static int estimate_m(const people_t *pp, const pair_t *pairs, train_t *t, cm_err_t *e)
{
    size_t most = 0;
    for (size_t r = 0; r < NRULES; r++)
        most = t->per_rule[r] > most ? t->per_rule[r] : most;
    match_vector_t *v = malloc((most ? most : 1) * sizeof *v);
    if (v == NULL)
        return cm_fail(e, "out of memory for %zu comparison vectors", most);
    double sum[MATCH_FIELD_COUNT][MATCH_MAX_LEVELS] = {{0}};
    int nrules[MATCH_FIELD_COUNT] = {0};
    int rc = 0;
    for (size_t r = 0; r < NRULES && rc == 0; r++) {
        if (t->per_rule[r] < TRAIN_MIN_RULE_PAIRS)
            continue;
        unsigned long long before[MATCH_FIELD_COUNT][MATCH_MAX_LEVELS];
        memcpy(before, t->mcount, sizeof before);
        double mr[MATCH_FIELD_COUNT][MATCH_MAX_LEVELS];
        if ((rc = rule_em(pp, pairs, r, t, v, mr, e)) != 0)
            break;
        t->rule_used[r] = true;
        t->iterations += t->rule_iter[r];
        for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
            unsigned long long seen = 0;
            for (int k = 1; k < t->nlevels[f]; k++)
                seen += t->mcount[f][k] - before[f][k];
            if (rule_uses(r, f) || seen == 0)
                continue;
            nrules[f]++;
            for (int k = 1; k < t->nlevels[f]; k++)
                sum[f][k] += mr[f][k];
        }
    }
    free(v);
    for (int f = 0; f < MATCH_FIELD_COUNT && rc == 0; f++) {
        t->m_seen[f] = nrules[f] > 0;
        for (int k = 1; k < t->nlevels[f] && nrules[f] > 0; k++)
            t->m[f][k] = sum[f][k] / nrules[f];
    }
    return rc;
}

static double weight(const train_t *t, int f, int k)
{
    return log2(t->m[f][k] / t->u[f][k]);
}

static void print_train_table(FILE *out, const train_t *t)
{
    fprintf(out, "%-11s %-21s %10s %10s %8s %12s %12s\n", "FIELD", "LEVEL", "m", "u", "WEIGHT",
            "CANDIDATES", "RANDOM");
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        for (int k = 1; k < t->nlevels[f]; k++) {
            fprintf(out, "%-11s %-21s %10.6f %10.6f %+8.2f %12llu %12llu\n",
                    match_field_name((match_field_t)f), match_level_name((match_field_t)f, k),
                    t->m[f][k], t->u[f][k], weight(t, f, k), t->mcount[f][k], t->ucount[f][k]);
        }
        if (!t->m_seen[f] || !t->u_seen[f]) {
            fprintf(out, "%-11s (no comparisons in the data: %s kept at the built-in defaults)\n",
                    "",
                    !t->m_seen[f] && !t->u_seen[f] ? "m and u"
                    : !t->m_seen[f]                ? "m"
                                                   : "u");
        }
    }
}

static void write_yaml_head(FILE *f, const train_t *t)
{
    fprintf(f,
            "# Fellegi-Sunter parameters estimated by `joinery match train` from %zu source "
            "records\n# (each system's latest person event per local id, from %zu journaled "
            "events).\n",
            t->records, t->events);
    fprintf(f, "# For review: compare them with the built-in defaults (`joinery match defaults`)\n"
               "# before the hub uses them. To use them, name this file in the hub's\n"
               "# configuration as master_data.matching.parameters_file and restart it; the hub\n"
               "# checks every field and level is given and that m and u each add up to 1, and\n"
               "# logs the file's path and checksum.\n");
    fprintf(f, "#   u: share of each comparison level among %llu random pairs (seed %llu).\n",
            t->sample, t->seed);
    fprintf(f,
            "#   m: EM (match_train_em_m, u held) over each blocking rule's candidate pairs (at "
            "most %d per\n#      rule), the rule's own fields left out, and with a key of a "
            "place or a phone\n#      the other place fields, the phone and the family name "
            "too (households);\n#      then per field the mean over the rules that kept it in. "
            "Pairs per rule (share of\n#      matches EM found):\n#      ",
            TRAIN_PAIRS_PER_RULE);
    for (size_t r = 0; r < NRULES; r++) {
        fprintf(f, "%s%s %zu", r ? ", " : "", RULES[r], t->per_rule[r]);
        if (t->rule_used[r])
            fprintf(f, " (%.3f)", t->rule_lambda[r]);
    }
    fprintf(f, "\n#      A rule with fewer than %d pairs is not used.\n", TRAIN_MIN_RULE_PAIRS);
    fprintf(f, "#   weight = log2(m/u). Levels are best first; \"missing\" is not modelled.\n"
               "#   A level no random pair showed gets half a count, so that no u is 0.\n"
               "#   Estimates for levels with few pairs (see the counts) are weak.\n");
}

static void write_yaml(FILE *f, const train_t *t)
{
    write_yaml_head(f, t);
    fprintf(f, "master_data:\n  matching:\n    trained:\n");
    fprintf(f, "      source_records: %zu\n      random_pairs: %llu\n      seed: %llu\n",
            t->records, t->sample, t->seed);
    fprintf(f, "      candidate_pairs: %zu\n      em_iterations: %d\n", t->candidates,
            t->iterations);
    fprintf(f, "    fields:\n");
    for (int fi = 0; fi < MATCH_FIELD_COUNT; fi++) {
        fprintf(f, "      %s:", match_field_name((match_field_t)fi));
        if (!t->m_seen[fi] || !t->u_seen[fi]) {
            fprintf(f, "  # no comparisons in the data for %s: built-in defaults",
                    !t->m_seen[fi] && !t->u_seen[fi] ? "m and u"
                    : !t->m_seen[fi]                 ? "m"
                                                     : "u");
        }
        fputc('\n', f);
        for (int k = 1; k < t->nlevels[fi]; k++) {
            char key[40];
            (void)snprintf(key, sizeof key, "\"%s\":", match_level_name((match_field_t)fi, k));
            fprintf(f,
                    "        %-23s {m: %.6g, u: %.6g}  # weight %+.2f; pairs %llu candidate, "
                    "%llu random%s\n",
                    key, t->m[fi][k], t->u[fi][k], weight(t, fi, k), t->mcount[fi][k],
                    t->ucount[fi][k],
                    t->m_seen[fi] && t->mcount[fi][k] == 0 ? "; m is EM's floor: unsupported" : "");
        }
    }
}

/* The built-in parameters (match_params_default) in the form the hub's configuration takes. */
static void write_defaults_yaml(FILE *f)
{
    match_params_t p;
    match_params_default(&p);
    fprintf(f,
            "# The matcher's built-in Fellegi-Sunter parameters (lib/match/match.c), in the form\n"
            "# master_data.matching takes them; weight = log2(m/u). `joinery match train`\n"
            "# estimates the same from a hub's own data.\n");
    fprintf(f, "master_data:\n  matching:\n    upper: %g\n    lower: %g\n    fields:\n", p.upper,
            p.lower);
    for (int fi = 0; fi < MATCH_FIELD_COUNT; fi++) {
        fprintf(f, "      %s:\n", match_field_name((match_field_t)fi));
        for (int k = 1; k < p.nlevels[fi]; k++) {
            char key[40];
            (void)snprintf(key, sizeof key, "\"%s\":", match_level_name((match_field_t)fi, k));
            fprintf(f, "        %-23s {m: %.6g, u: %.6g}  # weight %+.2f\n", key, p.m[fi][k],
                    p.u[fi][k], log2(p.m[fi][k] / p.u[fi][k]));
        }
    }
}

/* Writes the YAML to path ("-": stdout). */
static int write_yaml_to(const char *path, const train_t *t, cm_err_t *e)
{
    if (strcmp(path, "-") == 0) {
        write_yaml(stdout, t);
        return fflush(stdout) == 0 ? 0 : cm_fail(e, "cannot write: %s", strerror(errno));
    }
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return cm_fail(e, "cannot create %s: %s", path, strerror(errno));
    }
    write_yaml(f, t);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        return cm_fail(e, "cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}

static void too_little(const char *what, size_t have, size_t need)
{
    printf("Too little data to train the matcher: %zu %s, and at least %zu are needed for\n"
           "estimates that mean anything. The hub keeps matching with its built-in defaults\n"
           "(lib/match/match.c); run `joinery match train` again once it holds more residents.\n",
           have, what, need);
}

static int match_train(PGconn *c, train_t *t, const char *out, cm_err_t *e)
{
    people_t pp = {0};
    int rc = people_load(c, &pp, e);
    t->records = pp.n;
    t->events = pp.events;
    if (rc == 0 && pp.n < TRAIN_MIN_RECORDS) {
        too_little("source records (person events' local ids in the journal)", pp.n,
                   TRAIN_MIN_RECORDS);
        people_free(&pp);
        return 0;
    }
    match_params_t defaults;
    match_params_default(&defaults);
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        t->nlevels[f] = defaults.nlevels[f];
        for (int k = 0; k < MATCH_MAX_LEVELS; k++) {
            t->m[f][k] = defaults.m[f][k];
            t->u[f][k] = defaults.u[f][k];
        }
    }
    pair_t *pairs = NULL;
    if (rc == 0) {
        estimate_u(&pp, t);
        pairs = candidate_pairs(&pp, t, &t->candidates, e);
        rc = pairs != NULL ? 0 : -1;
    }
    if (rc == 0 && t->candidates < TRAIN_MIN_CANDIDATES) {
        too_little("candidate pairs (records sharing a blocking key)", t->candidates,
                   TRAIN_MIN_CANDIDATES);
    } else if (rc == 0 && (rc = estimate_m(&pp, pairs, t, e)) == 0) {
        /* The file first: a table followed by "cannot create" would read like success. */
        rc = write_yaml_to(out, t, e);
        if (rc == 0 && strcmp(out, "-") != 0) {
            print_train_table(stdout, t);
            printf("\nWrote %s: for review; the hub uses it once named as\n"
                   "master_data.matching.parameters_file in its configuration.\n",
                   out);
        }
    }
    free(pairs);
    people_free(&pp);
    return rc;
}

static const char match_usage[] =
    "Usage: joinery match train [--db CONNINFO] [--sample N] [--seed N] [--out FILE]\n"
    "       joinery match defaults\n"
    "\n"
    "Estimates the matcher's Fellegi-Sunter parameters from the source records the hub holds\n"
    "(each system's latest person event per local id, read from the journal, so the links\n"
    "already made do not bias them): u (how often each comparison level occurs between\n"
    "different people) from N random pairs, and m (how often it occurs for the same person)\n"
    "by EM over each blocking rule's pairs (at most 50,000 per rule), the rule's own fields\n"
    "left out (with a key of a place or a phone, the other place fields, the phone and the\n"
    "family name too: such a rule finds neighbours and households) and u held. Prints m and\n"
    "u per field and level and writes them as YAML for a person to review; the hub loads\n"
    "such a file from master_data.matching.parameters_file.\n"
    "`defaults` prints the built-in ones. With fewer than 50 source records it says there is\n"
    "too little data.\n"
    "  --db CONNINFO    libpq connection string (default $JOINERY_DB)\n"
    "  --sample N       random pairs for u (default 200000)\n"
    "  --seed N         random seed; the same seed on the same data gives the same result\n"
    "                   (default 1)\n"
    "  --out FILE       write the YAML to FILE and print a table (default: YAML on stdout)\n";

int cli_match_main(int argc, char **argv, cli_common_t *common)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},   {"sample", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'}, {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},       {0}};
    (void)common;
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(match_usage, stdout);
        return CLI_OK;
    }
    if (argc == 2 && strcmp(argv[1], "defaults") == 0) {
        write_defaults_yaml(stdout);
        return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
    }
    if (argc < 2 || strcmp(argv[1], "train") != 0) {
        fputs(match_usage, stderr);
        return CLI_USAGE;
    }
    train_t t = {.sample = 200000, .seed = 1};
    const char *db = NULL, *out = "-";
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        int bad = 0;
        switch (opt) {
        case 'd':
            db = optarg;
            break;
        case 'n':
            bad = cli_parse_ull("sample", optarg, 1000, 100000000ull, &t.sample);
            break;
        case 's':
            bad = cli_parse_ull("seed", optarg, 0, UINT64_MAX, &t.seed);
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            fputs(match_usage, stdout);
            return CLI_OK;
        default:
            fputs(match_usage, stderr);
            return CLI_USAGE;
        }
        if (bad) {
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1) {
        fputs(match_usage, stderr);
        return CLI_USAGE;
    }
    int status = CLI_OK;
    PGconn *c = cm_db_connect("match train", db, &status);
    if (c == NULL) {
        return status;
    }
    cm_err_t e = {""};
    return cm_db_close("match train", c, match_train(c, &t, out, &e), &e);
}
