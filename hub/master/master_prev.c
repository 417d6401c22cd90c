/* master_prev.c - a person's previous addresses and other names (issue 17, item 8): when a
 * golden record's home address or name is replaced by a newer value, the value it replaced is
 * kept as evidence, with the system that had sent it and when, and a newcomer is compared with
 * it as well as with the current values (master_match.c). A resident who moved is then found
 * by the address a system that has not heard of the move still sends.
 *
 * Only the address and the name are kept: they change for real (a move, a marriage), whereas
 * a birth date, sex or NHS number that changes was wrong before, and the precision guards
 * must read the current ones. Memory is per golden record, so the kept values are bounded
 * (MASTER_PREV_ADDRESSES, MASTER_PREV_NAMES, the oldest dropped) and held as their text in one
 * allocation, prepared for scoring only when a candidate is compared; most records have none,
 * and hold a NULL pointer. Every replaced value is a row of golden_person_previous
 * (hub/store/sql/0012_person_previous.sql); master_load keeps the newest few. */
#include "master/master_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The block ------------------------------------------------------------------------------ */

size_t master_prev_count(const mprev_t *p)
{
    return p != NULL ? p->n : 0;
}

const char *master_prev_text(const mprev_t *p, size_t i)
{
    return (const char *)p + p->v[i].off;
}

static size_t bound_of(int kind)
{
    return kind == MPREV_ADDRESS ? MASTER_PREV_ADDRESSES : MASTER_PREV_NAMES;
}

/* OLD with NEW in front. Among values of NEW's kind and origin (the record's own, or a merge's:
 * an unmerge takes the latter and leaves the former as they were), an equal value moves to the
 * front (with NEW's times) instead of being kept twice, and past the bound the oldest is
 * dropped. NULL when
 * out of memory (OLD is untouched either way). */
static mprev_t *prev_push(const mprev_t *old, const mprev_ent_t *ent, const char *text)
{
    size_t n = master_prev_count(old), keep[MASTER_PREV_MAX], nkeep = 0, same_kind = 1;
    size_t bytes = strlen(text) + 1;
    for (size_t i = 0; i < n && nkeep + 1 < MASTER_PREV_MAX; i++) {
        const mprev_ent_t *e = &old->v[i];
        const char *t = master_prev_text(old, i);
        bool peer = e->kind == ent->kind && e->merged == ent->merged;
        if (peer && (strcmp(t, text) == 0 || same_kind >= bound_of(ent->kind)))
            continue;
        same_kind += peer;
        keep[nkeep++] = i;
        bytes += strlen(t) + 1;
    }
    size_t head = sizeof(mprev_t) + (nkeep + 1) * sizeof(mprev_ent_t);
    mprev_t *p = malloc(head + bytes);
    if (p == NULL)
        return NULL;
    p->n = (uint32_t)(nkeep + 1);
    p->bytes = (uint32_t)(head + bytes);
    size_t off = head;
    for (size_t i = 0; i <= nkeep; i++) {
        const char *t = i == 0 ? text : master_prev_text(old, keep[i - 1]);
        p->v[i] = i == 0 ? *ent : old->v[keep[i - 1]];
        p->v[i].off = (uint32_t)off;
        size_t len = strlen(t) + 1;
        memcpy((char *)p + off, t, len);
        off += len;
    }
    return p;
}

/* Views and preparations ---------------------------------------------------------------- */

/* The name text is "forenames\nsurname"; a name field never holds a newline (master_flatten
 * folds blanks), so the split is unambiguous. */
static void name_parts(const char *text, char *given, size_t len, const char **family)
{
    size_t n = strcspn(text, "\n");
    size_t first = strcspn(text, " \n"); /* the matcher compares the first forename */
    if (first >= len)
        first = len - 1;
    memcpy(given, text, first);
    given[first] = '\0';
    *family = text[n] == '\n' ? text + n + 1 : "";
}

