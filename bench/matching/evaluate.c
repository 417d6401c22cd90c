/* evaluate.c - the outcome and its evaluation: reads back from PostgreSQL which golden record each
 * local id was linked to (xref, redirects, the steward queue) and, against the generator's ground
 * truth, reports where each record went, precision and recall for each pair of systems, what the
 * true pairs not linked carry, the false merges themselves, and the load against its targets. */
#include "matching.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHOW_FALSE 10 /* false merges listed */
#define SHOW_MISSED 5 /* true pairs not linked, listed */

enum { LS_NONE, LS_MATCH, LS_POSSIBLE, LS_NO_MATCH, LS_REDIRECTED };
enum { HOW_NONE, HOW_RULE, HOW_SCORE, HOW_STEWARD };

void outcome_free(outcome_t *o)
{
    for (int s = 0; s < MAX_SYSTEMS; s++) {
        free(o->cluster[s]);
        free(o->state[s]);
        free(o->how[s]);
        free(o->score[s]);
    }
    strmap_free(&o->ids);
    free(o->redirect);
    free(o->start);
    free(o->members);
    free(o->qa);
    free(o->qb);
    free(o->qscore);
    free(o->qopen);
    u64set_free(&o->qpairs);
    memset(o, 0, sizeof *o);
}

static int32_t resolve(const outcome_t *o, int32_t c)
{
    for (int hops = 0; c >= 0 && o->redirect[c] >= 0 && hops < 64; hops++)
        c = o->redirect[c];
    return c;
}

static int parse_local(const profile_t *pf, const char *s, size_t n, size_t *out)
{
    size_t pl = strlen(pf->id_prefix);
    if (strncmp(s, pf->id_prefix, pl) != 0 || s[pl] < '0' || s[pl] > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s + pl, &end, 10);
    if (errno != 0 || *end != '\0' || v < pf->id_base || v - pf->id_base >= n)
        return -1;
    *out = (size_t)(v - pf->id_base);
    return 0;
}

static uint64_t pair_key(int32_t a, int32_t b)
{
    uint32_t lo = (uint32_t)(a < b ? a : b), hi = (uint32_t)(a < b ? b : a);
    return ((uint64_t)lo << 32 | hi) + 1;
}

