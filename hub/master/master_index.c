/* master_index.c - the person kind's own in-memory tables (records and the
 * cross-reference are the engine's: engine_store.c): the blocking index that
 * finds match candidates without scanning, name frequencies for the matcher,
 * the steward queue, keep-apart pairs and undoable merges.
 *
 * Everything is keyed through hmap with 64-bit hashes; where two different
 * keys could share a hash the entries chain and are compared in full, except
 * in the blocking index, where a collision only adds a candidate to score. */
#include "master/master_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SEED_BLOCK 0x626c6f636bULL
#define SEED_TF 0x7466ULL
#define SEED_PAIR 0x70616972ULL
#define MAX_KEYS MATCH_MAX_KEYS
/* A blocking key shared by more records than this (a placeholder birth date,
 * a pseudo-postcode, a common name in one year) says too little to be worth
 * scoring every record in it; the other keys still find true matches. Such a
 * block stops growing and is never searched again (until the next load), so
 * no event pays for it. */
#define BLOCK_CAP 2000
/* Term frequencies only mean something in a population this large. */
#define TF_MIN_POPULATION 1000

/* Most blocks hold a household or a few people born the same day, so a block starts with room
 * for two and grows by half: doubling from four left a third of the entries' room unused. */
#define BLOCK_FIRST_CAP 2
typedef struct {
    uint16_t n, cap;
    uint8_t overflow; /* held more than BLOCK_CAP: ignored */
    golden_t *v[];    /* its records; each one's sketch is on its first line */
} block_t;
_Static_assert(BLOCK_CAP + BLOCK_CAP / 2 <= UINT16_MAX, "a block's count and room fit 16 bits");

/* Replaces KEY's value without allocating. hmap_put makes room before it
 * looks for the key, so even a replacement may grow the map; after a delete
 * the room it asks for is there. Removals rely on this: they must not fail. */
static void map_replace(hmap_t *map, uint64_t key, void *value)
{
    (void)hmap_del(map, key);
    (void)hmap_put(map, key, value);
}

uint64_t master_hash_str(const char *s, uint64_t seed)
{
    return hmap_hash_bytes(s, strlen(s), seed);
}

/* Matching view ------------------------------------------------------------------ */