void master_prev_view(const mprev_t *pv, size_t i, match_person_t *p, char *buf, size_t len)
{
    const char *text = master_prev_text(pv, i);
    if (pv->v[i].kind == MPREV_ADDRESS) {
        p->postcode = NULL;
        p->address = NULL;
        p->locality = NULL;
        master_address_view(text, p, len > MASTER_VIEW_PC ? buf : NULL);
        return;
    }
    const char *family;
    name_parts(text, buf, len, &family);
    p->given = buf[0] ? buf : NULL;
    p->family = family[0] ? family : NULL;
}

void master_prev_prep(const match_prep_t *cur, const mprev_t *pv, size_t i, match_prep_t *out)
{
    match_person_t p = {0};
    char buf[MATCH_JW_MAX_LEN];
    master_prev_view(pv, i, &p, buf, sizeof buf);
    match_prep_t alt;
    match_prepare(&p, &alt);
    *out = *cur;
    if (pv->v[i].kind == MPREV_ADDRESS) {
        memcpy(out->pc_full, alt.pc_full, sizeof alt.pc_full);
        memcpy(out->pc_sector, alt.pc_sector, sizeof alt.pc_sector);
        memcpy(out->pc_outward, alt.pc_outward, sizeof alt.pc_outward);
        memcpy(out->pc_area, alt.pc_area, sizeof alt.pc_area);
        memcpy(out->house, alt.house, sizeof alt.house);
        memcpy(out->street, alt.street, sizeof alt.street);
        memcpy(out->street_word, alt.street_word, sizeof alt.street_word);
        memcpy(out->locality, alt.locality, sizeof alt.locality);
        return;
    }
    memcpy(out->given, alt.given, sizeof alt.given);
    memcpy(out->family, alt.family, sizeof alt.family);
    memcpy(out->given_ph, alt.given_ph, sizeof alt.given_ph);
    memcpy(out->family_ph, alt.family_ph, sizeof alt.family_ph);
    out->given_len = alt.given_len;
    out->family_len = alt.family_len;
    out->nick_at = alt.nick_at;
    out->nick_n = alt.nick_n;
    out->gend_at = alt.gend_at;
    out->gend_n = alt.gend_n;
}

void master_prev_describe(const master_t *m, const mprev_t *pv, size_t i, char *out, size_t len)
{
    const mprev_ent_t *e = &pv->v[i];
    char day[16] = "?";
    time_t t = (time_t)(e->until_us / 1000000);
    struct tm tm;
    if (gmtime_r(&t, &tm) != NULL)
        (void)strftime(day, sizeof day, "%Y-%m-%d", &tm);
    (void)snprintf(out, len, "%s matched a previous %s, from %s, until %s",
                   e->kind == MPREV_ADDRESS ? "address" : "name",
                   e->kind == MPREV_ADDRESS ? "address" : "name",
                   e->source < m->e.nsystems ? m->e.systems[e->source] : "?", day);
}

/* Planning ------------------------------------------------------------------------------- */

static const char *text_in(const mvals_t *b, int field)
{
    const mval_t *v = md_val(b, field);
    return v ? md_val_text(b, v) : NULL;
}

/* The prepared place of an address text and of a name, to tell a real change from another
 * spelling of the same value (a UPRN added, a town in capitals). */
static void place_of(const char *addr, match_prep_t *o)
{
    match_person_t p = {0};
    char pc[MASTER_VIEW_PC + 1];
    master_address_view(addr, &p, pc);
    match_prepare(&p, o);
}

static bool same_place(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    match_prep_t x, y;
    place_of(a, &x);
    place_of(b, &y);
    return strcmp(x.pc_full, y.pc_full) == 0 && strcmp(x.house, y.house) == 0 &&
           strcmp(x.street, y.street) == 0 && strcmp(x.locality, y.locality) == 0;
}

static bool has_place(const char *addr)
{
    match_prep_t x;
    place_of(addr, &x);
    return x.pc_full[0] || x.street[0] || x.locality[0];
}