int read_outcome(pq_t *pq, const view_t *views, int nsys, outcome_t *o)
{
    memset(o, 0, sizeof *o);
    for (int s = 0; s < nsys; s++) {
        size_t n = views[s].n ? views[s].n : 1;
        o->cluster[s] = malloc(n * sizeof *o->cluster[s]);
        o->state[s] = calloc(n, 1);
        o->how[s] = calloc(n, 1);
        o->score[s] = malloc(n * sizeof *o->score[s]);
        if (!o->cluster[s] || !o->state[s] || !o->how[s] || !o->score[s])
            return -1;
        for (size_t i = 0; i < views[s].n; i++) {
            o->cluster[s][i] = -1;
            o->score[s][i] = NAN;
        }
    }
    /* Merged-away records first, so every id seen later can be followed to its survivor. */
    PGresult *red = pq_query(pq, "SELECT master_id, redirect_to FROM golden_person WHERE state = "
                                 "'REDIRECTED' ORDER BY master_id");
    PGresult *x = pq_query(pq, "SELECT system, local_id, master_id, link_state, how, score FROM "
                               "xref ORDER BY system, local_id");
    PGresult *q = pq_query(pq, "SELECT master_a, master_b, score, state FROM steward_queue ORDER "
                               "BY id");
    int rc = -1;
    if (!red || !x || !q)
        goto out;
    int nred = PQntuples(red), nx = PQntuples(x), nqr = PQntuples(q);
    int32_t *red_pairs = malloc(((size_t)nred + 1) * 2 * sizeof *red_pairs);
    if (!red_pairs)
        goto out;
    for (int i = 0; i < nred; i++) {
        red_pairs[2 * i] = (int32_t)strmap_get(&o->ids, PQgetvalue(red, i, 0), true);
        red_pairs[2 * i + 1] = (int32_t)strmap_get(&o->ids, PQgetvalue(red, i, 1), true);
    }
    o->xref_rows = (size_t)nx;
    for (int i = 0; i < nx; i++) {
        const char *sys = PQgetvalue(x, i, 0);
        int s = 0;
        while (s < nsys && strcmp(sys, views[s].pf->adapter) != 0)
            s++;
        size_t idx;
        if (s == nsys || parse_local(views[s].pf, PQgetvalue(x, i, 1), views[s].n, &idx) < 0) {
            o->foreign_rows++;
            continue;
        }
        o->cluster[s][idx] = (int32_t)strmap_get(&o->ids, PQgetvalue(x, i, 2), true);
        const char *st = PQgetvalue(x, i, 3), *how = PQgetvalue(x, i, 4);
        o->state[s][idx] = strcmp(st, "MATCH") == 0            ? LS_MATCH
                           : strcmp(st, "POSSIBLE_MATCH") == 0 ? LS_POSSIBLE
                           : strcmp(st, "NO_MATCH") == 0       ? LS_NO_MATCH
                                                               : LS_REDIRECTED;
        o->how[s][idx] = strcmp(how, "rule") == 0    ? HOW_RULE
                         : strcmp(how, "score") == 0 ? HOW_SCORE
                                                     : HOW_STEWARD;
        if (!PQgetisnull(x, i, 5)) {
            char *end = NULL;
            double v = strtod(PQgetvalue(x, i, 5), &end);
            if (end && *end == '\0')
                o->score[s][idx] = v;
        }
    }
    o->nq = (size_t)nqr;
    o->qa = malloc(((size_t)nqr + 1) * sizeof *o->qa);
    o->qb = malloc(((size_t)nqr + 1) * sizeof *o->qb);
    o->qscore = malloc(((size_t)nqr + 1) * sizeof *o->qscore);
    o->qopen = malloc(((size_t)nqr + 1) * sizeof *o->qopen);
    if (!o->qa || !o->qb || !o->qscore || !o->qopen) {
        free(red_pairs);
        goto out;
    }
    for (int i = 0; i < nqr; i++) {
        o->qa[i] = (int32_t)strmap_get(&o->ids, PQgetvalue(q, i, 0), true);
        o->qb[i] = (int32_t)strmap_get(&o->ids, PQgetvalue(q, i, 1), true);
        o->qscore[i] = strtod(PQgetvalue(q, i, 2), NULL);
        o->qopen[i] = strcmp(PQgetvalue(q, i, 3), "OPEN") == 0;
    }
    size_t nids = o->ids.n;
    o->redirect = malloc((nids + 1) * sizeof *o->redirect);
    if (!o->redirect) {
        free(red_pairs);
        goto out;
    }
    for (size_t i = 0; i < nids; i++)
        o->redirect[i] = -1;
    for (int i = 0; i < nred; i++)
        if (red_pairs[2 * i] >= 0)
            o->redirect[red_pairs[2 * i]] = red_pairs[2 * i + 1];
    free(red_pairs);
    for (int s = 0; s < nsys; s++)
        for (size_t i = 0; i < views[s].n; i++)
            o->cluster[s][i] = resolve(o, o->cluster[s][i]);
    for (size_t i = 0; i < o->nq; i++) {
        o->qa[i] = resolve(o, o->qa[i]);
        o->qb[i] = resolve(o, o->qb[i]);
        if (o->qopen[i] && o->qa[i] >= 0 && o->qb[i] >= 0 &&
            u64set_add(&o->qpairs, pair_key(o->qa[i], o->qb[i])) < 0)
            goto out;
    }
    /* Members of each golden record, sorted by person. */
    o->start = calloc(nids + 2, sizeof *o->start);
    size_t total = 0;
    for (int s = 0; s < nsys; s++)
        total += views[s].n;
    o->members = malloc((total + 1) * sizeof *o->members);
    if (!o->start || !o->members)
        goto out;
    for (int s = 0; s < nsys; s++)
        for (size_t i = 0; i < views[s].n; i++)
            if (o->cluster[s][i] >= 0)
                o->start[o->cluster[s][i] + 1]++;
    for (size_t c = 0; c < nids; c++)
        o->start[c + 1] += o->start[c];
    uint32_t *fill = calloc(nids + 1, sizeof *fill);
    if (!fill)
        goto out;
    for (int s = 0; s < nsys; s++)
        for (size_t i = 0; i < views[s].n; i++) {
            int32_t c = o->cluster[s][i];
            if (c >= 0)
                o->members[o->start[c] + fill[c]++] =
                    (uint64_t)views[s].rec[i].person << 2 | (uint64_t)s;
        }
    free(fill);
    for (size_t c = 0; c < nids; c++)
        if (o->start[c + 1] - o->start[c] > 1)
            qsort(o->members + o->start[c], o->start[c + 1] - o->start[c], sizeof *o->members,
                  cmp_u64);
    rc = 0;
out:
    if (red)
        PQclear(red);
    if (x)
        PQclear(x);
    if (q)
        PQclear(q);
    return rc;
}