static const char *first_word(const char *s, char *buf, size_t len)
{
    if (s == NULL)
        return NULL;
    size_t n = strcspn(s, " ");
    if (n >= len)
        n = len - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

static const char *text_of(const mvals_t *b, int field)
{
    const mval_t *v = md_val(b, field);
    return v ? md_val_text(b, v) : NULL;
}

/* address.home is stored as "lines|TOWN|POSTCODE|UPRN" (master_fields.c); the matcher reads
 * the lines up to the first '|' and the town after it, in place. A postcode kept only in the
 * address text (one that is not a UK postcode, so not address.home.postcode) is copied into
 * PC (MASTER_VIEW_PC bytes) for the matcher to compare exactly. */
void master_address_view(const char *addr, match_person_t *p, char *pc)
{
    if (addr == NULL)
        return;
    const char *bar = strchr(addr, '|');
    p->address = addr;
    p->locality = bar != NULL ? bar + 1 : NULL;
    const char *code = bar != NULL ? strchr(bar + 1, '|') : NULL;
    if (code == NULL || p->postcode != NULL || pc == NULL)
        return;
    size_t n = strcspn(code + 1, "|");
    if (n == 0 || n >= MASTER_VIEW_PC)
        return;
    memcpy(pc, code + 1, n);
    pc[n] = '\0';
    p->postcode = pc;
}

/* The matcher compares the first forename: "Mary Ann" and "Mary" are one
 * person more often than not, and the middle names add noise. */
void master_match_view(const mvals_t *b, match_person_t *p, char *buf, size_t len)
{
    char *pc = len > 2 * MASTER_VIEW_PC ? buf + len - MASTER_VIEW_PC : NULL;
    len = pc != NULL ? len - MASTER_VIEW_PC : len;
    *p = (match_person_t){
        .nhs_number = text_of(b, MF_NHS),
        .ni_number = text_of(b, MF_NI),
        .given = first_word(text_of(b, MF_GIVEN), buf, len),
        .family = text_of(b, MF_FAMILY),
        .birth_date = text_of(b, MF_BIRTH),
        .sex = text_of(b, MF_SEX),
        .postcode = text_of(b, MF_ADDR_POSTCODE),
        .phone = text_of(b, MF_PHONE),
        .email = text_of(b, MF_EMAIL),
        .shared_id = text_of(b, MF_SHARED_ID),
    };
    master_address_view(text_of(b, MF_ADDR), p, pc);
}

void master_match_view_incoming(const incoming_t *in, size_t n, match_person_t *p, char *buf,
                                size_t len)
{
    char *pc = len > 2 * MASTER_VIEW_PC ? buf + len - MASTER_VIEW_PC : NULL;
    len = pc != NULL ? len - MASTER_VIEW_PC : len;
    const char *addr = NULL;
    *p = (match_person_t){0};
    for (size_t i = 0; i < n; i++) {
        const char *v = in[i].value;
        switch (in[i].field) {
        case MF_NHS:
            p->nhs_number = v;
            break;
        case MF_NI:
            p->ni_number = v;
            break;
        case MF_SHARED_ID:
            p->shared_id = v;
            break;
        case MF_GIVEN:
            p->given = first_word(v, buf, len);
            break;
        case MF_FAMILY:
            p->family = v;
            break;
        case MF_BIRTH:
            p->birth_date = v;
            break;
        case MF_SEX:
            p->sex = v;
            break;
        case MF_ADDR_POSTCODE:
            p->postcode = v;
            break;
        case MF_PHONE:
            p->phone = v;
            break;
        case MF_EMAIL:
            p->email = v;
            break;
        case MF_ADDR:
            addr = v; /* after the loop: address.home.postcode comes later */
            break;
        default:
            break;
        }
    }
    master_address_view(addr, p, pc);
}

/* Name frequencies --------------------------------------------------------------- */

/* As match.c normalises names for its frequency hook (match_norm_name: upper-case letters,
 * diacritics folded), so that "Pádraig" is counted as the PADRAIG it is looked up as. */
static uint64_t tf_key(match_field_t f, const char *value)
{
    char norm[MATCH_JW_MAX_LEN];
    size_t n = match_norm_name(value, norm, sizeof norm);
    if (n == 0)
        return 0;
    if (f == MATCH_FIELD_LOCALITY && n >= MATCH_LOCALITY_BUF)
        n = MATCH_LOCALITY_BUF - 1; /* as match_prepare cuts it, so lookups find the count */
    return hmap_hash_bytes(norm, n, SEED_TF + (uint64_t)f);
}

/* The locality as the matcher reads it: the town up to the '|' that ends it in the address
 * text, into BUF. */
static const char *locality_of(const match_person_t *p, char *buf, size_t len)
{
    if (p->locality == NULL)
        return NULL;
    size_t n = strcspn(p->locality, "|");
    if (n >= len)
        n = len - 1;
    memcpy(buf, p->locality, n);
    buf[n] = '\0';
    return buf;
}

static void tf_count(master_t *m, match_field_t f, const char *value, int delta)
{
    if (value == NULL)
        return;
    uint64_t k = tf_key(f, value);
    if (k == 0)
        return;
    uintptr_t c = (uintptr_t)hmap_get(m->tf, k);
    if (delta < 0) {
        if (c <= 1)
            (void)hmap_del(m->tf, k);
        else
            map_replace(m->tf, k, (void *)(c - 1));
    } else if (c > 0) {
        map_replace(m->tf, k, (void *)(c + 1));
    } else {
        /* A lost count only makes a name look rarer than it is. */
        (void)hmap_put(m->tf, k, (void *)(c + 1));
    }
}

double master_tf(void *ctx, match_field_t f, const char *value)
{
    const master_t *m = ctx;
    /* Negative: no table yet (see match_tf_fn); 0 below means "no resident has this value". */
    if (person_kind(m)->nactive < TF_MIN_POPULATION)
        return -1;
    uintptr_t c = (uintptr_t)hmap_get(m->tf, tf_key(f, value));
    return c ? (double)c / (double)person_kind(m)->nactive : 0;
}

/* Blocking index ----------------------------------------------------------------- */

static int block_add(master_t *m, uint64_t h, golden_t *g)
{
    void *cur = hmap_get(m->blocks, h);
    if (cur == NULL)
        return hmap_put(m->blocks, h, g);
    block_t *b;
    if (((uintptr_t)cur & 1) == 0) {
        if (cur == g)
            return 0;
        b = malloc(sizeof *b + BLOCK_FIRST_CAP * sizeof b->v[0]);
        if (b == NULL)
            return -1;
        b->n = 1;
        b->cap = BLOCK_FIRST_CAP;
        b->overflow = 0;
        b->v[0] = cur;
    } else {
        /* A record is added once per key (master_index_remove before any
         * re-add), so there is no need to look for it first. */
        b = (block_t *)((uintptr_t)cur & ~(uintptr_t)1);
        if (b->overflow)
            return 0;
        if (b->n >= BLOCK_CAP) {
            b->overflow = 1;
            return 0;
        }
        if (b->n == b->cap) {
            uint16_t cap = (uint16_t)(b->cap + b->cap / 2);
            block_t *grown = realloc(b, sizeof *b + (size_t)cap * sizeof b->v[0]);
            if (grown == NULL)
                return -1;
            grown->cap = cap;
            b = grown;
        }
    }
    b->v[b->n++] = g;
    map_replace(m->blocks, h, (void *)((uintptr_t)b | 1));
    return 0;
}

static void block_remove(master_t *m, uint64_t h, const golden_t *g)
{
    void *cur = hmap_get(m->blocks, h);
    if (cur == NULL)
        return;
    if (((uintptr_t)cur & 1) == 0) {
        if (cur == g)
            (void)hmap_del(m->blocks, h);
        return;
    }
    block_t *b = (block_t *)((uintptr_t)cur & ~(uintptr_t)1);
    if (b->overflow)
        return;
    for (uint16_t i = 0; i < b->n; i++)
        if (b->v[i] == g) {
            b->v[i] = b->v[--b->n];
            break;
        }
    if (b->n == 0) {
        (void)hmap_del(m->blocks, h);
        free(b);
    }
}

/* Adds the hashes of P's blocking keys not in HASHES[0..K) yet; returns the new count. */
static int add_keys(const match_person_t *p, uint64_t *hashes, int k)
{
    char keys[MAX_KEYS][MATCH_KEY_LEN];
    int n = match_blocking_keys(p, keys, MAX_KEYS);
    for (int i = 0; i < n; i++) {
        uint64_t h = master_hash_str(keys[i], SEED_BLOCK);
        int seen = 0;
        for (int j = 0; j < k && !seen; j++)
            seen = hashes[j] == h;
        if (!seen)
            hashes[k++] = h;
    }
    return k;
}

/* The most distinct keys a record has: its own, and those of each previous address or name in
 * place of the current one (master_prev.c), so a newcomer who shares a key only with the
 * address a person left still finds them. */
#define MAX_RECORD_KEYS (MAX_KEYS * (1 + MASTER_PREV_MAX))

/* Distinct hashes of the record's blocking keys. */
static int keys_of(const golden_t *g, uint64_t *hashes)
{
    match_person_t p;
    char given[MATCH_JW_MAX_LEN];
    master_match_view(g->vals, &p, given, sizeof given);
    int k = add_keys(&p, hashes, 0);
    for (size_t i = 0; i < master_prev_count(g->prev); i++) {
        match_person_t alt = p;
        char buf[MATCH_JW_MAX_LEN];
        master_prev_view(g->prev, i, &alt, buf, sizeof buf);
        k = add_keys(&alt, hashes, k);
    }
    return k;
}

int master_index_add(master_t *m, golden_t *g)
{
    match_person_t p;
    char given[MATCH_JW_MAX_LEN];
    master_match_view(g->vals, &p, given, sizeof given);
    match_prepare(&p, &g->prep);
    match_sketch(&g->prep, &g->sketch); /* before the blocks copy it */
    g->sketch.alt = g->prev != NULL;    /* its previous values are scored too: no bound */
    uint64_t h[MAX_RECORD_KEYS];
    int n = keys_of(g, h);
    for (int i = 0; i < n; i++)
        if (block_add(m, h[i], g) != 0)
            return -1;
    char town[MATCH_JW_MAX_LEN];
    tf_count(m, MATCH_FIELD_GIVEN, p.given, 1);
    tf_count(m, MATCH_FIELD_FAMILY, p.family, 1);
    tf_count(m, MATCH_FIELD_LOCALITY, locality_of(&p, town, sizeof town), 1);
    return 0;
}

void master_index_remove(master_t *m, golden_t *g)
{
    uint64_t h[MAX_RECORD_KEYS];
    int n = keys_of(g, h);
    for (int i = 0; i < n; i++)
        block_remove(m, h[i], g);
    match_person_t p;
    char given[MATCH_JW_MAX_LEN];
    master_match_view(g->vals, &p, given, sizeof given);
    char town[MATCH_JW_MAX_LEN];
    tf_count(m, MATCH_FIELD_GIVEN, p.given, -1);
    tf_count(m, MATCH_FIELD_FAMILY, p.family, -1);
    tf_count(m, MATCH_FIELD_LOCALITY, locality_of(&p, town, sizeof town), -1);
}

static void visit(master_t *m, golden_t *g, master_candidate_fn fn, void *ctx)
{
    if (g->stamp == m->stamp)
        return;
    g->stamp = m->stamp;
    m->nscored++;
    fn(ctx, g);
}

/* At 250,000 records a candidate is nowhere in the cache: the first line of
 * each record that survived its block's sketch check (its stamp and sketch)
 * is asked for a few candidates ahead, so it arrives while the ones before
 * are scored. */
#define PREFETCH_AHEAD 4
static void prefetch_candidate(const golden_t *g)
{
    __builtin_prefetch(&g->stamp); /* the line with the sketch */
}

/* A block's entries that DISMISS does not rule out on their sketch, by index, into KEEP. Each
 * sketch is on its record's first line, nowhere in the cache at 250,000 records, so the lines are
 * asked for SURVEY_AHEAD entries ahead and arrive together rather than one miss after another.
 * (Blocks kept a copy of each sketch before: 32 bytes for each of some five entries per record.) */
#define SURVEY_AHEAD 8
static uint32_t block_survivors(const block_t *b, uint32_t nv, master_dismiss_fn dismiss, void *ctx,
                                uint16_t *keep)
{
    uint32_t nk = 0;
    if (dismiss == NULL) {
        for (uint32_t k = 0; k < nv; k++)
            keep[nk++] = (uint16_t)k;
        return nk;
    }
    for (uint32_t k = 0; k < nv && k < SURVEY_AHEAD; k++)
        prefetch_candidate(b->v[k]);
    for (uint32_t k = 0; k < nv; k++) {
        if (k + SURVEY_AHEAD < nv)
            prefetch_candidate(b->v[k + SURVEY_AHEAD]);
        if (!dismiss(ctx, &b->v[k]->sketch))
            keep[nk++] = (uint16_t)k;
    }
    return nk;
}

void master_candidates(master_t *m, const match_person_t *p, master_candidate_fn fn,
                       master_dismiss_fn dismiss, bool (*done)(void *ctx, const char *key),
                       void *ctx)
{
    _Static_assert(BLOCK_CAP <= UINT16_MAX, "block indexes fit 16 bits");
    uint16_t keep[BLOCK_CAP];
    if (++m->stamp == 0) {
        for (size_t i = 0; i < m->e.nrecs; i++)
            m->e.recs[i]->stamp = 0;
        m->stamp = 1;
    }
    m->nsearches++;
    char keys[MAX_KEYS][MATCH_KEY_LEN];
    int n = match_blocking_keys(p, keys, MAX_KEYS);
    bool dated = false;
    for (int i = 0; i < n; i++) {
        /* The place keys (house and street, name in the town) are there for a record whose birth
         * date is missing or not a date; one with a date finds its match by the date and name
         * keys, and searching a city's "J SMITH in LEEDS" for it read ten times the
         * candidates. Records are indexed under them all the same. */
        dated = dated || strncmp(keys[i], "dob:", 4) == 0;
        if (dated && (strncmp(keys[i], "st:", 3) == 0 || strncmp(keys[i], "fl:", 3) == 0))
            continue;
        void *cur = hmap_get(m->blocks, master_hash_str(keys[i], SEED_BLOCK));
        if (cur == NULL)
            continue;
        if (((uintptr_t)cur & 1) == 0) {
            visit(m, cur, fn, ctx);
        } else {
            const block_t *b = (const block_t *)((uintptr_t)cur & ~(uintptr_t)1);
            /* A record found by an identifier is one a rule may link whatever its score: never
             * dismissed on its sketch. */
            bool ident = strncmp(keys[i], "nhs:", 4) == 0 || strncmp(keys[i], "ni:", 3) == 0 ||
                         strncmp(keys[i], "sid:", 4) == 0;
            uint32_t nk =
                block_survivors(b, b->overflow ? 0 : b->n, ident ? NULL : dismiss, ctx, keep);
            for (uint32_t k = 0; k < nk && k < PREFETCH_AHEAD; k++)
                prefetch_candidate(b->v[keep[k]]);
            for (uint32_t k = 0; k < nk; k++) {
                if (k + PREFETCH_AHEAD < nk)
                    prefetch_candidate(b->v[keep[k + PREFETCH_AHEAD]]);
                visit(m, b->v[keep[k]], fn, ctx);
            }
        }
        if (done != NULL && done(ctx, keys[i]))
            return;
    }
}

/* Pairs ------------------------------------------------------------------------ */

uint64_t master_pair_hash(const golden_t *a, const golden_t *b)
{
    if (strcmp(a->id, b->id) > 0) {
        const golden_t *t = a;
        a = b;
        b = t;
    }
    return master_hash_str(b->id, master_hash_str(a->id, SEED_PAIR));
}

static int same_pair(const golden_t *a, const golden_t *b, const golden_t *x, const golden_t *y)
{
    return (a == x && b == y) || (a == y && b == x);
}

kpair_t *master_kept_apart(const master_t *m, const golden_t *a, const golden_t *b)
{
    for (kpair_t *k = hmap_get(m->keep_apart, master_pair_hash(a, b)); k; k = k->pnext)
        if (same_pair(k->a, k->b, a, b))
            return k;
    return NULL;
}

int master_keep_apart_add(master_t *m, golden_t *a, golden_t *b)
{
    if (master_kept_apart(m, a, b) != NULL)
        return 0;
    kpair_t *k = malloc(sizeof *k);
    if (k == NULL)
        return -1;
    uint64_t h = master_pair_hash(a, b);
    *k = (kpair_t){a, b, hmap_get(m->keep_apart, h)};
    if (hmap_put(m->keep_apart, h, k) != 0) {
        free(k);
        return -1;
    }
    m->nkeep++;
    return 0;
}

void master_keep_apart_remove(master_t *m, const golden_t *a, const golden_t *b)
{
    uint64_t h = master_pair_hash(a, b);
    kpair_t *head = hmap_get(m->keep_apart, h), *prev = NULL, *k = head;
    while (k != NULL && !same_pair(k->a, k->b, a, b)) {
        prev = k;
        k = k->pnext;
    }
    if (k == NULL)
        return;
    if (prev != NULL)
        prev->pnext = k->pnext;
    else if (k->pnext != NULL)
        map_replace(m->keep_apart, h, k->pnext);
    else
        (void)hmap_del(m->keep_apart, h);
    free(k);
    m->nkeep--;
}

/* Steward queue (open items only) ------------------------------------------------ */

qitem_t *master_queue_pair(const master_t *m, const golden_t *a, const golden_t *b)
{
    for (qitem_t *q = hmap_get(m->queue_by_pair, master_pair_hash(a, b)); q; q = q->pnext)
        if (same_pair(q->a, q->b, a, b))
            return q;
    return NULL;
}

int master_queue_add(master_t *m, qitem_t *q)
{
    uint64_t h = master_pair_hash(q->a, q->b);
    q->pnext = hmap_get(m->queue_by_pair, h);
    if (hmap_put(m->queue_by_id, q->id, q) != 0)
        return -1;
    if (hmap_put(m->queue_by_pair, h, q) != 0) {
        (void)hmap_del(m->queue_by_id, q->id);
        return -1;
    }
    m->nopen++;
    return 0;
}

void master_queue_remove(master_t *m, qitem_t *q)
{
    uint64_t h = master_pair_hash(q->a, q->b);
    qitem_t *head = hmap_get(m->queue_by_pair, h), *prev = NULL;
    for (qitem_t *i = head; i != NULL && i != q; i = i->pnext)
        prev = i;
    if (prev != NULL)
        prev->pnext = q->pnext;
    else if (q->pnext != NULL)
        map_replace(m->queue_by_pair, h, q->pnext);
    else
        (void)hmap_del(m->queue_by_pair, h);
    (void)hmap_del(m->queue_by_id, q->id);
    m->nopen--;
    free(q);
}

/* Open items are few (a steward's working list), so a scan is cheap enough
 * for the rare decision that needs it. */
bool master_has_open_item(const master_t *m, const golden_t *g)
{
    size_t pos = 0;
    uint64_t key;
    void *value;
    while (hmap_next(m->queue_by_id, &pos, &key, &value)) {
        const qitem_t *q = value;
        if (q->a == g || q->b == g)
            return true;
    }
    return false;
}

/* Merges ------------------------------------------------------------------------ */

merge_t *master_merge_of(const master_t *m, const golden_t *retired)
{
    for (merge_t *mg = hmap_get(m->merges, master_hash_str(retired->id, SEED_PAIR)); mg;
         mg = mg->hnext)
        if (mg->retired == retired)
            return mg;
    return NULL;
}

int master_merge_add(master_t *m, merge_t *mg)
{
    uint64_t h = master_hash_str(mg->retired->id, SEED_PAIR);
    mg->hnext = hmap_get(m->merges, h);
    return hmap_put(m->merges, h, mg);
}

void master_merge_remove(master_t *m, merge_t *mg)
{
    uint64_t h = master_hash_str(mg->retired->id, SEED_PAIR);
    merge_t *head = hmap_get(m->merges, h), *prev = NULL;
    for (merge_t *i = head; i != NULL && i != mg; i = i->hnext)
        prev = i;
    if (prev != NULL)
        prev->hnext = mg->hnext;
    else if (mg->hnext != NULL)
        map_replace(m->merges, h, mg->hnext);
    else
        (void)hmap_del(m->merges, h);
    master_merge_free(mg);
}

void master_merge_free(merge_t *mg)
{
    if (mg == NULL)
        return;
    for (size_t i = 0; i < mg->nmoved; i++)
        free(mg->moved[i].local_id);
    free(mg->moved);
    free(mg->before);
    free(mg);
}

/* Whole state -------------------------------------------------------------------- */

static void free_map_values(hmap_t *map, void (*fn)(void *))
{
    size_t pos = 0;
    uint64_t key;
    void *value;
    while (hmap_next(map, &pos, &key, &value))
        fn(value);
    hmap_clear(map);
}

static void free_block(void *v)
{
    if ((uintptr_t)v & 1)
        free((void *)((uintptr_t)v & ~(uintptr_t)1));
}

static void free_kpairs(void *v)
{
    for (kpair_t *k = v; k;) {
        kpair_t *next = k->pnext;
        free(k);
        k = next;
    }
}

static void free_merges(void *v)
{
    for (merge_t *mg = v; mg;) {
        merge_t *next = mg->hnext;
        master_merge_free(mg);
        mg = next;
    }
}

void master_state_clear(engine_t *e)
{
    master_t *m = (master_t *)e;
    free_map_values(m->blocks, free_block);
    free_map_values(m->keep_apart, free_kpairs);
    free_map_values(m->merges, free_merges);
    free_map_values(m->queue_by_id, free);
    hmap_clear(m->queue_by_pair);
    hmap_clear(m->tf);
    m->nopen = m->nkeep = 0;
    m->next_queue_id = m->next_merge_id = 1;
    m->stamp = 0;
}