static size_t norm_first(const char *s, char *out, size_t len)
{
    char first[MATCH_JW_MAX_LEN];
    size_t n = s ? strcspn(s, " ") : 0;
    if (n >= sizeof first)
        n = sizeof first - 1;
    if (n > 0)
        memcpy(first, s, n);
    first[n] = '\0';
    return match_norm_name(first, out, len);
}

static bool same_name(const char *g1, const char *f1, const char *g2, const char *f2)
{
    char a[MATCH_NAME_BUF], b[MATCH_NAME_BUF], c[MATCH_NAME_BUF], d[MATCH_NAME_BUF];
    (void)norm_first(g1, a, sizeof a);
    (void)norm_first(g2, b, sizeof b);
    (void)match_norm_name(f1 ? f1 : "", c, sizeof c);
    (void)match_norm_name(f2 ? f2 : "", d, sizeof d);
    return strcmp(a, b) == 0 && strcmp(c, d) == 0;
}

/* Pushes one replaced value onto the plan's block and lists its row. */
static int plan_push(md_ctx_t *c, mprev_plan_t *pp, const mprev_t *base, const mprev_ent_t *ent,
                     const char *text)
{
    mprev_t *next = prev_push(pp->next ? pp->next : base, ent, text);
    if (next == NULL)
        return md_say(c, "out of memory");
    free(pp->next);
    pp->next = next;
    pp->text[pp->nrows] = text;
    pp->rows[pp->nrows++] = *ent;
    return 0;
}

/* Is TEXT among the record's own values of KIND already (in the plan's block, else its)? */
static bool held(const mprev_plan_t *pp, const golden_t *g, int kind, const char *text)
{
    const mprev_t *b = pp->next ? pp->next : g->prev;
    for (size_t i = 0; i < master_prev_count(b); i++)
        if (b->v[i].kind == kind && !b->v[i].merged && strcmp(master_prev_text(b, i), text) == 0)
            return true;
    return false;
}

/* The previous values the event names itself (master_flatten: addresses marked "old", other
 * names), kept as the sender's unless the record holds them already or they are its current
 * ones. Older than what the event replaces: they go behind it. */
static int plan_named(md_ctx_t *c, md_plan_t *p, mprev_plan_t *pp)
{
    const master_t *m = M(c);
    const mvals_t *now = p->vals ? p->vals : p->g->vals; /* no block: nothing changed */
    int64_t seen = c->ev->occurred_at_us > 0 ? c->ev->occurred_at_us : c->now;
    for (size_t i = m->nprev_in; i-- > 0;) {
        const mprev_in_t *in = &m->prev_in[i];
        if (held(pp, p->g, in->kind, in->text))
            continue;
        if (in->kind == MPREV_ADDRESS &&
            (!has_place(in->text) || same_place(in->text, text_in(now, MF_ADDR))))
            continue;
        if (in->kind == MPREV_NAME) {
            char given[MASTER_VALUE_MAX];
            size_t n = strcspn(in->text, "\n");
            (void)snprintf(given, sizeof given, "%.*s", (int)n, in->text);
            const char *family = in->text[n] ? in->text + n + 1 : "";
            if (same_name(given, family, text_in(now, MF_GIVEN), text_in(now, MF_FAMILY)))
                continue;
        }
        mprev_ent_t e = {seen, c->now, 0, (uint16_t)c->src, in->kind, 0};
        if (plan_push(c, pp, p->g->prev, &e, in->text) != 0)
            return -1;
    }
    return 0;
}