enum {
    REL_TWIN,
    REL_HOUSE_SAME_GIVEN,
    REL_HOUSEHOLD,
    REL_NAMESAKE,
    REL_CHANCE_NAMESAKE,
    REL_SAME_SURNAME_DOB,
    REL_OTHER,
    REL_COUNT
};
static const char *const rel_name[REL_COUNT] = {
    "twins",
    "same household, same forename (parent/child)",
    "same household",
    "namesakes made deliberately (same name and birth date, another town)",
    "namesakes by chance (same name and birth date)",
    "same surname and birth date",
    "otherwise unrelated"};

static int relation(const pop_t *pop, uint32_t a, uint32_t b)
{
    const person_t *p = &pop->p[a], *q = &pop->p[b];
    bool same_dob = p->by == q->by && p->bm == q->bm && p->bd == q->bd;
    if (p->household == q->household) {
        if (p->twin == (int32_t)b)
            return REL_TWIN;
        return strcmp(p->given, q->given) == 0 ? REL_HOUSE_SAME_GIVEN : REL_HOUSEHOLD;
    }
    if (p->namesake_of == (int32_t)b || q->namesake_of == (int32_t)a)
        return REL_NAMESAKE;
    if (same_dob && strcmp(p->family, q->family) == 0)
        return strcmp(p->given, q->given) == 0 ? REL_CHANCE_NAMESAKE : REL_SAME_SURNAME_DOB;
    return REL_OTHER;
}

/* Record outcomes for systems loaded after the first. */
enum {
    OUT_LINK_OK,
    OUT_LINK_WRONG,
    OUT_QUEUED_PARTNER,
    OUT_QUEUED_NEW,
    OUT_NEW_MISSED,
    OUT_NEW_OK,
    OUT_NONE,
    OUT_COUNT
};
static const char *const out_name[OUT_COUNT] = {"linked to its person's record",
                                                "linked to ANOTHER person (false merge)",
                                                "queued; its person is there",
                                                "queued; its person is not there",
                                                "new record; its person MISSED",
                                                "new record; correct (not held before)",
                                                "no xref row"};

#define NBINS 11
static const double bin_edge[NBINS - 2] = {8, 16, 20, 24, 28, 32, 36, 40, 48};

static int score_bin(int how, double score)
{
    if (isnan(score))
        return NBINS - 1;
    (void)how;
    int b = 0;
    while (b < NBINS - 2 && score >= bin_edge[b])
        b++;
    return b;
}

static void bin_label(int b, char *out, size_t cap)
{
    if (b == NBINS - 1)
        (void)snprintf(out, cap, "no score");
    else if (b == 0)
        (void)snprintf(out, cap, "< %g", bin_edge[0]);
    else if (b == NBINS - 2)
        (void)snprintf(out, cap, ">= %g", bin_edge[NBINS - 3]);
    else
        (void)snprintf(out, cap, "%g - %g", bin_edge[b - 1], bin_edge[b]);
}

typedef struct {
    size_t true_pairs, links, correct, queued, missed;
} pairstat_t;

/* Lower end of the 95% Wilson score interval for K successes in N: what a run of this size
 * can vouch for (no false merge among 10,000 links says precision >= 0.9996, not 1). */
static double wilson_lower(size_t k, size_t n)
{
    if (n == 0)
        return 0;
    double z = 1.96, p = (double)k / (double)n, nn = (double)n;
    double centre = p + z * z / (2 * nn);
    double spread = z * sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn));
    return (centre - spread) / (1 + z * z / nn);
}

