/* master_match.c - the person kind's identity rule: a candidate search over the blocking
 * index (master_index.c), scoring each candidate with the matcher (lib/match) and keeping the
 * link, the second link and the best few possible matches. The decisions are the matcher's;
 * this file only says which records are compared and which outcome stands. */
#include "master/master_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int cand_before(const cand_t *a, const cand_t *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    return strcmp(a->g->id, b->g->id) < 0;
}

static bool has_system(const golden_t *g, int system)
{
    for (const xref_t *x = g->xrefs; x; x = x->mnext)
        if (x->system == system)
            return true;
    return false;
}

static void add_possible(search_t *s, const cand_t *c);

/* Below the lower threshold and the best score so far, a candidate changes nothing. The best
 * score only rises during a search, so a sketch dismissed once stays dismissed. */
static bool dismissed(search_t *s, const match_sketch_t *sk)
{
    const match_params_t *mp = &s->m->params;
    if (isnan(s->best) || !(match_bound(&s->bound, mp, sk) < fmin(mp->lower, s->best)))
        return false;
    s->m->nbounded++;
    return true;
}

static bool dismiss_sketch(void *ctx, const match_sketch_t *sk)
{
    return dismissed(ctx, sk);
}

/* Is A's outcome better than B's: a firmer decision, then a higher score. */
static bool outcome_before(int da, double sa, int db, double sb)
{
    return da != db ? da > db : sa > sb;
}

/* A previous name whose forename is not the current one: forenames are what tell twins apart,
 * and a forename that changed was as often put right (another child's name keyed first) as
 * changed by the person, so a match on it goes to a steward, never links by itself. A changed
 * surname (a marriage) is the common case, and links like a current one. */
static bool previous_forename(const golden_t *g, const match_prep_t *alt, size_t i)
{
    return g->prev->v[i].kind == MPREV_NAME && alt->given[0] != '\0' &&
           strcmp(alt->given, g->prep.given) != 0;
}

/* Does the previous value itself agree with the newcomer? A person is found by the address they
 * left or the name they had, not by being near it: a previous address counts when its postcode
 * or its house is the same, a previous name when the names agree at least as a close spelling
 * (a short form, crosswise). Anything looser (the same district or town as a home years ago)
 * is what namesakes share, and taking the best of several old values would give them that
 * chance several times over. */
static bool previous_agrees(int kind, const match_evidence_t *ev)
{
    if (kind == MPREV_ADDRESS) {
        int a = ev->level[MATCH_FIELD_ADDRESS];
        return ev->level[MATCH_FIELD_POSTCODE] == MATCH_POSTCODE_EXACT ||
               a == MATCH_ADDRESS_EXACT || a == MATCH_ADDRESS_SAME_HOUSE;
    }
    int g = ev->level[MATCH_FIELD_GIVEN], f = ev->level[MATCH_FIELD_FAMILY];
    bool given = g == MATCH_GIVEN_EXACT || g == MATCH_GIVEN_SWAPPED || g == MATCH_GIVEN_NICKNAME ||
                 g == MATCH_GIVEN_JW92;
    return given && (f == MATCH_FAMILY_EXACT || f == MATCH_FAMILY_JW92 || g == MATCH_GIVEN_SWAPPED);
}

/* The record's previous addresses and names (master_prev.c), each in place of its current one:
 * the best outcome stands, in C, with C->prev saying which entry gave it. Birth date, sex and
 * the identifiers are always the current ones, so every precision guard reads those. */
static void score_previous(search_t *s, const golden_t *g, cand_t *c, match_prep_t *best)
{
    const match_params_t *mp = &s->m->params;
    for (size_t i = 0; i < master_prev_count(g->prev); i++) {
        match_prep_t alt;
        match_evidence_t ev;
        master_prev_prep(&g->prep, g->prev, i, &alt);
        int d = (int)match_decide_prep(mp, &s->p, &alt, match_tf_cached, &s->tf, &ev, NULL, 0);
        if (!previous_agrees(g->prev->v[i].kind, &ev))
            continue;
        if (d == MATCH_DECISION_LINK && previous_forename(g, &alt, i))
            d = MATCH_DECISION_POSSIBLE;
        if (!outcome_before(d, ev.total, c->decision, c->score))
            continue;
        c->decision = d;
        c->score = ev.total;
        c->ev = ev;
        c->prev = (uint8_t)(i + 1);
        *best = alt;
    }
}