int master_prev_plan(md_ctx_t *c, md_plan_t *p, mprev_plan_t *pp)
{
    pp->nrows = 0;
    if (M(c)->nprev_in > 0 && plan_named(c, p, pp) != 0)
        return -1;
    if (p->newg != NULL || p->nch == 0)
        return 0;
    const mvals_t *old = p->g->vals;
    const char *old_addr = NULL, *old_given = NULL, *old_family = NULL;
    bool addr = false, name = false;
    for (size_t i = 0; i < p->nch; i++) {
        int f = p->ch[i].field;
        addr = addr || (f == MF_ADDR && p->old[i] != NULL);
        name = name || ((f == MF_GIVEN || f == MF_FAMILY) && p->old[i] != NULL);
    }
    if (addr) {
        old_addr = text_in(old, MF_ADDR);
        const char *now = text_in(p->vals, MF_ADDR);
        if (old_addr != NULL && has_place(old_addr) && !same_place(old_addr, now)) {
            const mval_t *v = md_val(old, MF_ADDR);
            mprev_ent_t e = {v->at_us, c->now, 0, v->source, MPREV_ADDRESS, 0};
            if (plan_push(c, pp, p->g->prev, &e, old_addr) != 0)
                return -1;
        }
    }
    if (name) {
        old_given = text_in(old, MF_GIVEN);
        old_family = text_in(old, MF_FAMILY);
        if ((old_given || old_family) &&
            !same_name(old_given, old_family, text_in(p->vals, MF_GIVEN),
                       text_in(p->vals, MF_FAMILY))) {
            /* The system that had sent the surname, else the forename: a name is one fact. */
            const mval_t *v = md_val(old, old_family ? MF_FAMILY : MF_GIVEN);
            (void)snprintf(pp->name, sizeof pp->name, "%s\n%s", old_given ? old_given : "",
                           old_family ? old_family : "");
            mprev_ent_t e = {v->at_us, c->now, 0, v->source, MPREV_NAME, 0};
            if (plan_push(c, pp, p->g->prev, &e, pp->name) != 0)
                return -1;
        }
    }
    return 0;
}

/* Rows ------------------------------------------------------------------------------------ */

const row_desc_t MASTER_ROW_PREVIOUS = {"golden_person_previous",
                                        8,
                                        {{"master_id", ROW_TEXT},
                                         {"kind", ROW_TEXT},
                                         {"value", ROW_TEXT},
                                         {"family", ROW_TEXT},
                                         {"source", ROW_TEXT},
                                         {"seen_at", ROW_INT8},
                                         {"replaced_at", ROW_INT8},
                                         {"event_id", ROW_TEXT}}};
static const char SQL_PREVIOUS[] =
    "INSERT INTO golden_person_previous (master_id, kind, value, family, source, seen_at, "
    "replaced_at, event_id) VALUES ($1, $2, $3, $4, $5, $6::bigint, $7::bigint, $8)";

int master_prev_write(md_ctx_t *c, const golden_t *g, const mprev_plan_t *pp)
{
    for (size_t r = 0; r < pp->nrows; r++) {
        const mprev_ent_t *e = &pp->rows[r];
        const char *text = pp->text[r];
        /* A name is two columns: the forenames, and the surname (NULL when there was none). */
        char given[MASTER_VALUE_MAX + 1];
        const char *value = text, *family = NULL;
        if (e->kind == MPREV_NAME) {
            size_t n = strcspn(text, "\n");
            if (n >= sizeof given)
                n = sizeof given - 1;
            memcpy(given, text, n);
            given[n] = '\0';
            value = given;
            if (text[n] == '\n' && text[n + 1] != '\0')
                family = text + n + 1;
        }
        row_val_t v[8] = {row_text(g->id),
                          row_text(e->kind == MPREV_ADDRESS ? "address" : "name"),
                          row_text(value),
                          row_text(family),
                          row_text(c->e->systems[e->source]),
                          row_int(e->seen_us),
                          row_int(e->until_us),
                          row_text(c->ev->event_id ? c->ev->event_id : "")};
        if (md_run_append(c, &MASTER_ROW_PREVIOUS, SQL_PREVIOUS, v) != 0)
            return -1;
    }
    return 0;
}

/* Loading --------------------------------------------------------------------------------- */

int master_prev_add(golden_t *g, int kind, const char *text, int source, int64_t seen_us,
                    int64_t until_us)
{
    mprev_ent_t e = {seen_us, until_us, 0, (uint16_t)source, (uint8_t)kind, 0};
    mprev_t *next = prev_push(g->prev, &e, text);
    if (next == NULL)
        return -1;
    free(g->prev);
    g->prev = next;
    return 0;
}