static void print_record(const char *tag, const pop_t *pop, const view_t *v, size_t idx,
                         const outcome_t *o, int s)
{
    const record_t *r = &v->rec[idx];
    char id[32], noise[512];
    local_id(v->pf, idx, id, sizeof id);
    noise_text(r->noise, noise, sizeof noise);
    static const char *const st[] = {"-", "MATCH", "POSSIBLE_MATCH", "NO_MATCH", "REDIRECTED"};
    static const char *const hw[] = {"-", "rule", "score", "steward"};
    printf("    %s %s:%s person P%06u household H%06u: %s%s%s %s, born %s, %s, %s %s, NHS %s, NI "
           "%s, tel %s\n",
           tag, v->pf->adapter, id, r->person, pop->p[r->person].household, r->given,
           r->middle[0] ? " " : "", r->middle, r->family, r->birth[0] ? r->birth : "?",
           sex_text(r->sex)[0] ? sex_text(r->sex) : "sex ?", r->line, r->postcode,
           r->nhs[0] ? r->nhs : "-", r->ni[0] ? r->ni : "-", r->phone[0] ? r->phone : "-");
    char score[32] = "-";
    if (!isnan(o->score[s][idx]))
        (void)snprintf(score, sizeof score, "%.2f", o->score[s][idx]);
    printf("      xref %s by %s, score %s; noise: %s\n", st[o->state[s][idx]], hw[o->how[s][idx]],
           score, noise[0] ? noise : "none");
}

/* Finds the record index of member M (person << 2 | system). */
static size_t member_record(const view_t *views, uint64_t m)
{
    return (size_t)views[m & 3].of_person[m >> 2];
}