static void on_candidate(void *ctx, golden_t *g)
{
    search_t *s = ctx;
    if (g == s->self || g->state != MS_ACTIVE)
        return;
    const match_params_t *mp = &s->m->params;
    if (dismissed(s, &g->sketch))
        return;
    cand_t c = {.g = g};
    c.decision =
        (int)match_decide_prep(mp, &s->p, &g->prep, match_tf_cached, &s->tf, &c.ev, NULL, 0);
    c.score = c.ev.total;
    match_prep_t alt;
    if (g->prev != NULL && s->history)
        score_previous(s, g, &c, &alt);
    if (isnan(s->best) || c.score > s->best)
        s->best = c.score;
    if (c.decision == MATCH_DECISION_NONE)
        return;
    /* Most candidates are dismissed; the reason is written only for the few
     * kept. Deterministic rules (same NHS number, same NI number and birth
     * date, same shared identifier) say so in it; everything else came from the score. */
    (void)match_decide_prep(mp, &s->p, c.prev ? &alt : &g->prep, match_tf_cached, &s->tf, &c.ev,
                            c.why, sizeof c.why);
    c.how = strncmp(c.why, "same N", 6) == 0 || strncmp(c.why, "same shared", 11) == 0 ? XH_RULE
                                                                                       : XH_SCORE;
    if (c.prev) {
        size_t n = strlen(c.why);
        if (n + 2 < sizeof c.why) {
            c.why[n++] = ';';
            c.why[n++] = ' ';
            master_prev_describe(s->m, g->prev, c.prev - 1u, c.why + n, sizeof c.why - n);
        }
        if (c.decision == MATCH_DECISION_POSSIBLE && previous_forename(g, &alt, c.prev - 1u)) {
            n = strlen(c.why);
            (void)snprintf(c.why + n, sizeof c.why - n, " (a forename it no longer has: steward)");
        }
    }
    /* A system's own duplicate is linked on the same evidence and anchors as a link between
     * two systems: twins, a parent and a child fail the anchors (forename, birth date, sex)
     * whichever systems hold them, so a steward is no safer judge of the pair than the rule.
     * The sender is told (person.duplicate_found), in its ids, so it can merge its copies. */
    c.same_system = c.decision == MATCH_DECISION_LINK && s->src >= 0 && has_system(g, s->src);
    if (c.decision == MATCH_DECISION_LINK) {
        if (s->link.g == NULL || cand_before(&c, &s->link)) {
            if (s->link.g != NULL)
                s->link2 = s->link;
            s->link = c;
        } else if (s->link2.g == NULL || cand_before(&c, &s->link2)) {
            s->link2 = c;
        }
        return;
    }
    if (c.decision != MATCH_DECISION_POSSIBLE)
        return;
    add_possible(s, &c);
}

/* Keep the best few, best first. */
static void add_possible(search_t *s, const cand_t *c)
{
    size_t i;
    if (s->nposs < MAX_POSSIBLE)
        i = s->nposs++;
    else if (cand_before(c, &s->poss[MAX_POSSIBLE - 1]))
        i = MAX_POSSIBLE - 1;
    else
        return;
    s->poss[i] = *c;
    for (; i > 0 && cand_before(&s->poss[i], &s->poss[i - 1]); i--) {
        cand_t t = s->poss[i];
        s->poss[i] = s->poss[i - 1];
        s->poss[i - 1] = t;
    }
}

/* A link by NHS, NI or shared number found among the records holding that number
 * settles the search: the records that only look alike could do no better
 * than a rule, and a person's event should not pay for scoring them. */