/* Merges ---------------------------------------------------------------------------------- */

/* Enough for a block of each record and the four values of the two records' blocks. */
#define FOLD_MAX (3 * MASTER_PREV_MAX + 4)
typedef struct {
    mprev_ent_t e;
    const char *text;
    size_t at; /* the order it was taken in: ties keep it (qsort is not stable) */
} fold_item_t;

typedef struct {
    fold_item_t v[FOLD_MAX];
    size_t n;
    char names[2][2 * MASTER_VALUE_MAX + 2]; /* the texts of the blocks' names */
    size_t nnames;
} fold_t;

static void fold_take(fold_t *f, const mprev_ent_t *e, const char *text, bool merged)
{
    if (f->n == FOLD_MAX)
        return;
    f->v[f->n] = (fold_item_t){*e, text, f->n};
    f->v[f->n].e.merged = (uint8_t)(merged || e->merged);
    f->n++;
}

static void fold_block(fold_t *f, const mprev_t *p, bool merged, bool only_own)
{
    for (size_t i = 0; i < master_prev_count(p); i++)
        if (!only_own || !p->v[i].merged)
            fold_take(f, &p->v[i], master_prev_text(p, i), merged);
}

/* The address and the name a block holds that AFTER does not, as values kept at AT_US. */
static void fold_current(fold_t *f, const mvals_t *b, const mvals_t *after, int64_t at_us)
{
    const char *addr = text_in(b, MF_ADDR);
    if (addr != NULL && has_place(addr) && !same_place(addr, text_in(after, MF_ADDR))) {
        const mval_t *v = md_val(b, MF_ADDR);
        fold_take(f, &(mprev_ent_t){v->at_us, at_us, 0, v->source, MPREV_ADDRESS, 1}, addr, true);
    }
    const char *given = text_in(b, MF_GIVEN), *family = text_in(b, MF_FAMILY);
    if ((given == NULL && family == NULL) || f->nnames == 2 ||
        same_name(given, family, text_in(after, MF_GIVEN), text_in(after, MF_FAMILY)))
        return;
    char *text = f->names[f->nnames++];
    (void)snprintf(text, sizeof f->names[0], "%s\n%s", given ? given : "", family ? family : "");
    const mval_t *v = md_val(b, family ? MF_FAMILY : MF_GIVEN);
    fold_take(f, &(mprev_ent_t){v->at_us, at_us, 0, v->source, MPREV_NAME, 1}, text, true);
}

/* Newest first; on a tie a value of the record's own before one a merge brought, then in the
 * order taken. */
static int newest_first(const void *a, const void *b)
{
    const fold_item_t *p = a, *q = b;
    if (p->e.until_us != q->e.until_us)
        return p->e.until_us > q->e.until_us ? -1 : 1;
    if (p->e.merged != q->e.merged)
        return (int)p->e.merged - (int)q->e.merged;
    return (p->at > q->at) - (p->at < q->at);
}

/* The block of F's values, newest first, within the bounds, each value once (its newest) among
 * the record's own values and once among those merges brought, as prev_push keeps them. */