int evaluate(const pop_t *pop, const view_t *views, int nsys, const outcome_t *o,
             const phase_t *phases)
{
    size_t nids = o->ids.n;
    pairstat_t ps[MAX_SYSTEMS][MAX_SYSTEMS];
    memset(ps, 0, sizeof ps);
    size_t rel_count[REL_COUNT] = {0}, nfalse = 0, oversized = 0, shown = 0;
    uint64_t show_a[SHOW_FALSE], show_b[SHOW_FALSE];
    size_t cluster_sizes[6] = {0};

    for (size_t c = 0; c < nids; c++) {
        size_t lo = o->start[c], hi = o->start[c + 1], sz = hi - lo;
        cluster_sizes[sz < 5 ? sz : 5]++;
        if (sz < 2)
            continue;
        size_t cnt[MAX_SYSTEMS] = {0};
        for (size_t i = lo; i < hi; i++)
            cnt[o->members[i] & 3]++;
        for (int x = 0; x < nsys; x++) {
            ps[x][x].links += cnt[x] * (cnt[x] ? cnt[x] - 1 : 0) / 2;
            for (int y = x + 1; y < nsys; y++)
                ps[x][y].links += cnt[x] * cnt[y];
        }
        for (size_t i = lo; i < hi;) {
            size_t j = i;
            unsigned mask = 0;
            while (j < hi && o->members[j] >> 2 == o->members[i] >> 2)
                mask |= 1u << (o->members[j++] & 3);
            for (int x = 0; x < nsys; x++)
                for (int y = x + 1; y < nsys; y++)
                    if ((mask >> x & 1) && (mask >> y & 1))
                        ps[x][y].correct++;
            i = j;
        }
        if (sz > 64) {
            oversized++;
            continue;
        }
        for (size_t i = lo; i < hi; i++)
            for (size_t j = i + 1; j < hi; j++) {
                uint32_t pa = (uint32_t)(o->members[i] >> 2), pb = (uint32_t)(o->members[j] >> 2);
                if (pa == pb)
                    continue;
                nfalse++;
                rel_count[relation(pop, pa, pb)]++;
                if (shown < SHOW_FALSE) {
                    show_a[shown] = o->members[i];
                    show_b[shown++] = o->members[j];
                }
            }
    }

    /* True pairs: linked, queued against each other, or missed. For the first two systems,
     * also what the records of the pairs not linked have in common: their noise. */
    enum { WHY_NO_NHS = N_COUNT, WHY_CLEAN, WHY_COUNT };
    size_t why_all[WHY_COUNT] = {0}, why_not[WHY_COUNT] = {0}, n_not = 0;
    uint32_t q_show[SHOW_MISSED], m_show[SHOW_MISSED];
    size_t nq_show = 0, nm_show = 0;
    for (size_t pi = 0; pi < pop->n; pi++)
        for (int x = 0; x < nsys; x++) {
            int32_t rx = views[x].of_person[pi];
            if (rx < 0)
                continue;
            for (int y = x + 1; y < nsys; y++) {
                int32_t ry = views[y].of_person[pi];
                if (ry < 0)
                    continue;
                ps[x][y].true_pairs++;
                int32_t cx = o->cluster[x][rx], cy = o->cluster[y][ry];
                bool linked = cx >= 0 && cx == cy;
                bool queued =
                    !linked && cx >= 0 && cy >= 0 && u64set_has(&o->qpairs, pair_key(cx, cy));
                if (x == 0 && y == 1) {
                    const record_t *a = &views[x].rec[rx], *b = &views[y].rec[ry];
                    uint32_t why = a->noise | b->noise;
                    bool no_nhs = !a->nhs[0] || !b->nhs[0];
                    for (int k = 0; k < N_COUNT; k++)
                        if (why >> k & 1) {
                            why_all[k]++;
                            why_not[k] += !linked;
                        }
                    why_all[WHY_NO_NHS] += no_nhs;
                    why_not[WHY_NO_NHS] += no_nhs && !linked;
                    why_all[WHY_CLEAN] += why == 0;
                    why_not[WHY_CLEAN] += why == 0 && !linked;
                    n_not += !linked;
                    if (queued && nq_show < SHOW_MISSED)
                        q_show[nq_show++] = (uint32_t)pi;
                    if (!linked && !queued && nm_show < SHOW_MISSED)
                        m_show[nm_show++] = (uint32_t)pi;
                }
                if (linked)
                    continue;
                if (queued)
                    ps[x][y].queued++;
                else
                    ps[x][y].missed++;
            }
        }

    /* Each later system's records: where did they go? With the score of the decision. */
    size_t outc[MAX_SYSTEMS][OUT_COUNT], bins[MAX_SYSTEMS][NBINS][OUT_COUNT];
    memset(outc, 0, sizeof outc);
    memset(bins, 0, sizeof bins);
    size_t how_count[MAX_SYSTEMS][4];
    memset(how_count, 0, sizeof how_count);
    for (int y = 1; y < nsys; y++)
        for (size_t i = 0; i < views[y].n; i++) {
            uint32_t person = views[y].rec[i].person;
            bool partner = false, with_partner = false;
            int32_t c = o->cluster[y][i];
            for (int x = 0; x < y; x++) {
                int32_t rx = views[x].of_person[person];
                if (rx < 0)
                    continue;
                partner = true;
                with_partner = with_partner || (c >= 0 && o->cluster[x][rx] == c);
            }
            int out;
            switch (o->state[y][i]) {
            case LS_NONE:
                out = OUT_NONE;
                break;
            case LS_MATCH:
            case LS_REDIRECTED:
                /* Linked: right only if the golden record holds an earlier record of its own
                 * person; otherwise it joined someone else. */
                out = with_partner ? OUT_LINK_OK : OUT_LINK_WRONG;
                break;
            case LS_POSSIBLE:
                out = partner ? OUT_QUEUED_PARTNER : OUT_QUEUED_NEW;
                break;
            default:
                out = partner ? OUT_NEW_MISSED : OUT_NEW_OK;
                break;
            }
            outc[y][out]++;
            how_count[y][o->how[y][i]]++;
            bins[y][score_bin(o->how[y][i], o->score[y][i])][out]++;
        }

    /* Steward queue. */
    size_t q_open = 0, q_true = 0, qbins[NBINS][2];
    memset(qbins, 0, sizeof qbins);
    for (size_t k = 0; k < o->nq; k++) {
        if (!o->qopen[k])
            continue;
        q_open++;
        bool same = false;
        int32_t a = o->qa[k], b = o->qb[k];
        if (a >= 0 && b >= 0)
            for (size_t i = o->start[a]; i < o->start[a + 1] && !same; i++)
                for (size_t j = o->start[b]; j < o->start[b + 1] && !same; j++)
                    same = o->members[i] >> 2 == o->members[j] >> 2;
        q_true += same;
        qbins[score_bin(HOW_SCORE, o->qscore[k])][same]++;
    }

    /* Report. */
    printf("\noutcome (from PostgreSQL: %zu xref rows", o->xref_rows);
    if (o->foreign_rows)
        printf(", %zu of them not from this run", o->foreign_rows);
    printf("; %zu golden ids seen)\n", nids);
    printf("  golden records by number of local ids: 0: %zu, 1: %zu, 2: %zu, 3: %zu, 4: %zu, 5+: "
           "%zu%s\n",
           cluster_sizes[0], cluster_sizes[1], cluster_sizes[2], cluster_sizes[3], cluster_sizes[4],
           cluster_sizes[5], oversized ? " (some over 64: a runaway cluster)" : "");
    size_t first[5] = {0};
    for (size_t i = 0; i < views[0].n; i++)
        first[o->state[0][i]]++;
    printf("  %s records (%zu), loaded first: new record %zu, queued against another %s record "
           "%zu, linked to one %zu, no xref row %zu\n",
           views[0].pf->adapter, views[0].n, first[LS_NO_MATCH], views[0].pf->adapter,
           first[LS_POSSIBLE], first[LS_MATCH] + first[LS_REDIRECTED], first[LS_NONE]);
    for (int y = 1; y < nsys; y++) {
        printf("  %s records (%zu), by outcome; decided by rule %zu, score %zu, steward %zu:\n",
               views[y].pf->adapter, views[y].n, how_count[y][HOW_RULE], how_count[y][HOW_SCORE],
               how_count[y][HOW_STEWARD]);
        for (int k = 0; k < OUT_COUNT; k++)
            if (outc[y][k] || k <= OUT_NEW_OK)
                printf("    %-42s %8zu  %6.2f%%\n", out_name[k], outc[y][k],
                       pct(outc[y][k], views[y].n));
        printf("    by score of the decision (xref.score):\n      %-10s", "score");
        static const char *const col[OUT_COUNT] = {"link ok", "LINK WRONG", "queued+p", "queued-p",
                                                   "MISSED",  "new ok",     "none"};
        for (int k = 0; k < OUT_COUNT - 1; k++)
            printf(" %10s", col[k]);
        printf("\n");
        for (int b = 0; b < NBINS; b++) {
            size_t row = 0;
            for (int k = 0; k < OUT_COUNT; k++)
                row += bins[y][b][k];
            if (!row)
                continue;
            char label[32];
            bin_label(b, label, sizeof label);
            printf("      %-10s", label);
            for (int k = 0; k < OUT_COUNT - 1; k++)
                printf(" %10zu", bins[y][b][k]);
            printf("\n");
        }
    }
    printf("  steward queue: %zu items, %zu open; open items that are one person: %zu (%.1f%%)\n",
           o->nq, q_open, q_true, pct(q_true, q_open));
    if (q_open) {
        printf("    by score:");
        for (int b = 0; b < NBINS; b++) {
            if (!qbins[b][0] && !qbins[b][1])
                continue;
            char label[32];
            bin_label(b, label, sizeof label);
            printf("  [%s] %zu same / %zu different", label, qbins[b][1], qbins[b][0]);
        }
        printf("\n");
    }

    printf("\npairs of records (x, y) in different systems; a link = both in one golden record\n");
    printf("  %-22s %10s %10s %10s %10s %10s %10s %10s %10s\n", "systems", "true", "links",
           "correct", "false", "precision", "recall", "queued", "missed");
    size_t all_links = 0, all_correct = 0;
    for (int x = 0; x < nsys; x++)
        for (int y = x; y < nsys; y++) {
            const pairstat_t *s = &ps[x][y];
            all_links += s->links;
            all_correct += s->correct;
            char label[48];
            (void)snprintf(label, sizeof label, "%s-%s", views[x].pf->adapter,
                           views[y].pf->adapter);
            if (x == y) {
                if (s->links)
                    printf("  %-22s %10s %10zu %10s %10zu   (same system: every link is false)\n",
                           label, "0", s->links, "0", s->links);
                continue;
            }
            printf("  %-22s %10zu %10zu %10zu %10zu %10.5f %10.5f %10zu %10zu\n", label,
                   s->true_pairs, s->links, s->correct, s->links - s->correct,
                   s->links ? (double)s->correct / (double)s->links : 1.0,
                   s->true_pairs ? (double)s->correct / (double)s->true_pairs : 0.0, s->queued,
                   s->missed);
        }
    printf("  all automatic links: %zu, correct %zu, precision %.5f\n", all_links, all_correct,
           all_links ? (double)all_correct / (double)all_links : 1.0);
    if (n_not) {
        printf("  the %zu true %s-%s pairs not linked automatically: what their records carry "
               "(count, share of them; share among all %zu true pairs)\n",
               n_not, views[0].pf->adapter, views[1].pf->adapter, ps[0][1].true_pairs);
        for (int k = 0; k < WHY_COUNT; k++) {
            if (!why_not[k])
                continue;
            const char *label = k == WHY_NO_NHS  ? "NHS number not on both records"
                                : k == WHY_CLEAN ? "no noise at all"
                                                 : noise_name[k];
            printf("    %-40s %7zu %6.1f%%   (%5.1f%%)\n", label, why_not[k],
                   pct(why_not[k], n_not), pct(why_all[k], ps[0][1].true_pairs));
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        size_t m = pass ? nm_show : nq_show;
        if (!m)
            continue;
        printf("  true pairs %s, first %zu:\n",
               pass ? "MISSED (neither linked nor queued together)" : "sent to the steward queue",
               m);
        for (size_t k = 0; k < m; k++) {
            uint32_t pi = pass ? m_show[k] : q_show[k];
            printf("  %zu.\n", k + 1);
            print_record("a", pop, &views[0], (size_t)views[0].of_person[pi], o, 0);
            print_record("b", pop, &views[1], (size_t)views[1].of_person[pi], o, 1);
        }
    }
    if (nfalse) {
        printf("  false merges by relation of the two people:\n");
        for (int k = 0; k < REL_COUNT; k++)
            if (rel_count[k])
                printf("    %-70s %zu\n", rel_name[k], rel_count[k]);
        printf("  false merges, first %zu of %zu:\n", shown, nfalse);
        for (size_t k = 0; k < shown; k++) {
            printf("  %zu. %s\n", k + 1,
                   rel_name[relation(pop, (uint32_t)(show_a[k] >> 2), (uint32_t)(show_b[k] >> 2))]);
            print_record("a", pop, &views[show_a[k] & 3], member_record(views, show_a[k]), o,
                         (int)(show_a[k] & 3));
            print_record("b", pop, &views[show_b[k] & 3], member_record(views, show_b[k]), o,
                         (int)(show_b[k] & 3));
        }
    }

    /* Against the targets. */
    const pairstat_t *h = &ps[0][1];
    double precision = h->links ? (double)h->correct / (double)h->links : 1.0;
    double recall = h->true_pairs ? (double)h->correct / (double)h->true_pairs : 0.0;
    printf("\nsummary (%s-%s):\n", views[0].pf->adapter, views[1].pf->adapter);
    printf("  precision %.5f (95%% lower bound %.5f; target >= 0.999), recall %.5f (95%% lower "
           "bound %.5f; target >= 0.99), %zu false merges, %zu true pairs queued, %zu missed\n",
           precision, wilson_lower(h->correct, h->links), recall,
           wilson_lower(h->correct, h->true_pairs), h->links - h->correct, h->queued, h->missed);
    if (precision < 0.999)
        printf("TARGET MISSED: precision %.5f < 0.999 (%zu false merges among %zu automatic "
               "links)\n",
               precision, h->links - h->correct, h->links);
    if (recall < 0.99)
        printf("TARGET MISSED: recall %.5f < 0.99 (%zu of %zu true pairs linked automatically)\n",
               recall, h->correct, h->true_pairs);
    const phase_t *last = NULL;
    for (int s = 0; s < nsys; s++)
        if (phases[s].loaded && phases[s].rss_kib >= 0 && phases[s].golden > 0)
            last = &phases[s];
    if (last)
        printf("  memory: hub RSS %.1f MiB (peak %.1f) holding %lld golden records, %.1f KiB per "
               "golden record\n",
               last->rss_kib / 1024.0, last->hwm_kib / 1024.0, last->golden,
               (double)last->rss_kib / (double)last->golden);
    for (int s = 0; s < nsys; s++) {
        const phase_t *ph = &phases[s];
        if (!ph->loaded)
            continue;
        double rate = ph->seconds > 0 ? (double)ph->events / ph->seconds : 0;
        printf("  load %-10s %8.0f person events/s, %lld golden records before and %lld after, "
               "hub RSS %.1f MiB after\n",
               views[s].pf->adapter, rate, s ? phases[s - 1].golden : 0, ph->golden,
               ph->rss_kib / 1024.0);
        if (s > 0 && rate < 20000)
            printf("TARGET MISSED: %s load %.0f person events/s < 20,000%s\n", views[s].pf->adapter,
                   rate,
                   phases[0].golden < 225000
                       ? " (the target is stated against 250,000 golden records; this run had "
                         "fewer: run the throughput mode)"
                       : "");
    }
    return 0;
}