static bool settled(void *ctx, const char *key)
{
    const search_t *s = ctx;
    bool identifier =
        strncmp(key, "nhs:", 4) == 0 || strncmp(key, "ni:", 3) == 0 || strncmp(key, "sid:", 4) == 0;
    return identifier && s->link.g != NULL && s->link.how == XH_RULE;
}

void master_search(master_t *m, const match_person_t *p, const golden_t *self, int src, search_t *s)
{
    memset(s, 0, sizeof *s);
    s->m = m;
    match_prepare(p, &s->p);
    match_tf_cache_init(&s->tf, &s->p, master_tf, m); /* they stand still during a search */
    match_bounder_init(&s->bound, &m->params, &s->p, match_tf_cached, &s->tf);
    s->self = self;
    s->src = src;
    s->best = NAN;
    s->history = m->use_history;
    master_candidates(m, p, on_candidate, dismiss_sketch, settled, s);
    /* Two different records both good enough to link by score: the person may be either (a
     * father and son sharing a name and a home, namesakes), so neither is linked and a steward
     * sees both. A link by NHS, NI or shared number stands, and beats a look-alike that scores
     * higher; of two records holding the number, the better linked is taken (the two are already
     * a pair for a steward, or will be). */
    if (s->link2.g != NULL && s->link.how == XH_SCORE && s->link2.how == XH_RULE) {
        s->link = s->link2;
    } else if (s->link2.g != NULL && s->link.how == XH_SCORE) {
        cand_t both[2] = {s->link, s->link2};
        for (int i = 0; i < 2; i++) {
            both[i].decision = MATCH_DECISION_POSSIBLE;
            (void)snprintf(both[i].why, sizeof both[i].why,
                           "would link, but another record qualifies as well: steward review");
            add_possible(s, &both[i]);
        }
        s->link.g = NULL;
    }
}

/* Which previous value the candidate was scored on: its kind, system and when it was replaced
 * (never the value: the evidence names fields and systems). */
static int previous_json(const master_t *m, const cand_t *c, mbuf_t *out)
{
    const mprev_ent_t *e = &c->g->prev->v[c->prev - 1];
    char num[NUM_LEN];
    int rc = master_buf_str(out, ", \"previous\": {\"field\": ");
    rc |= master_buf_json_str(out, e->kind == MPREV_ADDRESS ? "address" : "name");
    rc |= master_buf_str(out, ", \"system\": ");
    rc |= master_buf_json_str(out, e->source < m->e.nsystems ? m->e.systems[e->source] : "?");
    rc |= master_buf_printf(out, ", \"seen_at\": %s", master_num_i(num, e->seen_us));
    rc |= master_buf_printf(out, ", \"replaced_at\": %s}", master_num_i(num, e->until_us));
    return rc;
}

int master_evidence_json(const master_t *m, const cand_t *c, mbuf_t *out)
{
    int rc = master_buf_str(out, "{\"decision\": ");
    rc |= master_buf_json_str(out, c->decision == MATCH_DECISION_LINK ? "link" : "possible");
    rc |= master_buf_str(out, ", \"reason\": ");
    rc |= master_buf_json_str(out, c->why);
    char num[NUM_LEN];
    rc |= master_buf_printf(out, ", \"total\": %s, \"fields\": {",
                            md_num_d(num, c->ev.total) ? num : "null");
    for (int f = 0; f < MATCH_FIELD_COUNT; f++) {
        rc |= master_buf_printf(out, "%s\"%s\": {\"level\": ", f ? ", " : "",
                                match_field_name((match_field_t)f));
        rc |= master_buf_json_str(out, match_level_name((match_field_t)f, c->ev.level[f]));
        rc |= master_buf_printf(out, ", \"weight\": %s}",
                                md_num_d(num, c->ev.weight[f]) ? num : "null");
    }
    rc |= master_buf_str(out, "}");
    if (c->prev && c->prev <= master_prev_count(c->g->prev))
        rc |= previous_json(m, c, out);
    return rc | master_buf_str(out, "}");
}