static int fold_build(fold_t *f, mprev_t **out)
{
    qsort(f->v, f->n, sizeof f->v[0], newest_first);
    size_t keep[MASTER_PREV_MAX], nkeep = 0, per[2][2] = {{0, 0}, {0, 0}}, bytes = 0;
    for (size_t i = 0; i < f->n && nkeep < MASTER_PREV_MAX; i++) {
        const fold_item_t *it = &f->v[i];
        size_t *count = &per[it->e.kind][it->e.merged];
        bool seen = *count >= bound_of(it->e.kind);
        for (size_t k = 0; k < nkeep && !seen; k++) {
            const fold_item_t *kept = &f->v[keep[k]];
            seen = kept->e.kind == it->e.kind && kept->e.merged == it->e.merged &&
                   strcmp(kept->text, it->text) == 0;
        }
        if (seen)
            continue;
        (*count)++;
        keep[nkeep++] = i;
        bytes += strlen(it->text) + 1;
    }
    *out = NULL;
    if (nkeep == 0)
        return 0;
    size_t head = sizeof(mprev_t) + nkeep * sizeof(mprev_ent_t);
    mprev_t *p = malloc(head + bytes);
    if (p == NULL)
        return -1;
    p->n = (uint32_t)nkeep;
    p->bytes = (uint32_t)(head + bytes);
    size_t off = head;
    for (size_t i = 0; i < nkeep; i++) {
        const fold_item_t *it = &f->v[keep[i]];
        size_t len = strlen(it->text) + 1;
        p->v[i] = it->e;
        p->v[i].off = (uint32_t)off;
        memcpy((char *)p + off, it->text, len);
        off += len;
    }
    *out = p;
    return 0;
}

int master_prev_fold(const mprev_t *own, const golden_t *r, const mvals_t *before,
                     const mvals_t *after, int64_t at_us, mprev_t **out)
{
    fold_t f;
    f.n = f.nnames = 0;
    fold_block(&f, own, false, false);
    fold_block(&f, r->prev, true, false);
    fold_current(&f, r->vals, after, at_us);
    fold_current(&f, before, after, at_us);
    return fold_build(&f, out);
}

static int by_merge_id(const void *a, const void *b)
{
    uint64_t x = (*(merge_t *const *)a)->id, y = (*(merge_t *const *)b)->id;
    return x < y ? -1 : x > y;
}

/* The standing merges into S (every one when S is NULL), oldest first: *OUT owned, or -1. */
static int merges_into(const master_t *m, const golden_t *s, merge_t ***out, size_t *n)
{
    size_t cap = 0, pos = 0;
    uint64_t key;
    void *value;
    *out = NULL;
    *n = 0;
    while (hmap_next(m->merges, &pos, &key, &value))
        for (merge_t *mg = value; mg != NULL; mg = mg->hnext) {
            if (s != NULL && mg->survivor != s)
                continue;
            if (*n == cap) {
                size_t ncap = cap ? 2 * cap : 8;
                merge_t **v = realloc(*out, ncap * sizeof *v);
                if (v == NULL) {
                    free(*out);
                    *out = NULL;
                    return -1;
                }
                *out = v;
                cap = ncap;
            }
            (*out)[(*n)++] = mg;
        }
    if (*n > 1)
        qsort(*out, *n, sizeof **out, by_merge_id);
    return 0;
}

int master_prev_unfold(const master_t *m, const golden_t *s, const merge_t *skip,
                       const mvals_t *after, mprev_t **out)
{
    merge_t **mgs;
    size_t n;
    if (merges_into(m, s, &mgs, &n) != 0)
        return -1;
    fold_t f;
    f.n = f.nnames = 0;
    fold_block(&f, s->prev, false, true);
    int rc = fold_build(&f, out);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (mgs[i] == skip)
            continue;
        mprev_t *next;
        rc = master_prev_fold(*out, mgs[i]->retired, mgs[i]->before, after, mgs[i]->merged_us,
                              &next);
        if (rc == 0) {
            free(*out);
            *out = next;
        }
    }
    free(mgs);
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

int master_prev_fold_all(master_t *m)
{
    merge_t **mgs;
    size_t n;
    if (merges_into(m, NULL, &mgs, &n) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        golden_t *s = mgs[i]->survivor;
        mprev_t *next;
        /* A survivor merged on into another record since is folded as it stood then: its
         * block now is the nearest there is. */
        rc = master_prev_fold(s->prev, mgs[i]->retired, mgs[i]->before, s->vals, mgs[i]->merged_us,
                              &next);
        if (rc == 0) {
            free(s->prev);
            s->prev = next;
        }
    }
    free(mgs);
    return rc;
}
